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
import textwrap
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
# predictions, legible at any length: the dot plot (pair probabilities and the structure), the
# drawing of the structure, the pair map with the structure's boxes
#
# - Dot plot (``dot_plot_figure``): pair probabilities in the upper right triangle, coloured on
#   one scale with a colour bar, the predicted structure in the lower left one, axes in
#   nucleotides. Up to ``VECTOR_MAX_NT`` nt each pair is a square of its own (vector); longer
#   RNAs are rasterised on a grid of at most ``RASTER_MAX_BINS`` bins a side, each showing the
#   most probable pair in it, so that a 3,000-nt RNA's helices stay visible where squares
#   smaller than a pixel would vanish.
# - Drawing (``structure_figure``): ViennaRNA's layout of the nested structure (``layout``):
#   NAView, RNAplot's default, unless its bases lack room (near or on top of each other, or
#   crossing backbone), and then RNApuzzler, built to avoid exactly that. Bases are letters up
#   to ``LETTERS_MAX_NT`` nt, dots beyond; the title is wrapped to the figure's width.
# - Boxes (``boxes_figure``): the pair map with the structure's stems and loops.

VECTOR_MAX_NT = 300
RASTER_MAX_BINS = 350  # about 2 screen pixels a bin at 110-120 dpi: a helix stays a visible line
LETTERS_MAX_NT = 250
#: the marks of the bases are this many backbone steps across (less where the layout leaves
#: less room: they never touch)
BASE_SIZE = 0.8
#: what counts as an overlap: two bases closer than this many backbone steps
MIN_BASE_DISTANCE = 0.5
PROBABILITY_CMAP = "Blues"  # near white at p ~ 0: the many improbable pairs recede
STRUCTURE_COLOUR = "tab:red"


def _figure(width: float, height: float) -> "Figure":
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _title(fig: "Figure", lines: list[str], width_in: float) -> None:
    """A title wrapped to the figure's width (about 95 characters of 'small' text per 7 in)."""
    chars = max(30, int(13.5 * width_in))
    wrapped = "\n".join(textwrap.fill(line, chars) for line in lines)
    fig.suptitle(wrapped, fontsize="medium")


def short_name(name: str, limit: int = 40) -> str:
    return name if len(name) <= limit else name[:limit - 1] + "…"


# ---------------------------------------------------------------------------------------------
# dot plot


def dot_plot_figure(name: str, seq: str, bpp: np.ndarray, pairs: np.ndarray, subtitle: str = "") -> "Figure":
    """Pair probabilities ``bpp`` (rows ``i, j, p``, 0-based ``i < j``) above the diagonal, the
    structure's ``pairs`` ``[P, 2]`` below it, on axes in nucleotides (1-based), with a colour
    bar for the probability. ``subtitle``: a line under the title (the energies)."""
    from matplotlib.colors import Normalize

    L = len(seq)
    fig = _figure(7.2, 6.6)
    ax = fig.add_subplot()
    norm = Normalize(0, 1)
    bpp = np.asarray(bpp, dtype=np.float64).reshape(-1, 3)
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if L <= VECTOR_MAX_NT:
        from matplotlib.collections import PatchCollection
        from matplotlib.patches import Rectangle

        # position k (0-based) spans k + 0.5 .. k + 1.5 on the 1-based axes
        upper = PatchCollection([Rectangle((j + 0.5, i + 0.5), 1, 1) for i, j, _ in bpp],
                                cmap=PROBABILITY_CMAP, norm=norm, edgecolor="none")
        upper.set_array(bpp[:, 2])
        ax.add_collection(upper)
        ax.add_collection(PatchCollection([Rectangle((i + 0.5, j + 0.5), 1, 1) for i, j in pairs],
                                          facecolor=STRUCTURE_COLOUR, edgecolor="none"))
        mappable, how = upper, ""
    else:
        b = int(np.ceil(L / RASTER_MAX_BINS))  # nt per bin
        n = int(np.ceil(L / b))
        prob = np.zeros((n, n))
        i, j = bpp[:, 0].astype(np.int64) // b, bpp[:, 1].astype(np.int64) // b
        np.maximum.at(prob, (i, j), bpp[:, 2])  # the most probable pair of each bin
        prob = np.ma.masked_where(np.tril(np.ones((n, n), bool)) | (prob <= 0), prob)
        extent = (0.5, n * b + 0.5, n * b + 0.5, 0.5)
        mappable = ax.imshow(prob, cmap=PROBABILITY_CMAP, norm=norm, extent=extent, interpolation="nearest")
        # the structure's pairs as dots of a fixed size on the page (a pixel each would vanish),
        # rasterised with the rest
        ax.scatter(pairs[:, 0] + 1, pairs[:, 1] + 1, s=1.5, c=STRUCTURE_COLOUR, marker="s", linewidths=0,
                   rasterized=True)
        how = f"{b} nt per pixel, each its most probable pair" if b > 1 else "rasterised"
    ax.plot([0.5, L + 0.5], [0.5, L + 0.5], color="0.75", linewidth=0.5)
    ax.set_xlim(0.5, L + 0.5)
    ax.set_ylim(L + 0.5, 0.5)
    ax.set_aspect("equal")
    ax.xaxis.tick_top()
    ax.xaxis.set_label_position("top")
    ax.set_xlabel("position j (nt)")
    ax.set_ylabel("position i (nt)")
    ax.text(0.97, 0.03, "predicted structure", transform=ax.transAxes, ha="right", va="bottom",
            color=STRUCTURE_COLOUR, fontsize="small")
    ax.text(0.03, 0.97, "pair probabilities", transform=ax.transAxes, ha="left", va="top", fontsize="small")
    bar = fig.colorbar(mappable, ax=ax, shrink=0.75, pad=0.02)
    bar.set_label("pair probability")
    lines = [f"{short_name(name)}: {L:,} nt, {len(pairs):,} pairs; pair probabilities above the diagonal"
             + (f" ({how})" if how else "") + ", the predicted structure below"]
    if subtitle:
        lines.append(subtitle)
    _title(fig, lines, 7.2)
    return fig


# ---------------------------------------------------------------------------------------------
# drawing


def layout(structure: str, kind: str = "auto") -> tuple[np.ndarray, str]:
    """ViennaRNA's coordinates of the nested part of ``structure`` -> (``[L, 2]``, the layout's
    name). ``kind``: "naview", "puzzler", "turtle", "simple", or "auto": NAView, RNAplot's
    default, when its bases have room for their marks (``clearance`` >= ``BASE_SIZE``), else
    RNApuzzler, built to avoid overlaps, else the one of the three with the most room (RNApuzzler
    leaves near-contacts in some long RNAs; the marks are then drawn smaller, never touching)."""
    import RNA

    nested = "".join(c if c in "()" else "." for c in structure)
    kinds = {"simple": RNA.PLOT_TYPE_SIMPLE, "naview": RNA.PLOT_TYPE_NAVIEW, "turtle": RNA.PLOT_TYPE_TURTLE,
             "puzzler": RNA.PLOT_TYPE_PUZZLER}
    order = ["naview", "puzzler", "turtle"] if kind == "auto" else [kind]
    old = RNA.cvar.rna_plot_type
    tried = []
    try:
        for name in order:
            RNA.cvar.rna_plot_type = kinds[name]
            c = RNA.get_xy_coordinates(nested)
            xy = np.array([(c.get(k).X, c.get(k).Y) for k in range(len(nested))], dtype=np.float64)  # [L, 2]
            room = clearance(xy)
            if room >= BASE_SIZE or len(order) == 1:
                return xy, name
            tried.append((room, name, xy))
    finally:
        RNA.cvar.rna_plot_type = old
    room, name, xy = max(tried, key=lambda t: t[0])
    return xy, name


def clearance(xy: np.ndarray) -> float:
    """The room a drawing leaves its bases: the smallest distance between two bases that are not
    neighbours, in backbone steps (the median distance between neighbours); 0 when two backbone
    segments cross. Infinite for fewer than 3 bases."""
    xy = np.asarray(xy, dtype=np.float64)
    L = len(xy)
    if L < 3:
        return float("inf")
    step = float(np.median(np.linalg.norm(np.diff(xy, axis=0), axis=1)))
    if not np.isfinite(xy).all() or step <= 0:
        return 0.0
    # backbone segments (k, k+1): proper crossings of non-adjacent segments
    a, b = xy[:-1], xy[1:]  # [S, 2]

    def orient(p, q, r):
        return np.sign((q[..., 0] - p[..., 0]) * (r[..., 1] - p[..., 1]) - (q[..., 1] - p[..., 1]) * (r[..., 0] - p[..., 0]))

    S = len(a)
    for lo in range(0, S, 512):
        pa, pb = a[lo:lo + 512, None, :], b[lo:lo + 512, None, :]  # [B, 1, 2]
        qa, qb = a[None, :, :], b[None, :, :]  # [1, S, 2]
        cross = (orient(pa, pb, qa) * orient(pa, pb, qb) < 0) & (orient(qa, qb, pa) * orient(qa, qb, pb) < 0)
        rows = np.arange(lo, min(lo + 512, S))[:, None]
        cross[np.abs(rows - np.arange(S)[None, :]) <= 1] = False
        if cross.any():
            return 0.0
    # bases: every pair but neighbours, in blocks of rows (memory stays small for long RNAs)
    least = np.inf
    for lo in range(0, L, 512):
        d = np.linalg.norm(xy[lo:lo + 512, None, :] - xy[None, :, :], axis=2)  # [B, L]
        rows = np.arange(lo, min(lo + 512, L))[:, None]
        d[np.abs(rows - np.arange(L)[None, :]) <= 1] = np.inf
        least = min(least, float(d.min()))
    return least / step


def overlaps(xy: np.ndarray) -> bool:
    """Does a drawing overlap itself: crossing backbone, or two bases closer than
    ``MIN_BASE_DISTANCE`` backbone steps (too close for their marks to be told apart)?"""
    return clearance(xy) < MIN_BASE_DISTANCE


BASE_COLOURS = {"A": "#2c7bb6", "C": "#1a9641", "G": "#d7191c", "U": "#fdae61", "N": "0.5"}


def structure_figure(name: str, seq: str, structure: str, subtitle: str = "", kind: str = "auto") -> "Figure":
    """The drawing of ``structure`` (dot-bracket; pseudoknot brackets are drawn unpaired) in
    ViennaRNA's layout (``layout``): backbone, base pairs, bases (letters up to
    ``LETTERS_MAX_NT`` nt, coloured dots beyond), 5' and 3' ends, every 10th/50th/100th
    position numbered; the layout's name and ``subtitle`` (the energies) in a title that fits."""
    from matplotlib.collections import LineCollection

    from .structure import parse_dot_bracket

    nested = "".join(c if c in "()" else "." for c in structure)
    L = len(seq)
    xy, used = layout(nested, kind)
    span = np.ptp(xy, axis=0) + 1e-9
    width = 6.5 if L <= 200 else 9.0
    height = float(np.clip(width * span[1] / span[0], 3.5, 11.0))
    fig = _figure(width, height + 0.9)
    ax = fig.add_subplot()
    ax.set_aspect("equal")
    ax.axis("off")
    step = float(np.median(np.linalg.norm(np.diff(xy, axis=0), axis=1))) if L > 1 else 1.0
    ax.add_collection(LineCollection([xy], colors="0.55",
                                     linewidths=0.8 if L <= LETTERS_MAX_NT else 0.5, zorder=1))
    pairs = parse_dot_bracket(nested)
    if len(pairs):
        ax.add_collection(LineCollection(xy[pairs], colors="0.25", linewidths=1.2 if L <= LETTERS_MAX_NT else 0.6,
                                         zorder=1))
    # marker size in points: about 0.8 backbone steps, from the axes' scale once limits are set
    pad = 2.5 * step
    ax.set_xlim(xy[:, 0].min() - pad, xy[:, 0].max() + pad)
    ax.set_ylim(xy[:, 1].max() + pad, xy[:, 1].min() - pad)  # ViennaRNA's y grows downwards
    fig.canvas.draw()  # the axes' final size, for the marker scale
    bbox = ax.get_window_extent()
    points_per_unit = min(bbox.width / (2 * pad + span[0]), bbox.height / (2 * pad + span[1])) * 72 / fig.dpi
    size = max(0.8, min(BASE_SIZE, 0.9 * clearance(xy)) * step * points_per_unit)
    colours = [BASE_COLOURS.get(c, "0.5") for c in seq]
    if L <= LETTERS_MAX_NT:
        ax.scatter(xy[:, 0], xy[:, 1], s=size ** 2, c="white", edgecolors=colours, linewidths=0.8, zorder=2)
        for (x, y), c, col in zip(xy, seq, colours):
            ax.text(x, y, c, ha="center", va="center", fontsize=max(3.0, 0.55 * size), color=col,
                    zorder=3, fontweight="bold")
    else:
        ax.scatter(xy[:, 0], xy[:, 1], s=size ** 2, c=colours, linewidths=0, zorder=2)
    every = 10 if L <= 200 else 50 if L <= 600 else 100
    marks = [(0, "5'"), *((k, str(k + 1)) for k in range(every - 1, L - 1, every)), (L - 1, "3'")]
    angles = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    around = np.stack([np.cos(angles), np.sin(angles)], axis=1)  # [16, 2]
    taken = xy
    for k, label in marks:
        # of 16 spots 1.3 steps around the base, the one nearest the way out (away from the
        # nearest bases) that is clear of every base and label; else the clearest
        spots = xy[k] + 1.3 * step * around  # [16, 2]
        room = np.linalg.norm(spots[:, None, :] - taken[None, :, :], axis=2).min(axis=1)  # [16]
        near = xy[np.argsort(np.linalg.norm(xy - xy[k], axis=1))[1:9]]
        outward = around @ (xy[k] - near.mean(axis=0))  # [16], larger = more outward
        clear = np.flatnonzero(room >= 0.9 * step)
        spot = spots[clear[np.argmax(outward[clear])]] if len(clear) else spots[int(np.argmax(room))]
        taken = np.vstack([taken, spot])
        if "'" not in label:  # a tick from the base to its number
            u = (spot - xy[k]) / (np.linalg.norm(spot - xy[k]) + 1e-9)
            ax.plot(*np.stack([xy[k] + 0.5 * step * u, spot - 0.45 * step * u]).T, color="0.6", linewidth=0.5,
                    zorder=1)
        ax.text(*spot, label, ha="center", va="center", fontsize=6.5 if L <= 600 else 5.5,
                color="#b00" if label in ("5'", "3'") else "0.2", fontweight="bold" if "'" in label else "normal",
                zorder=4)
    from matplotlib.lines import Line2D

    ax.legend(handles=[Line2D([], [], marker="o", linestyle="none", color=BASE_COLOURS[b], label=b) for b in "ACGU"],
              loc="lower right", ncols=4, fontsize="x-small", frameon=False, handletextpad=0.1, columnspacing=0.8)
    lines = [f"{short_name(name)}: {L:,} nt, {len(pairs):,} pairs ({_LAYOUT_NAMES[used]} layout)"]
    if subtitle:
        lines.append(subtitle)
    _title(fig, lines, width)
    return fig


_LAYOUT_NAMES = {"naview": "NAView", "puzzler": "RNApuzzler", "turtle": "RNAturtle", "simple": "simple"}


# ---------------------------------------------------------------------------------------------
# boxes


def boxes_figure(name: str, seq: str, pairs: np.ndarray, boxes, subtitle: str = "") -> "Figure":
    """The pair map (canonical pairs grey, row i, column j) with the structure's pairs and its
    boxes (box convention of ``rnastruct.boxes``)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch, Rectangle

    from .structure import canonical_map

    fig = _figure(5.5, 5.8)
    ax = fig.add_subplot()
    ax.imshow(np.triu(canonical_map(seq), 1), cmap="Greys", vmin=0, vmax=3, interpolation="nearest")
    for b in boxes:
        ax.add_patch(Rectangle((b.bb_y - b.siz_y + 0.5, b.bb_x - 0.5), b.siz_y, b.siz_x, fill=False,
                               edgecolor=BOX_COLOURS[b.type], linewidth=1.5))
    pairs = np.asarray(pairs).reshape(-1, 2)
    if len(pairs):
        ax.plot(pairs[:, 1], pairs[:, 0], "k.", markersize=3)
    labels = {"stem": "stem", "iloop": "internal loop / bulge", "hloop": "hairpin loop"}
    handles = [Patch(facecolor="none", edgecolor=BOX_COLOURS[t], label=labels[t]) for t in labels]
    handles += [Line2D([], [], color="k", marker=".", linestyle="none", label="base pair"),
                Patch(facecolor="0.6", label="canonical pair possible")]
    ax.legend(handles=handles, loc="lower left", fontsize="x-small", framealpha=0.9)
    ax.set_xlabel("j (nt, 0-based)")
    ax.set_ylabel("i (nt, 0-based)")
    lines = [f"{short_name(name)}: {len(seq):,} nt, {len(pairs):,} pairs; pair map (row i, column j) with the "
             "structure's boxes"]
    if subtitle:
        lines.append(subtitle)
    _title(fig, lines, 5.5)
    return fig


def energy_line(r, ensemble: bool = False) -> str:
    """A result's energies, each named for what it is (kcal/mol): the structure's Turner 2004
    free energy, its learned pseudo-energy, its S2 score, and with ``ensemble`` the ensemble
    free energies under the model and under Turner 2004 alone."""
    parts = [f"structure: Turner 2004 {r.energy:.2f} kcal/mol"]
    if np.isfinite(getattr(r, "learned_energy", np.nan)):
        parts[-1] += f", learned pseudo-energy {r.learned_energy:+.2f}"
    if np.isfinite(getattr(r, "score", np.nan)):
        parts[-1] += f", S2 score {r.score:.2f} (log-odds)"
    if ensemble and np.isfinite(getattr(r, "ensemble_energy", np.nan)):
        g_model, g_turner = r.ensemble_energy, getattr(r, "turner_ensemble_energy", np.nan)
        if np.isfinite(g_turner) and abs(g_turner - g_model) > 1e-6:
            parts.append(f"ensemble: {g_model:.2f} under the model (Turner 2004 + learned), "
                         f"{g_turner:.2f} under Turner 2004 alone")
        else:
            parts.append(f"ensemble: {g_model:.2f} (Turner 2004)")
    return "; ".join(parts)


def save_figure(fig: "Figure", path: str | os.PathLike, dpi: int = 120) -> Path:
    """Write ``fig`` atomically, in the format its suffix names (``.png``, ``.svg``)."""
    path = Path(path)
    with atomic_path(path, suffix=path.suffix) as tmp:
        fig.savefig(tmp, format=path.suffix[1:], dpi=dpi)
    return path


def draw(r: "Result", stem: Path) -> None:
    """``stem.svg``: the drawing of the structure (``structure_figure``); ``stem.png``: the pair
    map with the chosen boxes (``boxes_figure``)."""
    from .predictor.outputs import with_suffix

    save_figure(structure_figure(r.name, r.seq, r.structure, energy_line(r)), with_suffix(stem, ".svg"))
    save_figure(boxes_figure(r.name, r.seq, r.pairs, r.boxes, energy_line(r)), with_suffix(stem, ".png"))


def dot_plot(r: "Result", stem: Path) -> None:
    """``stem.dp.png`` and ``stem.dp.svg``: the pair probabilities and the structure
    (``dot_plot_figure``), titled with the energies."""
    from .predictor.outputs import with_suffix

    fig = dot_plot_figure(r.name, r.seq, r.bpp, r.pairs, energy_line(r, ensemble=True))
    for suffix in (".png", ".svg"):
        save_figure(fig, with_suffix(stem, ".dp" + suffix))


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

