"""RNAfold hard constraints (a dot-bracket line of ``. x | ( ) < >``): their problems on a
sequence, their forced pairs, and how a structure breaks them. Pure Python and numpy."""

from __future__ import annotations

import numpy as np

from .structure import CANONICAL_PAIRS


def check_constraint(seq: str, constraint: str) -> list[str]:
    """Problems of an RNAfold dot-bracket constraint on ``seq`` (1-based positions), [] if none:
    a length other than the sequence's, unknown characters, unbalanced brackets, a forced pair
    ViennaRNA cannot form (not AU/GC/GU, or a hairpin under 3 bases)."""
    if len(constraint) != len(seq):
        return [f"constraint length {len(constraint)} differs from sequence length {len(seq)}"]
    bad = next((k for k, c in enumerate(constraint) if c not in ".x|()<>"), None)
    if bad is not None:
        return [f"unknown constraint character {constraint[bad]!r} at position {bad + 1} (use . x | ( ) < >)"]
    problems, stack = [], []
    for k, c in enumerate(constraint):
        if c == "(":
            stack.append(k)
        elif c == ")":
            if not stack:
                return [f"unbalanced ')' at position {k + 1}"]
            i = stack.pop()
            if seq[i] + seq[k] not in CANONICAL_PAIRS:
                problems.append(f"forced pair {i + 1}-{k + 1} ({seq[i]}-{seq[k]}) is not a canonical pair")
            elif k - i <= 3:
                problems.append(f"forced pair {i + 1}-{k + 1} closes a hairpin of fewer than 3 bases")
    if stack:
        return [f"unbalanced '(' at position {stack[-1] + 1}"]
    return problems


def forced_pairs(constraint: str) -> np.ndarray:
    """The ``( )`` pairs of an RNAfold constraint -> ``[P, 2]`` 0-based (``check_constraint``
    has checked the brackets)."""
    stack, out = [], []
    for k, c in enumerate(constraint):
        if c == "(":
            stack.append(k)
        elif c == ")":
            out.append((stack.pop(), k))
    return np.array(sorted(out), dtype=np.int64).reshape(-1, 2)


def constraint_violation(constraint: str, pairs: np.ndarray) -> str:
    """The first way ``pairs`` break an RNAfold constraint (1-based positions), or ''."""
    L = len(constraint)
    partner = np.full(L, -1)
    for i, j in np.asarray(pairs).reshape(-1, 2).tolist():
        partner[i], partner[j] = j, i
    for i, j in forced_pairs(constraint).tolist():
        if partner[i] != j:
            return f"pair {i + 1}-{j + 1} is not formed"
    for k, c in enumerate(constraint):
        if c == "x" and partner[k] >= 0:
            return f"base {k + 1} must stay unpaired"
        if c == "|" and partner[k] < 0:
            return f"base {k + 1} must pair"
        if c == "<" and not partner[k] > k:
            return f"base {k + 1} must pair downstream"
        if c == ">" and not (0 <= partner[k] < k):
            return f"base {k + 1} must pair upstream"
    return ""
