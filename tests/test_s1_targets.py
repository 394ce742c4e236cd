"""Tests for rnastruct.s1.targets: the S1 per-pixel encoding (SPEC section 3) and its inverse
(SPEC section 5).

Truth: hand-computed pixels of small structures, a pixel-by-pixel reference encoder and a
pixel-by-pixel reference decoder written here with plain Python loops straight from the SPEC,
and the round trip encode -> perfect predictions -> decode on thousands of real ViennaRNA folds.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict

import numpy as np
import pytest

from rnastruct.boxes import BOX_TYPES, Box, structure_to_boxes
from rnastruct.s1.targets import (
    MASK_MARGIN,
    MASK_OF,
    MAX_OFFSET,
    MAX_SMALL_SIZE,
    METHODS,
    OUTPUTS,
    PROPOSAL_COLUMNS,
    boxes_of,
    decode,
    encode,
    perfect_predictions,
    stack_targets,
)
from rnastruct.structure import parse_dot_bracket

NAMES = [
    "stem_on", "stem_location_x", "stem_location_y", "stem_sm_size", "stem_sl_size",
    "iloop_on", "iloop_location_x", "iloop_location_y", "iloop_sm_size_x", "iloop_sm_size_y",
    "iloop_sl_size_x", "iloop_sl_size_y",
    "hloop_on", "hloop_location_x", "hloop_location_y", "hloop_sm_size", "hloop_sl_size",
]  # fmt: skip


def enc(db: str):
    return encode(parse_dot_bracket(db), len(db))


def true_boxes(db: str) -> list[Box]:
    return [b for b in structure_to_boxes(parse_dot_bracket(db), len(db)) if not b.pseudoknot]


def rows_of(proposals) -> dict[tuple, dict]:
    """Proposals -> {(type, method, bb_x, bb_y, siz_x, siz_y): row}."""
    out = {}
    for k in range(len(proposals["type"])):
        row = {c: proposals[c][k].item() for c in PROPOSAL_COLUMNS}
        key = tuple(row[c] for c in PROPOSAL_COLUMNS[:6])
        assert key not in out, f"duplicate proposal {key}"
        out[key] = row
    return out


def shared_corners(boxes) -> set[tuple[int, int]]:
    """Pixels that are the bottom-left of one iloop and the top-right of another (a lone-pair
    stem between two internal loops)."""
    loops = [b for b in boxes if b.type == "iloop"]
    return {(b.bl_x, b.bl_y) for b in loops} & {(b.bb_x, b.bb_y) for b in loops}


# ---------------------------------------------------------------------------------------------
# reference encoder: pixel by pixel, from SPEC section 3
# ---------------------------------------------------------------------------------------------


def reference_encode(db: str):
    length = len(db)
    boxes = true_boxes(db)
    targets = {n: np.zeros((length, length)) for n in OUTPUTS}
    masks = {m: np.zeros((length, length), dtype=bool) for m in ("on", *BOX_TYPES)}

    def dist(v, lo, hi):
        return max(lo - v, 0, v - hi)

    for i in range(length):
        for j in range(i + 1, length):
            masks["on"][i, j] = any(
                max(dist(i, b.bb_x, b.bl_x), dist(j, b.bl_y, b.bb_y)) <= 10 for b in boxes
            )
            for t in BOX_TYPES:
                owners = [
                    b for b in boxes
                    if b.type == t and b.bb_x <= i <= b.bl_x and b.bl_y <= j <= b.bb_y
                ]  # fmt: skip
                if not owners:
                    continue
                assert len(owners) == 1 or (t == "iloop" and len(owners) == 2)
                b = max(owners, key=lambda b: b.bb_x)  # the inner loop owns a shared corner
                masks[t][i, j] = True
                targets[f"{t}_on"][i, j] = 1
                targets[f"{t}_location_x"][i, j] = min(i - b.bb_x, 11)
                targets[f"{t}_location_y"][i, j] = min(b.bb_y - j, 11)
                if t == "iloop":
                    sizes = {"_x": b.siz_x, "_y": b.siz_y}
                else:
                    sizes = {"": b.siz_x}
                for side, s in sizes.items():
                    targets[f"{t}_sm_size{side}"][i, j] = s - 1 if s <= 10 else 10
                    targets[f"{t}_sl_size{side}"][i, j] = s
    return targets, masks


def assert_same_encoding(db: str):
    targets, masks = enc(db)
    ref_targets, ref_masks = reference_encode(db)
    assert set(targets) == set(NAMES)
    assert set(masks) == {"on", *BOX_TYPES}
    for name, (kind, _) in OUTPUTS.items():
        want_dtype = {"on": np.float32, "class": np.int64, "scalar": np.float32}[kind]
        assert targets[name].dtype == want_dtype, name
        assert targets[name].shape == (len(db), len(db))
        assert np.array_equal(targets[name], ref_targets[name]), (db, name)
    for m in masks:
        assert masks[m].dtype == bool
        assert np.array_equal(masks[m], ref_masks[m]), (db, m)


# ---------------------------------------------------------------------------------------------
# the outputs table
# ---------------------------------------------------------------------------------------------


def test_outputs_table():
    assert list(OUTPUTS) == NAMES
    assert (MAX_OFFSET, MAX_SMALL_SIZE, MASK_MARGIN) == (10, 10, 10)
    for name, (kind, n) in OUTPUTS.items():
        if name.endswith("_on"):
            assert (kind, n) == ("on", 1)
        elif "_location_" in name:
            assert (kind, n) == ("class", 12)
        elif "_sm_size" in name:
            assert (kind, n) == ("class", 11)
        else:
            assert "_sl_size" in name and (kind, n) == ("scalar", 1)
        assert MASK_OF[name] == ("on" if kind == "on" else name.split("_")[0])


# ---------------------------------------------------------------------------------------------
# encode: hand-computed targets
# ---------------------------------------------------------------------------------------------


def test_stem_and_hairpin_pixels():
    # stem (0, 10) 4x4: rows 0..3, columns 7..10; hloop (3, 7) 5x5: rows/columns 3..7
    t, m = enc("((((...))))")
    assert t["stem_on"][1, 9] == 1
    assert (t["stem_location_x"][1, 9], t["stem_location_y"][1, 9]) == (1, 1)
    assert t["stem_sm_size"][1, 9] == 3 and t["stem_sl_size"][1, 9] == 4.0
    assert (t["stem_location_x"][3, 7], t["stem_location_y"][3, 7]) == (3, 3)  # bottom-left
    assert (t["stem_location_x"][0, 10], t["stem_location_y"][0, 10]) == (0, 0)  # top-right
    assert t["stem_on"].sum() == 16 and m["stem"].sum() == 16
    assert t["stem_on"][4, 9] == 0 and t["stem_on"][0, 6] == 0  # just outside the box
    # the closing pair (3, 7) is in its stem and in its hairpin, the hairpin's top-right corner
    assert t["hloop_on"][3, 7] == 1
    assert (t["hloop_location_x"][3, 7], t["hloop_location_y"][3, 7]) == (0, 0)
    assert (t["hloop_location_x"][4, 6], t["hloop_location_y"][4, 6]) == (1, 1)
    assert (t["hloop_location_x"][6, 7], t["hloop_location_y"][6, 7]) == (3, 0)
    assert t["hloop_sm_size"][4, 6] == 4 and t["hloop_sl_size"][4, 6] == 5.0
    # only the hairpin's 10 pixels above the diagonal are on
    assert t["hloop_on"].sum() == 10 and m["hloop"].sum() == 10
    assert t["hloop_on"][5, 5] == 0 and t["hloop_on"][6, 4] == 0
    assert not m["hloop"][5, 5] and not m["hloop"][6, 4]
    assert t["iloop_on"].sum() == 0 and not m["iloop"].any()
    # outside boxes: class and scalar targets are 0
    assert t["stem_location_x"][5, 6] == 0 and t["stem_sl_size"][5, 6] == 0
    assert_same_encoding("((((...))))")


def test_on_mask_margin_and_triangles():
    db = "((((...))))" + "." * 30  # L = 41
    t, m = enc(db)
    on = m["on"]
    # stem rows 0..3, cols 7..10 -> margin rows 0..13, cols 0..20; hairpin rows/cols 3..7 ->
    # rows 0..17, cols 0..17
    assert on[0, 20] and not on[0, 21]
    assert on[13, 20] and not on[14, 20]
    assert on[16, 17] and not on[17, 18]
    assert not on[30, 40] and not on[0, 40]
    # the diagonal and the lower triangle never get a mask
    lower_or_diag = ~np.triu(np.ones((41, 41), dtype=bool), k=1)
    for mask in m.values():
        assert not mask[lower_or_diag].any()
    assert on.sum() == sum(1 for i in range(18) for j in range(i + 1, 21) if i <= 13 or j <= 17)
    assert_same_encoding(db)


def test_internal_loop_pixels():
    db = "((..((...))...))"
    # iloop (1, 14) 4x5: rows 1..4, columns 10..14
    t, m = enc(db)
    assert m["iloop"].sum() == 20 and t["iloop_on"].sum() == 20
    assert t["iloop_sm_size_x"][2, 12] == 3 and t["iloop_sm_size_y"][2, 12] == 4
    assert t["iloop_sl_size_x"][2, 12] == 4.0 and t["iloop_sl_size_y"][2, 12] == 5.0
    assert (t["iloop_location_x"][2, 12], t["iloop_location_y"][2, 12]) == (1, 2)
    assert (t["iloop_location_x"][4, 10], t["iloop_location_y"][4, 10]) == (3, 4)
    assert t["iloop_on"][5, 10] == 0 and t["iloop_on"][4, 9] == 0
    assert_same_encoding(db)


def test_bulge():
    db = "((.((...))))"  # bulge (1, 10) 3x2
    t, _ = enc(db)
    assert t["iloop_on"][1:4, 9:11].all() and t["iloop_on"].sum() == 6
    assert (t["iloop_sm_size_x"][3, 9], t["iloop_sm_size_y"][3, 9]) == (2, 1)
    assert_same_encoding(db)


def test_location_clipping_and_small_size_catch_all():
    db = "(" * 14 + "..." + ")" * 14  # stem (0, 30) 14x14, hairpin (13, 17) 5x5
    t, m = enc(db)
    assert m["stem"].sum() == 196
    assert (t["stem_location_x"][10, 20], t["stem_location_y"][10, 20]) == (10, 10)
    assert (t["stem_location_x"][11, 19], t["stem_location_y"][11, 19]) == (11, 11)
    assert (t["stem_location_x"][13, 17], t["stem_location_y"][13, 17]) == (11, 11)
    assert (t["stem_location_x"][12, 25], t["stem_location_y"][12, 25]) == (11, 5)
    assert t["stem_location_x"].max() == 11 and t["stem_location_y"].max() == 11
    assert (t["stem_sm_size"][m["stem"]] == 10).all()  # size 14 -> the ">= 11" class
    assert (t["stem_sl_size"][m["stem"]] == 14.0).all()
    assert_same_encoding(db)


@pytest.mark.parametrize("n, cls", [(9, 8), (10, 9), (11, 10), (12, 10)])
def test_small_size_classes(n, cls):
    t, m = enc("(" * n + "..." + ")" * n)
    assert set(t["stem_sm_size"][m["stem"]].tolist()) == {cls}
    # a hairpin of size n: n - 2 unpaired bases inside one pair
    t, m = enc("(" + "." * (n - 2) + ")")
    assert set(t["hloop_sm_size"][m["hloop"]].tolist()) == {cls}
    assert set(t["hloop_sl_size"][m["hloop"]].tolist()) == {float(n)}


def test_pseudoknotted_stems_get_no_target():
    db = "((..[[..))..]]"
    # the [] stem (4, 13) 2x2 is knotted: no target, background
    t, m = enc(db)
    assert t["stem_on"][4:6, 12:14].sum() == 0 and not m["stem"][4:6, 12:14].any()
    ref_t, ref_m = enc(db.replace("[", ".").replace("]", "."))
    for name in OUTPUTS:
        assert np.array_equal(t[name], ref_t[name]), name
    for k in m:
        assert np.array_equal(m[k], ref_m[k]), k
    # a knotted stem far from the nested boxes does not open the on/off mask either
    far = "((((....[[[[....))))" + "." * 30 + "]]]]"
    t, m = enc(far)
    assert not m["on"][8:12, 50:54].any() and t["stem_on"][8:12, 50:54].sum() == 0
    assert m["on"][0, 29] and not m["on"][0, 30]
    assert_same_encoding(far)


def test_shared_internal_loop_corner():
    # a lone pair (4, 16) between two internal loops: the inner closing pair of the outer loop
    # (1, 19) 4x4 and the outer closing pair of the inner loop (4, 16) 4x4
    db = "((..(..((...))..)..))"
    boxes = true_boxes(db)
    assert Box("iloop", 1, 19, 4, 4) in boxes and Box("iloop", 4, 16, 4, 4) in boxes
    assert shared_corners(boxes) == {(4, 16)}
    t, m = enc(db)
    # the shared pixel belongs to the inner loop (its top-right corner)
    assert (t["iloop_location_x"][4, 16], t["iloop_location_y"][4, 16]) == (0, 0)
    assert m["iloop"].sum() == 31  # 16 + 16 - the shared pixel
    assert_same_encoding(db)
    rows = rows_of(decode(perfect_predictions(t, m)))
    assert rows[("iloop", "sl", 1, 19, 4, 4)]["n_proposal"] == 15
    assert rows[("iloop", "sl", 4, 16, 4, 4)]["n_proposal"] == 16


def test_overlap_check():
    # encode only ever sees real structures; its consistency check must still catch overlaps
    from rnastruct.s1.targets import _check_overlaps

    def counts(boxes, length=30):
        out = {t: np.zeros((length, length), dtype=np.int64) for t in BOX_TYPES}
        for b in boxes:
            out[b.type][b.bb_x : b.bl_x + 1, b.bl_y : b.bb_y + 1] += 1
        return out

    shared = [Box("iloop", 1, 19, 4, 4), Box("iloop", 4, 16, 4, 4)]
    _check_overlaps(shared, counts(shared))  # the one allowed overlap
    for boxes in (
        [Box("stem", 0, 20, 4, 4), Box("stem", 2, 19, 3, 3)],
        [Box("iloop", 1, 19, 4, 4), Box("iloop", 3, 17, 4, 4)],
        [Box("hloop", 2, 12, 11, 11), Box("hloop", 5, 9, 5, 5)],
    ):
        with pytest.raises(AssertionError, match=f"{boxes[0].type} boxes overlap"):
            _check_overlaps(boxes, counts(boxes))


def test_empty_structures():
    for db in ("", ".", "....."):
        t, m = enc(db)
        assert all(a.shape == (len(db), len(db)) and not a.any() for a in t.values())
        assert all(not a.any() for a in m.values())
        proposals = decode(perfect_predictions(t, m))
        assert set(proposals) == set(PROPOSAL_COLUMNS)
        assert all(len(v) == 0 for v in proposals.values())
        assert boxes_of(proposals) == []


def test_encode_validates():
    with pytest.raises(ValueError, match="not a valid pair"):
        encode(np.array([[2, 9]]), 5)
    with pytest.raises(ValueError, match="more than one pair"):
        encode(np.array([[0, 4], [1, 4]]), 5)
    with pytest.raises(ValueError, match="length must be >= 0"):
        encode(np.zeros((0, 2), dtype=np.int64), -1)


@pytest.mark.parametrize(
    "db",
    [
        ".(()).",  # a hairpin with no unpaired base
        "((..((...))..((...))..))",  # a multiloop: no box for it
        "..((((....))))....((((....))))..",  # exterior loop
        "(((..(((....)))...((((....)))).)))",
        "((.(.((.((...)).)).).))",  # lone pairs between internal loops, twice
    ],
)
def test_encode_matches_reference(db):
    assert_same_encoding(db)


def test_encode_matches_reference_on_real_folds():
    RNA = pytest.importorskip("RNA")
    rng = np.random.default_rng(7)
    n_shared = 0
    for _ in range(60):
        seq = "".join(rng.choice(list("ACGU"), size=int(rng.integers(20, 61))))
        db, _ = RNA.fold(seq)
        n_shared += bool(shared_corners(true_boxes(db)))
        assert_same_encoding(db)
    assert n_shared > 0  # the shared-corner case is exercised


def test_stack_targets_pads_and_matches_one_at_a_time():
    dbs = ["((((...))))", "((..((...))...))", "...", ""]
    items = [enc(db) for db in dbs]
    targets, masks = stack_targets(items)
    assert targets["stem_on"].shape == (4, 16, 16)
    for k, db in enumerate(dbs):
        n = len(db)
        for name, arr in targets.items():
            assert arr.dtype == items[k][0][name].dtype
            assert np.array_equal(arr[k, :n, :n], items[k][0][name])
            assert not arr[k, n:, :].any() and not arr[k, :, n:].any()
        for name, arr in masks.items():
            assert arr.dtype == bool
            assert np.array_equal(arr[k, :n, :n], items[k][1][name])
            assert not arr[k, n:, :].any() and not arr[k, :, n:].any()
    targets, masks = stack_targets(items, pad_to=20)
    assert masks["on"].shape == (4, 20, 20)
    with pytest.raises(ValueError, match="pad_to=10"):
        stack_targets(items, pad_to=10)
    with pytest.raises(ValueError, match="no items"):
        stack_targets([])
    assert stack_targets([], pad_to=5)[0]["stem_on"].shape == (0, 5, 5)


# ---------------------------------------------------------------------------------------------
# perfect predictions and decode
# ---------------------------------------------------------------------------------------------


def test_perfect_predictions():
    t, m = enc("((..((...))...))")
    pred = perfect_predictions(t, m)
    assert list(pred) == NAMES
    for name, (kind, n) in OUTPUTS.items():
        if kind != "class":
            assert np.array_equal(pred[name], t[name])
            continue
        assert pred[name].shape == (16, 16, n)
        assert np.array_equal(pred[name].sum(axis=-1), np.ones((16, 16)))  # one-hot
        inside = m[MASK_OF[name]]
        assert np.array_equal(pred[name].argmax(-1)[inside], t[name][inside])
        if "_location_" in name:
            assert (pred[name].argmax(-1)[~inside] == 11).all()


def test_decode_hand_made():
    db = "((..((...))...))"
    proposals = decode(perfect_predictions(*enc(db)))
    assert list(proposals) == list(PROPOSAL_COLUMNS)
    rows = rows_of(proposals)
    # every box once per method, nothing else; sorted by type, method, then box
    expect = {
        ("stem", "sm", 0, 15, 2, 2): 4,
        ("stem", "sm", 4, 10, 2, 2): 4,
        ("stem", "sl", 0, 15, 2, 2): 4,
        ("stem", "sl", 4, 10, 2, 2): 4,
        ("iloop", "sm", 1, 14, 4, 5): 20,
        ("iloop", "sl", 1, 14, 4, 5): 20,
        ("hloop", "sm", 5, 9, 5, 5): 10,
        ("hloop", "sl", 5, 9, 5, 5): 10,
    }
    assert list(rows) == list(expect)
    assert {k: r["n_proposal"] for k, r in rows.items()} == expect
    assert rows[("hloop", "sm", 5, 9, 5, 5)]["n_proposal_norm"] == pytest.approx(10 / 25)
    assert rows[("iloop", "sl", 1, 14, 4, 5)]["n_proposal_norm"] == 1.0
    for c in ("prob_median", "prob_max", "p_on_median"):
        assert (proposals[c] == 1.0).all()
    assert proposals["type"].dtype.kind == "U" and proposals["bb_x"].dtype == np.int64
    assert boxes_of(proposals) == true_boxes(db)
    assert boxes_of(proposals, method="sm") == true_boxes(db)


def test_decode_big_boxes():
    # a 14-pair stem: pixels more than 10 from the corner propose nothing; "sm" drops the
    # ">= 11" size, "sl" gets the box from the 11 x 11 pixels nearest its corner
    db = "(" * 14 + "..." + ")" * 14
    rows = rows_of(decode(perfect_predictions(*enc(db))))
    assert rows.keys() == {("stem", "sl", 0, 30, 14, 14), ("hloop", "sm", 13, 17, 5, 5),
                           ("hloop", "sl", 13, 17, 5, 5)}  # fmt: skip
    assert rows[("stem", "sl", 0, 30, 14, 14)]["n_proposal"] == 121
    assert rows[("stem", "sl", 0, 30, 14, 14)]["n_proposal_norm"] == pytest.approx(121 / 196)


def expected_proposals(boxes) -> dict[tuple, int]:
    """What decode(perfect_predictions(encode(.))) must return, computed from the boxes alone:
    {(type, method, box): n_proposal}.

    A pixel of a box proposes it when it is above the diagonal, both its location offsets are
    <= 10 (else the catch-all class hides the corner) and no other box of the type owns it (the
    outer loop's shared corner belongs to the inner loop). "sl" proposes every box that way;
    "sm" only the boxes with both sizes <= 10, with the same pixels."""
    shared = shared_corners(boxes)
    out = {}
    for b in boxes:
        n = 0
        for i in range(b.bb_x, min(b.bl_x, b.bb_x + 10) + 1):
            for j in range(max(b.bl_y, b.bb_y - 10), b.bb_y + 1):
                lost = b.type == "iloop" and (i, j) == (b.bl_x, b.bl_y) and (i, j) in shared
                n += i < j and not lost
        box = (b.bb_x, b.bb_y, b.siz_x, b.siz_y)
        out[(b.type, "sl", *box)] = n
        if b.siz_x <= 10 and b.siz_y <= 10:
            out[(b.type, "sm", *box)] = n
    return out


@pytest.fixture(scope="module")
def vienna_folds():
    RNA = pytest.importorskip("RNA")
    rng = np.random.default_rng(20240612)
    folds = []
    for _ in range(2000):
        seq = "".join(rng.choice(list("ACGU"), size=int(rng.integers(20, 121))))
        folds.append(RNA.fold(seq)[0])
    return folds


def test_round_trip_on_vienna_folds(vienna_folds):
    seen = defaultdict(int)
    for db in vienna_folds:
        boxes = true_boxes(db)
        proposals = decode(perfect_predictions(*enc(db)))
        rows = rows_of(proposals)
        want = expected_proposals(boxes)
        # exactly the true boxes, each with exactly the expected number of proposals
        assert {k: r["n_proposal"] for k, r in rows.items()} == want, db
        assert boxes_of(proposals, method="sl") == boxes, db
        small = [b for b in boxes if b.siz_x <= 10 and b.siz_y <= 10]
        assert boxes_of(proposals, method="sm") == small, db
        assert (proposals["prob_median"] == 1).all() and (proposals["prob_max"] == 1).all()
        assert (proposals["p_on_median"] == 1).all()
        shared = shared_corners(boxes)
        for b in boxes:
            s = b.siz_x
            row = rows[(b.type, "sl", b.bb_x, b.bb_y, b.siz_x, b.siz_y)]
            if max(b.siz_x, b.siz_y) > 11:
                seen["big"] += 1
                assert row["n_proposal_norm"] < 1
            elif b.type == "hloop":
                # the s (s - 1) / 2 pixels above the diagonal out of s * s
                assert row["n_proposal_norm"] == pytest.approx((s - 1) / (2 * s))
                seen["hloop"] += 1
            elif (b.bl_x, b.bl_y) in shared and b.type == "iloop":
                assert row["n_proposal_norm"] == pytest.approx(1 - 1 / (b.siz_x * b.siz_y))
                seen["shared"] += 1
            else:
                assert row["n_proposal_norm"] == 1.0
                seen[b.type] += 1
            if 10 < max(b.siz_x, b.siz_y):
                seen["no_sm"] += 1
    # the sample exercises every case
    assert min(seen[k] for k in ("stem", "iloop", "hloop", "shared", "big", "no_sm")) > 0, seen


def reference_decode(pred, length):
    """SPEC section 5 pixel by pixel -> {(type, method, box): [(prob, p_on), ...]}."""

    def argmax(p):
        k = max(range(len(p)), key=lambda c: p[c])
        return k, float(p[k])

    out = defaultdict(list)
    for i in range(length):
        for j in range(i + 1, length):
            for t in BOX_TYPES:
                p_on = float(pred[f"{t}_on"][i, j])
                lx, plx = argmax(pred[f"{t}_location_x"][i, j])
                ly, ply = argmax(pred[f"{t}_location_y"][i, j])
                if lx == 11 or ly == 11:
                    continue
                sides = ("_x", "_y") if t == "iloop" else ("",)
                sm = [argmax(pred[f"{t}_sm_size{s}"][i, j]) for s in sides]
                sl = [max(1, math.floor(float(pred[f"{t}_sl_size{s}"][i, j]) + 0.5)) for s in sides]
                if all(k != 10 for k, _ in sm):
                    prob = p_on * plx * ply
                    for _, p in sm:
                        prob *= p
                    sizes = [k + 1 for k, _ in sm]
                    out[(t, "sm", i - lx, j + ly, sizes[0], sizes[-1])].append((prob, p_on))
                out[(t, "sl", i - lx, j + ly, sl[0], sl[-1])].append((p_on * plx * ply, p_on))
    return out


def random_predictions(rng, size, alpha=0.3):
    pred = {}
    for name, (kind, n) in OUTPUTS.items():
        if kind == "on":
            pred[name] = rng.random((size, size))
        elif kind == "class":
            pred[name] = rng.dirichlet(np.full(n, alpha), size=(size, size))
        else:
            pred[name] = rng.uniform(-1, 7, size=(size, size))
    return pred


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_decode_soft_predictions_match_reference(seed):
    rng = np.random.default_rng(seed)
    size = 12
    pred = random_predictions(rng, size)
    proposals = decode(pred)
    n = len(proposals["type"])
    assert all(len(v) == n for v in proposals.values())
    ref = reference_decode(pred, size)
    rows = rows_of(proposals)
    assert rows.keys() == ref.keys()
    assert proposals["n_proposal"].sum() == sum(len(v) for v in ref.values())
    assert sum(len(v) for v in ref.values()) > 200  # many pixels propose
    for key, row in rows.items():
        probs = [p for p, _ in ref[key]]
        p_ons = [q for _, q in ref[key]]
        assert row["n_proposal"] == len(probs)
        assert row["n_proposal_norm"] == pytest.approx(len(probs) / (key[4] * key[5]))
        assert row["prob_median"] == pytest.approx(statistics.median(probs), rel=1e-12)
        assert row["prob_max"] == pytest.approx(max(probs), rel=1e-12)
        assert row["p_on_median"] == pytest.approx(statistics.median(p_ons), rel=1e-12)
        assert row["p_on_max"] == max(p_ons)
        upper = np.triu(np.ones((size, size), dtype=bool), k=1)
        assert row["prob_max"] <= pred[f"{key[0]}_on"][upper].max()
        assert row["prob_median"] <= row["prob_max"]
    # sorted by type, method, then box
    order = [
        (BOX_TYPES.index(k[0]), METHODS.index(k[1]), *k[2:]) for k in rows
    ]
    assert order == sorted(order)


def test_decode_length_ignores_padding():
    rng = np.random.default_rng(3)
    small = random_predictions(rng, 9)
    padded = random_predictions(rng, 14)  # garbage beyond the sequence
    for name in OUTPUTS:
        padded[name][:9, :9] = small[name]
    a, b = decode(small), decode(padded, length=9)
    assert len(a["type"]) > 0
    for c in PROPOSAL_COLUMNS:
        assert np.array_equal(a[c], b[c]), c
    assert len(decode(padded)["type"]) > len(a["type"])


def test_decode_scalar_size_rounding():
    t, m = enc("((((...))))")
    pred = perfect_predictions(t, m)
    for value, size in [(3.5, 4), (4.49, 4), (2.5, 3), (0.2, 1), (-3.0, 1)]:
        pred["stem_sl_size"] = np.where(m["stem"], value, 0).astype(np.float32)
        rows = rows_of(decode(pred))
        assert ("stem", "sl", 0, 10, size, size) in rows, value
        assert ("stem", "sm", 0, 10, 4, 4) in rows  # sm does not use the scalar


def test_decode_validates():
    pred = perfect_predictions(*enc("((((...))))"))
    with pytest.raises(ValueError, match="lack the outputs.*hloop_sl_size"):
        decode({k: v for k, v in pred.items() if k != "hloop_sl_size"})
    bad = dict(pred, iloop_location_y=pred["iloop_location_y"][..., :11])
    with pytest.raises(ValueError, match=r"iloop_location_y has shape \(11, 11, 11\)"):
        decode(bad)
    with pytest.raises(ValueError, match="stem_on has shape"):
        decode(dict(pred, stem_on=pred["stem_on"][None]))
    with pytest.raises(ValueError, match="stem_sl_size has non-finite"):
        decode(dict(pred, stem_sl_size=np.full((11, 11), np.nan)))
    with pytest.raises(ValueError, match="length must be >= 0"):
        decode(pred, length=-1)


def test_boxes_of_thresholds():
    db = "((..((...))...))"
    proposals = decode(perfect_predictions(*enc(db)))
    # norms: stems and iloop 1.0, hairpin 0.4
    assert [b.type for b in boxes_of(proposals, min_norm=0.5)] == ["stem", "iloop", "stem"]
    assert boxes_of(proposals, min_norm=1.0) == []  # strictly greater
    kept = boxes_of(proposals, min_norm=0.5, type_thresholds={"hloop": 0.1})
    assert kept == true_boxes(db)
    kept = boxes_of(proposals, type_thresholds={"stem": 1.0})
    assert [b.type for b in kept] == ["iloop", "hloop"]
    with pytest.raises(ValueError, match="method must be"):
        boxes_of(proposals, method="xx")
    with pytest.raises(ValueError, match="unknown box type 'bulge'"):
        boxes_of(proposals, type_thresholds={"bulge": 0.1})


def test_decode_regions_give_the_whole_map_proposals():
    """Tiled inference decodes regions: a box belongs to the region holding its top-right corner
    (clipped to the map), and its proposers lie within MAX_OFFSET below / left of it, so the
    regions widened by that margin give exactly the whole-map proposals."""
    rng = np.random.default_rng(4)
    L, tile, m = 23, 8, MAX_OFFSET
    pred = random_predictions(rng, L)
    whole = decode(pred)
    parts = []
    for r0 in range(0, L, tile):
        for c0 in range(0, L, tile):
            r1, c1 = min(L, r0 + tile), min(L, c0 + tile)
            a1, b0 = min(L, r1 + m), max(0, c0 - m)
            region = {k: v[r0:a1, b0:c1] for k, v in pred.items()}
            got = decode(region, length=L, origin=(r0, b0))
            corner_r = np.clip(got["bb_x"], 0, L - 1)
            corner_c = np.clip(got["bb_y"], 0, L - 1)
            own = (corner_r >= r0) & (corner_r < r1) & (corner_c >= c0) & (corner_c < c1)
            parts.append({k: v[own] for k, v in got.items()})
    joined = {k: np.concatenate([p[k] for p in parts]) for k in PROPOSAL_COLUMNS}
    assert rows_of(joined) == rows_of(whole)
    assert len(whole["type"]) > 100
