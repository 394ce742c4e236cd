"""The console script: boxes, help, and clean errors."""

import json

import RNA

from rnastruct.seqio import Record, format_ct

from .conftest import run_cli


def test_boxes_of_a_dot_bracket_string():
    r = run_cli("boxes", "((..((...))...))")
    assert r.returncode == 0, r.stderr
    rows = [line.split("\t") for line in r.stdout.strip().splitlines()[1:]]
    assert [(t, int(x), int(y), int(sx), int(sy)) for _, t, x, y, sx, sy, _ in rows] == [
        ("stem", 0, 15, 2, 2), ("iloop", 1, 14, 4, 5), ("stem", 4, 10, 2, 2), ("hloop", 5, 9, 5, 5)]


def test_boxes_of_files_agree_with_viennarna_folds(tmp_path):
    seq = "GGGAAAUCCCGCGCAAGCGCUUUGGGAAACCCAAA"
    structure, mfe = RNA.fold(seq)
    fa = tmp_path / "x.fa"
    fa.write_text(f">x\n{seq}\n{structure} ({mfe:.2f})\n")
    from rnastruct.structure import parse_dot_bracket

    ct = tmp_path / "x.ct"
    ct.write_text(format_ct(Record("x", seq, parse_dot_bracket(structure))))
    outs = []
    for f in (fa, ct):
        r = run_cli("boxes", f, "--format", "json")
        assert r.returncode == 0, r.stderr
        outs.append(json.loads(r.stdout))
    assert outs[0] == outs[1]
    stems = [b for b in outs[0][0]["boxes"] if b["type"] == "stem"]
    assert sum(b["siz_x"] for b in stems) == structure.count("(")


def test_boxes_bad_input_is_a_clean_error(tmp_path):
    r = run_cli("boxes", "((..)")
    assert r.returncode == 2 and "unmatched '('" in r.stderr and "Traceback" not in r.stderr
    fa = tmp_path / "x.fa"
    fa.write_text(">x\nACGU\n")
    r = run_cli("boxes", fa)
    assert r.returncode == 2 and "record x has no structure line" in r.stderr


def test_help_lists_every_subcommand():
    r = run_cli("--help")
    assert r.returncode == 0
    for name in ("generate", "merge", "boxes", "inspect"):
        assert name in r.stdout
