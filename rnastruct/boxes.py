"""Secondary structure <-> bounding boxes on the L x L base-pair map.

THE BOX CONVENTION (defined here, restated wherever boxes are taken):

* the map's pixel ``(x, y)`` is row ``x = i``, column ``y = j`` of the pair ``(i, j)``, 0-based,
  upper triangle ``i < j``;
* a box is ``(bb_x, bb_y, siz_x, siz_y)`` with ``(bb_x, bb_y)`` its **top-right** corner; it
  covers rows ``bb_x .. bb_x + siz_x - 1`` and columns ``bb_y - siz_y + 1 .. bb_y``, so its
  bottom-left corner is ``(bb_x + siz_x - 1, bb_y - siz_y + 1)``;
* ``stem``: a maximal run of stacked pairs; square; top-right = outermost pair; size = number of
  pairs; its pairs are ``(bb_x + k, bb_y - k)``;
* ``iloop`` (internal loop or bulge): between two stems with only unpaired bases between them;
  top-right = outer closing pair, bottom-left = inner closing pair; sizes count the closing bases
  (unpaired + 2 per side, so a bulge is 2 wide on its empty side);
* ``hloop`` (hairpin): square box on the diagonal; top-right = closing pair ``(i, j)``; size
  ``j - i + 1``;
* multiloops and the exterior loop get no box; pseudoknotted stems are boxes with
  ``pseudoknot=True`` and have no loops (they are left out of S1 targets).

Pure numpy, no I/O.
"""

from __future__ import annotations

from typing import Iterable, NamedTuple

import numpy as np

from .structure import (
    as_pairs,
    pair_table,
    split_pseudoknots,
    stems_of_pairs,
    to_dot_bracket,
    validate_pairs,
)

BOX_TYPES = ("stem", "iloop", "hloop")


class Box(NamedTuple):
    """One box; see the module docstring for the convention (0-based, top-right corner,
    sizes including closing bases)."""

    type: str
    bb_x: int
    bb_y: int
    siz_x: int
    siz_y: int
    pseudoknot: bool = False

    @property
    def bl_x(self) -> int:
        """Row of the bottom-left corner."""
        return self.bb_x + self.siz_x - 1

    @property
    def bl_y(self) -> int:
        """Column of the bottom-left corner."""
        return self.bb_y - self.siz_y + 1


def structure_to_boxes(pairs: np.ndarray, length: int) -> list[Box]:
    """Pair list ``[P, 2]`` (0-based, ``i < j``) -> boxes, sorted by ``(bb_x, type)``.

    Box convention: top-right corner ``(bb_x, bb_y)``, sizes include the closing bases; stems
    square with pairs ``(bb_x + k, bb_y - k)``; iloop from outer to inner closing pair; hloop
    square on the diagonal. Pseudoknotted stems (see ``split_pseudoknots``) are returned with
    ``pseudoknot=True``; loops are computed on the nested part only; multiloops and the
    exterior loop get no box.
    """
    pairs = as_pairs(pairs)
    validate_pairs(pairs, length)
    nested, knotted = split_pseudoknots(pairs)
    table = pair_table(nested, length)
    boxes: list[Box] = []
    for stem in stems_of_pairs(knotted):
        n = len(stem)
        boxes.append(Box("stem", int(stem[0, 0]), int(stem[0, 1]), n, n, True))
    for stem in stems_of_pairs(nested):
        n = len(stem)
        boxes.append(Box("stem", int(stem[0, 0]), int(stem[0, 1]), n, n))
        p, q = int(stem[-1, 0]), int(stem[-1, 1])  # innermost pair closes the loop inside
        children = _enclosed_pairs(table, p, q)
        if not children:
            boxes.append(Box("hloop", p, q, q - p + 1, q - p + 1))
        elif len(children) == 1:
            a, b = children[0]
            boxes.append(Box("iloop", p, q, a - p + 1, q - b + 1))
        # two or more children: a multiloop, which gets no box
    boxes.sort(key=lambda b: (b.bb_x, BOX_TYPES.index(b.type), b.bb_y))
    return boxes


def _enclosed_pairs(table: np.ndarray, p: int, q: int) -> list[tuple[int, int]]:
    """Pairs directly enclosed by the pair ``(p, q)`` (the next level of nesting)."""
    children = []
    k = p + 1
    while k < q:
        partner = table[k]
        if partner > k:
            children.append((k, int(partner)))
            k = int(partner) + 1
        else:
            k += 1
    return children


def boxes_to_pairs(boxes: Iterable[Box]) -> np.ndarray:
    """Boxes -> pair list ``[P, 2]``: the pairs of every stem (pseudoknotted ones included).

    Box convention: a stem box with top-right ``(bb_x, bb_y)`` and size ``n`` holds the pairs
    ``(bb_x + k, bb_y - k)`` for ``k < n``. Loop boxes add no pairs: their closing pairs belong
    to stems. This is the exact inverse of ``structure_to_boxes``.
    """
    chunks = []
    for b in boxes:
        if b.type == "stem":
            k = np.arange(b.siz_x)
            chunks.append(np.stack([b.bb_x + k, b.bb_y - k], axis=1))
    if not chunks:
        return np.zeros((0, 2), dtype=np.int64)
    return as_pairs(np.concatenate(chunks))


def candidate_pairs(types, bb_x, bb_y, siz_x, siz_y, length: int) -> np.ndarray:
    """Box proposals (columns) -> the pairs they put forward, ``[P, 2]`` sorted and unique:
    every pair of a stem box, and the closing pairs of loop boxes (both corners of an
    internal loop, the corner of a hairpin). Pairs outside ``0 <= i < j < length`` are dropped.

    Box convention: top-right corner ``(bb_x, bb_y)``, 0-based; a stem of size ``n`` holds
    ``(bb_x + k, bb_y - k)`` for ``k < n``; loop sizes count the closing bases, so the inner
    closing pair of an internal loop is its bottom-left corner ``(bb_x + siz_x - 1, bb_y - siz_y + 1)``.
    """
    t = np.asarray(types)
    x, y = np.asarray(bb_x, np.int64), np.asarray(bb_y, np.int64)
    sx, sy = np.asarray(siz_x, np.int64), np.asarray(siz_y, np.int64)
    stem = t == "stem"
    n = np.maximum(np.minimum(sx, sy), 0) * stem  # pairs each box contributes along its diagonal
    first = np.repeat(np.cumsum(n) - n, n)  # [S] start of each stem's run in the flat list
    k = np.arange(int(n.sum())) - first  # [S] step along the stem
    stem_i, stem_j = np.repeat(x, n) + k, np.repeat(y, n) - k
    iloop = t == "iloop"
    loop = ~stem
    i = np.concatenate([stem_i, x[loop], (x + sx - 1)[iloop]])
    j = np.concatenate([stem_j, y[loop], (y - sy + 1)[iloop]])
    ok = (i >= 0) & (i < j) & (j < length)
    # one int64 key per pair (same order as the rows): np.unique(axis=0) sorts a structured
    # view, which was most of the fold decoder's time outside the network
    key = np.unique(i[ok] * length + j[ok])
    return np.stack(np.divmod(key, length), axis=1).reshape(-1, 2).astype(np.int64)


def boxes_to_dot_bracket(boxes: Iterable[Box], length: int) -> str:
    """Boxes (convention: top-right corner, sizes include closing bases) -> dot-bracket."""
    return to_dot_bracket(boxes_to_pairs(boxes), length)


def box_problems(boxes: list[Box], length: int, allow_pseudoknots: bool = False) -> list[str]:
    """Everything that keeps a set of boxes from being one secondary structure; [] when none.

    Box convention: top-right corner ``(bb_x, bb_y)``, bottom-left
    ``(bb_x + siz_x - 1, bb_y - siz_y + 1)``, sizes include closing bases.
    Checks: geometry (inside the sequence, upper triangle, square stems and hairpins, hairpins
    on the diagonal, at least one unpaired base inside a loop), stems sharing a base, crossing
    stems (unless ``allow_pseudoknots``), and loops whose closing stems are missing: an iloop
    needs a stem ending at its top-right corner and one starting at its bottom-left corner, a
    hairpin needs a stem ending at its closing pair.
    """
    problems = []
    stems = [b for b in boxes if b.type == "stem"]
    for b in boxes:
        if b.type not in BOX_TYPES:
            problems.append(f"{_fmt(b)}: unknown box type {b.type!r}")
            continue
        if b.siz_x < 1 or b.siz_y < 1:
            problems.append(f"{_fmt(b)}: sizes must be >= 1")
            continue
        off_map = b.bb_x < 0 or b.bb_y >= length or b.bb_x >= b.bb_y
        if off_map or (b.type != "hloop" and b.bl_x >= b.bl_y):
            problems.append(f"{_fmt(b)}: outside the upper triangle of a {length} x {length} map")
            continue
        if b.type in ("stem", "hloop") and b.siz_x != b.siz_y:
            problems.append(f"{_fmt(b)}: a {b.type} box must be square")
        if b.type == "hloop" and (b.bb_x + b.siz_x - 1 != b.bb_y):
            problems.append(f"{_fmt(b)}: a hairpin box must sit on the diagonal")
        if b.type == "hloop" and b.siz_x < 3:
            problems.append(f"{_fmt(b)}: a hairpin needs at least one unpaired base")
        if b.type == "iloop" and b.siz_x + b.siz_y < 5:
            problems.append(f"{_fmt(b)}: an internal loop needs at least one unpaired base")
    if problems:
        return problems

    used = np.zeros(length, dtype=np.int64)
    for b in stems:
        k = np.arange(b.siz_x)
        np.add.at(used, b.bb_x + k, 1)
        np.add.at(used, b.bb_y - k, 1)
    for base in np.flatnonzero(used > 1):
        problems.append(f"base {base} is in more than one stem pair")
    if not allow_pseudoknots:
        for a in range(len(stems)):
            for c in range(a + 1, len(stems)):
                s, t = stems[a], stems[c]
                if (s.bb_x < t.bb_x < s.bb_y < t.bb_y) or (t.bb_x < s.bb_x < t.bb_y < s.bb_y):
                    problems.append(f"{_fmt(s)} crosses {_fmt(t)} (a pseudoknot)")

    outer_pairs = {(b.bb_x, b.bb_y) for b in stems}
    inner_pairs = {(b.bl_x, b.bl_y) for b in stems}
    for b in boxes:
        if b.type == "iloop":
            if (b.bb_x, b.bb_y) not in inner_pairs:
                problems.append(f"{_fmt(b)}: no stem ends at its outer closing pair")
            if (b.bl_x, b.bl_y) not in outer_pairs:
                problems.append(f"{_fmt(b)}: no stem starts at its inner closing pair")
        elif b.type == "hloop" and (b.bb_x, b.bb_y) not in inner_pairs:
            problems.append(f"{_fmt(b)}: no stem ends at its closing pair")
    return problems


def _fmt(b: Box) -> str:
    return f"{b.type} at ({b.bb_x}, {b.bb_y}) size {b.siz_x}x{b.siz_y}"


def boxes_to_records(boxes: Iterable[Box]) -> list[dict]:
    """Boxes -> list of plain dicts (for Parquet/JSON columns)."""
    return [b._asdict() for b in boxes]


def boxes_from_records(records: Iterable[dict]) -> list[Box]:
    """Inverse of ``boxes_to_records``."""
    return [
        Box(
            str(r["type"]),
            int(r["bb_x"]),
            int(r["bb_y"]),
            int(r["siz_x"]),
            int(r["siz_y"]),
            bool(r.get("pseudoknot", False)),
        )
        for r in records
    ]
