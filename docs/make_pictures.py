"""The README's example pictures (docs/*.png), from the bundled default model:

    python docs/make_pictures.py ../shared/data

- a dot plot of a 3,004-nt human mRNA (XM_005249644.1, from human/mrna_20_records.fa);
- drawings of a tRNA, a 5S rRNA (ArchiveII) and a 1,490-nt 16S rRNA (Zea mays, ArchiveII's four
  16S domains of it, joined in order).

The sequences are for pictures only (ArchiveII is an evaluation set; nothing is tuned on it).
"""

import csv
import sys
from pathlib import Path

from rnastruct.plots import dot_plot_figure, energy_line, save_figure, structure_figure
from rnastruct.predictor.core import load_predictor
from rnastruct.seqio import read_fasta

DOCS = Path(__file__).resolve().parent


def archive(data: Path) -> dict:
    csv.field_size_limit(10**9)
    with open(data / "benchmarks" / "ArchiveII.csv", newline="") as fh:
        return {row["id"]: row["sequence"] for row in csv.DictReader(fh)}


def main(data: str, only: str = "") -> None:
    data = Path(data)
    seqs = archive(data)
    drawings = {
        "tRNA": ("tRNA_tdbR00000067-Escherichia_coli-562-Phe-GAA", None),
        "5S": ("5s_Escherichia-coli-1", None),
        "16S": ("16s_Z.mays (domains 1-4 joined)", "".join(seqs[f"16s_Z.mays_domain{k}"] for k in range(1, 5))),
    }
    predictor = load_predictor(probs=True)
    for key, (name, seq) in drawings.items():
        if only and key != only:
            continue
        if seq is None:
            if name not in seqs:  # the first of the family then
                name = next(n for n in seqs if n.startswith(key.lower() if key == "5S" else key))
            seq = seqs[name]
        (_, r), = predictor.predict([name], [seq])
        save_figure(structure_figure(r.name, r.seq, r.structure, energy_line(r)), DOCS / f"drawing_{key}.png", dpi=110)
        print(f"drawing_{key}.png: {name}, {len(seq)} nt", file=sys.stderr)
    if not only or only == "dotplot":
        rec = next(r for r in read_fasta(data / "human" / "mrna_20_records.fa") if "XM_005249644.1" in r.name)
        (_, r), = predictor.predict(["XM_005249644.1 (human mRNA)"], [rec.seq.replace("T", "U")])
        save_figure(dot_plot_figure(r.name, r.seq, r.bpp, r.pairs, energy_line(r, ensemble=True)),
             DOCS / "dotplot_3000nt.png", dpi=110)
        print(f"dotplot_3000nt.png: {len(rec.seq)} nt", file=sys.stderr)


if __name__ == "__main__":
    main(*sys.argv[1:])
