"""Byte-identical outputs: a fixed-seed ArchiveII sample predicted by every decoder, in every
output format, digested file by file (SHA-256), against the digests a reference commit gave.

    python bench/identical_outputs.py [--write bench/results/identical_outputs/before.json]
    python bench/identical_outputs.py --check [bench/results/identical_outputs/before.json]

The reference manifest is made from a checkout of the reference commit (the package imported
from it, this script's cases), e.g.
``git archive REF | tar -x -C /tmp/ref && PYTHONPATH=/tmp/ref python bench/identical_outputs.py
--write before.json``.

Every run goes through ``rnastruct predict``'s command line (in this process, so torch is loaded
once), so a change of structure that keeps the behaviour leaves every digest as it was. The
sample: ``--n`` sequences of ArchiveII drawn with ``--seed``, most under 200 nt and a few of
400-600 nt (enough total work, sum of L^2 > 2^20, for the worker pool to start). Figures other than digests are
not measured here. Drawings: PNGs, ViennaRNA's SVGs and the bpp tables are digested; the dot
plot's SVG (matplotlib) embeds the date it was written and is only checked to exist.

``--check`` exits 1 and names every file whose digest differs (or is missing). Digests depend on
the CPU's arithmetic (S1 runs in bfloat16 where the CPU has it: ``--precision auto``), so the
manifest names the CPU it was made on.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ARCHIVE = REPO.parent / "shared" / "data" / "benchmarks" / "ArchiveII.csv"
MANIFEST = REPO / "bench" / "results" / "identical_outputs" / "before.json"
FORMATS = ("rnafold", "dot-bracket", "bpseq", "ct", "json")
#: Files that are written but not deterministic (matplotlib's SVG metadata holds the date).
UNDIGESTED = (".dp.svg",)

#: (case name, predict options, formats): every decoder and decoding of the command line, each
#: in JSON (every field of a result) and the main ones in every format
CASES = [
    ("real_centroid", [], FORMATS),  # the default: learned pair energies, centroid
    ("real_mfe", ["--decoding", "mfe"], ("json",)),
    ("real_mea", ["--decoding", "mea", "--gamma", "2"], ("json",)),
    ("real_threshknot", ["--decoding", "threshknot", "--threshold", "0.25"], ("json",)),
    ("real_bpp_plot", ["--bpp", "{dir}/bpp", "--plot", "{dir}/plot"], ("json",)),
    ("turner_mfe", ["--model", "turner"], ("rnafold", "json")),
    ("turner_centroid", ["--model", "turner", "--decoding", "centroid", "--bpp", "{dir}/bpp"], ("json",)),
    ("mfe_set", ["--model", "mfe"], ("rnafold", "ct", "json")),  # S1's proposals restrict ViennaRNA's pairs
    ("mfe_set_mea_bpp", ["--model", "mfe", "--decoding", "mea", "--bpp", "{dir}/bpp"], ("json",)),
    ("boxes_real", ["--decoder", "boxes"], FORMATS),  # S2 + the exact box assembly
    ("boxes_mfe", ["--decoder", "boxes", "--model", "mfe"], ("json",)),
    ("boxes_pseudoknots", ["--decoder", "boxes", "--allow-pseudoknots", "--plot", "{dir}/plot"], ("json",)),
]


def sample(n: int, seed: int, long: int, archive: Path = ARCHIVE) -> list[tuple[str, str]]:
    """``n`` ArchiveII records (name, sequence) drawn with ``seed``: ``n - long`` under 200 nt,
    ``long`` of 400-600 nt, in file order."""
    import numpy as np

    with open(archive, newline="") as fh:
        rows = [(r["id"], r["sequence"]) for r in csv.DictReader(fh)]
    short = [k for k, (_, s) in enumerate(rows) if len(s) < 200]
    longer = [k for k, (_, s) in enumerate(rows) if 400 <= len(s) <= 600]
    rng = np.random.default_rng(seed)
    pick = sorted(rng.choice(short, n - long, replace=False).tolist() + rng.choice(longer, long, replace=False).tolist())
    return [rows[k] for k in pick]


def digest_folder(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` -> its SHA-256 (or 'written' for the undigested kinds)."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            rel = p.relative_to(folder).as_posix()
            out[rel] = "written" if rel.endswith(UNDIGESTED) else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def run_cases(fasta: Path, work: Path, cases=CASES, extra: list[str] = ()) -> dict[str, str]:
    """Run every case's ``rnastruct predict`` on ``fasta`` into ``work`` -> {file: digest}."""
    from rnastruct.cli import main

    for name, options, formats in cases:
        for fmt in formats:
            case = work / f"{name}.{fmt}"
            case.mkdir(parents=True)
            out = case / ("out." + {"dot-bracket": "db", "rnafold": "fa"}.get(fmt, fmt))
            args = ["predict", str(fasta), "--format", fmt, "--out", str(out), "--quiet", *extra,
                    *(o.replace("{dir}", str(case)) for o in options)]
            if main(args) != 0:
                raise SystemExit(f"rnastruct {' '.join(args)} failed")
    return digest_folder(work)


def compare(got: dict[str, str], want: dict[str, str]) -> list[str]:
    """Files whose digest differs, or that only one side has."""
    return sorted(f"{f}: {'missing' if f not in got else 'unexpected' if f not in want else 'differs'}"
                  for f in set(got) | set(want) if got.get(f) != want.get(f))


def cpu() -> dict:
    import RNA
    import torch

    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "?")
    try:
        bf16 = bool(torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())
    except AttributeError:
        bf16 = False
    return {"cpu": model, "bf16": bf16, "torch": torch.__version__, "viennarna": RNA.__version__}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--long", type=int, default=4, help="how many of the n are 400-600 nt")
    ap.add_argument("--seed", type=int, default=26)
    ap.add_argument("--archive", type=Path, default=ARCHIVE, help="ArchiveII.csv")
    ap.add_argument("--write", metavar="JSON", help="write the manifest here")
    ap.add_argument("--check", nargs="?", const=str(MANIFEST), metavar="JSON",
                    help="compare with this manifest (default: the committed one)")
    args = ap.parse_args()
    if not args.archive.is_file():
        raise SystemExit(f"{args.archive}: not found (the repository's ../shared/data)")
    records = sample(args.n, args.seed, args.long, args.archive)
    with tempfile.TemporaryDirectory() as tmp:
        fasta = Path(tmp) / "sample.fa"
        fasta.write_text("".join(f">{name}\n{seq}\n" for name, seq in records))
        files = run_cases(fasta, Path(tmp) / "out")
    manifest = {"sample": {"n": args.n, "long": args.long, "seed": args.seed,
                           "names": [name for name, _ in records]},
                "machine": cpu(), "files": files}
    if args.check:
        want = json.loads(Path(args.check).read_text())
        if want["sample"] != manifest["sample"]:
            raise SystemExit(f"{args.check}: made with another sample; rerun with its --n/--long/--seed")
        if want["machine"] != manifest["machine"]:
            print(f"note: manifest made on {want['machine']}, this is {manifest['machine']}", file=sys.stderr)
        bad = compare(files, want["files"])
        print(f"{len(files)} files, {len(bad)} differ from {args.check}")
        for line in bad:
            print("  " + line)
        return 1 if bad else 0
    text = json.dumps(manifest, indent=1) + "\n"
    if args.write:
        Path(args.write).parent.mkdir(parents=True, exist_ok=True)
        Path(args.write).write_text(text)
    else:
        sys.stdout.write(text)
    print(f"{len(files)} files digested", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
