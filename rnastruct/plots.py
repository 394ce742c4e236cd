"""Plots of runs: ``rnastruct plot metrics`` (training curves) and ``rnastruct plot pixels``
(S1 activations of one sequence); S1 sensitivity curves for ``rnastruct s1-eval``; the
drawings of ``rnastruct predict --plot`` and ``--bpp`` (a structure, its boxes, a dot plot).

    rnastruct plot metrics RUN_DIR [RUN_DIR ...] --out grid.png [--metrics M1 M2 ...]
    rnastruct plot pixels --seq SEQ [--structure DB] [--pixel I,J ...] --out pixels.png

The lab notebook's "plot metrics" step as library calls. A run folder is what ``rnastruct
s1-train`` writes: ``RUN_DIR/metrics.csv`` has one row per epoch per split, the original's metric
columns (``<output>.auroc``, ``.auprc``, ``.accuracy``, ``.diff``), then ``loss`` and one
``<output>.loss`` per output, then ``lr, seconds, tv, epoch``; ``tv`` is ``training`` or
``validation``. The original's own metrics.csv (metric columns, ``tv``, ``epoch``) reads too.

Metrics going up: auROC, auPRC and accuracy; going down: ``diff`` (mean absolute error of a
scalar output) and every loss. The best epoch of a run is the original's rule, the highest sum
of the validation metrics with each ``diff`` negated (``rnastruct.s1.criterion.selection_score``),
the same rule ``s1-train`` uses for ``best.pt``.

The figure functions are pure: data in, a ``matplotlib.figure.Figure`` out, drawn with the Agg
canvas and never registered with pyplot (no global state, nothing to close); ``save_png``
writes a figure atomically (a temporary file renamed into place).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .errors import InputError
from .seqio import atomic_path

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .predictor.outputs import Result

SPLITS = ("training", "validation")
SPLIT_STYLE = {"training": "--", "validation": "-"}  # training dashed, validation solid
# metric name suffix -> +1 higher is better, -1 lower is better
DIRECTION = {"auroc": 1, "auprc": 1, "accuracy": 1, "diff": -1, "loss": -1}
PANEL_SIZE = (3.4, 2.4)  # inches per panel (width, height)


# ---------------------------------------------------------------------------------------------
# reading runs


def read_run_metrics(run_dir: str | os.PathLike) -> pd.DataFrame:
    """``RUN_DIR/metrics.csv`` -> DataFrame (one row per epoch per split, columns as in the file,
    ``epoch`` as int). ``df.attrs["label"]`` is the run's label (the folder name) and
    ``df.attrs["path"]`` the file. A missing folder or file, a file without rows, without a
    ``tv`` or ``epoch`` column, or with a ``tv`` other than training/validation raises
    ``InputError`` naming the file."""
    run_dir = Path(run_dir)
    path = run_dir / "metrics.csv"
    if not run_dir.exists():
        raise InputError(f"{run_dir}: run folder does not exist")
    if not run_dir.is_dir():
        raise InputError(f"{run_dir}: not a run folder (pass the folder that holds metrics.csv)")
    if not path.is_file():
        raise InputError(f"{path}: no such file (has the run finished its first epoch?)")
    try:
        df = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: empty file (no header, no rows)") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not a readable CSV ({e})") from None
    missing = [c for c in ("tv", "epoch") if c not in df.columns]
    if missing:
        raise InputError(f"{path}: no column {' or '.join(map(repr, missing))} "
                         f"(columns: {', '.join(map(str, df.columns))})")
    if df.empty:
        raise InputError(f"{path}: header only, no rows (has the run finished its first epoch?)")
    bad_tv = ~df["tv"].isin(SPLITS)
    if bad_tv.any():
        i = int(np.flatnonzero(bad_tv)[0])
        raise InputError(f"{path}: row {i + 2}: tv {df['tv'].iloc[i]!r} is neither training nor validation")
    epoch = pd.to_numeric(df["epoch"], errors="coerce")
    bad_epoch = epoch.isna() | (epoch != epoch.round())
    if bad_epoch.any():
        i = int(np.flatnonzero(bad_epoch)[0])
        raise InputError(f"{path}: row {i + 2}: epoch {df['epoch'].iloc[i]!r} is not a whole number")
    df["epoch"] = epoch.astype(int)
    df.attrs["label"] = run_dir.resolve().name
    df.attrs["path"] = str(path)
    return df


def read_runs(run_dirs) -> dict[str, pd.DataFrame]:
    """Several run folders -> ``{label: metrics}`` in the order given. The label is the folder
    name; folders with the same name are told apart by the path as given."""
    run_dirs = [Path(d) for d in run_dirs]
    frames = [read_run_metrics(d) for d in run_dirs]
    names = [df.attrs["label"] for df in frames]
    runs: dict[str, pd.DataFrame] = {}
    for d, name, df in zip(run_dirs, names, frames):
        label = name if names.count(name) == 1 else str(d)
        if label in runs:
            raise InputError(f"{d}: given twice")
        df.attrs["label"] = label
        runs[label] = df
    return runs


# ---------------------------------------------------------------------------------------------
# metric names, best epoch


def metric_direction(name: str) -> int:
    """+1 when higher is better (auroc, auprc, accuracy), -1 when lower is (diff, loss, any
    ``<output>.loss``), 0 when unknown (lr, seconds, ...)."""
    return DIRECTION.get(name.rsplit(".", 1)[-1], 0)


def default_metrics(df: pd.DataFrame) -> list[str]:
    """The metric columns (auroc/auprc/accuracy/diff) plus ``loss``, in the file's order (the
    original's); the per-output losses, lr and seconds are left out."""
    return [c for c in df.columns
            if c == "loss" or ("." in c and c.rsplit(".", 1)[1] in DIRECTION and not c.endswith(".loss"))]


def best_epoch(df: pd.DataFrame) -> int | None:
    """The original's best epoch: the validation row with the highest ``selection_score`` (sum of
    the metrics with each ``diff`` negated, NaN skipped); the first on ties, as ``s1-train``
    picks ``best.pt``. None when the run has no validation row."""
    row = best_validation_row(df)
    return None if row is None else int(row["epoch"])


def best_validation_row(df: pd.DataFrame) -> pd.Series | None:
    """The validation row of the best epoch (see ``best_epoch``), or None."""
    from .s1.criterion import selection_score  # torch is imported only when needed

    valid = df[df["tv"] == "validation"]
    if valid.empty:
        return None
    scores = [selection_score({k: _float(v) for k, v in row.items()}) for row in valid.to_dict("records")]
    return valid.iloc[int(np.argmax(scores))]


def _float(value) -> float:
    """A CSV cell as a float; NaN when it is not a number."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


# ---------------------------------------------------------------------------------------------
# figures


def metrics_grid(runs: dict[str, pd.DataFrame], metrics: list[str] | None = None,
                 ncols: int = 4) -> Figure:
    """One panel per metric, x = epoch; training dashed, validation solid; one colour per run
    (runs overlaid, of any lengths); each panel's title says whether higher or lower is better;
    a star marks each run's best validation epoch (``best_epoch``); one legend for the figure.

    ``runs``: ``{label: metrics DataFrame}`` as from ``read_runs``. ``metrics``: the panels, in
    order (default: ``default_metrics`` of every run, in the first run's column order). A
    metric a run lacks is left out of that run's panel; NaN values leave gaps (points are
    drawn, so an epoch between gaps, or a single epoch, still shows).

    Panel ``ax`` holds, for each run in order, two lines (``gid`` ``"<label>/training"`` and
    ``"<label>/validation"``) and a best-epoch star (``gid`` ``"<label>/best"``, a scatter).
    Raises ``InputError`` when a requested metric is in none of the runs.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    if not runs:
        raise ValueError("metrics_grid: no runs")
    if metrics is None:
        metrics = []
        for df in runs.values():
            metrics += [m for m in default_metrics(df) if m not in metrics]
        if not metrics:
            raise InputError(f"runs {', '.join(runs)}: no metric columns to plot")
    else:
        metrics = list(dict.fromkeys(metrics))
        bad = [m for m in metrics if m in ("tv", "epoch")]
        if bad:
            raise InputError(f"metric {bad[0]!r}: not a metric column")
        absent = [m for m in metrics if not any(m in df.columns for df in runs.values())]
        if absent:
            known = default_metrics(next(iter(runs.values())))
            raise InputError(f"metric {', '.join(map(repr, absent))} is in none of the runs "
                             f"({', '.join(runs)}); their metrics are: {', '.join(known)}")
    if not metrics:
        raise InputError("no metrics to plot")

    ncols = max(1, min(ncols, len(metrics)))
    nrows = math.ceil(len(metrics) / ncols)
    fig = Figure(figsize=(PANEL_SIZE[0] * ncols, PANEL_SIZE[1] * nrows + 0.9), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[len(metrics):]:
        ax.remove()
    colours = [f"C{i % 10}" for i in range(len(runs))]
    best = {label: best_validation_row(df) for label, df in runs.items()}
    lo = min(int(df["epoch"].min()) for df in runs.values())
    hi = max(int(df["epoch"].max()) for df in runs.values())
    pad = max(0.5, 0.05 * (hi - lo))

    for ax, metric in zip(axes, metrics):
        direction = metric_direction(metric)
        arrow = {1: " (\u2191 better)", -1: " (\u2193 better)"}.get(direction, "")
        ax.set_title(metric + arrow, fontsize=9)
        ax.tick_params(labelsize=7.5)
        # every panel spans the same epochs; whole-number ticks (one epoch: one tick)
        ax.set_xlim(lo - pad, hi + pad)
        if hi == lo:
            ax.set_xticks([lo])
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.margins(y=0.1)  # room for the best-epoch stars at the edges
        ax.grid(alpha=0.3, linewidth=0.5)
        drawn = False
        for (label, df), colour in zip(runs.items(), colours):
            if metric not in df.columns:
                continue
            values = pd.to_numeric(df[metric], errors="coerce")
            for split in SPLITS:
                rows = (df["tv"] == split).to_numpy()
                x = df["epoch"].to_numpy()[rows]
                y = values.to_numpy(dtype=float)[rows]
                order = np.argsort(x, kind="stable")
                # points as well as lines: one epoch, or one between NaN gaps, still shows;
                # training open circles, validation filled
                ax.plot(x[order], y[order], SPLIT_STYLE[split], color=colour, linewidth=1.2,
                        marker="o", markersize=3.5 if len(x) <= 25 else 1.5,
                        markerfacecolor="white" if split == "training" else colour,
                        gid=f"{label}/{split}")
                drawn |= bool(np.isfinite(y).any())
            row = best[label]
            if row is not None:
                value = _float(row.get(metric))
                if np.isfinite(value):
                    ax.scatter([row["epoch"]], [value], marker="*", s=90, color=colour,
                               edgecolors="black", linewidths=0.6, zorder=3, gid=f"{label}/best")
        if not drawn:
            ax.text(0.5, 0.5, "no values", transform=ax.transAxes, ha="center", va="center",
                    fontsize=8, color="0.5")
    fig.supxlabel("epoch", fontsize=9)

    runs_h = [Line2D([], [], color=c, linewidth=2,
                     label=label if best[label] is None else f"{label} (best epoch {int(best[label]['epoch'])})")
              for label, c in zip(runs, colours)]
    style_h = [Line2D([], [], color="0.3", linestyle="--", marker="o", markersize=3.5,
                      markerfacecolor="white", label="training"),
               Line2D([], [], color="0.3", linestyle="-", marker="o", markersize=3.5, label="validation"),
               Line2D([], [], color="0.6", linestyle="", marker="*", markersize=9, markeredgecolor="black",
                      markeredgewidth=0.6, label="best validation epoch (highest sum of metrics, diffs negated)")]
    fig.legend(handles=_legend_order([runs_h, style_h], width=max(3, min(len(runs_h), ncols))),
               loc="outside upper center", ncols=max(3, min(len(runs_h), ncols)), fontsize=8, frameon=False)
    return fig


def _legend_order(groups, width):
    """Handles for a ``width``-column legend (matplotlib fills it column by column) so that each
    group starts on a new row: the runs on the first row(s), the line styles on the last."""
    from matplotlib.lines import Line2D

    rows = []
    for group in groups:
        for i in range(0, len(group), width):
            chunk = group[i:i + width]
            rows.append(chunk + [Line2D([], [], linestyle="", label=" ")] * (width - len(chunk)))
    return [row[c] for c in range(width) for row in rows]


def save_png(fig, path: str | os.PathLike, dpi: int = 120) -> Path:
    """Write ``fig`` as a PNG at ``path`` atomically (the folder must exist) -> the path."""
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return path


def plot_metrics(run_dirs, out_png: str | os.PathLike, metrics: list[str] | None = None) -> dict[str, pd.DataFrame]:
    """Read the runs, draw ``metrics_grid`` and write it to ``out_png`` -> the runs read."""
    out_png = Path(out_png)
    if out_png.suffix.lower() != ".png":
        raise InputError(f"{out_png}: the plot is written as PNG; name it *.png")
    runs = read_runs(run_dirs)
    save_png(metrics_grid(runs, metrics), out_png)
    return runs


# ---------------------------------------------------------------------------------------------
# S1: sensitivity curves and pixel activations

BOX_COLOURS = {"stem": "tab:blue", "iloop": "tab:orange", "hloop": "tab:green"}


def s1_curves_figure(rows: list[dict]) -> Figure:
    """One panel per proposal method: exact box sensitivity per type and the share of sequences
    with every true box found (left axis) against the method's threshold, and proposals per
    true box (right axis, dashed); and one for the budget (``prune --max-per-nt``) when the
    rows have one. ``rows``: ``rnastruct.s1.recall.curves`` output."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from matplotlib.ticker import NullFormatter

    def budget(r):  # a row of the budget curve (``per_nt`` set), not of a threshold's
        v = r.get("per_nt")  # absent in curves from before budgets; NaN (or "nan" read back) if not one
        return v not in (None, "") and float(v) == float(v)

    panels = [m for m in ("n_proposal", "p_on", "union", "vote")
              if any(r["method"] == m and not budget(r) for r in rows)]
    panels += ["budget"] if any(budget(r) for r in rows) else []
    if not panels:
        raise ValueError("s1_curves_figure: no rows")
    fig = Figure(figsize=(4.2 * len(panels), 3.4), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, m in zip(axes, panels):
        rs = [r for r in rows if budget(r)] if m == "budget" else \
            [r for r in rows if r["method"] == m and not budget(r)]
        x = [r["per_nt"] if m == "budget" else r["p_on"] if m == "p_on" else r["threshold"] for r in rs]
        for t, colour in BOX_COLOURS.items():
            ax.plot(x, [r[f"sens_{t}"] for r in rs], "o-", color=colour, label=f"{t} sensitivity")
        ax.plot(x, [r["all_found"] for r in rs], "s-", color="black", label="sequences, all found")
        ax.set_ylim(0, 1.02)
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel({"n_proposal": "n_proposal_norm threshold", "p_on": "p_on threshold",
                       "union": "n_proposal_norm threshold (p_on walks with it)",
                       "vote": "vote_norm threshold", "budget": "proposals kept per nucleotide"}[m])
        ax.set_title(f"budget ({rs[0]['method']}, best by score)" if m == "budget" else m)
        ax.grid(alpha=0.3)
        twin = ax.twinx()
        twin.plot(x, [r["proposals_per_true_box"] for r in rs], "--", color="grey", label="proposals / true box")
        twin.set_yscale("log")
        twin.yaxis.set_minor_formatter(NullFormatter())  # minor labels crowd a short log axis
        twin.set_ylabel("proposals per true box")
    axes[0].set_ylabel("exact-match sensitivity")
    handles = axes[0].get_legend_handles_labels()[0] + [twin.get_lines()[0]]
    fig.legend(handles=handles, loc="outside lower center", ncols=5, fontsize="small")
    return fig


def plot_s1_curves(rows: list[dict], out_png: str | os.PathLike) -> Path:
    return save_png(s1_curves_figure(rows), out_png)


def pixels_figure(seq: str, probs: dict, pairs: np.ndarray, proposed: dict | None = None,
                  pixels: list[tuple[int, int]] | None = None, max_proposals: int = 15) -> Figure:
    """S1 activations of one sequence (the notebook's pixel plots).

    Row 1: per box type, the on/off probability map with the true boxes (solid outlines) and,
    if given, the proposed boxes (dashed); then the pair map (canonical pairs grey) with every
    true and proposed box (the ``max_proposals`` of each type with the highest ``p_on_max``).
    Then one row per chosen pixel ``(i, j)``: per type, the softmax of
    location x, location y and small size side by side (the target classes marked with a dot
    when the pixel lies in a true box of that type).

    Box convention: top-right corner ``(bb_x, bb_y)``; rows ``bb_x .. bb_x + siz_x - 1``,
    columns ``bb_y - siz_y + 1 .. bb_y``; sizes include closing bases. ``probs``: whole-map
    probabilities as ``S1Predictor.probabilities`` returns them; ``pairs``: the true structure
    ``[P, 2]`` (0-based); ``proposed``: a per-box table (``type, bb_x, bb_y, siz_x, siz_y``).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    from .boxes import BOX_TYPES, structure_to_boxes
    from .structure import canonical_map
    from .s1.targets import encode

    L = len(seq)
    true_boxes = [b for b in structure_to_boxes(pairs, L) if not b.pseudoknot]
    pixels = pixels or []
    for i, j in pixels:
        if not 0 <= i < j < L:
            raise InputError(f"pixel ({i}, {j}) is not in the upper triangle of a {L} x {L} map")
    fig = Figure(figsize=(4 * (len(BOX_TYPES) + 1), 3.8 * (1 + len(pixels) * 0.8)), layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(1 + len(pixels), len(BOX_TYPES) + 1, height_ratios=[1.25] + [1] * len(pixels))

    def outline(ax, b, style, colour):
        # a box as drawn by imshow: pixel (row, col) spans row +- 0.5, col +- 0.5
        ax.add_patch(Rectangle((b[2] - b[4] + 0.5, b[1] - 0.5), b[4], b[3], fill=False,
                               linestyle=style, edgecolor=colour, linewidth=1.6 if style == "-" else 0.8))

    prop_rows = []
    if proposed is not None:  # the most confident few per type: all of them hide the map
        for t in BOX_TYPES:
            idx = np.flatnonzero(np.asarray(proposed["type"]) == t)
            idx = idx[np.argsort(-np.asarray(proposed["p_on_max"])[idx], kind="stable")][:max_proposals]
            prop_rows += [tuple(np.asarray(proposed[c])[k].item() for c in ("type", "bb_x", "bb_y", "siz_x", "siz_y"))
                          for k in idx]
    for col, t in enumerate(BOX_TYPES):
        ax = fig.add_subplot(grid[0, col])
        upper = np.where(np.triu(np.ones((L, L), dtype=bool), 1), probs[f"{t}_on"], np.nan)
        im = ax.imshow(upper, vmin=0, vmax=1, cmap="viridis", interpolation="nearest")
        for b in prop_rows:
            if b[0] == t:
                outline(ax, b, "--", "red")
        for b in true_boxes:
            if b.type == t:
                outline(ax, tuple(b)[:5], "-", "white")
        ax.set_title(f"{t}_on (true solid, proposed dashed)", fontsize="small")
        for i, j in pixels:
            ax.plot(j, i, "x", color="magenta")
    fig.colorbar(im, ax=ax, shrink=0.8)
    ax = fig.add_subplot(grid[0, len(BOX_TYPES)])
    ax.imshow(np.triu(canonical_map(seq), 1), cmap="Greys", vmin=0, vmax=3, interpolation="nearest")
    for b in true_boxes:
        outline(ax, tuple(b)[:5], "-", BOX_COLOURS.get(b.type, "black"))
    for b in prop_rows:
        outline(ax, b, "--", BOX_COLOURS.get(b[0], "black"))
    ax.set_title("pair map: true (solid) and proposed (dashed) boxes", fontsize="small")

    targets, masks = encode(pairs, L)
    for row, (i, j) in enumerate(pixels, start=1):
        for col, t in enumerate(BOX_TYPES):
            ax = fig.add_subplot(grid[row, col])
            names = [n for n in probs if n.startswith(f"{t}_") and np.ndim(probs[n]) == 3]
            offset = 0
            ticks = []
            for n in names:
                p = probs[n][i, j]
                ax.bar(offset + np.arange(len(p)), p, width=0.8, label=n[len(t) + 1:])
                if masks[t][i, j]:
                    k = int(targets[n][i, j])
                    ax.plot(offset + k, p[k] + 0.05, "k.", markersize=6)
                ticks.append((offset + len(p) / 2 - 0.5, n[len(t) + 1:]))
                offset += len(p) + 2
            ax.set_xticks([x for x, _ in ticks], [lab for _, lab in ticks], fontsize="x-small")
            ax.set_ylim(0, 1.1)
            ax.set_title(f"pixel ({i}, {j}) {t}: p_on {probs[f'{t}_on'][i, j]:.2f}", fontsize="small")
        fig.add_subplot(grid[row, len(BOX_TYPES)]).axis("off")
    fig.suptitle(f"S1 activations, {L} nt", fontsize="medium")
    return fig


# ---------------------------------------------------------------------------------------------
# predictions: a structure drawn by ViennaRNA, its pair map with the boxes, the dot plot

def structure_svg(seq: str, structure: str, path, title: str | None = None) -> None:
    """ViennaRNA's drawing of ``structure`` (``folding.svg_drawing``: RNApuzzler layout) as an
    SVG file at ``path``, with 5' and 3' marks and ``title`` above it."""
    import re

    from .folding import svg_drawing

    svg_drawing(seq, structure, path)
    text = open(path, encoding="utf-8").read()
    xy = [(float(x), float(y)) for x, y in re.findall(r'class="nucleotide" x="([-\d.]+)" y="([-\d.]+)"', text)]
    scale = re.search(r'scale\(([\d.]+)', text)
    size = 12 / float(scale.group(1)) if scale else 12  # 12 px on the page, in the drawing's units
    marks = [f'<text x="{x - size:.1f}" y="{y - size / 2:.1f}" font-family="Helvetica" font-size="{size:.1f}" '
             f'font-weight="bold" fill="#b00">{label}</text>'
             for (x, y), label in ((xy[0], "5'"), (xy[-1], "3'"))] if xy else []
    end = text.rfind("</g>")  # inside the drawing's scaled group, where the nucleotides are
    if end >= 0:
        text = text[:end] + "\n".join(marks) + "\n" + text[end:]
    if title:
        safe = title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        width = re.search(r'<svg[^>]*width="(\d+)', text)
        font = min(14.0, 1.9 * int(width.group(1)) / max(len(title), 1)) if width else 12.0
        text = text.replace("</svg>", f'<text x="6" y="16" font-family="Helvetica" font-size="{font:.1f}">{safe}</text>\n</svg>')
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def draw(r: Result, stem: Path) -> None:
    """``stem.svg``: ViennaRNA's drawing of the structure; ``stem.png``: the pair map with the
    chosen boxes (box convention of ``rnastruct.boxes``)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch, Rectangle

    from .predictor.outputs import with_suffix
    from .structure import canonical_map

    with atomic_path(with_suffix(stem, ".svg"), suffix=".svg") as tmp:
        structure_svg(r.seq, r.structure, tmp, title=f"{r.name} ({len(r.seq)} nt, {len(r.pairs)} pairs, "
                                                     f"{r.energy:.2f} kcal/mol)")
    L = len(r.seq)
    fig = Figure(figsize=(5, 5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.imshow(np.triu(canonical_map(r.seq), 1), cmap="Greys", vmin=0, vmax=3, interpolation="nearest")
    for b in r.boxes:
        ax.add_patch(Rectangle((b.bb_y - b.siz_y + 0.5, b.bb_x - 0.5), b.siz_y, b.siz_x, fill=False,
                               edgecolor=BOX_COLOURS[b.type], linewidth=1.5, label=b.type))
    if len(r.pairs):
        ax.plot(r.pairs[:, 1], r.pairs[:, 0], "k.", markersize=3, label="base pair")
    handles = [Patch(facecolor="none", edgecolor=BOX_COLOURS[t], label={"stem": "stem", "iloop": "internal loop / bulge",
                                                                         "hloop": "hairpin loop"}[t])
               for t in ("stem", "iloop", "hloop")]
    handles += [Line2D([], [], color="k", marker=".", linestyle="none", label="base pair"),
                Patch(facecolor="0.6", label="canonical pair possible")]
    ax.legend(handles=handles, loc="lower left", fontsize="x-small", framealpha=0.9)
    ax.set_xlabel("j (nt)")
    ax.set_ylabel("i (nt)")
    short = r.name if len(r.name) <= 40 else r.name[:39] + "…"
    ax.set_title(f"{short}: {L} nt, {len(r.pairs)} pairs, {r.energy:.2f} kcal/mol\n"
                 "pair map (row i, column j) with the structure's boxes", fontsize="small")
    save_png(fig, with_suffix(stem, ".png"))


def dot_plot(r: Result, stem: Path) -> None:
    """``stem.dp.png`` and ``stem.dp.svg``: RNAfold's dot plot layout, each pair's probability as
    a square (side proportional to its square root) in the upper triangle, the predicted
    structure's pairs in the lower one."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import PatchCollection
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    from .predictor.outputs import with_suffix

    L = len(r.seq)
    fig = Figure(figsize=(6, 6), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    squares = []
    for i, j, p in r.bpp:
        side = float(np.sqrt(p))
        squares.append(Rectangle((j + 0.5 - side / 2, i + 0.5 - side / 2), side, side))  # x = column j, y = row i
    ax.add_collection(PatchCollection(squares, facecolor="black", edgecolor="none"))
    ax.add_collection(PatchCollection([Rectangle((i, j), 1, 1) for i, j in r.pairs.tolist()],
                                      facecolor="tab:red", edgecolor="none"))
    ax.plot([0, L], [0, L], color="0.6", linewidth=0.5)
    ax.set_xlim(0, L)
    ax.set_ylim(L, 0)
    ax.set_aspect("equal")
    ax.xaxis.tick_top()
    ax.set_xlabel("position (nt)")
    ax.set_ylabel("position (nt)")
    short = r.name if len(r.name) <= 40 else r.name[:39] + "…"
    ax.set_title(f"{short} ({L} nt): pair probabilities (upper right, square side ~ sqrt p), "
                 f"predicted structure (lower left, red); ensemble {r.ensemble_energy:.2f} kcal/mol",
                 fontsize="small", wrap=True)
    for suffix in (".png", ".svg"):
        path = with_suffix(stem, ".dp" + suffix)
        with atomic_path(path, suffix=suffix) as tmp:
            fig.savefig(tmp, format=suffix[1:], dpi=120)


def reliability_figure(summary: dict) -> Figure:
    """``calibration.calibrate``'s summary -> one reliability diagram per set: RNAfold, the
    uncalibrated and the chosen temperature, and EternaFold where measured, each with its ECE."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from .calibration import FLOOR

    sets = [k for k in summary if k != "chosen_prob_scale"]
    chosen = summary["chosen_prob_scale"]
    fig = Figure(figsize=(5 * len(sets), 4.6), layout="constrained")
    FigureCanvasAgg(fig)
    for s, name in enumerate(sets):
        ax = fig.add_subplot(1, len(sets), s + 1)
        ax.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1)
        shown = ["RNAfold", "rnastruct x1", f"rnastruct x{chosen:g}"] + [t for t in summary[name] if t == "EternaFold"]
        for tool in dict.fromkeys(shown):
            r = summary[name][tool]
            ok = np.asarray(r["bins"]) > 0
            label = tool.replace("rnastruct x1", "rnastruct (uncalibrated)") if tool == "rnastruct x1" else tool
            ax.plot(np.asarray(r["mean_p"])[ok], np.asarray(r["observed"])[ok], "o-",
                    label=f"{label} (ECE {r['ece']:.3f})")
        ax.set_xlabel("predicted pair probability (bin mean)")
        ax.set_ylabel("share that are reference pairs")
        ax.set_title(f"{name}: {summary[name]['n']} RNAs, pairs with p >= {FLOOR:g}", fontsize="small")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.legend(fontsize="small")
    return fig

