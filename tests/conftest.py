"""Shared fixtures: paths to the real data in ../shared/data and a runner for the CLI."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
HUMAN = SHARED_DATA / "human"
BENCHMARKS = SHARED_DATA / "benchmarks"


def need_shared_data():
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (the repository's ../shared/data)")


@pytest.fixture
def human():
    need_shared_data()
    return HUMAN


@pytest.fixture
def benchmarks():
    need_shared_data()
    return BENCHMARKS


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    # FASTA indexes go to a per-session cache, never beside the shared data.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "cache"))


def run_cli(*args, cwd=None):
    """Run ``rnastruct ARGS`` in a subprocess -> CompletedProcess (text output captured)."""
    return subprocess.run([sys.executable, "-m", "rnastruct", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, env={**os.environ})
