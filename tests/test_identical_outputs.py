"""Byte-identical outputs on hand-written sequences: every decoder, every output format, hard
constraints and SHAPE data, digested file by file against ``identical_outputs.json`` (made by
``python -m tests.test_identical_outputs``, from the repository root, on a commit whose outputs
are the reference). bench/identical_outputs.py does the same on an ArchiveII sample.

The dot plot's SVG (matplotlib) embeds the date, so only its presence is checked. S1 runs in float32 on one thread so that the digests do not depend on the CPU's bfloat16."""

import hashlib
import json
from pathlib import Path

import pytest

DIGESTS = Path(__file__).with_name("identical_outputs.json")
FORMATS = ("rnafold", "dot-bracket", "bpseq", "ct", "json")
SEQS = {
    "hairpins": "GGGAAAUCCCGCGCAAGCGCUUUGGGAAACCCAAA",
    "trna_like": "GCGGAUUUAGCUCAGUUGGGAGAGCGCCAGACUGAAGAUCUGGAGGUCCUGUGUUCGAUCCACAGAAUUCGCACCA",
    "with_n": "GGGGNAAAACCCCAUGGCUAGCUAGNNGCUAGCUAGCC",
    "short": "GGGGAAAACCCC",
}
CONSTRAINTS = {"hairpins": "(((....)))" + "." * 25, "trna_like": None,
               "with_n": "x" * 5 + "." * 33, "short": "............"}
SHAPE = [0.9, 0.8, 0.1, 0.05, 1.2, 1.5, 0.9, -999, 0.0, 0.1, 0.2, 0.3]  # for "short"
CASES = [
    ("real", [], FORMATS),
    ("real_mfe", ["--decoding", "mfe"], ("json",)),
    ("real_mea", ["--decoding", "mea"], ("json",)),
    ("real_threshknot", ["--decoding", "threshknot"], ("json",)),
    ("real_bpp", ["--bpp", "{dir}/bpp"], ("json",)),
    ("turner", ["--model", "turner"], FORMATS),
    ("turner_centroid", ["--model", "turner", "--decoding", "centroid"], ("json",)),
    ("mfe_set", ["--model", "mfe"], FORMATS),
    ("mfe_set_centroid", ["--model", "mfe", "--decoding", "centroid"], ("json",)),
    ("boxes", ["--decoder", "boxes"], FORMATS),
    ("boxes_mfe", ["--decoder", "boxes", "--model", "mfe", "--allow-pseudoknots"], ("json",)),
    ("constraint", ["--constraint-file", "{constraints}"], ("json",)),
    ("constraint_mfe_set", ["--constraint-file", "{constraints}", "--model", "mfe"], ("json",)),
    ("shape", ["--shape", "{shape}", "--shape-slope", "2.0"], ("json",)),
]


def outputs(tmp: Path) -> dict[str, str]:
    """Run every case's ``rnastruct predict`` -> {output file: SHA-256}."""
    from rnastruct.cli import main

    fasta = tmp / "in.fa"
    fasta.write_text("".join(f">{n}\n{s}\n" for n, s in SEQS.items()))
    cons = tmp / "cons.txt"
    cons.write_text("".join(f">{n}\n{c}\n" for n, c in CONSTRAINTS.items() if c))
    shape = tmp / "short.shape"
    shape.write_text("".join(f"{k + 1} {v}\n" for k, v in enumerate(SHAPE)))
    short = tmp / "short.fa"
    short.write_text(f">short\n{SEQS['short']}\n")
    digests = {}
    for name, options, formats in CASES:
        for fmt in formats:
            case = tmp / "out" / f"{name}.{fmt}"
            case.mkdir(parents=True)
            opts = [o.format(dir=case, constraints=cons, shape=shape) for o in options]
            args = ["predict", str(short if name == "shape" else fasta), "--format", fmt, "--out",
                    str(case / f"out.{fmt}"), "--quiet", "--precision", "fp32", "--threads", "1", *opts]
            assert main(args) == 0, args
    for p in sorted((tmp / "out").rglob("*")):
        if p.is_file():
            # matplotlib's SVG embeds the date it was written: only its presence is checked
            digests[p.relative_to(tmp / "out").as_posix()] = (
                "written" if p.name.endswith(".dp.svg") else hashlib.sha256(p.read_bytes()).hexdigest())
    return digests


def test_every_decoder_and_format_gives_the_recorded_bytes(tmp_path):
    if not DIGESTS.is_file():
        pytest.fail(f"{DIGESTS} missing: make it with python -m tests.test_identical_outputs")
    want = json.loads(DIGESTS.read_text())
    got = outputs(tmp_path)
    assert sorted(got) == sorted(want)
    differ = [f for f in want if got[f] != want[f]]
    assert not differ, f"outputs changed: {differ}"


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        DIGESTS.write_text(json.dumps(outputs(Path(tmp)), indent=1, sort_keys=True) + "\n")
    print(f"wrote {DIGESTS}")
