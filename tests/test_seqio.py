"""File formats: round trips, RNAfold's own output, and clean errors on garbage."""

import io

import numpy as np
import pytest
import RNA
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnastruct.seqio import (
    InputError,
    Record,
    format_bpseq,
    format_ct,
    format_fasta,
    read_bpseq,
    read_ct,
    read_fasta,
    read_gtf,
    write_fasta,
)
from rnastruct.structure import parse_dot_bracket, to_dot_bracket

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _fasta(text, **kw):
    return read_fasta(io.StringIO(text), **kw)


def test_reads_rnafold_output_with_energies():
    seqs = {"r1": "GGGAAAUCCCGCGCAAGCGCUUUGGGAAACCCAAA", "r2": "acgtacgtaggctagctagcatcgatcg"}
    text = ""
    for name, seq in seqs.items():
        structure, mfe = RNA.fold(seq.upper().replace("T", "U"))
        text += f">{name} some description\n{seq}\n{structure} ({mfe:6.2f})\n"
    records = _fasta(text)
    assert [r.name for r in records] == ["r1", "r2"]
    assert records[0].description == "some description"
    for r in records:
        structure, _ = RNA.fold(r.seq)
        assert np.array_equal(r.pairs, parse_dot_bracket(structure))
    assert records[1].seq == "ACGUACGUAGGCUAGCUAGCAUCGAUCG"


def test_multiline_sequences_and_comments():
    r = _fasta(";comment\n>x\nACGU\nacgu\n\nNNAC\n")[0]
    assert r.seq == "ACGUACGUNNAC" and r.pairs is None


@pytest.mark.parametrize("text, message", [
    (">a\nACGU\n>a\nACGU\n", "line 3: duplicate record id 'a' \\(first at line 1\\)"),
    (">a\n>b\nACGU\n", "line 1: record a is empty"),
    ("ACGU\n", "line 1: sequence before the first"),
    (">a\nACGU\nAC9U\n", "line 3, record a: invalid base '9' at position 7 \\(column 3\\)"),
    (">a\nACGU\n((.)\n", "line 3: record a: unmatched '\\(' at position 1"),
    (">a\nACGUA\n(..)\n", "line 3, record a: structure length 4 differs from sequence length 5"),
    (">a\nACGU\n(..)\nACGU\n", "line 4, record a: sequence after the structure"),
    ("", "no FASTA records"),
    (">\nACGU\n", "header without a name"),
])
def test_fasta_errors_name_line_and_record(text, message):
    with pytest.raises(InputError, match=message):
        _fasta(text)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_fasta(tmp_path / "nope.fa")
    with pytest.raises(InputError, match="is a folder"):
        read_fasta(tmp_path)


nested_db = st.recursive(
    st.just(""),
    lambda inner: st.one_of(
        st.builds(lambda a, b: a + b, inner, inner),
        st.builds(lambda a: "(" + a + "...)", inner),
        st.builds(lambda a: "." + a, inner),
    ),
    max_leaves=30,
)


@FAST
@given(db=nested_db, data=st.data())
def test_fasta_ct_bpseq_round_trip(db, data, tmp_path_factory):
    seq = data.draw(st.text(alphabet="ACGUN", min_size=len(db), max_size=len(db))) if db else "A"
    db = db or "."
    pairs = parse_dot_bracket(db)
    rec = Record("rec1", seq, pairs)
    back = _fasta(format_fasta([rec], width=7))[0]
    assert back.seq == seq and np.array_equal(back.pairs, pairs)
    ct = read_ct(io.StringIO(format_ct(rec, energy=-1.5)))[0]
    assert ct.name == "rec1" and ct.seq == seq and np.array_equal(ct.pairs, pairs)
    bp = read_bpseq(io.StringIO(format_bpseq(rec)))
    assert bp.name == "rec1" and bp.seq == seq and np.array_equal(bp.pairs, pairs)
    assert to_dot_bracket(bp.pairs, len(seq)) == db


def test_pseudoknots_survive_ct_and_bpseq():
    db = "((..[[..))..]]"
    rec = Record("pk", "GGAAGGAACCAACC", parse_dot_bracket(db))
    assert to_dot_bracket(read_ct(io.StringIO(format_ct(rec)))[0].pairs, 14) == db
    assert to_dot_bracket(read_bpseq(io.StringIO(format_bpseq(rec))).pairs, 14) == db


@pytest.mark.parametrize("text, message", [
    ("3 x\n1 A 0 2 3 1\n2 C 1 3 0 2\n", "declares 3 bases, has 2"),
    ("2 x\n1 A 0 2 2 1\n2 C 1 3 0 2\n", "base 2 pairs with 0"),
    ("2 x\n1 A 0 2 5 1\n2 C 1 3 0 2\n", "invalid partner 5"),
    ("2 x\n1 A 0 2 0 1\n3 C 1 3 0 2\n", "index 3, expected 2"),
    ("x 2\n", "expected a CT header"),
    ("2 x\n1 A 0\n2 C 1 3 0 2\n", "malformed CT line"),
])
def test_ct_errors(text, message):
    with pytest.raises(InputError, match=message):
        read_ct(io.StringIO(text))


@pytest.mark.parametrize("text, message", [
    ("1 A 2\n2 C 0\n", "base 1 pairs with 2, but base 2 pairs with 0"),
    ("1 A\n", "expected 'index base partner'"),
    ("1 A 0\n2 X 0\n", "invalid base 'X' at position 2"),
    ("", "has no bases"),
])
def test_bpseq_errors(text, message):
    with pytest.raises(InputError, match=message):
        read_bpseq(io.StringIO(text), name="t")


@FAST
@given(st.text(max_size=300))
def test_garbage_gives_only_input_errors(text):
    for reader in (lambda: _fasta(text), lambda: read_ct(io.StringIO(text)),
                   lambda: [read_bpseq(io.StringIO(text), name="g")]):
        try:
            records = reader()
        except InputError:
            continue
        for r in records:  # whatever parses is a clean record
            assert r.seq and set(r.seq) <= set("ACGUN")
            if r.pairs is not None:
                assert r.pairs.ndim == 2 and (r.pairs[:, 0] < r.pairs[:, 1]).all()
                assert r.pairs.max(initial=-1) < len(r.seq)


@FAST
@given(st.lists(st.sampled_from([">a\n", ">b x\n", "ACGU\n", "acgt\n", "((..))\n", "..((\n",
                                 "NNN\n", "(-1.0)\n", "\n", ";c\n", "AC GU\n", "ÄCGU\n"]), max_size=12))
def test_fasta_like_garbage_gives_only_input_errors(lines):
    try:
        records = _fasta("".join(lines))
    except InputError:
        return
    for r in records:  # what parses is clean
        assert set(r.seq) <= set("ACGUN") and r.seq


def test_write_fasta_is_atomic(tmp_path):
    target = tmp_path / "out.fa"
    write_fasta([Record("a", "ACGU")], target)
    assert target.read_text() == ">a\nACGU\n"
    with pytest.raises(InputError, match="does not exist"):
        write_fasta([Record("a", "ACGU")], tmp_path / "no" / "out.fa")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.fa"]


def test_gtf_groups_exons_into_transcripts(tmp_path):
    gtf = tmp_path / "a.gtf"
    gtf.write_text(
        '#!header\n'
        'chr1\tx\tgene\t1\t500\t.\t-\t.\tgene_id "G";\n'
        'chr1\tx\texon\t101\t200\t.\t-\t.\tgene_id "G"; transcript_id "T";\n'
        'chr1\tx\texon\t301\t400\t.\t-\t.\tgene_id "G"; transcript_id "T";\n'
    )
    (t,) = read_gtf(gtf)
    assert (t.gene_id, t.chrom, t.strand, t.length) == ("G", "chr1", "-", 200)
    assert t.exons.tolist() == [[300, 400], [100, 200]]  # transcription order on the minus strand
    gtf.write_text('chr1\tx\texon\t101\t200\t.\t+\t.\tgene_id "G";\n')
    with pytest.raises(InputError, match="line 1: exon without gene_id/transcript_id"):
        read_gtf(gtf)
    gtf.write_text('chr1\tx\texon\t101\n')
    with pytest.raises(InputError, match="line 1: expected 9 tab-separated columns"):
        read_gtf(gtf)


@FAST
@given(st.lists(st.sampled_from([
    'chr1\tx\texon\t1\t10\t.\t+\t.\tgene_id "G"; transcript_id "T";\n',
    'chr1\tx\texon\t20\t10\t.\t+\t.\tgene_id "G"; transcript_id "T";\n',
    'chr2\tx\texon\t30\t40\t.\t-\t.\tgene_id "G"; transcript_id "T";\n',
    'chr1\tx\texon\t1\t10\t.\t?\t.\tgene_id "G"; transcript_id "U";\n',
    'chr1\tx\tgene\t1\t10\t.\t+\t.\tgene_id "G";\n', "#c\n", "\n", "a\tb\n", "x" * 20 + "\n",
]), max_size=8))
def test_gtf_garbage_gives_only_input_errors(tmp_path_factory, lines):
    f = tmp_path_factory.mktemp("gtf") / "g.gtf"
    f.write_text("".join(lines))
    try:
        transcripts = read_gtf(f)
    except InputError:
        return
    for t in transcripts:
        assert t.length > 0 and t.strand in "+-"


def test_unicode_digits_are_not_numbers():
    """'²'.isdigit() is True but int('²') fails: such a line is a clear InputError."""
    for text in ("²", "1 A ²\n", "² A 0\n"):
        with pytest.raises(InputError):
            read_bpseq(io.StringIO(text), name="u")
    with pytest.raises(InputError):
        read_ct(io.StringIO("²  x\n"))
