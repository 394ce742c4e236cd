"""The generator on real human sequence, checked against independent ViennaRNA calls and pyfaidx."""

import json

import numpy as np
import pytest
import RNA

from rnastruct.boxes import boxes_from_records, boxes_to_dot_bracket, structure_to_boxes
from rnastruct.datagen import (REJECT_REASONS, GenerateConfig, generate, merge, random_sequence,
                               transcript_to_genome)
from rnastruct.errors import InputError
from rnastruct.seqio import read_dataset, read_gtf
from rnastruct.structure import parse_dot_bracket

from .conftest import run_cli

_COMP = str.maketrans("ACGTNacgtn", "TGCANtgcan")


def _gen(**kw):
    table, manifest = generate(GenerateConfig(**kw), progress=False)
    return table.to_pandas(), manifest


def _counts_add_up(manifest, n_rows):
    c = manifest["counts"]
    assert c["kept"] == n_rows
    assert c["sampled"] == c["kept"] + sum(c["rejected"].values())
    assert set(c["rejected"]) == set(REJECT_REASONS)
    assert sum(c["splits"].values()) == n_rows


@pytest.fixture(scope="module")
def tx_rows(tmp_path_factory):
    from .conftest import HUMAN, need_shared_data

    need_shared_data()
    return _gen(fasta=str(HUMAN / "chr1_isoforms_hg19.fa"), gtf=str(HUMAN / "chr1_isoforms_hg19.gtf"),
                length="64", num_seq=120, min_mfe_freq=0.1, seed=11, workers=1)


def test_rows_agree_with_independent_viennarna(tx_rows):
    df, manifest = tx_rows
    rng = np.random.default_rng(0)
    for k in rng.choice(len(df), size=40, replace=False):
        row = df.iloc[k]
        fc = RNA.fold_compound(row.seq)
        structure, mfe = fc.mfe()
        fc.exp_params_rescale(mfe)
        fc.pf()
        assert row.structure == structure
        assert row.mfe == pytest.approx(mfe, abs=1e-4)
        assert row.mfe_freq == pytest.approx(fc.pr_structure(structure), rel=1e-9)
        assert row.ens_div == pytest.approx(fc.mean_bp_distance(), rel=1e-9)
        assert row.mfe_freq >= 0.1
    _counts_add_up(manifest, len(df))


def test_sequences_are_the_transcript_slices(tx_rows, human):
    df, _ = tx_rows
    seqs = {}  # read plainly, independently of the generator's pyfaidx path
    name = None
    for line in open(human / "chr1_isoforms_hg19.fa"):
        if line.startswith(">"):
            name = line[1:].split()[0]
            seqs[name] = []
        else:
            seqs[name].append(line.strip())
    seqs = {k: "".join(v) for k, v in seqs.items()}
    for row in df.itertuples():
        expect = seqs[row.source_id][row.src_start:row.src_end].upper().replace("T", "U")
        assert row.seq == expect
        assert len(row.seq) == 64 == row.len


def test_pairs_and_boxes_columns_match_structure(tx_rows):
    df, _ = tx_rows
    for row in df.itertuples():
        pairs = parse_dot_bracket(row.structure)
        assert np.array_equal(np.array([list(p) for p in row.pairs]).reshape(-1, 2), pairs)
        boxes = boxes_from_records(row.boxes)
        assert boxes == structure_to_boxes(pairs, row.len)
        assert boxes_to_dot_bracket(boxes, row.len) == row.structure


def test_segments_of_one_gene_never_overlap_across_isoforms(human):
    # Many windows from few genes with many isoforms: the overlap rule is really exercised.
    df, _ = _gen(fasta=str(human / "chr1_isoforms_hg19.fa"), gtf=str(human / "chr1_isoforms_hg19.gtf"),
                 length="20-200", num_seq=400, min_mfe_freq=0.0, seed=3, workers=1, ens_div=False)
    tx = {t.transcript_id: t for t in read_gtf(human / "chr1_isoforms_hg19.gtf")}
    from rnastruct.datagen import Source

    covered = {}
    n_multi_isoform = 0
    for row in df.itertuples():
        t = tx[row.source_id]
        src = Source(t.transcript_id, t.gene_id, t.chrom, t.strand, t.length, t.exons, t.transcript_id, False)
        pieces = transcript_to_genome(src, row.src_start, row.src_end)
        assert sum(b - a for a, b in pieces) == row.len
        assert (row.start, row.end) == (min(p[0] for p in pieces), max(p[1] for p in pieces))
        bases = covered.setdefault(row.gene_id, set())
        new = set().union(*(range(a, b) for a, b in pieces))
        assert not (bases & new), f"{row.id} overlaps another segment of gene {row.gene_id}"
        bases |= new
        assert row.gene_id == t.gene_id
    n_multi_isoform = sum(1 for g in df.groupby("gene_id").source_id.nunique() if g > 1)
    assert n_multi_isoform > 0  # the check above covered genes sampled from several isoforms


def test_each_gene_is_in_exactly_one_split(human):
    df, manifest = _gen(fasta=str(human / "chr1_isoforms_hg19.fa"), gtf=str(human / "chr1_isoforms_hg19.gtf"),
                        length="30-60", num_seq=400, seed=5, workers=1, ens_div=False,
                        valid_frac=0.2, test_frac=0.2)
    per_gene = df.groupby("gene_id")["split"].nunique()
    assert (per_gene == 1).all()
    assert set(df["split"]) == {"train", "valid", "test"}
    _counts_add_up(manifest, len(df))


def test_only_splits_samples_just_those_genes(human):
    """A held-out set without folding the rest: only test genes, the same ones a full run puts
    in test."""
    kw = dict(fasta=str(human / "chr1_isoforms_hg19.fa"), gtf=str(human / "chr1_isoforms_hg19.gtf"),
              length="30-60", seed=5, workers=1, ens_div=False, valid_frac=0.2, test_frac=0.2)
    held, manifest = _gen(**kw, num_seq=60, only_splits=["test"])
    assert len(held) == 60 and set(held["split"]) == {"test"}
    full, _ = _gen(**kw, num_seq=400)
    test_genes, other_genes = set(full.gene_id[full.split == "test"]), set(full.gene_id[full.split != "test"])
    assert set(held["gene_id"]) & other_genes == set()
    assert set(held["gene_id"]) & test_genes  # the same genes: the split is a function of the gene
    assert manifest["params"]["only_splits"] == ["test"]
    with pytest.raises(InputError, match="unknown split"):
        _gen(**kw, num_seq=5, only_splits=["holdout"])


def test_same_seed_same_rows_whatever_the_workers(human):
    kw = dict(fasta=str(human / "chr1_isoforms_hg19.fa"), length="20-120", num_seq=80,
              min_mfe_freq=0.05, seed=99)
    df1, m1 = _gen(**kw, workers=1)
    df2, m2 = _gen(**kw, workers=2)
    assert df1.equals(df2)
    assert m1["counts"] == m2["counts"]
    df3, _ = _gen(**{**kw, "seed": 100}, workers=1)
    assert not df1["id"].equals(df3["id"])


def test_length_range_and_length_aware_threshold(human):
    df, _ = _gen(fasta=str(human / "chr1_isoforms_hg19.fa"), length="20-200", num_seq=60,
                 min_mfe_freq=0.1, mfe_freq_ref_length=64, seed=2, workers=1, ens_div=False)
    assert df["len"].between(20, 200).all()
    assert (df["mfe_freq"] >= 0.1 ** (df["len"] / 64)).all()
    assert df["len"].max() > 100  # the length-aware threshold lets long segments through
    assert df["ens_div"].isna().all()  # --no-ens-div skips the base-pair probabilities


def test_gene_bodies_from_genome_are_strand_aware(human, tmp_path):
    genome, gtf = human / "GRCh38_chr9_1-1000000.fa", human / "Ensembl91_chr9_1-1000000.gtf"
    df, manifest = _gen(genome=str(genome), gtf=str(gtf), length="64", num_seq=150, seed=4,
                        workers=2, split_by="chrom", test_chroms=["9"], ens_div=False)
    chrom = "".join(l.strip() for l in open(genome) if not l.startswith(">"))
    assert set(df["strand"]) == {"+", "-"}
    for row in df.itertuples():
        g = chrom[row.start:row.end]
        expect = g.upper() if row.strand == "+" else g.translate(_COMP)[::-1].upper()
        assert row.seq == expect.replace("T", "U")
        assert row.end - row.start == 64
        structure, mfe = RNA.fold(row.seq)
        assert row.structure == structure
    assert set(df["split"]) == {"test"}
    _counts_add_up(manifest, len(df))


def test_spliced_transcripts_from_genome(human):
    genome, gtf = human / "GRCh38_chr9_1-1000000.fa", human / "Ensembl91_chr9_1-1000000.gtf"
    df, _ = _gen(genome=str(genome), gtf=str(gtf), regions="transcript", length="100", num_seq=60,
                 seed=8, workers=1, ens_div=False)
    chrom = "".join(l.strip() for l in open(genome) if not l.startswith(">"))
    tx = {t.transcript_id: t for t in read_gtf(gtf)}
    spliced_seen = False
    for row in df.itertuples():
        t = tx[row.source_id]
        parts = [chrom[a:b] for a, b in t.exons]
        full = "".join(parts) if t.strand == "+" else "".join(p.translate(_COMP)[::-1] for p in parts)
        assert row.seq == full[row.src_start:row.src_end].upper().replace("T", "U")
        spliced_seen |= row.end - row.start > row.len  # the segment spans an intron
    assert spliced_seen


def test_soft_mask_and_n_filters(human):
    genome, gtf = human / "GRCh38_chr9_1-1000000.fa", human / "Ensembl91_chr9_1-1000000.gtf"
    chrom = "".join(l.strip() for l in open(genome) if not l.startswith(">"))
    df, manifest = _gen(genome=str(genome), gtf=str(gtf), length="64", num_seq=100, seed=6,
                        workers=1, soft_mask="exclude", ens_div=False)
    assert manifest["counts"]["rejected"]["soft_masked"] > 0
    for row in df.itertuples():
        assert chrom[row.start:row.end] == chrom[row.start:row.end].upper()
    assert not df["seq"].str.contains("N").any()


def test_min_pairs_filter(human):
    df, manifest = _gen(fasta=str(human / "mrna_20_records.fa"), length="40", num_seq=50, seed=1,
                        workers=1, min_pairs=12, ens_div=False)
    assert (df["pairs"].map(len) >= 12).all()
    assert manifest["counts"]["rejected"]["too_few_pairs"] > 0


def test_shards_merge_into_one_dataset(human):
    kw = dict(fasta=str(human / "chr1_isoforms_hg19.fa"), length="64", num_seq=30, seed=21,
              workers=1, ens_div=False)
    shards = [generate(GenerateConfig(**kw, shard=k, num_shards=3), progress=False) for k in range(3)]
    ids = [set(t.column("id").to_pylist()) for t, _ in shards]
    assert not (ids[0] & ids[1]) and not (ids[1] & ids[2]) and not (ids[0] & ids[2])
    table, manifest = merge(shards)
    assert table.num_rows == 90
    assert table.column("id").to_pylist() == sum((t.column("id").to_pylist() for t, _ in shards), [])
    _counts_add_up(manifest, table.num_rows)
    with pytest.raises(InputError, match="missing shard"):
        merge(shards[:2])
    with pytest.raises(InputError, match="given twice"):
        merge([shards[0], shards[0], shards[1], shards[2]])
    other = generate(GenerateConfig(**{**kw, "seed": 22}, shard=2, num_shards=3), progress=False)
    with pytest.raises(InputError, match="different parameters.*seed"):
        merge([shards[0], shards[1], other])


def test_cli_generate_writes_dataset_and_manifest(human, tmp_path):
    out = tmp_path / "ds"
    r = run_cli("generate", "--fasta", human / "mrna_20_records.fa", "--length", "50", "--num-seq", "25",
                "--min-mfe-freq", "0.1", "--seed", "3", "--workers", "1", "--out", out)
    assert r.returncode == 0, r.stderr
    assert "kept" in r.stderr  # the progress bar
    df, manifest = read_dataset(out)
    on_disk = json.loads((out / "manifest.json").read_text())
    assert on_disk == manifest
    assert on_disk["params"]["seed"] == 3 and on_disk["versions"]["viennarna"] == RNA.__version__
    _counts_add_up(on_disk, len(df))
    r2 = run_cli("generate", "--fasta", human / "mrna_20_records.fa", "--length", "50", "--out", out)
    assert r2.returncode == 2 and "already exists" in r2.stderr


def test_cli_config_file_and_unknown_keys(human, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"fasta: {human / 'mrna_20_records.fa'}\nlength: '40'\nnum_seq: 10\nseed: 2\n")
    r = run_cli("generate", "--config", cfg, "--workers", "1", "--set", "min_mfe_freq=0.2",
                "--out", tmp_path / "ds")
    assert r.returncode == 0, r.stderr
    df, manifest = read_dataset(tmp_path / "ds")
    assert len(df) == 10 and manifest["params"]["min_mfe_freq"] == 0.2
    assert (df["mfe_freq"] >= 0.2).all()
    cfg.write_text("fasta: x.fa\nlenght: '40'\n")
    r = run_cli("generate", "--config", cfg, "--out", tmp_path / "ds2")
    assert r.returncode == 2 and "unknown key(s) lenght" in r.stderr
    cfg.write_text("fasta: x.fa\nnum_seq: many\n")
    r = run_cli("generate", "--config", cfg, "--out", tmp_path / "ds2")
    assert r.returncode == 2 and "num_seq must be int" in r.stderr
    assert not (tmp_path / "ds2").exists()


BAD_FASTA = {
    "invalid": (">a\nACGUACGUACGUACGUAC*UACGUACGU\n", "invalid character '\\*' at position 19"),
    "empty": (">a\nACGUACGUACGUACGUACGUACGUACGU\n>b\n>c\nACGUACGUAC\n", "record b is empty"),
    "duplicate": (">a\nACGUACGUACGUACGUACGUACGUACGU\n>a\nACGUACGUAC\n", "[Dd]uplicate .*a"),
    "no_header": ("ACGU\n>a\nACGU\n", "before the first"),
}


@pytest.mark.parametrize("case", sorted(BAD_FASTA))
def test_bad_fasta_is_a_clear_error_with_no_output(tmp_path, case):
    text, message = BAD_FASTA[case]
    fa = tmp_path / "in.fa"
    fa.write_text(text)
    r = run_cli("generate", "--fasta", fa, "--length", "10", "--out", tmp_path / "out")
    assert r.returncode == 2
    assert str(fa) in r.stderr
    assert __import__("re").search(message, r.stderr), r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "out").exists()


def test_bad_runs_are_clear_errors_with_no_output(human, tmp_path):
    fa = human / "mrna_20_records.fa"
    gtf = tmp_path / "other.gtf"
    gtf.write_text('chr7\tx\texon\t1\t100\t.\t+\t.\tgene_id "G1"; transcript_id "T1";\n')
    cases = [
        (["--genome", human / "GRCh38_chr9_1-1000000.fa", "--gtf", gtf, "--length", "50"],
         "chromosome 'chr7', which .* lacks"),
        (["--fasta", fa, "--length", "20000-30000"], "longer than every source sequence"),
        (["--fasta", fa, "--length", "40", "--num-seq", "5", "--min-pairs", "1000"],
         "no segment passed the filters"),
        (["--fasta", tmp_path / "missing.fa", "--length", "40"], "missing.fa: no such file"),
        (["--fasta", fa, "--length", "abc"], "argument --length: expected N or MIN-MAX"),
        (["--genome", human / "GRCh38_chr9_1-1000000.fa", "--length", "40"], "--genome needs --gtf"),
    ]
    for args, message in cases:
        r = run_cli("generate", *args, "--workers", "1", "--out", tmp_path / "out")
        assert r.returncode == 2, (args, r.stderr)
        assert __import__("re").search(message, r.stderr), r.stderr
        assert "Traceback" not in r.stderr
        assert not (tmp_path / "out").exists()
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    r = run_cli("generate", "--fasta", fa, "--length", "40", "--out", blocker / "out")
    assert r.returncode == 2 and "cannot create the folder" in r.stderr
    assert list(tmp_path.iterdir()) == [gtf, blocker]  # nothing half-written anywhere


def test_generate_writes_nothing_into_the_fasta_folder(human, tmp_path):
    before = sorted(p.name for p in human.iterdir())
    _gen(fasta=str(human / "mrna_20_records.fa"), length="40", num_seq=3, workers=1, ens_div=False)
    assert sorted(p.name for p in human.iterdir()) == before


def test_cli_merge_and_inspect(human, tmp_path):
    base = ["--fasta", human / "mrna_20_records.fa", "--length", "40", "--num-seq", "8",
            "--seed", "5", "--workers", "1", "--num-shards", "2", "--quiet"]
    for k in range(2):
        assert run_cli("generate", *base, "--shard", k, "--out", tmp_path / f"s{k}").returncode == 0
    r = run_cli("merge", tmp_path / "s0", tmp_path / "s1", "--out", tmp_path / "m")
    assert r.returncode == 0, r.stderr
    df, manifest = read_dataset(tmp_path / "m")
    assert len(df) == 16 and manifest["merged_shards"] == [0, 1]
    r = run_cli("merge", tmp_path / "s0", "--out", tmp_path / "m2")
    assert r.returncode == 2 and "missing shard(s) 1" in r.stderr and not (tmp_path / "m2").exists()
    r = run_cli("inspect", tmp_path / "m")
    assert r.returncode == 0 and "16 segments" in r.stdout


def test_antisense_and_extra_tilings(human):
    genome, gtf = human / "GRCh38_chr9_1-1000000.fa", human / "Ensembl91_chr9_1-1000000.gtf"
    chrom = "".join(l.strip() for l in open(genome) if not l.startswith(">"))
    df, manifest = _gen(genome=str(genome), gtf=str(gtf), length="64", num_seq=200, seed=9,
                        workers=1, antisense=True, tilings=2, ens_div=False)
    anti = df[df["source_id"].str.endswith("_antisense")]
    assert 0 < len(anti) < len(df)
    genes = {g: s for g, s in df[~df.source_id.str.endswith("_antisense")][["gene_id", "strand"]].values}
    for row in df.itertuples():
        g = chrom[row.start:row.end]
        expect = g.upper() if row.strand == "+" else g.translate(_COMP)[::-1].upper()
        assert row.seq == expect.replace("T", "U")
        if row.source_id.endswith("_antisense") and row.gene_id in genes:
            assert row.strand != genes[row.gene_id]
    # two tilings: windows of one gene and strand may overlap, but no sequence repeats
    assert df["seq"].is_unique
    assert (df.groupby("gene_id")["split"].nunique() == 1).all()
    _counts_add_up(manifest, len(df))

    tx_df, _ = _gen(fasta=str(human / "mrna_20_records.fa"), length="50", num_seq=40, seed=2,
                    workers=1, antisense=True, ens_div=False)
    seqs = {}
    for line in open(human / "mrna_20_records.fa"):
        if line.startswith(">"):
            name = line[1:].split()[0]
            seqs[name] = ""
        else:
            seqs[name] += line.strip()
    n_anti = 0
    for row in tx_df.itertuples():
        if row.source_id.endswith("_antisense"):
            full = seqs[row.source_id[: -len("_antisense")]].upper()
            rc = full.translate(_COMP)[::-1]
            assert row.seq == rc[row.src_start:row.src_end].replace("T", "U")
            n_anti += 1
    assert n_anti > 0


def test_output_parent_folders_are_created(human, tmp_path):
    out = tmp_path / "a" / "b" / "ds"
    r = run_cli("generate", "--fasta", human / "mrna_20_records.fa", "--length", "40", "--num-seq", "3",
                "--workers", "1", "--quiet", "--out", out)
    assert r.returncode == 0, r.stderr
    assert read_dataset(out)[0].shape[0] == 3


def test_random_sequences_are_seeded_uniform_training_data(tmp_path):
    kw = dict(random=300, length="30-50", min_mfe_freq=0.05, seed=3, ens_div=False)
    df1, m1 = _gen(**kw, workers=1)
    df2, m2 = _gen(**kw, workers=2)
    assert df1.equals(df2) and m1["counts"] == m2["counts"]
    _counts_add_up(m1, len(df1))
    assert 0 < len(df1) < 300 and m1["counts"]["rejected"]["low_mfe_freq"] > 0
    assert (df1["split"] == "train").all() and df1["len"].between(30, 50).all()
    assert df1["id"].is_unique and (df1["gene_id"] == df1["id"]).all()
    for row in df1.head(30).itertuples():
        k = int(row.id.removeprefix("random_"))
        assert row.seq == random_sequence(3, k, row.len)  # the row is candidate k, whatever the worker
        fc = RNA.fold_compound(row.seq)
        structure, mfe = fc.mfe()
        assert row.structure == structure and row.mfe == pytest.approx(mfe, abs=1e-4)
    bases = "".join(random_sequence(3, k, 100) for k in range(200))
    assert set(bases) == set("ACGU")
    assert all(abs(bases.count(b) / len(bases) - 0.25) < 0.02 for b in "ACGU")
    df3, _ = _gen(**{**kw, "seed": 4}, workers=1)
    assert not set(df1["seq"]) & set(df3["seq"])
    # shards deal the same candidates: together they are the whole run
    parts = [_gen(**kw, workers=1, shard=s, num_shards=2)[0] for s in (0, 1)]
    assert sorted(parts[0]["id"].tolist() + parts[1]["id"].tolist()) == sorted(df1["id"])
    with pytest.raises(InputError, match="do not apply: antisense, tilings"):
        _gen(random=10, length="40", antisense=True, tilings=2)
    with pytest.raises(InputError, match="do not apply: fasta"):
        _gen(random=10, length="40", fasta="x.fa")
    r = run_cli("generate", "--random", "40", "--length", "40", "--seed", "5", "--workers", "1",
                "--out", tmp_path / "out", "--quiet")
    assert r.returncode == 0, r.stderr
    ds, manifest = read_dataset(tmp_path / "out")
    assert manifest["params"]["random"] == 40 and manifest["counts"]["sampled"] == 40


def test_split_leakage_drops_training_rows_sharing_a_kmer_with_held_out_ones(tmp_path):
    """data_gen/split_leakage.py: a 25-nt piece of a validation segment's reverse complement
    is a leak; the same segment with a mismatch every 15 nt is not (no shared 20-mer)."""
    import subprocess
    import sys
    from pathlib import Path

    import pyarrow as pa

    table, manifest = generate(GenerateConfig(random=60, length="64", seed=12, ens_div=False, workers=1),
                               progress=False)
    seqs = table.column("seq").to_pylist()
    split = ["valid" if k < 5 else "train" for k in range(len(seqs))]
    rc0 = seqs[0].translate(str.maketrans("ACGU", "UGCA"))[::-1]
    seqs[10] = rc0[:25] + seqs[10][25:]
    swap = {"A": "C", "C": "G", "G": "U", "U": "A"}
    seqs[11] = "".join(swap[b] if k % 15 == 7 else b for k, b in enumerate(seqs[0]))
    table = table.set_column(table.column_names.index("seq"), "seq", pa.array(seqs))
    table = table.set_column(table.column_names.index("split"), "split", pa.array(split))
    from rnastruct.seqio import write_dataset

    write_dataset(table, tmp_path / "ds", manifest)
    script = Path(__file__).resolve().parents[1] / "data_gen" / "split_leakage.py"
    r = subprocess.run([sys.executable, script, "--held-out", tmp_path / "ds", "--train", tmp_path / "ds", "--drop"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert f"1 of {len(seqs) - 5} training segments" in r.stdout
    clean, m = read_dataset(tmp_path / "ds_clean")
    ids = table.column("id").to_pylist()
    assert clean["id"].tolist() == ids[:10] + ids[11:]
    assert m["leakage_filter"]["dropped"] == 1
