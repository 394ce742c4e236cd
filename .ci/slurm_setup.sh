#!/usr/bin/env bash
# Turn this (Debian, root, no systemd) machine into a one-node Slurm cluster so
# CI can sbatch real jobs (arrays, --dependency=afterok). Safe to run twice.
set -euo pipefail

NODE=$(hostname -s)
TIMEOUT=${SLURM_SETUP_TIMEOUT:-60}
JOB_TIMEOUT=${SLURM_SETUP_JOB_TIMEOUT:-120}

node_state() { sinfo -h -n "$NODE" -o '%T' 2>/dev/null | head -n1 || true; }
running() { pgrep -x "$1" >/dev/null 2>&1; }
fail() {
  echo "slurm_setup: $*" >&2
  for f in /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log /var/log/munge/munged.log; do
    [[ -f $f ]] && { echo "---- tail $f" >&2; tail -n 25 "$f" >&2; }
  done
  exit 1
}

# Verification submits real jobs; output goes to a scratch dir so nothing lands in
# the caller's cwd. `timeout` because sbatch --wait pends forever on a dead node
# (it is generous: sbatch --wait polls with a 2s/8s/32s backoff).
verify() {
  local tmp out rc=0
  tmp=$(mktemp -d /tmp/slurm_setup.XXXXXX)
  # shellcheck disable=SC2016  # $SLURM_ARRAY_TASK_ID must expand inside the job
  timeout "$JOB_TIMEOUT" sbatch --wait -Q -J setup_check -D "$tmp" -o "$tmp/host.out" --wrap 'hostname' >/dev/null \
    && timeout "$JOB_TIMEOUT" sbatch --wait -Q -J setup_check -D "$tmp" -o "$tmp/arr_%a.out" --array=0-1 \
      --wrap 'echo $SLURM_ARRAY_TASK_ID' >/dev/null || rc=1
  if (( rc == 0 )); then
    out="$(cat "$tmp/host.out") array=$(cat "$tmp"/arr_0.out "$tmp"/arr_1.out | paste -sd,)"
    echo "slurm_setup: OK cluster=rnastruct node=$NODE state=$(node_state) cpus=$(nproc) host_job=$out"
  else
    scancel -n setup_check 2>/dev/null || true
  fi
  rm -rf "$tmp"
  return $rc
}

# Fast path: an already-healthy cluster only gets the cheap job check (skipped
# while others' jobs are queued, so we neither wait behind nor disturb them).
# slurmctld notices a dead slurmd only after minutes, so ask slurmd itself too;
# if anything is off, fall through to the full (re)setup below.
if command -v sbatch >/dev/null && running munged && running slurmctld && running slurmd \
   && scontrol show slurmd >/dev/null 2>&1 \
   && [[ $(node_state) =~ ^(idle|mixed|allocated|completing)$ ]]; then
  if [[ -n $(squeue -h 2>/dev/null) ]]; then
    echo "slurm_setup: OK (already up, $(squeue -h | wc -l) jobs queued; test jobs skipped) node=$NODE state=$(node_state)"
    exit 0
  fi
  verify && exit 0
fi

if ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi

mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/slurm
# MemTotal (not MemAvailable) keeps the config stable across runs; 1 GB headroom
# stops slurmd from draining the node for "Low RealMemory".
MEM=$(( $(awk '/^MemTotal:/ {print int($2/1024)}' /proc/meminfo) - 1024 ))
(( MEM < 256 )) && MEM=256
# The explicit 127.0.0.1 addresses avoid depending on DNS for the hostname in containers.
cat > /etc/slurm/slurm.conf <<EOF
ClusterName=rnastruct
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
# No mailer in CI; without this slurmctld logs "Configured MailProg is invalid".
MailProg=/bin/true
# A dependent job whose afterok can never be met would otherwise pend forever and hang CI.
DependencyParameters=kill_invalid_depend
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
# Containers here have no usable cgroup delegation; a stray cgroup.conf would make
# slurmd try to load cgroup plugins and fail.
rm -f /etc/slurm/cgroup.conf

# munged refuses to start unless key and dirs are owned by munge with tight modes.
mkdir -p /etc/munge /run/munge /var/lib/munge /var/log/munge
[[ -s /etc/munge/munge.key ]] || mungekey --create --keyfile=/etc/munge/munge.key 2>/dev/null \
  || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
chown munge:munge /etc/munge /etc/munge/munge.key /run/munge /var/lib/munge /var/log/munge
chmod 700 /etc/munge; chmod 400 /etc/munge/munge.key; chmod 755 /run/munge
running munged || runuser -u munge -- munged 2>/dev/null || munged --force
for _ in $(seq 20); do munge -n </dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.5; done
munge -n </dev/null | unmunge >/dev/null 2>&1 || fail "munge does not work"

# Restart slurm daemons (by pidfile) so they pick up the config just written.
for d in slurmd slurmctld; do
  for pid in $(cat "/run/slurm/$d.pid" 2>/dev/null || pgrep -x "$d" || true); do
    kill "$pid" 2>/dev/null || true
    # slurmctld must release its port (and slurmd finish shutdown) before restarting.
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  done
done
slurmctld || fail "slurmctld did not start"
slurmd || fail "slurmd did not start"

start=$SECONDS
# mixed/allocated count as up: CI jobs may have survived the restart.
until [[ $(node_state) =~ ^(idle|mixed|allocated)$ ]]; do
  case $(node_state) in
    down*|drain*|fail*) scontrol update nodename="$NODE" state=resume 2>/dev/null || true ;;
  esac
  (( SECONDS - start > TIMEOUT )) && fail "node $NODE not idle after ${TIMEOUT}s (state: $(node_state))"
  sleep 1
done
verify || fail "test jobs did not complete"
