"""Sequences and secondary structures: normalisation, dot-bracket, pair lists, pair tables.

Pure numpy, no I/O. Conventions used everywhere in rnastruct:

* positions are 0-based; a base pair is ``(i, j)`` with ``i < j``;
* a pair list is an ``int64`` array of shape ``[P, 2]`` sorted by ``i``;
* a pair table is an ``int64`` array of shape ``[L]`` holding each base's partner, or -1.

Errors are ``ValueError`` with a message that names the record and the 1-based position, since
that is how users count along a sequence in an editor.
"""

from __future__ import annotations

import numpy as np

ALPHABET = "ACGU"
#: IUPAC ambiguity codes; ``normalize_sequence(..., ambiguous="n")`` turns them into N.
AMBIGUOUS = "RYKMSWBDHV"
CANONICAL_PAIRS = frozenset({"AU", "UA", "GC", "CG", "GU", "UG"})

#: Bracket pages of dot-bracket notation, in the order they are assigned to crossing pair sets.
BRACKETS = ("()", "[]", "{}", "<>")
_OPEN = {b[0]: k for k, b in enumerate(BRACKETS)}
_CLOSE = {b[1]: k for k, b in enumerate(BRACKETS)}
# Characters that mean "unpaired" in the dot-bracket dialects we read (RNAfold, bpRNA, ArchiveII).
_UNPAIRED = frozenset(".,:_-~x")

_BYTE_VALID = np.zeros(256, dtype=bool)
for _c in ALPHABET + "N":
    _BYTE_VALID[ord(_c)] = True


def normalize_sequence(seq: str, name: str = "sequence", ambiguous: str = "error") -> str:
    """Upper-case ``seq``, turn T into U and check that only A, C, G, U and N remain.

    ``ambiguous``: what to do with IUPAC ambiguity codes (R, Y, ...): ``"error"`` or ``"n"``
    (replace with N); ``"keep"`` keeps every other letter as it is (IUPAC codes, modified bases
    such as P), for the caller to report and replace (``unknown_to_n``). Whitespace inside the
    sequence is an error, as is an empty sequence.
    Raises ``ValueError("record NAME: invalid base 'X' at position P")`` (1-based position).
    """
    if ambiguous not in ("error", "n", "keep"):
        raise ValueError(f"ambiguous must be 'error', 'n' or 'keep', got {ambiguous!r}")
    if not seq:
        raise ValueError(f"record {name}: empty sequence")
    s = seq.upper().replace("T", "U")
    if ambiguous == "n":
        s = s.translate(_AMBIGUOUS_TO_N)
    if ambiguous == "keep":
        if seq.isascii() and s.isalpha():
            return s
        pos = next(k for k, c in enumerate(seq) if not (c.isascii() and c.isalpha()))
        raise ValueError(f"record {name}: invalid base {seq[pos]!r} at position {pos + 1}")
    if seq.isascii():
        raw = np.frombuffer(s.encode("ascii"), dtype=np.uint8)
        bad = np.flatnonzero(~_BYTE_VALID[raw])
        if bad.size == 0:
            return s
        pos = int(bad[0])
    else:  # upper() can turn non-ASCII into ASCII ('ß' -> 'SS') or change the length ('ẚ' ->
        # 'Aʾ'): every non-ASCII character is invalid; find the first bad one in ``seq`` itself
        ok = "ACGTUN" + (AMBIGUOUS if ambiguous == "n" else "")
        pos = next(k for k, c in enumerate(seq) if not (c.isascii() and c.upper() in ok))
    raise ValueError(f"record {name}: invalid base {seq[pos]!r} at position {pos + 1}")


_AMBIGUOUS_TO_N = str.maketrans(AMBIGUOUS, "N" * len(AMBIGUOUS))


def unknown_to_n(seq: str) -> tuple[str, list[int]]:
    """An upper-case sequence of letters -> (every letter other than A C G U N made N, the
    0-based positions changed). RNAfold folds such bases as unpairable; so does rnastruct."""
    raw = np.frombuffer(seq.encode("ascii"), dtype=np.uint8)
    bad = np.flatnonzero(~_BYTE_VALID[raw])
    if bad.size == 0:
        return seq, []
    out = raw.copy()
    out[bad] = ord("N")
    return out.tobytes().decode("ascii"), bad.tolist()


#: Longest sequence accepted (S1 tiles keep memory bounded, but time grows as L^2).
MAX_LENGTH = 20_000


def check_sequences(seqs: list[str], names: list[str], where: str, strict: bool = True) -> list[str]:
    """Normalise (T -> U, upper case) and check lengths; errors name the record. ``strict=False``:
    letters other than A C G U N (IUPAC codes, modified bases) become N, folded as unpairable
    bases as RNAfold does, with a warning on stderr naming the record and positions."""
    import sys

    from .errors import InputError

    out = []
    for s, name in zip(seqs, names):
        try:
            s = normalize_sequence(s, name, "error" if strict else "keep")
        except ValueError as e:
            raise InputError(f"{where}: {e}") from None
        if not strict:
            raw = s
            s, changed = unknown_to_n(s)
            if changed:
                shown = ", ".join(f"{raw[p]!r} at {p + 1}" for p in changed[:5])
                more = f" and {len(changed) - 5} more" if len(changed) > 5 else ""
                print(f"rnastruct: warning: record {name}: {shown}{more} folded as N (unpairable; "
                      f"--strict refuses them)", file=sys.stderr)
        if len(s) > MAX_LENGTH:
            raise InputError(f"{where} record {name!r}: {len(s)} nt is longer than the "
                             f"{MAX_LENGTH} nt rnastruct accepts")
        out.append(s)
    return out


def parse_dot_bracket(db: str, name: str = "structure") -> np.ndarray:
    """Dot-bracket string -> pair list ``[P, 2]`` (0-based, ``i < j``, sorted by ``i``).

    Reads the pages ``()``, ``[]``, ``{}`` and ``<>`` (pseudoknots); ``.`` and the other
    common unpaired symbols (``,:_-~x``) are unpaired. Unbalanced or unknown characters raise
    ``ValueError`` naming the record and 1-based position.
    """
    stacks: list[list[int]] = [[] for _ in BRACKETS]
    pairs: list[tuple[int, int]] = []
    for k, c in enumerate(db):
        if c in _OPEN:
            stacks[_OPEN[c]].append(k)
        elif c in _CLOSE:
            stack = stacks[_CLOSE[c]]
            if not stack:
                raise ValueError(f"record {name}: unmatched {c!r} at position {k + 1}")
            pairs.append((stack.pop(), k))
        elif c not in _UNPAIRED:
            raise ValueError(f"record {name}: invalid structure character {c!r} at position {k + 1}")
    for page, stack in enumerate(stacks):
        if stack:
            raise ValueError(
                f"record {name}: unmatched {BRACKETS[page][0]!r} at position {stack[-1] + 1}"
            )
    return as_pairs(pairs)


def as_pairs(pairs) -> np.ndarray:
    """Any iterable of ``(i, j)`` -> canonical pair list ``[P, 2]``: ``i < j``, sorted by ``i``."""
    arr = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    arr = np.sort(arr, axis=1)
    return arr[np.argsort(arr[:, 0], kind="stable")]


def validate_pairs(pairs: np.ndarray, length: int, name: str = "structure") -> None:
    """Raise ``ValueError`` unless every pair is inside ``[0, length)``, has ``i < j`` and no
    base is in two pairs."""
    pairs = np.asarray(pairs).reshape(-1, 2)
    if pairs.size == 0:
        return
    i, j = pairs[:, 0], pairs[:, 1]
    bad = np.flatnonzero((i < 0) | (j >= length) | (i >= j))
    if bad.size:
        a, b = pairs[bad[0]]
        raise ValueError(
            f"record {name}: pair ({a + 1}, {b + 1}) is not a valid pair in a sequence of "
            f"length {length} (1-based)"
        )
    bases = pairs.ravel()
    counts = np.bincount(bases, minlength=length)
    multi = np.flatnonzero(counts > 1)
    if multi.size:
        raise ValueError(f"record {name}: base {multi[0] + 1} is in more than one pair")


def pair_table(pairs: np.ndarray, length: int) -> np.ndarray:
    """Pair list ``[P, 2]`` -> pair table ``[L]``: partner of each base, -1 if unpaired."""
    table = np.full(length, -1, dtype=np.int64)
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    table[pairs[:, 0]] = pairs[:, 1]
    table[pairs[:, 1]] = pairs[:, 0]
    return table


def pairs_from_table(table: np.ndarray) -> np.ndarray:
    """Pair table ``[L]`` -> pair list ``[P, 2]``."""
    table = np.asarray(table, dtype=np.int64)
    i = np.flatnonzero(table > np.arange(len(table)))
    return np.stack([i, table[i]], axis=1) if i.size else np.zeros((0, 2), dtype=np.int64)


def crossing_matrix(pairs: np.ndarray) -> np.ndarray:
    """``[P, P]`` bool: pair a crosses pair b (``i_a < i_b < j_a < j_b`` or the reverse)."""
    pairs = np.asarray(pairs).reshape(-1, 2)
    i, j = pairs[:, 0], pairs[:, 1]
    a_then_b = (i[:, None] < i[None, :]) & (i[None, :] < j[:, None]) & (j[:, None] < j[None, :])
    return a_then_b | a_then_b.T


def stems_of_pairs(pairs: np.ndarray) -> list[np.ndarray]:
    """Split a pair list into stems: maximal runs of stacked pairs ``(i, j), (i+1, j-1), ...``.

    Returns a list of pair lists (outermost pair first), in order of their outermost ``i``.
    A lone pair is a stem of size 1.
    """
    pairs = as_pairs(pairs)
    if len(pairs) == 0:
        return []
    i, j = pairs[:, 0], pairs[:, 1]
    # pair k continues the stem of pair k-1 when it is stacked directly inside it
    stacked = np.zeros(len(pairs), dtype=bool)
    stacked[1:] = (i[1:] == i[:-1] + 1) & (j[1:] == j[:-1] - 1)
    starts = np.flatnonzero(~stacked)
    return np.split(pairs, starts[1:])


def split_pseudoknots(pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split pairs into a nested (pseudoknot-free) part and the pseudoknotted rest.

    Stems are kept whole: stems are taken largest first (ties: leftmost first) and a stem joins
    the nested part when it crosses nothing already there. This is deterministic and, for the
    usual dot-bracket files, puts the ``()`` page in the nested part.
    Returns ``(nested_pairs [P1, 2], pseudoknot_pairs [P2, 2])``.
    """
    pairs = as_pairs(pairs)
    if is_nested(pairs):  # the common case (every MFE structure): nothing to split
        return pairs, np.zeros((0, 2), dtype=np.int64)
    stems = stems_of_pairs(pairs)
    order = sorted(range(len(stems)), key=lambda k: (-len(stems[k]), stems[k][0, 0]))
    nested: list[np.ndarray] = []
    knotted: list[np.ndarray] = []
    for k in order:
        stem = stems[k]
        a, b = stem[0]  # the outermost pair stands for the whole stem: stacked pairs cross alike
        if any(_crosses(a, b, s[0, 0], s[0, 1]) for s in nested):
            knotted.append(stem)
        else:
            nested.append(stem)
    return as_pairs(np.concatenate(nested)), as_pairs(
        np.concatenate(knotted) if knotted else np.zeros((0, 2))
    )


def is_nested(pairs: np.ndarray) -> bool:
    """True when no two pairs of the (sorted) pair list ``[P, 2]`` cross."""
    open_ends: list[int] = []  # j of the pairs enclosing the current position, innermost last
    for i, j in pairs.tolist():
        while open_ends and open_ends[-1] < i:
            open_ends.pop()
        if open_ends and j > open_ends[-1]:
            return False
        open_ends.append(j)
    return True


def _crosses(a: int, b: int, c: int, d: int) -> bool:
    return (a < c < b < d) or (c < a < d < b)


def to_dot_bracket(pairs: np.ndarray, length: int) -> str:
    """Pair list -> dot-bracket string of ``length``.

    Nested pairs (see ``split_pseudoknots``) get ``()``; pseudoknotted pairs get the first of
    ``[]``, ``{}``, ``<>`` in which they cross nothing. More than four mutually crossing pages
    raise ``ValueError``.
    """
    pairs = as_pairs(pairs)
    validate_pairs(pairs, length)
    out = ["."] * length
    nested, knotted = split_pseudoknots(pairs)
    pages: list[list[tuple[int, int]]] = [[(int(a), int(b)) for a, b in nested]]
    for stem in stems_of_pairs(knotted):
        a, b = int(stem[0, 0]), int(stem[0, 1])
        for page in pages[1:]:
            if not any(_crosses(a, b, c, d) for c, d in page):
                page.extend(map(tuple, stem.tolist()))
                break
        else:
            if len(pages) == len(BRACKETS):
                raise ValueError("structure needs more than four bracket pages")
            pages.append(list(map(tuple, stem.tolist())))
    for page, members in enumerate(pages):
        op, cl = BRACKETS[page]
        for a, b in members:
            out[a], out[b] = op, cl
    return "".join(out)


# [256, 256] bool over ASCII codes: may these two bases pair (AU, GC, GU in either order)?
_CAN_PAIR = np.zeros((256, 256), dtype=bool)
for _pair in CANONICAL_PAIRS:
    _CAN_PAIR[ord(_pair[0]), ord(_pair[1])] = True


def canonical_map(seq: str) -> np.ndarray:
    """``[L, L]`` bool: may bases ``i`` and ``j`` pair (AU, GC or GU, either order)? N (and any
    other letter) pairs with nothing; T counts as U, lower case as upper."""
    codes = np.frombuffer(seq.upper().replace("T", "U").encode(), np.uint8)
    return _CAN_PAIR[codes[:, None], codes[None, :]]


def non_canonical_pairs(seq: str, pairs: np.ndarray) -> np.ndarray:
    """Bool mask ``[P]``: pairs that are not AU, GC or GU (either orientation)."""
    pairs = np.asarray(pairs).reshape(-1, 2)
    return np.array([seq[a] + seq[b] not in CANONICAL_PAIRS for a, b in pairs], dtype=bool)
