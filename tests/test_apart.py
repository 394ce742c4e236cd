"""S1 in a process of its own (``predictor.apart``): the results are the in-process predictor's,
every decoder's; the process that folds never imports PyTorch; a long sequence folds only once
S1's process has exited, in rounds; errors in S1's process, and its death, reach the caller; a
caller that stops early leaves no process; nothing is left in the temporary folder."""

import multiprocessing as mp
import os
import subprocess
import sys
import tempfile

import numpy as np
import pytest

import rnastruct.predictor.apart as apart
from rnastruct.errors import InputError
from rnastruct.predictor.core import load_predictor
from rnastruct.predictor.decoders import LearnedFold

RNG = np.random.default_rng(3)
SEQS = ["".join(RNG.choice(list("ACGU"), int(n))) for n in (35, 120, 64, 90)]
NAMES = [f"r{k}" for k in range(len(SEQS))]


@pytest.fixture
def long_from_80(monkeypatch, tmp_path):
    """Sequences of 80 nt or more count as long (folded after S1's process exits), and the
    temporary folders go to ``tmp_path`` (to see that they are removed)."""
    monkeypatch.setattr(apart, "LONG", 80)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("options", [
    {}, {"probs": True}, {"max_bp_span": 30}, {"decoding": "mfe"}, {"model": "turner"},
    {"decoder": "boxes"}, {"model": "mfe"},
], ids=["default", "bpp", "span", "mfe", "turner", "boxes", "mfe-set"])
def test_the_results_are_the_in_process_ones(long_from_80, options):
    options = {"threads": 1, "precision": "fp32", **options}
    constraints = [None, "." * 10 + "x" * 5 + "." * 105, None, None] if options.get("decoder") != "boxes" else None
    shapes = [None, None, np.linspace(0, 1.5, 64), None] if options.get("decoder") != "boxes" else None
    want = dict(load_predictor(**options).predict(NAMES, SEQS, constraints=constraints, shapes=shapes))
    got = list(apart.Apart(options).predict(NAMES, SEQS, constraints, shapes))
    assert sorted(k for k, _ in got) == list(range(len(SEQS)))
    for k, r in got:
        w = want[k]
        assert (r.name, r.structure, r.energy) == (w.name, w.structure, w.energy)
        np.testing.assert_array_equal([r.score, r.learned_energy, r.ensemble_energy],
                                      [w.score, w.learned_energy, w.ensemble_energy])  # nan where none
        if options.get("probs"):
            np.testing.assert_array_equal(r.bpp, w.bpp)
            np.testing.assert_array_equal(r.unpaired, w.unpaired)
    assert sum("(" in r.structure for _, r in got) >= 3
    assert os.listdir(long_from_80) == []  # the temporary folder and its maps are gone


def test_long_sequences_fold_after_s1_s_process_has_exited(long_from_80, monkeypatch):
    """What bounds the peak memory: no long sequence's dynamic programme runs beside PyTorch.
    S1's process lingers after each output, so that one decoded on arrival would see it."""
    import time

    from rnastruct.predictor import core

    outputs = core.Predictor.s1_outputs

    def lingering(self, *args, **kwargs):
        for item in outputs(self, *args, **kwargs):
            yield item
            time.sleep(0.3)

    monkeypatch.setattr(core.Predictor, "s1_outputs", lingering)
    seen = []
    decode = LearnedFold.decode

    def watched(self, name, seq, *rest):
        seen.append((len(seq) >= apart.LONG, len(mp.active_children())))
        return decode(self, name, seq, *rest)

    monkeypatch.setattr(LearnedFold, "decode", watched)
    list(apart.Apart({"threads": 1}).predict(NAMES, SEQS))
    assert sorted(seen) == [(False, 1), (False, 1), (True, 0), (True, 0)]


def test_long_sequences_go_in_rounds_of_bounded_maps(monkeypatch):
    monkeypatch.setattr(apart, "LONG", 80)
    assert apart.rounds([35, 120, 64, 90]) == [[0, 2], [1, 3]]
    monkeypatch.setattr(apart, "ROUND_BYTES", 4 * 100 * 100)  # 120 nt is more alone; 90 + 85 too
    assert apart.rounds([35, 120, 64, 90, 85, 30]) == [[0, 2, 5], [1], [3], [4]]
    assert apart.rounds([120, 50]) == [[1], [0]]
    got = dict(apart.Apart({"threads": 1, "precision": "fp32"}).predict(NAMES, SEQS))
    want = dict(load_predictor(threads=1, precision="fp32").predict(NAMES, SEQS))
    assert {k: r.structure for k, r in got.items()} == {k: r.structure for k, r in want.items()}


def test_a_caller_that_stops_early_leaves_no_process_and_no_file(long_from_80):
    results = apart.Apart({"threads": 1}).predict(NAMES, SEQS)
    next(results)
    results.close()
    assert mp.active_children() == [] and os.listdir(long_from_80) == []


def test_the_folding_process_never_imports_torch(tmp_path):
    """The command itself, as a user runs it: it forks S1's process and folds without PyTorch."""
    out = tmp_path / "out.txt"
    code = ("import sys; from rnastruct.cli import main; "
            f"rc = main(['predict', '{SEQS[1]}', '--quiet', '--out', {str(out)!r}]); "
            "assert rc == 0, rc; assert 'torch' not in sys.modules, 'torch imported'")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    want = load_predictor(threads=1).predict(["seq1"], [SEQS[1]])
    assert out.read_text().splitlines()[2].startswith(next(want)[1].structure)


def test_errors_in_s1_s_process_are_raised_here():
    with pytest.raises(InputError, match="no learned model"):
        apart.Apart({"model": "turner", "decoder": "boxes"})  # refused before any job
    with pytest.raises(InputError, match="record r0: "):  # 35 bases, each of them paired: none
        list(apart.Apart({}).predict(NAMES[:2], SEQS[:2], ["|" * 35, None], None))
    with pytest.raises(InputError, match="need the fold decoder"):  # raised in the child, which decodes
        list(apart.Apart({"decoder": "boxes"}).predict(NAMES[:2], SEQS[:2], [None, "x" * 120], None))


def test_a_dead_s1_process_is_an_error_not_a_hang(monkeypatch):
    monkeypatch.setattr(apart, "_run_s1", lambda *args: os._exit(9))  # what the OOM killer leaves
    with pytest.raises(RuntimeError, match="exit code 9"):
        apart.Apart({})
