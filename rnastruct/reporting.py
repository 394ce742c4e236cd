"""Tables, figures and docs sections of the measurements in bench/: CSV and markdown tables,
the F1-by-family figure, and a generated section of docs/benchmarks.md. Files are written
atomically and readable by all (0666 less the umask)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from .seqio import atomic_path, write_text_atomic


def readable(path: Path) -> None:
    """0666 less umask: files written through a temporary file are otherwise 0600."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def write_csv(df: pd.DataFrame, path: Path, index: bool = False) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=index, float_format="%.6g")
    readable(path)


def md_table(df: pd.DataFrame, fmt: dict | None = None, index_name: str | None = None) -> str:
    fmt = fmt or {}
    cols = ([index_name] if index_name else []) + list(df.columns)
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "---|" * len(cols)]
    for idx, row in df.iterrows():
        cells = [str(idx)] if index_name else []
        for c in df.columns:
            v = row[c]
            if v is None or (isinstance(v, float) and np.isnan(v)):
                cells.append("-")
            else:
                cells.append(fmt.get(c, "{}").format(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_docs(path: Path, section: str, heading: str) -> None:
    """Replace the section ``heading`` of ``path`` (from it to the next ``## `` heading),
    leaving every other section as it is; append it when absent."""
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    lines = text.splitlines(keepends=True)
    start = next((k for k, l in enumerate(lines) if l.rstrip() == heading), None)
    if start is None:
        new = text.rstrip("\n") + "\n\n" + section.rstrip("\n") + "\n"
    else:
        end = next((k for k in range(start + 1, len(lines)) if lines[k].startswith("## ")), len(lines))
        tail = "".join(lines[end:])
        new = "".join(lines[:start]) + section.rstrip("\n") + "\n" + ("\n" + tail if tail else "")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, new)
    readable(path)


def save_png(fig, path: Path) -> None:
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    readable(path)


def plot_family_f1(table: pd.DataFrame, path: Path) -> None:
    """Grouped bars: mean F1 per family (rows) for each tool (columns)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fams, tools = list(table.index), list(table.columns)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(fams) + 2), 4.2))
    try:
        w = 0.8 / max(1, len(tools))
        for k, t in enumerate(tools):
            ax.bar(np.arange(len(fams)) + (k - (len(tools) - 1) / 2) * w, table[t].to_numpy(), w,
                   label=t, color=f"C{k}")
        ax.set_xticks(range(len(fams)), fams, rotation=45, ha="right")
        ax.set_ylabel("mean F1")
        ax.set_ylim(0, 1)
        ax.set_title("F1 by family")
        ax.legend(fontsize=8, ncol=len(tools))
        save_png(fig, path)
    finally:
        plt.close(fig)
