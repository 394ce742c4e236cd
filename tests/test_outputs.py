"""Per-record output files: unique, stable names for every record name."""

from .conftest import run_cli


def test_record_names_with_dots_and_unsafe_characters_get_their_own_files(tmp_path):
    fa = tmp_path / "v.fa"
    fa.write_text(">NM_000014.4\nGGGGAAAACCCC\n>NM_000014.5\nGGGAAAUCCCGCGCAAGCGCUUUGGGAAACCCAAA\n"
                  ">a/b\nGGGGAAAACCCC\n>a_b\nGGGGAAAACCCC\n")
    plots, bpp = tmp_path / "vp", tmp_path / "bpp"
    r = run_cli("predict", fa, "--model", "mfe", "--plot", plots, "--bpp", bpp)
    assert r.returncode == 0, r.stderr
    svgs = sorted(p.name for p in plots.glob("*.svg"))
    assert len(svgs) == 4 and "NM_000014.4.svg" in svgs and "NM_000014.5.svg" in svgs
    assert len(list(bpp.glob("*.bpp.csv"))) == 4 and (bpp / "NM_000014.4.bpp.csv").is_file()
    # stable: the same names on a second run
    r = run_cli("predict", fa, "--model", "mfe", "--plot", tmp_path / "vp2")
    assert sorted(p.name for p in (tmp_path / "vp2").glob("*.svg")) == svgs


def test_gzip_fasta_is_read_and_other_compression_is_named(tmp_path):
    import gzip

    fa = tmp_path / "s.fa.gz"
    with gzip.open(fa, "wt") as fh:
        fh.write(">x\nGGGGAAAACCCC\n")
    r = run_cli("predict", fa, "--model", "mfe")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[2].startswith("((((....))))")
    bz = tmp_path / "s.fa.bz2"
    bz.write_bytes(b"BZh91AY&SY")
    r = run_cli("predict", bz)
    assert r.returncode == 2 and "bzip2-compressed file: decompress it" in r.stderr


def test_s2_with_a_decoder_that_does_not_read_it_is_an_error():
    from rnastruct.predictor.models import FALLBACK_S2

    r = run_cli("predict", "GGGGAAAACCCC", "--s2", FALLBACK_S2)  # a real S2 checkpoint, which fold does not read
    assert r.returncode == 2 and "--decoder boxes only" in r.stderr


def test_generated_folders_get_normal_permissions(tmp_path):
    import os

    import pyarrow as pa

    from rnastruct.seqio import write_dataset

    write_dataset(pa.table({"a": [1]}), tmp_path / "ds", {"kind": "test"})
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "ds").stat().st_mode & 0o777 == 0o777 & ~umask


def test_evaluate_reads_every_format_predict_writes(tmp_path):
    """predict into every format, then evaluate each against the rnafold-format predictions:
    F1 = 1 for all (the same structures, read back), and the same F1 against references."""
    import numpy as np

    rng = np.random.default_rng(3)
    seqs = ["".join(rng.choice(list("ACGU"), int(rng.integers(25, 80)))) for _ in range(12)]
    fa = tmp_path / "in.fa"
    fa.write_text("".join(f">r{k}.{k % 3}\n{s}\n" for k, s in enumerate(seqs)))
    outs = {"rnafold": tmp_path / "p.fa", "dot-bracket": tmp_path / "p.db", "json": tmp_path / "p.json",
            "bpseq": tmp_path / "p.bpseq", "ct": tmp_path / "p.ct"}
    folders = {"bpseq": tmp_path / "bpseq_dir", "ct": tmp_path / "ct_dir"}
    for fmt, out in [*outs.items(), *folders.items()]:
        r = run_cli("predict", fa, "--model", "turner", "--format", fmt, "--out", out)
        assert r.returncode == 0, (fmt, r.stderr)
    ref = outs["rnafold"]
    for fmt, out in [*outs.items(), *[(f + " folder", p) for f, p in folders.items()]]:
        r = run_cli("evaluate", "--pred", out, "--ref", ref)
        assert r.returncode == 0, (fmt, r.stderr)
        assert "| 12 | 59 | 1.000 | 1.000 | 1.000 | 1.000 | 1.000 |" in r.stdout, (fmt, r.stdout)


def test_output_paths_are_checked_before_any_prediction(tmp_path):
    import os

    (tmp_path / "adir").mkdir()
    (tmp_path / "afile").write_text("x")
    ro = tmp_path / "ro"
    ro.mkdir()
    os.chmod(ro, 0o500)
    seq = "GGGGAAAACCCC"
    cases = [(["--out", tmp_path / "adir"], "is a folder"),
             (["--format", "json", "--out", f"{tmp_path}/newdir/"], "is a folder"),
             (["--format", "ct", "--out", tmp_path / "afile"], "not a folder"),
             (["--plot", tmp_path / "afile"], "not a folder")]
    if os.geteuid() != 0:  # root writes anywhere
        cases += [(["--plot", ro / "p"], "cannot create"), (["--out", ro / "x.fa"], "not writable")]
    for extra, msg in cases:
        r = run_cli("predict", seq, "--model", "turner", *extra)
        assert r.returncode == 2 and msg in r.stderr and "Traceback" not in r.stderr, (extra, r.stderr)
    r = run_cli("evaluate", "--pred", tmp_path / "afile", "--ref", tmp_path / "afile", "--out", tmp_path / "afile")
    assert r.returncode == 2 and "not a folder" in r.stderr


def test_an_interrupted_run_keeps_nothing_half_written_and_a_rerun_skips_what_it_finished(tmp_path):
    import functools
    import os
    import signal
    import subprocess
    import sys
    import time

    import numpy as np

    rng = np.random.default_rng(5)
    fa = tmp_path / "in.fa"
    fa.write_text("".join(f">r{k}\n{''.join(rng.choice(list('ACGU'), 220))}\n" for k in range(60)))
    out = tmp_path / "out.fa"
    journal = tmp_path / ".out.fa.partial"
    args = [sys.executable, "-m", "rnastruct", "predict", str(fa), "--model", "turner", "--threads", "1",
            "--out", str(out), "--decoding", "mea"]
    # Ctrl-C as a terminal delivers it, whatever this test inherited: a shell starts background
    # jobs with SIGINT ignored, and Python then never raises KeyboardInterrupt in the child
    interruptible = functools.partial(signal.signal, signal.SIGINT, signal.SIG_DFL)
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=interruptible)
    deadline = time.time() + 120
    while time.time() < deadline and (not journal.exists() or journal.read_text().count("\n") < 4):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert not out.exists() and journal.exists()
    finished = journal.read_text().count("\n") - 1
    assert 3 <= finished < 60
    r = run_cli("predict", fa, "--model", "turner", "--threads", "1", "--out", out, "--decoding", "mea")
    assert r.returncode == 0, r.stderr
    assert f"{finished} of 60 records already done" in r.stderr
    assert not journal.exists()
    whole = tmp_path / "whole.fa"
    r = run_cli("predict", fa, "--model", "turner", "--out", whole, "--decoding", "mea")
    assert out.read_text() == whole.read_text()
    # an existing output is kept unless --overwrite
    r = run_cli(*args[3:])
    assert r.returncode == 2 and "already exists (pass --overwrite" in r.stderr and out.read_text() == whole.read_text()
    # other settings: the journal is not used, and the run says so
    proc = subprocess.Popen(args + ["--overwrite"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=interruptible)
    deadline = time.time() + 120
    while time.time() < deadline and (not journal.exists() or journal.read_text().count("\n") < 3):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "run the same command again" in err, err
    r = run_cli("predict", fa, "--model", "turner", "--out", out, "--decoding", "centroid", "--overwrite")
    assert r.returncode == 0 and "already done" not in r.stderr
    assert "written with other settings (--decoding mea then, centroid now); starting afresh" in r.stderr, r.stderr
    assert os.listdir(tmp_path).count(".out.fa.partial") == 0


def test_iupac_codes_and_modified_bases_fold_as_n_with_a_warning(tmp_path):
    fa = tmp_path / "s.fa"
    fa.write_text(">x\nGGGGAAASCCCC\n>y\nGGGPAAAACCCC\n")
    r = run_cli("predict", fa, "--model", "turner")
    assert r.returncode == 0, r.stderr
    assert "record x: 'S' at 8 folded as N" in r.stderr and "record y: 'P' at 4 folded as N" in r.stderr
    lines = r.stdout.splitlines()
    assert lines[1] == "GGGGAAANCCCC" and lines[4] == "GGGNAAAACCCC"
    assert lines[2][7] == "." and lines[5][3] == "."  # an N pairs with nothing
    import RNA

    assert lines[2].split()[0] == RNA.fold("GGGGAAANCCCC")[0]
    r = run_cli("predict", fa, "--strict")
    assert r.returncode == 2 and "invalid base 'S' at position 8" in r.stderr


def test_progress_shows_for_few_records_and_counts_work():
    from rnastruct.predictor.outputs import work

    r = run_cli("predict", "GGGGAAAACCCC", "GGGAAAUCCCGCGCAAGCGCUUUGGGAAACCCAAA", "--model", "turner")
    assert r.returncode == 0 and "predict: 2 of 2 records |" in r.stderr and "100% of the work" in r.stderr
    assert "TqdmWarning" not in r.stderr and "-0" not in r.stderr.split("records |")[-1]  # no negative time left
    # the bar advances by each record's expected work: a 400-nt RNA weighs far more than 20 nt
    assert work(400) / work(20) > (400 / 20) ** 2


def test_python_api_takes_any_sequence_of_strings():
    import rnastruct

    seqs = ("GGGGAAAACCCC", "GGGAAAUCCCGCGCAAGCGCUUUGGGAAACCCAAA")
    by_tuple = rnastruct.predict(seqs, model="turner")
    by_gen = rnastruct.predict((s for s in seqs), model="turner")
    assert [r.structure for r in by_tuple] == [r.structure for r in by_gen] and len(by_tuple) == 2
