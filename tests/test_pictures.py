"""Pictures of one RNA (rnastruct/pictures.py): dot plots legible at any length, drawings
without overlaps, titles that fit."""

import numpy as np
import pytest

from rnastruct.plots import (RASTER_MAX_BINS, VECTOR_MAX_NT, dot_plot_figure, layout, overlaps,
                                structure_figure)


def _pixels(fig):
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)  # [H, W, 3], row 0 at the top


def _at(fig, ax, x, y):
    """Figure pixel (row, column) of data point (x, y) of ``ax``."""
    px, py = ax.transData.transform((x, y))
    return int(round(fig.bbox.height - py)), int(round(px))


def _helix_bpp(L, i0, j0, n, p=0.9):
    rows = [(i0 + k, j0 - k, p) for k in range(n)]
    return np.array(rows, dtype=float), np.array([(i, j) for i, j, _ in rows], dtype=np.int64)


@pytest.mark.parametrize("L", [120, 3000])
def test_a_helix_is_visible_in_the_dot_plot_at_any_length(L):
    i0, j0, n = L // 10, L - L // 10, max(8, L // 150)
    bpp, pairs = _helix_bpp(L, i0, j0, n)
    fig = dot_plot_figure("x", "A" * L, bpp, pairs)
    ax = fig.axes[0]
    img = _pixels(fig)
    mid = n // 2
    # probabilities above the diagonal (x = j, y = i): coloured, not white
    r, c = _at(fig, ax, j0 - mid + 1, i0 + mid + 1)  # 1-based axes
    patch = img[r - 2:r + 3, c - 2:c + 3]
    assert (patch.sum(axis=2) < 600).any(), patch
    # the structure below it (x = i, y = j): red
    r, c = _at(fig, ax, i0 + mid + 1, j0 - mid + 1)
    patch = img[r - 2:r + 3, c - 2:c + 3]
    assert ((patch[..., 0] > 150) & (patch[..., 1] < 120)).any(), patch
    # an empty place stays white
    r, c = _at(fig, ax, L // 2, L // 4)
    assert (img[r - 2:r + 3, c - 2:c + 3] > 240).all()
    assert "pair probability" in fig.axes[1].get_ylabel()  # the colour bar
    assert bool(ax.get_images()) == (L > VECTOR_MAX_NT)  # rasterised only when long
    assert ("nt per pixel" in fig._suptitle.get_text()) == (L > VECTOR_MAX_NT)


def test_a_long_dot_plot_has_at_most_the_raster_s_bins():
    L = 5000
    bpp, pairs = _helix_bpp(L, 10, 4900, 50)
    fig = dot_plot_figure("x", "A" * L, bpp, pairs)
    images = fig.axes[0].get_images()
    assert images and max(im.get_array().shape[0] for im in images) <= RASTER_MAX_BINS


def test_overlaps_finds_touching_bases_and_crossing_backbones():
    line = np.stack([np.arange(10.0), np.zeros(10)], axis=1)
    assert not overlaps(line)
    folded = line.copy()
    folded[9] = (3.1, 0.05)  # base 10 on top of base 4
    assert overlaps(folded)
    zigzag = np.array([(0, 0), (1, 0), (2, 0), (3, 0), (3, 1), (2.5, -1), (2.5, -2), (2.5, -3)], dtype=float)
    assert overlaps(zigzag)  # segment 5-6 crosses segment 2-3


def test_the_layout_chosen_never_overlaps():
    import RNA

    rng = np.random.default_rng(4)
    used = set()
    for L in (80, 250, 700):
        seq = "".join(rng.choice(list("ACGU"), L))
        structure = RNA.fold(seq)[0]
        xy, kind = layout(structure)
        used.add(kind)
        assert xy.shape == (L, 2) and not overlaps(xy), (L, kind)
    # NAView overlaps on these long ones, and RNApuzzler takes over
    xy, _ = layout(RNA.fold("".join(rng.choice(list("ACGU"), 700)))[0], "naview")
    assert overlaps(xy) and "puzzler" in used


def test_the_drawing_s_title_fits_above_the_drawing():
    import RNA

    seq = "GCGGAUUUAGCUCAGUUGGGAGAGCGCCAGACUGAAGAUCUGGAGGUCCUGUGUUCGAUCCACAGAAUUCGCACCA"
    name = "a record name long enough to need the whole width of the figure " * 2
    subtitle = "structure: Turner 2004 -21.50 kcal/mol, learned pseudo-energy -12.34"
    fig = structure_figure(name, seq, RNA.fold(seq)[0], subtitle)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    title = fig._suptitle.get_window_extent(renderer)
    page = fig.bbox
    assert page.x0 <= title.x0 and title.x1 <= page.x1 and title.y1 <= page.y1
    drawing = fig.axes[0].get_tightbbox(renderer)
    assert title.y0 >= drawing.y1 - 1  # above everything drawn
    assert "kcal/mol" in fig._suptitle.get_text() and "Turner 2004" in fig._suptitle.get_text()
