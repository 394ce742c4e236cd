"""Tests for rnastruct.boxes: structure <-> bounding boxes (SPEC section 2) and box_problems.

Truth: the worked examples of SPEC section 2, hand-made structures, a reference box builder
written here straight from the SPEC's definitions, thousands of real ViennaRNA MFE folds and
every structure of ArchiveII (../shared/data/benchmarks).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnastruct.boxes import (
    BOX_TYPES,
    Box,
    box_problems,
    boxes_from_records,
    boxes_to_dot_bracket,
    boxes_to_pairs,
    boxes_to_records,
    structure_to_boxes,
)
from rnastruct.structure import (
    BRACKETS,
    as_pairs,
    parse_dot_bracket,
    split_pseudoknots,
    stems_of_pairs,
    to_dot_bracket,
)

PROPS = settings(max_examples=200, deadline=None)
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
ARCHIVE = SHARED_DATA / "benchmarks" / "ArchiveII.csv"


def boxes_of(db: str) -> list[Box]:
    return structure_to_boxes(parse_dot_bracket(db), len(db))


def as_tuples(boxes) -> list[tuple]:
    return sorted((b.type, b.bb_x, b.bb_y, b.siz_x, b.siz_y, b.pseudoknot) for b in boxes)


def reference_boxes(pairs, length: int) -> list[tuple]:
    """Boxes of a pair list, built straight from SPEC section 2 without rnastruct.boxes.

    Pseudoknotted stems (those ``split_pseudoknots`` leaves out of the nested part) are stems
    with pseudoknot=True and no loops; loops come from the nested part: a stem's innermost pair
    with no pair directly inside is a hairpin, with exactly one an internal loop, with more a
    multiloop (no box). Returns sorted (type, bb_x, bb_y, siz_x, siz_y, pseudoknot) tuples.
    """
    nested, knotted = split_pseudoknots(as_pairs(pairs))
    out = []
    for s in stems_of_pairs(knotted):
        out.append(("stem", int(s[0, 0]), int(s[0, 1]), len(s), len(s), True))
    partner = [-1] * length
    for i, j in nested.tolist():
        partner[i], partner[j] = j, i
    # the pairs directly inside each pair, by one left-to-right scan with a stack of openers
    children: dict[int, list[tuple[int, int]]] = {}
    openers: list[int] = []
    for k in range(length):
        j = partner[k]
        if j > k:
            if openers:
                children[openers[-1]].append((k, j))
            children[k] = []
            openers.append(k)
        elif 0 <= j < k:
            assert openers.pop() == j, "nested part is not nested"

    def is_pair(i, j):
        return 0 <= i < j < length and partner[i] == j

    for i, j in nested.tolist():
        if not is_pair(i - 1, j + 1):  # outermost pair of a stem
            n = 1
            while is_pair(i + n, j - n):
                n += 1
            out.append(("stem", i, j, n, n, False))
        if not is_pair(i + 1, j - 1):  # innermost pair: it closes a loop
            inside = children[i]
            if not inside:
                out.append(("hloop", i, j, j - i + 1, j - i + 1, False))
            elif len(inside) == 1:
                a, b = inside[0]
                out.append(("iloop", i, j, a - i + 1, j - b + 1, False))
    return sorted(out)


def drop_short_pairs(pairs):
    """Pairs with j - i >= 2 only (a hairpin needs an unpaired base for box_problems)."""
    pairs = as_pairs(pairs)
    return pairs[pairs[:, 1] - pairs[:, 0] >= 2]


# ---------------------------------------------------------------------------------------------
# strategies (as in test_structure.py, kept local so each test file stands alone)
# ---------------------------------------------------------------------------------------------


def _balanced(draw, n: int, min_loop: int, brackets: str = "()") -> str:
    op, cl = brackets
    parts = []
    while n > 0:
        if n >= 2 + min_loop and draw(st.booleans()):
            s = draw(st.integers(1, min(4, (n - min_loop) // 2)))
            inner = draw(st.integers(min_loop, n - 2 * s))
            parts.append(op * s + _balanced(draw, inner, min_loop, brackets) + cl * s)
            n -= 2 * s + inner
        else:
            parts.append(".")
            n -= 1
    return "".join(parts)


@st.composite
def nested_db(draw, max_len: int = 80, min_loop: int = 0) -> str:
    return _balanced(draw, draw(st.integers(0, max_len)), min_loop)


@st.composite
def layered_db(draw, max_len: int = 80, max_pages: int = 4) -> str:
    n = draw(st.integers(0, max_len))
    out = ["."] * n
    free = list(range(n))
    for brackets in BRACKETS[: draw(st.integers(1, max_pages))]:
        sub = _balanced(draw, len(free), 0, brackets)
        for k, c in zip(free, sub):
            out[k] = c
        free = [k for k, c in zip(free, sub) if c == "."]
    return "".join(out)


@st.composite
def stem_structures(draw, max_len: int = 80):
    n = draw(st.integers(2, max_len))
    used = np.zeros(n, dtype=bool)
    pairs = []
    for _ in range(draw(st.integers(0, 10))):
        i = draw(st.integers(0, n - 2))
        j = draw(st.integers(i + 1, n - 1))
        s = draw(st.integers(1, 6))
        stem = [(i + k, j - k) for k in range(s) if i + k < j - k]
        if not any(used[a] or used[b] for a, b in stem):
            for a, b in stem:
                used[a] = used[b] = True
            pairs.extend(stem)
    return n, as_pairs(pairs)


def knotted_structures():
    """(length, pairs) with pseudoknots, from layered pages or from stems dropped at random."""
    layered = layered_db().map(lambda db: (len(db), parse_dot_bracket(db)))
    return st.one_of(layered, stem_structures())


# ---------------------------------------------------------------------------------------------
# the worked examples of SPEC section 2, and hand-made structures
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "db, expect",
    [
        ("((((...))))", [Box("stem", 0, 10, 4, 4), Box("hloop", 3, 7, 5, 5)]),
        (
            "((..((...))...))",
            [
                Box("stem", 0, 15, 2, 2),
                Box("iloop", 1, 14, 4, 5),
                Box("stem", 4, 10, 2, 2),
                Box("hloop", 5, 9, 5, 5),
            ],
        ),
        (
            "((.((...))))",
            [
                Box("stem", 0, 11, 2, 2),
                Box("iloop", 1, 10, 3, 2),
                Box("stem", 3, 9, 2, 2),
                Box("hloop", 4, 8, 5, 5),
            ],
        ),
    ],
)
def test_spec_worked_examples(db, expect):
    boxes = boxes_of(db)
    assert boxes == expect
    assert all(b.pseudoknot is False for b in boxes)
    assert as_tuples(boxes) == reference_boxes(parse_dot_bracket(db), len(db))
    assert box_problems(boxes, len(db)) == []
    assert boxes_to_dot_bracket(boxes, len(db)) == db


def test_box_corners():
    # iloop of example 2: top-right = outer closing pair (1, 14), bottom-left = inner (4, 10)
    b = Box("iloop", 1, 14, 4, 5)
    assert (b.bl_x, b.bl_y) == (4, 10)
    # bulge of example 3: (1, 10) -> (3, 9), 2 wide on its empty side
    b = Box("iloop", 1, 10, 3, 2)
    assert (b.bl_x, b.bl_y) == (3, 9)
    # a hairpin box sits on the diagonal: bb_x == bl_y and bb_y == bl_x
    h = Box("hloop", 3, 7, 5, 5)
    assert (h.bl_x, h.bl_y) == (h.bb_y, h.bb_x) == (7, 3)
    # a stem's bottom-left corner is its innermost pair
    s = Box("stem", 0, 10, 4, 4)
    assert (s.bl_x, s.bl_y) == (3, 7)
    assert Box("stem", 1, 2, 3, 4).pseudoknot is False
    assert BOX_TYPES == ("stem", "iloop", "hloop")


def test_bulge_on_the_right_and_lone_pairs():
    # right-hand bulge: (1, 10) -> (2, 8): 2 wide on the empty 5' side, 3 on the 3' side
    assert boxes_of("((((...)).))") == [
        Box("stem", 0, 11, 2, 2),
        Box("iloop", 1, 10, 2, 3),
        Box("stem", 2, 8, 2, 2),
        Box("hloop", 3, 7, 5, 5),
    ]
    # lone pairs are stems of size 1 and close loops like any other stem
    assert boxes_of("(.(...).)") == [
        Box("stem", 0, 8, 1, 1),
        Box("iloop", 0, 8, 3, 3),
        Box("stem", 2, 6, 1, 1),
        Box("hloop", 2, 6, 5, 5),
    ]


def test_multiloop_gets_no_box():
    db = "((((...))((...))))"
    boxes = boxes_of(db)
    assert boxes == [
        Box("stem", 0, 17, 2, 2),
        Box("stem", 2, 8, 2, 2),
        Box("hloop", 3, 7, 5, 5),
        Box("stem", 9, 15, 2, 2),
        Box("hloop", 10, 14, 5, 5),
    ]
    # nothing starts at the multiloop's closing pair (1, 16)
    assert not [b for b in boxes if (b.bb_x, b.bb_y) == (1, 16)]
    # a three-way junction with unpaired bases in it: still no loop box for it
    db = "((.((...)).((...)).((...)).))"
    boxes = boxes_of(db)
    assert [b.type for b in boxes].count("iloop") == 0
    assert [b.type for b in boxes].count("hloop") == 3
    assert box_problems(boxes, len(db)) == []
    assert boxes_to_dot_bracket(boxes, len(db)) == db


def test_exterior_loop_gets_no_box():
    db = "..((...))...((...)).."
    assert boxes_of(db) == [
        Box("stem", 2, 8, 2, 2),
        Box("hloop", 3, 7, 5, 5),
        Box("stem", 12, 18, 2, 2),
        Box("hloop", 13, 17, 5, 5),
    ]
    assert boxes_of(".....") == []
    assert boxes_of("") == []


def test_hairpin_without_unpaired_bases():
    # real data has pairs (i, i + 1) (8 ArchiveII records): structure_to_boxes still gives their
    # box, box_problems says what is wrong with it
    boxes = boxes_of(".(()).")
    assert boxes == [Box("stem", 1, 4, 2, 2), Box("hloop", 2, 3, 2, 2)]
    assert box_problems(boxes, 6) == [
        "hloop at (2, 3) size 2x2: a hairpin needs at least one unpaired base"
    ]
    assert boxes_to_dot_bracket(boxes, 6) == ".(())."


def test_h_type_pseudoknot():
    db = "((((....[[[[....))))....]]]]"
    boxes = boxes_of(db)
    # the [] stem is knotted: flagged, and no loop box for it; the () hairpin covers its bases
    assert boxes == [
        Box("stem", 0, 19, 4, 4),
        Box("hloop", 3, 16, 14, 14),
        Box("stem", 8, 27, 4, 4, pseudoknot=True),
    ]
    assert np.array_equal(boxes_to_pairs(boxes), parse_dot_bracket(db))
    assert boxes_to_dot_bracket(boxes, len(db)) == db
    assert box_problems(boxes, len(db), allow_pseudoknots=True) == []
    assert box_problems(boxes, len(db)) == [
        "stem at (0, 19) size 4x4 crosses stem at (8, 27) size 4x4 (a pseudoknot)"
    ]


def test_kissing_hairpins():
    db = "((((..[[[[..))))..((((..]]]]..))))"
    boxes = boxes_of(db)
    assert boxes == [
        Box("stem", 0, 15, 4, 4),
        Box("hloop", 3, 12, 10, 10),
        Box("stem", 6, 27, 4, 4, pseudoknot=True),
        Box("stem", 18, 33, 4, 4),
        Box("hloop", 21, 30, 10, 10),
    ]
    assert np.array_equal(boxes_to_pairs(boxes), parse_dot_bracket(db))
    assert box_problems(boxes, len(db), allow_pseudoknots=True) == []
    problems = box_problems(boxes, len(db))
    assert len(problems) == 2 and all("(a pseudoknot)" in p for p in problems)


def test_knotted_stem_has_no_loops_even_when_it_closes_one():
    # the smaller [] stem is knotted: it gets no loop box at its innermost pair (2, 11), while
    # the nested () stem, which holds a hairpin, gets its iloop and hloop
    db = "[[[..((((..]]]..((...))..))))"
    boxes = boxes_of(db)
    knotted = [b for b in boxes if b.pseudoknot]
    assert knotted == [Box("stem", 0, 13, 3, 3, True)]
    for b in boxes:
        if b.type != "stem":  # no loop touches the knotted stem's pairs
            assert (b.bb_x, b.bb_y) != (2, 11) and (b.bl_x, b.bl_y) != (2, 11)
    assert as_tuples(boxes) == reference_boxes(parse_dot_bracket(db), len(db))


def test_structure_to_boxes_validates():
    with pytest.raises(ValueError):
        structure_to_boxes(np.array([[0, 5]]), 5)
    with pytest.raises(ValueError):
        structure_to_boxes(np.array([[0, 4], [4, 6]]), 8)


def test_boxes_to_pairs_ignores_loop_boxes():
    assert boxes_to_pairs([]).shape == (0, 2)
    assert boxes_to_pairs([Box("hloop", 3, 7, 5, 5), Box("iloop", 1, 14, 4, 5)]).shape == (0, 2)
    pairs = boxes_to_pairs([Box("stem", 4, 10, 2, 2), Box("stem", 0, 15, 2, 2)])
    assert pairs.tolist() == [[0, 15], [1, 14], [4, 10], [5, 9]]
    assert pairs.dtype == np.int64


def test_records_round_trip():
    boxes = boxes_of("((((....[[[[....))))....]]]]") + boxes_of("((..((...))...))")
    records = boxes_to_records(boxes)
    assert records[2] == {"type": "stem", "bb_x": 8, "bb_y": 27, "siz_x": 4, "siz_y": 4,
                          "pseudoknot": True}
    assert boxes_from_records(records) == boxes
    # through JSON (numbers and bools come back as plain Python values)
    assert boxes_from_records(json.loads(json.dumps(records))) == boxes
    # pseudoknot is optional in a record
    assert boxes_from_records([{"type": "hloop", "bb_x": 1, "bb_y": 5, "siz_x": 5,
                                "siz_y": 5}]) == [Box("hloop", 1, 5, 5, 5, False)]


# ---------------------------------------------------------------------------------------------
# property tests
# ---------------------------------------------------------------------------------------------


@PROPS
@given(nested_db(min_loop=1))
def test_nested_structures_boxes(db):
    pairs = parse_dot_bracket(db)
    boxes = structure_to_boxes(pairs, len(db))
    assert np.array_equal(boxes_to_pairs(boxes), pairs)
    assert boxes_to_dot_bracket(boxes, len(db)) == db
    assert as_tuples(boxes) == reference_boxes(pairs, len(db))
    # sorted by (bb_x, type, bb_y)
    keys = [(b.bb_x, BOX_TYPES.index(b.type), b.bb_y) for b in boxes]
    assert keys == sorted(keys)
    # one hairpin box per "(" + dots + ")" in the string
    assert sum(b.type == "hloop" for b in boxes) == len(re.findall(r"\(\.*\)", db))
    assert box_problems(boxes, len(db)) == []
    assert box_problems(boxes, len(db), allow_pseudoknots=True) == []


@PROPS
@given(nested_db(min_loop=0))
def test_nested_structures_with_empty_hairpins(db):
    pairs = parse_dot_bracket(db)
    boxes = structure_to_boxes(pairs, len(db))
    assert np.array_equal(boxes_to_pairs(boxes), pairs)
    assert as_tuples(boxes) == reference_boxes(pairs, len(db))
    # exactly the "()" hairpins are reported
    empty = [m.start() for m in re.finditer(r"\(\)", db)]
    expect = [f"hloop at ({k}, {k + 1}) size 2x2: a hairpin needs at least one unpaired base"
              for k in empty]
    assert box_problems(boxes, len(db)) == expect


@PROPS
@given(knotted_structures())
def test_knotted_structures_boxes(structure):
    n, pairs = structure
    boxes = structure_to_boxes(pairs, n)
    assert np.array_equal(boxes_to_pairs(boxes), pairs)  # exact inverse, knotted pairs included
    assert as_tuples(boxes) == reference_boxes(pairs, n)
    _, knotted = split_pseudoknots(pairs)
    flagged = [b for b in boxes if b.pseudoknot]
    assert all(b.type == "stem" for b in flagged)
    assert np.array_equal(boxes_to_pairs(flagged), knotted)
    _check_problems_of_real_boxes(boxes, n, pairs, len(knotted) > 0)


def _check_problems_of_real_boxes(boxes, n, pairs, has_knot):
    """The boxes of a real structure: the only geometry problem is a hairpin closed by a pair
    (i, i + 1); geometry problems end the checks (no crossing is reported then); otherwise
    crossings are reported exactly when there is a pseudoknot."""
    relaxed = box_problems(boxes, n, allow_pseudoknots=True)
    strict = box_problems(boxes, n)
    nested = split_pseudoknots(pairs)[0]
    short = [(i, j) for i, j in nested.tolist() if j == i + 1]
    assert relaxed == [
        f"hloop at ({i}, {j}) size 2x2: a hairpin needs at least one unpaired base"
        for i, j in short
    ]
    if relaxed:
        assert strict == relaxed
    else:
        assert all(p.endswith("(a pseudoknot)") for p in strict)
        assert (strict != []) == has_knot


@PROPS
@given(knotted_structures())
def test_real_structures_have_no_problems(structure):
    n, pairs = structure
    pairs = drop_short_pairs(pairs)  # box_problems wants >= 1 unpaired base in every hairpin
    boxes = structure_to_boxes(pairs, n)
    assert box_problems(boxes, n, allow_pseudoknots=True) == []
    has_knot = len(split_pseudoknots(pairs)[1]) > 0
    assert (box_problems(boxes, n) != []) == has_knot


# ---------------------------------------------------------------------------------------------
# real folds: ViennaRNA MFE structures
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vienna_folds():
    RNA = pytest.importorskip("RNA")
    rng = np.random.default_rng(20240611)
    folds = []
    t0 = time.perf_counter()
    for _ in range(2000):
        seq = "".join(rng.choice(list("ACGU"), size=int(rng.integers(20, 201))))
        structure, _mfe = RNA.fold(seq)
        folds.append((seq, structure))
    return folds, time.perf_counter() - t0


def test_vienna_mfe_folds_round_trip(vienna_folds):
    folds, _ = vienna_folds
    assert len(folds) == 2000
    n_pairs = 0
    for seq, db in folds:
        assert len(db) == len(seq)
        pairs = parse_dot_bracket(db)
        n_pairs += len(pairs)
        boxes = structure_to_boxes(pairs, len(db))
        assert np.array_equal(boxes_to_pairs(boxes), pairs), db
        assert boxes_to_dot_bracket(boxes, len(db)) == db
        assert as_tuples(boxes) == reference_boxes(pairs, len(db)), db
        assert box_problems(boxes, len(db)) == [], db
    assert n_pairs > 20 * len(folds)  # real folds, not empty ones


# ---------------------------------------------------------------------------------------------
# real structures: ArchiveII
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def archive():
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (the repository's ../shared/data)")
    pd = pytest.importorskip("pandas")
    df = pd.read_csv(ARCHIVE)
    records = []
    for r in df.itertuples(index=False):
        truth = np.array(json.loads(r.base_pairs), dtype=np.int64).reshape(-1, 2) - 1
        records.append((r.id, r.sequence, r.structure, as_pairs(truth), int(r.len)))
    return records


def _pk_free(db: str) -> bool:
    return set(db) <= set("().")


def test_archive_base_pairs_agree_with_dot_bracket(archive):
    assert len(archive) == 3864
    disagree = []
    for rid, seq, db, truth, length in archive:
        assert len(seq) == len(db) == length, rid
        if not np.array_equal(parse_dot_bracket(db, name=rid), truth):
            disagree.append(rid)
    # checked on every record, pseudoknotted or not: none disagrees
    assert disagree == []


def test_archive_pseudoknot_free_round_trip(archive):
    free = [r for r in archive if _pk_free(r[2])]
    assert len(free) == 2857
    empty_hairpins = []
    for rid, _seq, db, truth, length in free:
        boxes = structure_to_boxes(truth, length)
        assert not any(b.pseudoknot for b in boxes), rid
        assert np.array_equal(boxes_to_pairs(boxes), truth), rid
        assert boxes_to_dot_bracket(boxes, length) == db, rid
        assert as_tuples(boxes) == reference_boxes(truth, length), rid
        problems = box_problems(boxes, length)
        # the only problems in real data: hairpins closed by a pair (i, i + 1)
        short = [(i, j) for i, j in truth.tolist() if j == i + 1]
        assert problems == [
            f"hloop at ({i}, {j}) size 2x2: a hairpin needs at least one unpaired base"
            for i, j in short
        ], rid
        if short:
            empty_hairpins.append(rid)
    assert len(empty_hairpins) == 7


def test_archive_pseudoknotted_round_trip(archive):
    knotted_records = [r for r in archive if not _pk_free(r[2])]
    assert len(knotted_records) == 1007
    short_pair_records = []
    for rid, _seq, db, truth, length in knotted_records:
        boxes = structure_to_boxes(truth, length)
        assert np.array_equal(boxes_to_pairs(boxes), truth), rid  # exact inverse
        assert as_tuples(boxes) == reference_boxes(truth, length), rid
        flagged = [b for b in boxes if b.pseudoknot]
        assert flagged and all(b.type == "stem" for b in flagged), rid
        assert np.array_equal(boxes_to_pairs(flagged), split_pseudoknots(truth)[1]), rid
        # every real pseudoknot renders in <= 4 pages and parses back
        assert np.array_equal(parse_dot_bracket(to_dot_bracket(truth, length)), truth), rid
        _check_problems_of_real_boxes(boxes, length, truth, True)
        if any(j == i + 1 for i, j in truth.tolist()):
            short_pair_records.append(rid)
    # one record has a hairpin closed by (i, i + 1): its geometry problem hides the crossing
    assert short_pair_records == ["RNaseP_C.hydrogenoformans"]


# ---------------------------------------------------------------------------------------------
# box_problems on broken box sets
# ---------------------------------------------------------------------------------------------

EX2 = "((..((...))...))"  # stem (0,15) 2x2; iloop (1,14) 4x5; stem (4,10) 2x2; hloop (5,9) 5x5


def test_box_problems_valid():
    assert box_problems([], 10) == []
    assert box_problems(boxes_of(EX2), len(EX2)) == []
    # the order of the boxes does not matter
    assert box_problems(boxes_of(EX2)[::-1], len(EX2)) == []


def test_shared_bases():
    boxes = [Box("stem", 0, 10, 2, 2), Box("stem", 1, 5, 1, 1)]
    assert box_problems(boxes, 11) == ["base 1 is in more than one stem pair"]
    # sharing and crossing are both reported
    boxes = [Box("stem", 0, 10, 2, 2), Box("stem", 1, 20, 1, 1)]
    assert box_problems(boxes, 21) == [
        "base 1 is in more than one stem pair",
        "stem at (0, 10) size 2x2 crosses stem at (1, 20) size 1x1 (a pseudoknot)",
    ]
    assert box_problems(boxes, 21, allow_pseudoknots=True) == [
        "base 1 is in more than one stem pair"
    ]
    boxes = [Box("stem", 0, 10, 3, 3), Box("stem", 2, 8, 2, 2)]  # overlapping stems
    assert box_problems(boxes, 11) == [
        "base 2 is in more than one stem pair",
        "base 8 is in more than one stem pair",
    ]
    # allowing pseudoknots does not allow shared bases
    assert box_problems(boxes, 11, allow_pseudoknots=True) != []


def test_crossing_stems():
    boxes = [Box("stem", 0, 10, 2, 2), Box("stem", 5, 15, 2, 2)]
    assert box_problems(boxes, 16) == [
        "stem at (0, 10) size 2x2 crosses stem at (5, 15) size 2x2 (a pseudoknot)"
    ]
    assert box_problems(boxes, 16, allow_pseudoknots=True) == []
    # nested and side-by-side stems do not cross
    assert box_problems([Box("stem", 0, 10, 2, 2), Box("stem", 3, 7, 1, 1)], 11) == []
    assert box_problems([Box("stem", 0, 4, 1, 1), Box("stem", 5, 9, 1, 1)], 10) == []


def test_iloop_without_its_outer_stem():
    boxes = [b for b in boxes_of(EX2) if (b.type, b.bb_x) != ("stem", 0)]
    assert box_problems(boxes, len(EX2)) == [
        "iloop at (1, 14) size 4x5: no stem ends at its outer closing pair"
    ]


def test_iloop_without_its_inner_stem():
    boxes = [b for b in boxes_of(EX2) if (b.type, b.bb_x) != ("stem", 4)]
    assert box_problems(boxes, len(EX2)) == [
        "iloop at (1, 14) size 4x5: no stem starts at its inner closing pair",
        "hloop at (5, 9) size 5x5: no stem ends at its closing pair",
    ]


def test_iloop_with_misplaced_stems():
    # the outer stem ends at (2, 13) rather than (1, 14); the inner starts at (5, 9)
    boxes = [Box("stem", 0, 15, 3, 3), Box("iloop", 1, 14, 4, 5), Box("stem", 5, 9, 1, 1)]
    problems = box_problems(boxes, 16)
    assert "iloop at (1, 14) size 4x5: no stem ends at its outer closing pair" in problems
    assert "iloop at (1, 14) size 4x5: no stem starts at its inner closing pair" in problems


def test_hairpin_without_its_stem():
    assert box_problems([Box("hloop", 3, 7, 5, 5)], 11) == [
        "hloop at (3, 7) size 5x5: no stem ends at its closing pair"
    ]
    # a stem that ends elsewhere does not count
    boxes = [Box("stem", 0, 10, 3, 3), Box("hloop", 3, 7, 5, 5)]
    assert box_problems(boxes, 11) == ["hloop at (3, 7) size 5x5: no stem ends at its closing pair"]
    # a stem that starts (rather than ends) at the closing pair does not count either
    boxes = [Box("stem", 2, 8, 2, 2), Box("hloop", 2, 8, 7, 7)]
    assert box_problems(boxes, 11) == ["hloop at (2, 8) size 7x7: no stem ends at its closing pair"]


@pytest.mark.parametrize(
    "box, length",
    [
        (Box("stem", 0, 10, 1, 1), 10),  # column 10 of a 10 x 10 map
        (Box("stem", -1, 5, 1, 1), 10),  # row -1
        (Box("stem", 5, 5, 1, 1), 10),  # on the diagonal
        (Box("stem", 7, 3, 1, 1), 10),  # lower triangle
        (Box("stem", 0, 3, 3, 3), 10),  # its inner end crosses the diagonal: (2, 1)
        (Box("iloop", 0, 9, 6, 6), 10),  # bottom-left (5, 4) below the diagonal
        (Box("hloop", 8, 12, 5, 5), 10),
    ],
)
def test_off_map_boxes(box, length):
    problems = box_problems([box], length)
    assert problems == [f"{box.type} at ({box.bb_x}, {box.bb_y}) size {box.siz_x}x{box.siz_y}: "
                        f"outside the upper triangle of a {length} x {length} map"]


def test_non_square_boxes():
    assert box_problems([Box("stem", 0, 10, 2, 3)], 11) == [
        "stem at (0, 10) size 2x3: a stem box must be square"
    ]
    problems = box_problems([Box("stem", 3, 7, 1, 1), Box("hloop", 3, 7, 5, 4)], 11)
    assert "hloop at (3, 7) size 5x4: a hloop box must be square" in problems


def test_other_geometry_problems():
    assert box_problems([Box("stem", 0, 10, 1, 1), Box("hloop", 0, 10, 4, 4)], 11) == [
        "hloop at (0, 10) size 4x4: a hairpin box must sit on the diagonal"
    ]
    assert box_problems([Box("iloop", 1, 14, 2, 2)], 16) == [
        "iloop at (1, 14) size 2x2: an internal loop needs at least one unpaired base"
    ]
    assert box_problems([Box("stem", 0, 10, 0, 0)], 11) == [
        "stem at (0, 10) size 0x0: sizes must be >= 1"
    ]
    assert box_problems([Box("mloop", 0, 10, 2, 2)], 11) == [
        "mloop at (0, 10) size 2x2: unknown box type 'mloop'"
    ]
