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
    r = run_cli("predict", "GGGGAAAACCCC", "--s2", "whatever.pt")
    assert r.returncode == 2 and "--decoder boxes only" in r.stderr


def test_generated_folders_get_normal_permissions(tmp_path):
    import os

    import pyarrow as pa

    from rnastruct.seqio import write_dataset

    write_dataset(pa.table({"a": [1]}), tmp_path / "ds", {"kind": "test"})
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "ds").stat().st_mode & 0o777 == 0o777 & ~umask
