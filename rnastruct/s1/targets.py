"""S1 per-pixel targets: structure -> targets and masks (``encode``), predictions -> box proposals
(``decode``). SPEC sections 3 and 5; an encode/decode pair tested by a round trip.

THE BOX CONVENTION (see ``rnastruct.boxes``): pixel ``(i, j)`` is row ``i``, column ``j`` of the
L x L map, a possible pair when ``i < j`` (upper triangle); a box ``(bb_x, bb_y, siz_x, siz_y)``
has its **top-right** corner at ``(bb_x, bb_y)`` and covers rows ``bb_x .. bb_x + siz_x - 1`` and
columns ``bb_y - siz_y + 1 .. bb_y``; sizes include the closing bases; stems and hairpins are
square, hairpins sit on the diagonal.

The encoding, per box type ``t`` in ``BOX_TYPES`` and per upper-triangle pixel ``(i, j)`` inside
a box of type ``t``:

* ``t_on`` = 1 (sigmoid/BCE);
* ``t_location_x`` = ``i - bb_x`` and ``t_location_y`` = ``bb_y - j``, classes 0..10, and 11 for
  "more than 10" (12-way softmax);
* ``t_sm_size`` (``iloop_sm_size_x`` / ``_y``): size ``s`` as class ``s - 1`` for ``s <= 10``,
  class 10 for ``s >= 11`` (11-way softmax);
* ``t_sl_size`` (``iloop_sl_size_x`` / ``_y``): the size itself (scalar, L1).

A pixel inside no box of type ``t`` has ``t_on`` = 0 and class/scalar targets 0, which no loss
sees: location and size losses count only inside boxes of their type (``masks[t]``), the on/off
losses only within ``MASK_MARGIN`` pixels of some box (``masks["on"]``, the original "hard mask").

Pure numpy, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np

from ..boxes import BOX_TYPES, Box, structure_to_boxes

__all__ = [
    "BOX_TYPES",
    "MASK_MARGIN",
    "MASK_OF",
    "MAX_OFFSET",
    "MAX_SMALL_SIZE",
    "METHODS",
    "OUTPUTS",
    "PROPOSAL_COLUMNS",
    "boxes_of",
    "concat_proposals",
    "PixelProposals",
    "decode",
    "encode",
    "group_proposals",
    "perfect_predictions",
    "pixel_proposals",
    "pixel_votes",
    "proposals_and_votes",
    "top1",
    "topk_classes",
    "region_proposals",
    "stack_targets",
    "type_codes",
    "unique_rows",
]

#: Largest location offset with its own class; offsets > MAX_OFFSET share the catch-all class
#: ``MAX_OFFSET + 1`` (so 12 location classes).
MAX_OFFSET = 10
#: Largest size with its own class: size ``s`` is class ``s - 1``; sizes > MAX_SMALL_SIZE share
#: the catch-all class ``MAX_SMALL_SIZE`` (so 11 size classes).
MAX_SMALL_SIZE = 10
#: The on/off losses count pixels within this Chebyshev distance of a box (SPEC section 3).
MASK_MARGIN = 10

_LOC_CLASSES = MAX_OFFSET + 2
_SIZE_CLASSES = MAX_SMALL_SIZE + 1
_LOC_CATCH_ALL = MAX_OFFSET + 1
_SIZE_CATCH_ALL = MAX_SMALL_SIZE


def _outputs() -> dict[str, tuple[str, int]]:
    out: dict[str, tuple[str, int]] = {}
    for t in BOX_TYPES:
        # iloops are rectangles (two sizes), stems and hairpins squares (one)
        sides = ("_x", "_y") if t == "iloop" else ("",)
        out[f"{t}_on"] = ("on", 1)
        out[f"{t}_location_x"] = ("class", _LOC_CLASSES)
        out[f"{t}_location_y"] = ("class", _LOC_CLASSES)
        for s in sides:
            out[f"{t}_sm_size{s}"] = ("class", _SIZE_CLASSES)
        for s in sides:
            out[f"{t}_sl_size{s}"] = ("scalar", 1)
    return out


#: The 17 S1 outputs, in order: name -> (kind, n_classes). kind "on": 1 channel, sigmoid + BCE;
#: "class": n_classes channels, softmax + NLL; "scalar": 1 channel, L1.
OUTPUTS: dict[str, tuple[str, int]] = _outputs()
#: Which mask of ``encode`` each output's loss uses: "on" for the on/off outputs, the box type
#: for the location and size outputs.
MASK_OF: dict[str, str] = {
    name: "on" if kind == "on" else name.split("_", 1)[0] for name, (kind, _) in OUTPUTS.items()
}
#: Proposal methods of ``decode``: "sm" uses the small-size softmax, "sl" the scalar size;
#: "vote" (only when asked: ``pixel_votes``) the top-k classes of every output, as soft votes.
METHODS = ("sm", "sl", "vote")
#: Columns of ``decode``'s result, in order.
PROPOSAL_COLUMNS = (
    "type",
    "method",
    "bb_x",
    "bb_y",
    "siz_x",
    "siz_y",
    "n_proposal",
    "n_proposal_norm",
    "prob_median",
    "prob_max",
    "prob_sum",
    "p_on_median",
    "p_on_max",
)

_TARGET_DTYPE = {"on": np.float32, "class": np.int64, "scalar": np.float32}


def _size_outputs(t: str) -> tuple[list[str], list[str]]:
    names = [n for n in OUTPUTS if n.startswith(f"{t}_")]
    return [n for n in names if "_sm_size" in n], [n for n in names if "_sl_size" in n]


#: box type -> (small-size outputs, scalar-size outputs), x side first
_SIZE_OUTPUTS = {t: _size_outputs(t) for t in BOX_TYPES}


# ---------------------------------------------------------------------------------------------
# encode
# ---------------------------------------------------------------------------------------------


def encode(pairs, length: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Pair list ``[P, 2]`` (0-based, ``i < j``) of a sequence of ``length`` -> per-pixel targets
    and loss masks (SPEC section 3).

    Box convention: top-right corner ``(bb_x, bb_y)``; a box covers rows ``bb_x .. bb_x + siz_x
    - 1`` and columns ``bb_y - siz_y + 1 .. bb_y``; sizes include the closing bases. Boxes come
    from ``structure_to_boxes``; pseudoknotted stems are left out: they get no target, are
    background and open no on/off mask.

    Returns ``(targets, masks)``:

    * ``targets[name]`` for every name of ``OUTPUTS``, ``[L, L]``: ``t_on`` float32 (1 on
      upper-triangle pixels inside a box of type ``t``); ``t_location_x`` = ``i - bb_x`` and
      ``t_location_y`` = ``bb_y - j``, int64 classes with 11 for offsets > 10; ``t_sm_size*`` int64
      class ``size - 1``, 10 for sizes >= 11; ``t_sl_size*`` float32, the size. 0 outside boxes.
    * ``masks["on"]`` ``[L, L]`` bool: upper-triangle pixels within Chebyshev distance
      ``MASK_MARGIN`` of any (non-pseudoknotted) box, the original "hard mask" (far background
      gets no on/off loss); ``masks[t]`` for ``t`` in ``BOX_TYPES``: upper-triangle pixels inside
      a box of type ``t`` (location and size losses count only there). ``MASK_OF`` says which
      mask each output uses. The diagonal and the lower triangle are never in a mask.

    Padding is the caller's business: pad (``stack_targets``) and AND a length mask.

    A pixel lies in at most one box of each type, with one exception that real structures do
    have (about one ViennaRNA fold in seven): a lone-pair stem between two internal loops is the
    inner closing pair of the outer loop and the outer closing pair of the inner loop, so that one
    pixel is in both loop boxes. As in the original, it gets the inner loop's targets (it is that
    loop's top-right corner, location (0, 0)); the outer loop keeps all its other pixels. Any
    other overlap means a bug and raises ``AssertionError``.
    """
    if length < 0:
        raise ValueError(f"length must be >= 0, got {length}")
    boxes = [b for b in structure_to_boxes(pairs, length) if not b.pseudoknot]
    # paint in order of bb_x: of two loops sharing a corner the inner one (larger bb_x) comes
    # last and owns the shared pixel
    boxes.sort(key=lambda b: (b.bb_x, b.bb_y))
    upper = np.triu(np.ones((length, length), dtype=bool), k=1)
    targets = {
        name: np.zeros((length, length), dtype=_TARGET_DTYPE[kind])
        for name, (kind, _) in OUTPUTS.items()
    }
    count = {t: np.zeros((length, length), dtype=np.int64) for t in BOX_TYPES}
    near = np.zeros((length, length), dtype=bool)
    for b in boxes:
        t = b.type
        rows, cols = slice(b.bb_x, b.bl_x + 1), slice(b.bl_y, b.bb_y + 1)
        # stems and loops lie above the diagonal; a hairpin box is half below it, and only its
        # upper half are possible pairs
        inside = upper[rows, cols]
        count[t][rows, cols] += inside
        m = MASK_MARGIN
        near[max(0, b.bb_x - m) : b.bl_x + m + 1, max(0, b.bl_y - m) : b.bb_y + m + 1] = True

        loc_x = np.minimum(np.arange(b.siz_x), _LOC_CATCH_ALL)[:, None]  # [siz_x, 1]
        loc_y = np.minimum(b.bb_y - np.arange(b.bl_y, b.bb_y + 1), _LOC_CATCH_ALL)[None, :]
        np.copyto(targets[f"{t}_on"][rows, cols], 1.0, where=inside)
        np.copyto(targets[f"{t}_location_x"][rows, cols], loc_x, where=inside)
        np.copyto(targets[f"{t}_location_y"][rows, cols], loc_y, where=inside)
        sm_names, sl_names = _SIZE_OUTPUTS[t]
        sizes = (b.siz_x, b.siz_y) if t == "iloop" else (b.siz_x,)
        for sm, sl, s in zip(sm_names, sl_names, sizes):
            np.copyto(targets[sm][rows, cols], min(s, _SIZE_CATCH_ALL + 1) - 1, where=inside)
            np.copyto(targets[sl][rows, cols], s, where=inside)

    _check_overlaps(boxes, count)
    masks = {"on": near & upper}
    for t in BOX_TYPES:
        masks[t] = count[t] > 0
    return targets, masks


def _check_overlaps(boxes: list[Box], count: dict[str, np.ndarray]) -> None:
    """Raise AssertionError unless the only pixels in two boxes of one type are the corners
    that two internal loops share across a lone-pair stem (see ``encode``)."""
    loops = [b for b in boxes if b.type == "iloop"]
    tops = {(b.bb_x, b.bb_y) for b in loops}
    shared = {(b.bl_x, b.bl_y) for b in loops} & tops
    for t in BOX_TYPES:
        over = np.argwhere(count[t] > 1)
        found = {(int(i), int(j)) for i, j in over}
        allowed = shared if t == "iloop" else set()
        if found != allowed or (over.size and count[t].max() > 2):
            raise AssertionError(
                f"{t} boxes overlap at pixels {sorted(found - allowed)[:5]} "
                f"(expected only shared iloop corners {sorted(allowed)[:5]})"
            )


def stack_targets(
    items: Iterable[tuple[Mapping[str, np.ndarray], Mapping[str, np.ndarray]]],
    pad_to: int | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """List of ``encode`` results -> ``(targets, masks)`` with ``[B, L, L]`` arrays, padded at the
    bottom and right to ``L = pad_to`` (default: the longest) with 0 (targets) and False (masks),
    so padding is never in a mask. Dtypes are kept."""
    items = list(items)
    if not items and pad_to is None:
        raise ValueError("stack_targets: no items and no pad_to, so the map size is unknown")
    lengths = [t["stem_on"].shape[0] for t, _ in items]
    size = max(lengths) if pad_to is None else pad_to
    if lengths and max(lengths) > size:
        raise ValueError(f"stack_targets: an item of length {max(lengths)} > pad_to={size}")

    def stack(dicts: list[Mapping[str, np.ndarray]], names: Iterable[str], dtypes) -> dict:
        out = {}
        for name, dtype in zip(names, dtypes):
            arr = np.zeros((len(dicts), size, size), dtype=dtype)
            for k, d in enumerate(dicts):
                n = d[name].shape[0]
                arr[k, :n, :n] = d[name]
            out[name] = arr
        return out

    target_dtypes = [_TARGET_DTYPE[kind] for kind, _ in OUTPUTS.values()]
    mask_names = ("on", *BOX_TYPES)
    return (
        stack([t for t, _ in items], OUTPUTS, target_dtypes),
        stack([m for _, m in items], mask_names, [bool] * len(mask_names)),
    )


# ---------------------------------------------------------------------------------------------
# perfect predictions
# ---------------------------------------------------------------------------------------------


def perfect_predictions(
    targets: Mapping[str, np.ndarray], masks: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """The predictions of a perfect model for one encoded structure, in ``decode``'s format.

    ``t_on`` = the on/off target; class outputs ``[L, L, C]`` one-hot of the target where
    ``masks[t]`` (inside a box of type ``t``); outside, the location outputs are one-hot on the
    catch-all class 11 (which is what makes those pixels propose nothing: their box corner is
    unknown) and the size outputs one-hot on the (unused) target 0; scalars = the target.
    Box convention as in ``encode`` (top-right corner, sizes include closing bases).
    """
    pred: dict[str, np.ndarray] = {}
    for name, (kind, n_classes) in OUTPUTS.items():
        target = np.asarray(targets[name])
        if kind != "class":
            pred[name] = target.astype(np.float32)
            continue
        idx = target.astype(np.int64)
        if "_location_" in name:
            idx = np.where(masks[MASK_OF[name]], idx, _LOC_CATCH_ALL)
        pred[name] = np.eye(n_classes, dtype=np.float32)[idx]  # [L, L, C]
    return pred


# ---------------------------------------------------------------------------------------------
# decode
# ---------------------------------------------------------------------------------------------


def decode(
    pred: Mapping[str, np.ndarray], length: int | None = None, origin: tuple[int, int] = (0, 0),
    light: bool = False, votes: float | None = None,
) -> dict[str, np.ndarray]:
    """Per-pixel predictions of ONE sequence -> box proposals grouped by box (SPEC section 5).

    ``pred``: for every name of ``OUTPUTS``, a numpy array: ``t_on`` ``[H, W]`` probabilities
    (sigmoid applied), class outputs ``[H, W, C]`` probabilities (softmax applied) or, with the
    argmax already taken, the pair ``(argmax [H, W], its probability [H, W])``, scalars
    ``[H, W]``; usually the whole map (``H = W = L``), or a region of it whose top-left pixel is
    ``origin`` (row, column) on the map (tiled inference). ``length``: the sequence length
    (default ``origin[1] + W``, i.e. ``L`` for a whole map; give it when ``pred`` is padded);
    only the pixels ``i < j < length`` propose, in map coordinates.

    Box convention: top-right corner ``(bb_x, bb_y)``, bottom-left ``(bb_x + siz_x - 1,
    bb_y - siz_y + 1)``, sizes include closing bases. Every upper-triangle pixel ``(i, j)``
    proposes, per type, the box with ``bb_x = i - loc_x``, ``bb_y = j + loc_y`` (argmax
    locations) and

    * method "sm": the argmax small sizes (class ``k`` -> size ``k + 1``), probability
      ``p_on * p(loc_x) * p(loc_y) * p(size)`` (iloop: times both size probabilities);
    * method "sl": the scalar sizes rounded half up, at least 1, probability
      ``p_on * p(loc_x) * p(loc_y)``.

    Stems and hairpins are square (one size), iloops take ``siz_x`` and ``siz_y`` from their own
    outputs. A proposal whose argmax location (x or y) is the catch-all 11 is dropped (its corner
    is unknown), for "sm" also one whose argmax size is the catch-all ">= 11". Boxes reaching
    outside the sequence are kept (pruning drops them).

    Returns a dict of equal-length numpy arrays, one row per distinct (type, method, bb_x, bb_y,
    siz_x, siz_y), columns ``PROPOSAL_COLUMNS``: ``type`` and ``method`` (str), the box (int64),
    ``n_proposal`` (int64, pixels proposing it), ``n_proposal_norm`` = n_proposal / (siz_x *
    siz_y) (float64; can exceed 1, since pixels outside a box can point at it, and is at most
    about 1/2 for a hairpin, whose lower half cannot propose), ``prob_median``, ``prob_max`` and
    ``prob_sum`` (of the proposals' probabilities), ``p_on_median`` and ``p_on_max``. Sorted by
    type (``BOX_TYPES`` order), method (``METHODS`` order), bb_x, bb_y, siz_x, siz_y.

    ``votes``: also the soft votes of ``pixel_votes`` from the pixels with ``t_on >= votes``
    (method "vote" rows: ``n_proposal`` counts votes and ``prob_sum`` sums them; their medians
    and maxima are left NaN, since only the sum is read). Class outputs must then be given as
    ``(top-k classes [H, W, k], their probabilities [H, W, k])``, best first; "sm" and "sl" use
    the first.

    ``light=True`` computes only what selecting and pruning boxes read (``n_proposal``,
    ``n_proposal_norm``, ``p_on_max``) and leaves ``prob_median``, ``prob_max``, ``prob_sum`` and
    ``p_on_median`` NaN: the medians take a sort per column (half the decoding time) and the
    class probabilities a pass over every class output, yet only S2's features and the
    ``min_prob`` pruning rule read them. Class outputs may then be given as the pair
    ``(argmax, None)``.
    """
    return group_proposals(region_proposals(pred, length, origin, light, votes))


def region_proposals(
    pred: Mapping[str, np.ndarray], length: int | None = None, origin: tuple[int, int] = (0, 0),
    light: bool = False, votes: float | None = None,
) -> list[PixelProposals]:
    """``decode``'s first half: the box each proposing pixel of the maps ``pred`` proposes,
    per type and method, before grouping (arguments as ``decode``)."""
    height, width = _check_pred(pred, light)
    r0, c0 = origin
    if length is None:
        length = c0 + width
    if length < 0:
        raise ValueError(f"decode: length must be >= 0, got {length}")
    gi, gj = r0 + np.arange(height), c0 + np.arange(width)  # map coordinates of the region
    proposing = (gi[:, None] < gj[None, :]) & (gj[None, :] < length)  # [H, W]
    rows, cols = np.nonzero(proposing)  # [N] each: the region's proposing pixels, row-major
    if votes is not None and not all(isinstance(pred[n], tuple) and np.ndim(pred[n][0]) == 3
                                     for n, (kind, _) in OUTPUTS.items() if kind == "class"):
        raise ValueError("decode: votes need every class output as (top-k classes, probabilities) [H, W, k]")
    values = {name: _at(pred[name], rows, cols, kind, light) for name, (kind, _) in OUTPUTS.items()}
    if votes is None:
        return pixel_proposals(values, r0 + rows, c0 + cols, light)
    return proposals_and_votes(values, r0 + rows, c0 + cols, light, votes)


@dataclass
class PixelProposals:
    """The boxes of one type and method that single pixels propose: one row per proposing
    pixel, before grouping by box (``decode`` groups them; the fold decoder's allowed pairs
    read them directly). Box convention: top-right corner ``(bb_x, bb_y)``, bottom-left
    ``(bb_x + siz_x - 1, bb_y - siz_y + 1)``, sizes include the closing bases."""

    type: str
    method: str
    bb_x: np.ndarray  # [N] int64
    bb_y: np.ndarray  # [N] int64
    siz_x: np.ndarray  # [N] int64
    siz_y: np.ndarray  # [N] int64
    p_on: np.ndarray  # [N] float64: the pixel's own t_on probability
    prob: np.ndarray | None  # [N] float64: the proposal's probability (None when light)

    def subset(self, mask: np.ndarray) -> "PixelProposals":
        return PixelProposals(self.type, self.method, self.bb_x[mask], self.bb_y[mask], self.siz_x[mask],
                              self.siz_y[mask], self.p_on[mask], None if self.prob is None else self.prob[mask])


def pixel_proposals(values: Mapping, rows: np.ndarray, cols: np.ndarray,
                    light: bool = False) -> list[PixelProposals]:
    """Per-pixel predictions -> the box each pixel proposes, per type and method (``BOX_TYPES``
    x ``METHODS`` order; the rules of ``decode``, which this serves).

    ``values``: per name of ``OUTPUTS`` at the pixels ``(rows, cols)`` (map coordinates,
    ``[N]`` each): ``t_on`` probabilities and scalars ``[N]``, class outputs as the pair
    ``(argmax [N], its probability [N], or None when light)``."""
    parts = []
    for t in BOX_TYPES:
        p_on = np.asarray(values[f"{t}_on"], dtype=np.float64)  # [N]
        loc_x, p_loc_x = _class(values[f"{t}_location_x"], light)
        loc_y, p_loc_y = _class(values[f"{t}_location_y"], light)
        located = (loc_x != _LOC_CATCH_ALL) & (loc_y != _LOC_CATCH_ALL)
        bb_x, bb_y = rows - loc_x, cols + loc_y
        p_box = None if light else p_on * p_loc_x * p_loc_y
        sm_names, sl_names = _SIZE_OUTPUTS[t]

        keep = located.copy()
        sizes, prob = [], None if light else p_box.copy()
        for name in sm_names:
            k, p = _class(values[name], light)
            keep &= k != _SIZE_CATCH_ALL
            sizes.append(k + 1)
            if not light:
                prob *= p
        parts.append(_proposals(t, "sm", keep, bb_x, bb_y, sizes, prob, p_on))

        sizes = []
        for name in sl_names:
            s = np.asarray(values[name], dtype=np.float64)
            sizes.append(np.maximum(np.floor(s + 0.5), 1).astype(np.int64))
        parts.append(_proposals(t, "sl", located, bb_x, bb_y, sizes, p_box, p_on))
    return parts


def topk_classes(pred: Mapping[str, np.ndarray], k: int) -> dict:
    """Predictions with class outputs as probabilities ``[..., C]`` -> the same with each class
    output as ``(top-k classes [..., k], their probabilities [..., k])``, best first (ties: the
    lower class), as ``decode(..., votes=...)`` reads them."""
    out = dict(pred)
    for name, (kind, _) in OUTPUTS.items():
        if kind == "class":
            p = np.asarray(pred[name])
            top = np.argsort(-p, axis=-1, kind="stable")[..., :k]
            out[name] = (top, np.take_along_axis(p, top, axis=-1))
    return out


def proposals_and_votes(values: Mapping, rows: np.ndarray, cols: np.ndarray, light: bool,
                        min_p_on: float) -> list[PixelProposals]:
    """``pixel_proposals`` from the argmax and ``pixel_votes`` from the top-k classes of the
    same values, in (type, method) order, as ``group_proposals`` needs them to come out sorted."""
    argmax = pixel_proposals(top1(values), rows, cols, light)  # per type: sm, sl
    votes = pixel_votes(values, rows, cols, min_p_on)  # per type: vote
    return [p for k, v in enumerate(votes) for p in (argmax[2 * k], argmax[2 * k + 1], v)]


def top1(values: Mapping) -> dict:
    """Per-pixel values with class outputs as top-k pairs ``([N, k], [N, k])`` -> the same with
    the argmax pairs ``([N], [N])`` that ``pixel_proposals`` reads."""
    return {name: (v[0][..., 0], None if v[1] is None else v[1][..., 0]) if isinstance(v, tuple) else v
            for name, v in values.items()}


def pixel_votes(values: Mapping, rows: np.ndarray, cols: np.ndarray, min_p_on: float) -> list[PixelProposals]:
    """Per-pixel predictions -> soft votes (method "vote"), one part per type (``BOX_TYPES``).

    Why: an argmax proposes one box per pixel, so a box whose every pixel puts its corner or
    size second (an off-by-one) is never proposed. On held-out segments, second choices would
    let a box's own pixels name every true box in 81% of sequences, where every argmax proposal
    together finds them all in 63%. Here every pixel with ``t_on >= min_p_on`` votes for
    the box of every combination of its top-k classes (k = the width of the given classes), with
    weight ``p_on * p(loc_x) * p(loc_y) * p(size)`` (iloop: both sizes): a Hough transform with
    the network's probabilities as votes. Grouped, a box's ``prob_sum`` is the expected number
    of pixels pointing at it and ``prob_sum / area`` a soft ``n_proposal_norm`` (``select``'s
    "vote" method). With k = 1, for sizes up to 10, the votes are those pixels' "sm" proposals,
    weighted by their probabilities.

    Box convention: top-right corner ``(bb_x, bb_y)`` = ``(i - loc_x, j + loc_y)``, sizes include
    the closing bases. A catch-all location (11) casts no vote; a catch-all size (">= 11") takes
    the scalar size (at least 1), since that is the output that says which: the vote is split
    between its two neighbouring integers, linearly (12.4: 0.6 of it for 12, 0.4 for 13).

    ``values``: per name of ``OUTPUTS`` at the pixels ``(rows, cols)`` (map coordinates, ``[N]``
    each): ``t_on`` and scalars ``[N]``, class outputs as ``(top-k classes [N, k], their
    probabilities [N, k])``."""
    parts = []
    for t in BOX_TYPES:
        p_on = np.asarray(values[f"{t}_on"], dtype=np.float64)  # [N]
        voting = p_on >= min_p_on
        sm_names, sl_names = _SIZE_OUTPUTS[t]
        names = [f"{t}_location_x", f"{t}_location_y", *sm_names]
        classes = [np.asarray(values[n][0])[voting].astype(np.int64) for n in names]  # each [M, k]
        probs = [np.asarray(values[n][1], dtype=np.float64)[voting] for n in names]  # each [M, k]
        scalar = [np.maximum(np.asarray(values[n], dtype=np.float64)[voting], 1.0) for n in sl_names]  # each [M]
        k = classes[0].shape[1]
        # every combination of one class per output: the grid of top-k indices, [K^n, n]
        grid = np.stack(np.meshgrid(*[np.arange(k)] * len(names), indexing="ij"), -1).reshape(-1, len(names))
        pick = [np.take(c, grid[:, o], axis=1) for o, c in enumerate(classes)]  # each [M, K^n]
        weight = p_on[voting][:, None] * np.prod(
            [np.take(p, grid[:, o], axis=1) for o, p in enumerate(probs)], axis=0)  # [M, K^n]
        loc_x, loc_y, sm = pick[0], pick[1], pick[2:]
        keep = (loc_x != _LOC_CATCH_ALL) & (loc_y != _LOC_CATCH_ALL)  # [M, K^n]
        bb_x = (rows[voting][:, None] - loc_x)[keep]  # [V]
        bb_y = (cols[voting][:, None] + loc_y)[keep]
        on, weight = np.broadcast_to(p_on[voting][:, None], keep.shape)[keep], weight[keep]
        catch_all = [(c == _SIZE_CATCH_ALL)[keep] for c in sm]  # each [V]
        sizes = [(c + 1)[keep] for c in sm]
        scalar = [np.broadcast_to(s[:, None], keep.shape)[keep] for s in scalar]
        for d in range(len(sizes)):
            # a catch-all size votes for the scalar's two neighbouring integers, its weight split
            # linearly between them: half the large internal loops that rounding missed were
            # one off in size
            floor, frac = np.floor(scalar[d]), scalar[d] - np.floor(scalar[d])
            sizes[d] = np.where(catch_all[d], floor, sizes[d]).astype(np.int64)
            up = np.flatnonzero(catch_all[d] & (frac > 0))
            weight = np.concatenate([np.where(catch_all[d], weight * (1 - frac), weight), weight[up] * frac[up]])
            sizes = [np.concatenate([v, v[up] + (e == d)]) for e, v in enumerate(sizes)]
            bb_x, bb_y, on = (np.concatenate([v, v[up]]) for v in (bb_x, bb_y, on))
            catch_all = [np.concatenate([v, v[up]]) for v in catch_all]
            scalar = [np.concatenate([v, v[up]]) for v in scalar]
        parts.append(PixelProposals(t, "vote", bb_x, bb_y, sizes[0], sizes[-1], on, weight))
    return parts


def _proposals(box_type, method, keep, bb_x, bb_y, sizes, prob, p_on) -> PixelProposals:
    # square types have one size, which is both siz_x and siz_y
    return PixelProposals(box_type, method, bb_x[keep], bb_y[keep], sizes[0][keep], sizes[-1][keep],
                          p_on[keep], None if prob is None else prob[keep])


def group_proposals(parts: Iterable[PixelProposals]) -> dict[str, np.ndarray]:
    """Per-pixel proposals (``pixel_proposals`` order) -> ``decode``'s table: one row per
    distinct (type, method, box), sorted (each part is sorted by box, and the parts come in
    (type, method) order)."""
    grouped = [_group(p) for p in parts]
    return {c: np.concatenate([g[c] for g in grouped]) for c in PROPOSAL_COLUMNS}


def concat_proposals(parts: list[Mapping[str, np.ndarray]],
                     columns: tuple[str, ...] = PROPOSAL_COLUMNS) -> dict[str, np.ndarray]:
    """Join proposal tables of disjoint sets of boxes (e.g. the tiles of one map), sorted as
    ``decode`` sorts: by type (``BOX_TYPES`` order), method, bb_x, bb_y, siz_x, siz_y. Also
    per-box tables (``columns = infer.BOX_COLUMNS``, no method), sorted as ``select`` sorts."""
    out = {c: np.concatenate([np.asarray(p[c]) for p in parts]) for c in columns}
    method = [_codes(out["method"], METHODS)] if "method" in out else []
    order = np.lexsort((out["siz_y"], out["siz_x"], out["bb_y"], out["bb_x"], *method,
                        _codes(out["type"], BOX_TYPES)))
    return {c: v[order] for c, v in out.items()}


def _check_pred(pred: Mapping[str, np.ndarray], light: bool = False) -> tuple[int, int]:
    """Validate the shapes of one sequence's predictions; return their size ``(H, W)``."""
    missing = [n for n in OUTPUTS if n not in pred]
    if missing:
        raise ValueError(f"decode: predictions lack the outputs {missing}")
    hw = tuple(np.shape(pred["stem_on"])) if np.ndim(pred["stem_on"]) == 2 else (-1, -1)
    for name, (kind, n_classes) in OUTPUTS.items():
        if kind == "class" and isinstance(pred[name], tuple):  # (argmax or top-k, probability)
            if pred[name][1] is None and not light:
                raise ValueError(f"decode: {name} lacks the probability of its argmax (only light=True can do without)")
            shape = tuple(np.shape(a) for a in pred[name] if a is not None)
            topk = np.shape(pred[name][0])[2:]  # (k,) for top-k pairs
            if len(topk) > 1 or shape not in (((*hw, *topk), (*hw, *topk)), ((*hw, *topk),)):
                raise ValueError(f"decode: {name} argmax/probability have shapes {shape}, expected {hw}")
            continue
        shape = np.shape(pred[name])
        want = (*hw, n_classes) if kind == "class" else hw
        if shape != want:
            raise ValueError(f"decode: {name} has shape {shape}, expected {want} (one sequence)")
        if kind == "scalar" and not np.all(np.isfinite(pred[name])):
            raise ValueError(f"decode: {name} has non-finite values")
    return hw  # type: ignore[return-value]


def _at(pred, rows: np.ndarray, cols: np.ndarray, kind: str, light: bool):
    """One output of a map at the pixels ``(rows, cols)``; class outputs as ``(argmax,
    probability or None)``, from ``[H, W, C]`` probabilities or an ``(argmax, probability)`` pair."""
    if kind != "class":
        return np.asarray(pred)[rows, cols]
    if isinstance(pred, tuple):
        k, p = pred
        return np.asarray(k)[rows, cols], None if light else np.asarray(p)[rows, cols]
    p = np.asarray(pred)[rows, cols]  # [N, C]
    k = np.argmax(p, axis=1)
    return k, None if light else np.take_along_axis(p, k[:, None], axis=1)[:, 0]


def _class(value, light: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """``(argmax, probability)`` -> int64 argmax ``[N]`` and float64 probability (None when light)."""
    k, p = value
    return np.asarray(k).astype(np.int64), None if light else np.asarray(p, dtype=np.float64)


def _group(part: PixelProposals) -> dict[str, np.ndarray]:
    """Group one type and method's pixel proposals by box -> proposal columns
    (``prob=None``: the light columns of ``decode``)."""
    boxes, inverse, counts = unique_rows(np.stack([part.bb_x, part.bb_y, part.siz_x, part.siz_y], axis=1))
    n = len(boxes)
    area = (boxes[:, 2] * boxes[:, 3]).astype(np.float64)
    if part.method == "vote":  # only the sum is read (merge_methods): no sorts for medians
        prob_median, prob_max, p_on_median, p_on_max = (np.full(n, np.nan) for _ in range(4))
        prob_sum = np.bincount(inverse, part.prob, n)
    elif part.prob is None:
        prob_median, prob_max, p_on_median = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
        prob_sum = np.full(n, np.nan)
        p_on_max = np.zeros(n)  # probabilities are >= 0
        np.maximum.at(p_on_max, inverse, part.p_on)
    else:
        starts = np.cumsum(counts) - counts
        prob_median, prob_max = _group_median_max(part.prob, inverse, starts, counts)
        prob_sum = np.bincount(inverse, part.prob, n)
        p_on_median, p_on_max = _group_median_max(part.p_on, inverse, starts, counts)
    return {
        "type": np.full(n, part.type, dtype="<U5"),
        "method": np.full(n, part.method, dtype="<U4"),
        "bb_x": boxes[:, 0].astype(np.int64),
        "bb_y": boxes[:, 1].astype(np.int64),
        "siz_x": boxes[:, 2].astype(np.int64),
        "siz_y": boxes[:, 3].astype(np.int64),
        "n_proposal": counts.astype(np.int64),
        "n_proposal_norm": counts / area,
        "prob_median": prob_median,
        "prob_max": prob_max,
        "prob_sum": prob_sum,
        "p_on_median": p_on_median,
        "p_on_max": p_on_max,
    }


def unique_rows(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``np.unique(keys, axis=0, return_inverse=True, return_counts=True)`` for ``[N, K]``
    int64 rows, several times faster: the rows are packed into one int64 (same order) when
    their range allows, which it does for any map up to tens of thousands of pixels."""
    n_cols = keys.shape[1]
    if len(keys) == 0:
        return keys.reshape(0, n_cols), np.zeros(0, np.int64), np.zeros(0, np.int64)
    lo = keys.min(axis=0)
    span = keys.max(axis=0) - lo + 1  # [K]
    if float(np.prod(span.astype(np.float64))) >= 2.0**62:
        boxes, inverse, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
        return boxes, inverse.reshape(-1), counts
    shifted = keys - lo
    packed = shifted[:, 0].copy()
    for c in range(1, n_cols):
        packed = packed * span[c] + shifted[:, c]
    uniq, inverse, counts = np.unique(packed, return_inverse=True, return_counts=True)
    rows = np.empty((len(uniq), n_cols), dtype=np.int64)
    for c in range(n_cols - 1, 0, -1):
        uniq, rows[:, c] = np.divmod(uniq, span[c])
    rows[:, 0] = uniq
    return rows + lo, inverse.reshape(-1), counts


def _group_median_max(values, inverse, starts, counts) -> tuple[np.ndarray, np.ndarray]:
    """Median (the mean of the two middle values for even counts, as np.median) and maximum of
    each group, from one sort: groups in key order, values ascending within each."""
    by_value = np.argsort(values)  # ties are equal values: their order cannot matter
    # then a stable sort by group; int32 keys sort faster (1.8x this np.lexsort in all)
    v = values[by_value[np.argsort(inverse[by_value].astype(np.int32), kind="stable")]]
    return (v[starts + (counts - 1) // 2] + v[starts + counts // 2]) / 2, v[starts + counts - 1]


def type_codes(types: np.ndarray) -> np.ndarray:
    """Box type names -> their index in ``BOX_TYPES`` (int64)."""
    return _codes(np.asarray(types), BOX_TYPES).astype(np.int64)


def _codes(names: np.ndarray, order: tuple[str, ...]) -> np.ndarray:
    """Rank of each name in ``order`` (for sorting)."""
    sorter = np.argsort(order)
    return sorter[np.searchsorted(np.array(order), names, sorter=sorter)]


# ---------------------------------------------------------------------------------------------
# proposals -> boxes
# ---------------------------------------------------------------------------------------------


def boxes_of(
    proposals: Mapping[str, np.ndarray],
    method: str | None = None,
    min_norm: float = 0.0,
    type_thresholds: Mapping[str, float] | None = None,
) -> list[Box]:
    """Proposal rows of ``decode`` -> distinct ``Box`` objects, sorted like ``structure_to_boxes``
    (by bb_x, type, bb_y, then sizes).

    Box convention: top-right corner ``(bb_x, bb_y)``, sizes include the closing bases.
    ``method``: "sm", "sl" or None (both; a box proposed by both is returned once). A row is kept
    when its ``n_proposal_norm > threshold``, the threshold being ``type_thresholds[type]`` when
    given, else ``min_norm`` (the default 0 keeps every proposal; SPEC section 5 uses 0.2, and 0.1
    for hairpins).
    """
    if method is not None and method not in METHODS:
        raise ValueError(f"boxes_of: method must be one of {METHODS} or None, got {method!r}")
    thresholds = {t: float(min_norm) for t in BOX_TYPES}
    for t, v in (type_thresholds or {}).items():
        if t not in thresholds:
            raise ValueError(f"boxes_of: unknown box type {t!r} in type_thresholds")
        thresholds[t] = float(v)
    types = np.asarray(proposals["type"])
    keep = np.asarray(proposals["n_proposal_norm"]) > np.array(
        [thresholds[t] for t in types.tolist()], dtype=np.float64
    )
    if method is not None:
        keep &= np.asarray(proposals["method"]) == method
    cols = [np.asarray(proposals[c])[keep].tolist() for c in ("bb_x", "bb_y", "siz_x", "siz_y")]
    boxes = {Box(t, *map(int, b)) for t, *b in zip(types[keep].tolist(), *cols)}
    return sorted(boxes, key=lambda b: (b.bb_x, BOX_TYPES.index(b.type), b.bb_y, b.siz_x, b.siz_y))
