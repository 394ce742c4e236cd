"""Where outputs go (rnastruct/outfiles.py): special files are written to, not replaced; no
previous output loses a byte; a failed run (bad input, a full disk) leaves nothing behind.

Special files are made in temporary folders: a FIFO, a symlink, and a device node (``mknod NAME
c 1 3``, as /dev/null is) when the tests run as root. No test ever names the real /dev/null or
/dev/full: a broken build would replace them."""

import os
import resource
import signal
import stat
import subprocess
import sys
import threading

import pytest

from .conftest import run_cli

SEQ = "GGGAAAUCCCGCGCAAGCGCUUUGGGAAACCCAAA"
FASTA = f">a\n{SEQ}\n>b\nGGGGAAAACCCC\n"


def _fasta(tmp_path, text=FASTA):
    fa = tmp_path / "in.fa"
    fa.write_text(text)
    return fa


def _tree(folder):
    """Every path under ``folder`` with its bytes (None for folders and special files)."""
    out = {}
    for p in sorted(folder.rglob("*")):
        mode = p.lstat().st_mode
        out[str(p.relative_to(folder))] = p.read_bytes() if stat.S_ISREG(mode) else stat.S_IFMT(mode)
    return out


def test_an_existing_output_is_kept_unless_overwrite_and_an_input_never_written(tmp_path):
    fa = _fasta(tmp_path)
    out = tmp_path / "out.fa"
    out.write_text("an earlier result\n")
    r = run_cli("predict", fa, "--model", "turner", "--out", out)
    assert r.returncode == 2 and f"--out {out}: already exists (pass --overwrite" in r.stderr
    assert out.read_text() == "an earlier result\n"
    for flag in ("--overwrite", "--force"):
        r = run_cli("predict", fa, "--model", "turner", "--out", out, flag, "--quiet")
        assert r.returncode == 0, r.stderr
        assert out.read_text().startswith(">a ")
    before = fa.read_bytes()
    for extra in ([], ["--overwrite"]):
        r = run_cli("predict", fa, "--model", "turner", "--out", fa, *extra)
        assert r.returncode == 2 and "is an input of this run" in r.stderr, r.stderr
        assert fa.read_bytes() == before
    link = tmp_path / "link.fa"
    link.symlink_to(fa)
    r = run_cli("predict", fa, "--model", "turner", "--out", link, "--overwrite")
    assert r.returncode == 2 and "is an input of this run" in r.stderr and fa.read_bytes() == before


def test_per_record_files_and_merge_and_evaluate_follow_the_same_rules(tmp_path):
    fa = _fasta(tmp_path)
    bpp = tmp_path / "bpp"
    bpp.mkdir()
    (bpp / "a.bpp.csv").write_text("mine\n")
    r = run_cli("predict", fa, "--model", "turner", "--bpp", bpp)
    assert r.returncode == 2 and "a.bpp.csv already exists" in r.stderr
    assert _tree(bpp) == {"a.bpp.csv": b"mine\n"}
    r = run_cli("predict", fa, "--model", "turner", "--bpp", bpp, "--overwrite", "--quiet")
    assert r.returncode == 0 and (bpp / "a.bpp.csv").read_text().startswith("i,j,p")
    # merge: an existing --out kept without --overwrite
    parts = []
    for k in range(2):
        part = tmp_path / f"p{k}.fa"
        r = run_cli("predict", fa, "--model", "turner", "--shard", k, "--num-shards", 2, "--out", part, "--quiet")
        assert r.returncode == 0, r.stderr
        parts.append(part)
    merged = tmp_path / "merged.fa"
    merged.write_text("keep\n")
    r = run_cli("merge", *parts, "--out", merged)
    assert r.returncode == 2 and "already exists" in r.stderr and merged.read_text() == "keep\n"
    r = run_cli("merge", *parts, "--out", parts[0], "--overwrite")
    assert r.returncode == 2 and "is an input of this run" in r.stderr
    r = run_cli("merge", *parts, "--out", merged, "--force")
    assert r.returncode == 0 and merged.read_text().count(">") == 2
    # evaluate --out: its files are kept without --overwrite
    ev = tmp_path / "ev"
    ev.mkdir()
    (ev / "summary.md").write_text("old\n")
    r = run_cli("evaluate", "--pred", merged, "--ref", merged, "--out", ev)
    assert r.returncode == 2 and "summary.md already exists" in r.stderr and (ev / "summary.md").read_text() == "old\n"


def test_a_fifo_gets_the_output_and_stays_a_fifo(tmp_path):
    fa = _fasta(tmp_path)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    r = run_cli("predict", fa, "--model", "turner", "--out", fifo, "--quiet")
    reader.join(timeout=60)
    assert r.returncode == 0, r.stderr
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    whole = run_cli("predict", fa, "--model", "turner", "--quiet").stdout
    assert got == [whole.encode()]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.fa", "pipe"]  # no journal, no temp file


def test_a_symlink_writes_its_target_and_stays_a_link(tmp_path):
    fa = _fasta(tmp_path)
    (tmp_path / "results").mkdir()
    target = tmp_path / "results" / "pred.fa"
    link = tmp_path / "latest.fa"
    link.symlink_to(target)
    r = run_cli("predict", fa, "--model", "turner", "--out", link, "--quiet")
    assert r.returncode == 0, r.stderr
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text().startswith(">a ")
    # now the target exists: the link is refused like the file, unless --overwrite
    r = run_cli("predict", fa, "--model", "turner", "--out", link)
    assert r.returncode == 2 and "already exists" in r.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root")
def test_a_device_node_is_written_to_and_left_as_it_was(tmp_path):
    fa = _fasta(tmp_path)
    dev = tmp_path / "null"
    os.mknod(dev, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # what /dev/null is, in a temporary folder
    before = dev.lstat()
    for command in (["predict", fa, "--model", "turner", "--out", dev, "--quiet"],
                    ["predict", fa, "--model", "turner", "--format", "json", "--out", dev, "--quiet"]):
        r = run_cli(*command)
        assert r.returncode == 0, r.stderr
        after = dev.lstat()
        assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev and after.st_ino == before.st_ino
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.fa", "null"]


def test_dash_is_standard_output(tmp_path):
    fa = _fasta(tmp_path)
    r = run_cli("predict", fa, "--model", "turner", "--out", "-", "--quiet")
    assert r.returncode == 0 and r.stdout == run_cli("predict", fa, "--model", "turner", "--quiet").stdout
    assert not (tmp_path / "-").exists() and not any(p.name.startswith(".") for p in tmp_path.iterdir())


def _limited(max_bytes):
    def limit():
        # writing past RLIMIT_FSIZE fails with EFBIG, as a full disk fails with ENOSPC
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))
    return limit


@pytest.mark.parametrize("extra", [[], ["--bpp", "{d}/bpp", "--plot", "{d}/plots"]])
def test_a_write_that_fails_is_one_line_and_leaves_nothing(tmp_path, extra):
    fa = _fasta(tmp_path, "".join(f">r{k}\n{SEQ}\n" for k in range(40)))
    (tmp_path / "old.fa").write_text("an earlier result\n")
    before = _tree(tmp_path)
    args = [sys.executable, "-m", "rnastruct", "predict", str(fa), "--model", "turner", "--quiet",
            "--out", str(tmp_path / "out.fa"), *[a.format(d=tmp_path) for a in extra]]
    r = subprocess.run(args, capture_output=True, text=True, preexec_fn=_limited(3000))
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and "cannot write" in lines[0] and str(tmp_path) in lines[0], r.stderr
    assert _tree(tmp_path) == before  # no output, no journal, no temporary file, no folder


def test_a_full_disk_is_one_line_and_leaves_nothing(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24k", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (not root, or no mount rights); "
                    "test_a_write_that_fails_is_one_line_and_leaves_nothing covers the failure")
    try:
        fa = _fasta(tmp_path, "".join(f">r{k}\n{SEQ}\n" for k in range(300)))
        (disk / "old.fa").write_text("an earlier result\n")
        before = _tree(disk)
        r = run_cli("predict", fa, "--model", "turner", "--quiet", "--out", disk / "out.fa", "--bpp", disk / "bpp")
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1 and "No space left on device" in lines[0], r.stderr
        assert _tree(disk) == before
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_clean_errors_mid_run_leave_no_journal(tmp_path):
    # base 1 must pair, and an A has no U to pair with: ViennaRNA finds no structure
    fa = _fasta(tmp_path, ">a\nGGGGAAAACCCC\n>b\nAAAAAAAAAACCCCCCC\n|................\n")
    r = run_cli("predict", fa, "--model", "turner", "--constraint", "--out", tmp_path / "o.fa", "--bpp", tmp_path / "bpp")
    assert r.returncode == 2 and "record b: the constraints leave no structure" in r.stderr, r.stderr
    shape = tmp_path / "a.shape"
    shape.write_text("1 0.5\n")
    fa = _fasta(tmp_path, f">a\n{SEQ}\n")
    r = run_cli("predict", fa, "--decoder", "boxes", "--shape", shape, "--out", tmp_path / "o.fa")
    assert r.returncode == 2 and "need the fold decoder" in r.stderr and "Traceback" not in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.shape", "in.fa"]


def test_a_closed_pipe_ends_quietly(tmp_path):
    text = "".join(f">r{k}\n{'GGGGAAAACCCC' * 20}\n{'((((....))))' * 20}\n" for k in range(3000))
    (tmp_path / "s.fa").write_text(text)
    cmd = f"{sys.executable} -m rnastruct boxes {tmp_path / 's.fa'} | head -n 2"
    r = subprocess.run(["bash", "-c", f"{cmd}; echo status ${{PIPESTATUS[0]}}"], capture_output=True, text=True)
    assert r.stderr == "", r.stderr
    assert r.stdout.splitlines()[-1] == "status 141"  # 128 + SIGPIPE, as a killed writer reports


def test_a_stray_file_in_a_shape_folder_is_an_error(tmp_path):
    fa = _fasta(tmp_path)
    shapes = tmp_path / "shape"
    shapes.mkdir()
    (shapes / "a.shape").write_text("1 0.5\n")
    (shapes / "A.shape").write_text("1 0.5\n")  # a misspelt name would be ignored silently
    r = run_cli("predict", fa, "--model", "turner", "--shape", shapes)
    assert r.returncode == 2 and "A.shape matches no input record" in r.stderr
    (shapes / "A.shape").unlink()
    r = run_cli("predict", fa, "--model", "turner", "--shape", shapes, "--quiet")
    assert r.returncode == 0, r.stderr


def test_python_api_and_cli_read_iupac_letters_alike(tmp_path):
    import rnastruct

    (r,) = rnastruct.predict(["GGGGAAAXCCCC"], model="turner")
    assert r.seq == "GGGGAAANCCCC"
    cli = run_cli("predict", _fasta(tmp_path, ">seq1\nGGGGAAAXCCCC\n"), "--model", "turner", "--quiet")
    assert cli.stdout.splitlines()[2].split()[0] == r.structure and "'X' at 8 folded as N" in cli.stderr
    with pytest.raises(ValueError, match="invalid base 'X' at position 8"):
        rnastruct.predict(["GGGGAAAXCCCC"], model="turner", strict=True)
