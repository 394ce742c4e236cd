"""Score predicted secondary structures against reference ones: ``rnastruct evaluate``.

    rnastruct evaluate --pred P --ref R [--out DIR] [--pseudoknots keep|drop-ref|drop-both]
                       [--non-canonical keep|drop] [--multiplets keep|drop] [--slip 0|1]

P and R may each be, told apart by their name:

* a folder: every ``*.bpseq`` and ``*.ct`` file in it (``rnastruct predict --format bpseq|ct
  --out DIR``); a BPSEQ record's id is its ``# name`` line or its file name;
* ``*.bpseq``: one or more BPSEQ records (each opened by a ``# name`` line, or by index 1);
  ``*.ct``: one or more CT records;
* ``*.csv``: columns ``id``, ``sequence`` and ``base_pairs`` (JSON list of 1-based ``[i, j]``)
  or ``structure`` (dot-bracket), like ArchiveII.csv; ``base_pairs`` wins when both are there;
  letters other than A C G U (IUPAC codes, modified bases) are read as N, as predict folds them;
* ``*.json``: ``rnastruct predict --format json`` output (name, sequence, pairs);
* anything else: FASTA with a dot-bracket line under each sequence (RNAfold's output), or with
  the dot-bracket line alone (``rnastruct predict --format dot-bracket``: the sequence is then
  the reference's, and only the lengths are checked).

Records are matched by id. Every reference must have a prediction (``--only-predicted`` scores
just the references that have one), every prediction a reference, and the two sequences of an id
must be equal after normalisation (upper case, T -> U); otherwise ``InputError`` lists the ids.

Scoring (SPEC section 8; counts first, aggregates second). Positions are 0-based and a pair is
``(i, j)``, ``i < j``. For one sequence:

* a predicted pair is *correct* when the reference has the same pair; with ``slip=1`` also when
  the reference has ``(i +- 1, j)`` or ``(i, j +- 1)`` (one end shifted by one base: the
  "shifted pairs allowed" convention of Mathews et al. 1999/2004 and RNAstructure's scorer;
  both ends shifted does not count). A reference pair is *found* under the same rule with the
  roles swapped;
* precision = correct predicted / predicted, recall = found reference / reference,
  F1 = 2PR / (P + R); both sets empty: every score is 1; exactly one empty: every score is 0;
* MCC over the ``L (L - 1) / 2`` possible pairs with tp = min(correct, found) (= both without
  slips), fp = predicted - tp, fn = reference - tp.

``pair_scores`` scores one sequence's pair lists.

Options that take reference pairs out of the scoring. A dropped reference pair is removed from
the reference, and a predicted pair identical to it is removed from the prediction, so it is
neither a true nor a false positive:

* ``pseudoknots``: pseudoknot pairs are those ``structure.split_pseudoknots`` puts outside the
  nested part (whole stems, largest first). ``keep``: all pairs count; ``drop-ref``: the
  reference's pseudoknot pairs are dropped; ``drop-both``: also the prediction's own
  pseudoknot pairs are removed from the prediction (so a pseudoknot predictor is scored on its
  nested part only);
* ``non_canonical``: ``drop`` drops reference pairs other than AU, GC and GU (either
  orientation; a pair with an N counts as non-canonical);
* ``multiplets``: reference bases in more than one pair (base triples in PDB-derived data; only a
  CSV ``base_pairs`` column can hold them, and only references may have them). ``keep``: every
  pair counts (a valid prediction can then recover at most one pair per base); ``drop``: every
  pair touching such a base is dropped.

Aggregates: the mean of the per-sequence scores (the number papers report) and the micro
average, the scores of the counts summed over sequences. Families are the text of an id before
its first ``_`` (ArchiveII: ``5s_...``, ``tRNA_...``); an id without ``_`` is family ``other``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .errors import InputError
from .seqio import Record, atomic_path, read_bpseq, read_ct, read_fasta, write_text_atomic
from .structure import (
    as_pairs,
    non_canonical_pairs,
    normalize_sequence,
    parse_dot_bracket,
    split_pseudoknots,
    unknown_to_n,
    validate_pairs,
)

PSEUDOKNOTS = ("keep", "drop-ref", "drop-both")
KEEP_DROP = ("keep", "drop")
SLIPS = (0, 1)
#: how many ids an error message lists
SHOW_IDS = 5
#: width (nt) of the length bins in the F1-by-length plot
LENGTH_BIN = 50

_EMPTY = np.zeros((0, 2), dtype=np.int64)


@dataclass(frozen=True)
class ScoringOptions:
    """How pairs count; see the module docstring for the exact rules."""

    pseudoknots: str = "keep"  # keep | drop-ref | drop-both
    non_canonical: str = "keep"  # keep | drop: non-canonical reference pairs
    multiplets: str = "keep"  # keep | drop: reference pairs of bases in several pairs
    slip: int = 0  # 0 | 1: a pair shifted by one base at one end still counts

    def __post_init__(self):
        for field, value, allowed in (
            ("pseudoknots", self.pseudoknots, PSEUDOKNOTS),
            ("non_canonical", self.non_canonical, KEEP_DROP),
            ("multiplets", self.multiplets, KEEP_DROP),
            ("slip", self.slip, SLIPS),
        ):
            if value not in allowed:
                raise ValueError(f"{field} must be one of {allowed}, got {value!r}")

    def describe(self) -> str:
        return (f"pseudoknots={self.pseudoknots}, non-canonical={self.non_canonical}, "
                f"multiplets={self.multiplets}, slip={self.slip}")


# ---------------------------------------------------------------------------------------------
# counting


class Counts(NamedTuple):
    """Per-sequence (or summed) counts; without slips ``correct == found`` = tp."""

    correct: int  # predicted pairs that are right (within the slip)
    found: int  # reference pairs that were predicted (within the slip)
    n_pred: int
    n_ref: int
    n_possible: int  # L (L - 1) / 2, the pairs a sequence of length L could have

    def __add__(self, other):  # sum counts field by field (not tuple concatenation)
        return Counts(*(a + b for a, b in zip(self, other)))


ZERO = Counts(0, 0, 0, 0, 0)


def _keys(pairs: np.ndarray, stride: int) -> np.ndarray:
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    return np.unique(np.minimum(pairs[:, 0], pairs[:, 1]) * stride + np.maximum(pairs[:, 0], pairs[:, 1]))


def count_pairs(pred: np.ndarray, ref: np.ndarray, length: int, slip: int = 0) -> Counts:
    """Count the pair lists ``pred`` and ``ref`` (``[P, 2]``, 0-based) of one sequence.

    Duplicate pairs count once. ``slip=1``: a pair also matches one shifted by one base at one
    end, ``(i +- 1, j)`` or ``(i, j +- 1)``.
    """
    if slip not in SLIPS:
        raise ValueError(f"slip must be 0 or 1, got {slip!r}")
    stride = length + 1  # no shifted key of a pair (i, j) with i < j < L aliases another pair
    kp, kr = _keys(pred, stride), _keys(ref, stride)
    shifts = [0] if slip == 0 else [0, -stride, stride, -1, 1]
    near = np.concatenate([kr + s for s in shifts])
    correct = int(np.isin(kp, near).sum())
    found = int(np.isin(kr, np.concatenate([kp + s for s in shifts])).sum())
    return Counts(correct, found, len(kp), len(kr), length * (length - 1) // 2)


def scores(c: Counts) -> dict[str, float]:
    """Precision, recall, F1 and MCC of counts (per sequence, or summed for the micro average)."""
    if c.n_pred == 0 and c.n_ref == 0:
        return {"precision": 1.0, "recall": 1.0, "f1": 1.0, "mcc": 1.0}
    if c.n_pred == 0 or c.n_ref == 0:
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0, "mcc": 0.0}
    precision, recall = c.correct / c.n_pred, c.found / c.n_ref
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    tp = min(c.correct, c.found)
    fp, fn = c.n_pred - tp, c.n_ref - tp
    tn = c.n_possible - tp - fp - fn
    denom = math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    mcc = (tp * tn - fp * fn) / denom if denom else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "mcc": mcc}


def pair_scores(pred: np.ndarray, ref: np.ndarray, length: int, slip: int = 0) -> dict[str, float]:
    """``scores(count_pairs(pred, ref, length, slip))``: one sequence's precision, recall, F1, MCC."""
    return scores(count_pairs(pred, ref, length, slip))


def default_f1(seq: str, pred: np.ndarray, ref: np.ndarray) -> float:
    """One sequence's F1 as ``rnastruct evaluate`` scores it by default (every reference pair
    counted): what the tuning steps and benches average."""
    prep = prepare_pairs(seq, pred, ref, ScoringOptions())
    return pair_scores(prep.pred, prep.ref, len(seq))["f1"]


# ---------------------------------------------------------------------------------------------
# which pairs count


class Prepared(NamedTuple):
    pred: np.ndarray  # [P, 2] pairs scored
    ref: np.ndarray  # [R, 2] pairs scored
    ref_pseudoknot: int  # reference pairs that are pseudoknotted (before any drop)
    ref_non_canonical: int
    ref_multiplet: int  # reference pairs touching a base in more than one pair
    dropped_ref: int  # reference pairs taken out of the scoring
    dropped_pred: int  # predicted pairs taken out of the scoring


def _in(pairs: np.ndarray, other: np.ndarray, stride: int) -> np.ndarray:
    """Bool ``[P]``: which of ``pairs`` are in ``other``."""
    if len(pairs) == 0:
        return np.zeros(0, dtype=bool)
    return np.isin(pairs[:, 0] * stride + pairs[:, 1], other[:, 0] * stride + other[:, 1])


def prepare_pairs(seq: str, pred: np.ndarray, ref: np.ndarray, opts: ScoringOptions) -> Prepared:
    """Apply the drop options to one sequence's pairs (``[P, 2]`` / ``[R, 2]``, 0-based)."""
    length = len(seq)
    stride = length + 1
    pred = np.unique(as_pairs(pred), axis=0) if len(pred) else _EMPTY
    ref = np.unique(as_pairs(ref), axis=0) if len(ref) else _EMPTY
    _, ref_pk = split_pseudoknots(ref) if len(ref) else (_EMPTY, _EMPTY)
    is_pk = _in(ref, ref_pk, stride)
    is_nc = non_canonical_pairs(seq, ref) if len(ref) else np.zeros(0, dtype=bool)
    multi_bases = np.flatnonzero(np.bincount(ref.ravel(), minlength=length) > 1)
    is_multi = np.isin(ref, multi_bases).any(axis=1) if len(ref) else np.zeros(0, dtype=bool)
    drop = np.zeros(len(ref), dtype=bool)
    if opts.pseudoknots != "keep":
        drop |= is_pk
    if opts.non_canonical == "drop":
        drop |= is_nc
    if opts.multiplets == "drop":
        drop |= is_multi
    drop_pred = _in(pred, ref[drop], stride)
    if opts.pseudoknots == "drop-both" and len(pred):
        _, pred_pk = split_pseudoknots(pred)
        drop_pred |= _in(pred, pred_pk, stride)
    return Prepared(pred[~drop_pred], ref[~drop], int(is_pk.sum()), int(is_nc.sum()),
                    int(is_multi.sum()), int(drop.sum()), int(drop_pred.sum()))


# ---------------------------------------------------------------------------------------------
# reading


def family_of(record_id: str) -> str:
    """ArchiveII family of an id: the text before the first ``_`` (``other`` when there is none)."""
    return record_id.split("_", 1)[0] if "_" in record_id else "other"


def read_structures(path: str | os.PathLike, role: str = "reference") -> dict[str, Record]:
    """Records with structures from any supported file or folder (see the module docstring),
    by id. ``role="reference"`` accepts bases in more than one pair (CSV ``base_pairs`` only);
    ``"prediction"`` rejects them."""
    if role not in ("reference", "prediction"):
        raise ValueError(f"role must be 'reference' or 'prediction', got {role!r}")
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file or folder ({role}s)")
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.suffix.lower() in (".bpseq", ".ct"))
        if not files:
            raise InputError(f"{p}: folder has no .bpseq or .ct files ({role}s)")
        records = [r for f in files for r in (read_ct(f) if f.suffix.lower() == ".ct" else read_bpseq_records(f))]
    elif p.suffix.lower() == ".bpseq":
        records = read_bpseq_records(p)
    elif p.suffix.lower() == ".ct":
        records = read_ct(p)
    elif p.suffix.lower() == ".json":
        records = _read_json(p)
    elif p.suffix.lower() == ".csv":
        records = read_structure_csv(p, multiplets=role == "reference")
    elif _structure_only(p):
        records = _read_structure_only(p)
    else:
        records = read_fasta(p)
        missing = [r.name for r in records if r.pairs is None]
        if missing:
            raise InputError(
                f"{p}: {len(missing)} record(s) have no dot-bracket line under the sequence: "
                f"{_ids(missing)}"
            )
    out: dict[str, Record] = {}
    for r in records:
        if r.name in out:
            raise InputError(f"{p}: duplicate record id {r.name!r}")
        out[r.name] = r
    return out


#: A base of a structure-only record (``--format dot-bracket``): the reference supplies it
UNKNOWN_BASE = "?"


def read_bpseq_records(path: Path) -> list[Record]:
    """One or more BPSEQ records in a file: a record opens at a ``# name`` line or where the
    index restarts at 1. Ids: the ``# name`` (first word), else the file name (plus ``_K``)."""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
    chunks: list[list[str]] = []
    current: list[str] = []
    has_rows = False
    for line in lines:
        parts = line.split()
        starts = (line.startswith("#") and has_rows) or (parts[:1] == ["1"] and has_rows)
        if starts:
            chunks.append(current)
            current, has_rows = [], False
        current.append(line)
        has_rows = has_rows or (bool(parts) and _is_row(parts))
    chunks.append(current)
    records = []
    for k, chunk in enumerate(c for c in chunks if any(_is_row(l.split()) for l in c if l.split())):
        r = read_bpseq(io.StringIO("".join(chunk)), name=None)
        name = r.name.split()[0] if r.name and r.name != "<stdin>" and r.name.split() else ""
        records.append(r._replace(name=name or (path.stem if len(chunks) == 1 else f"{path.stem}_{k + 1}")))
    return records


def _is_row(parts: list[str]) -> bool:
    return len(parts) == 3 and parts[0].isdigit()


def _read_json(path: Path) -> list[Record]:
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(rows, list) or not all(isinstance(r, dict) and {"name", "sequence", "pairs"} <= set(r)
                                            for r in rows):
        raise InputError(f"{path}: expected a list of records with name, sequence and pairs "
                         "(rnastruct predict --format json)")
    out = []
    for r in rows:
        seq = normalize_sequence(r["sequence"], r["name"])
        out.append(Record(r["name"], seq, as_pairs(np.asarray(r["pairs"], dtype=np.int64).reshape(-1, 2))))
    return out


def _structure_only(path: Path) -> bool:
    """Is the first record of this FASTA a dot-bracket line without a sequence?"""
    from .seqio import _open_text

    fh, _ = _open_text(path)
    with fh:
        lines = [line.strip() for _, line in zip(range(50), fh) if line.strip()]
    return len(lines) >= 2 and lines[0].startswith(">") and lines[1][0] in ".()[]{}<>"


def _read_structure_only(path: Path) -> list[Record]:
    from .seqio import read_named_blocks

    return [_structure_record(path, name, db, lineno) for name, db, lineno in read_named_blocks(path, "structure")]


def _structure_record(path: Path, name: str, db: str, lineno: int) -> Record:
    try:
        pairs = parse_dot_bracket(db, name)
    except ValueError as e:
        raise InputError(f"{path}, line {lineno + 1}: {e}") from None
    return Record(name, UNKNOWN_BASE * len(db), pairs)


def read_structure_csv(path: str | os.PathLike, multiplets: bool = False) -> list[Record]:
    """CSV with columns ``id``, ``sequence`` and ``base_pairs`` (JSON list of 1-based
    ``[i, j]``) or ``structure`` (dot-bracket). ``multiplets=True`` lets a base be in more than
    one pair (PDB-derived references); pairs must still be inside the sequence with ``i != j``.
    """
    p = Path(path)
    records: list[Record] = []
    seen: dict[str, int] = {}
    with open(p, newline="", encoding="utf-8", errors="replace") as fh:
        reader = csv.DictReader(fh)
        cols = reader.fieldnames or []
        if "id" not in cols or "sequence" not in cols or not ({"base_pairs", "structure"} & set(cols)):
            raise InputError(
                f"{p}, line 1: a structure CSV needs columns id, sequence and base_pairs or "
                f"structure; found {', '.join(cols) or 'none'}"
            )
        for row in reader:
            line = reader.line_num
            name = (row.get("id") or "").strip()
            if not name:
                raise InputError(f"{p}, line {line}: empty id")
            if name in seen:
                raise InputError(f"{p}, line {line}: duplicate record id {name!r} (first at line {seen[name]})")
            seen[name] = line
            try:
                # letters other than ACGUN (IUPAC codes, modified bases) are read as N, as
                # rnastruct predict folds them
                seq = unknown_to_n(normalize_sequence((row.get("sequence") or "").strip(), name, "keep"))[0]
            except ValueError as e:
                raise InputError(f"{p}, line {line}: {e}") from None
            where = f"{p}, line {line}, record {name}"
            if (row.get("base_pairs") or "").strip():
                pairs = parse_base_pairs(row["base_pairs"], len(seq), where, multiplets)
            elif (row.get("structure") or "").strip():
                db = row["structure"].strip()
                if len(db) != len(seq):
                    raise InputError(f"{where}: structure length {len(db)} differs from sequence length {len(seq)}")
                try:
                    pairs = parse_dot_bracket(db, name)
                except ValueError as e:
                    raise InputError(f"{p}, line {line}: {e}") from None
            else:
                raise InputError(f"{where}: no base_pairs and no structure")
            records.append(Record(name, seq, pairs))
    if not records:
        raise InputError(f"{p}: no records")
    return records


def parse_base_pairs(text: str, length: int, where: str, multiplets: bool) -> np.ndarray:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"{where}: base_pairs is not JSON ({e.msg} at character {e.pos + 1})") from None
    if not isinstance(raw, list) or not all(
        isinstance(x, list) and len(x) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in x)
        for x in raw
    ):
        raise InputError(f"{where}: base_pairs must be a JSON list of [i, j] integer pairs")
    pairs = np.asarray(raw, dtype=np.int64).reshape(-1, 2) - 1
    if len(pairs):
        bad = np.flatnonzero((pairs.min(axis=1) < 0) | (pairs.max(axis=1) >= length) | (pairs[:, 0] == pairs[:, 1]))
    else:
        bad = []
    if len(bad):
        a, b = raw[bad[0]]
        raise InputError(f"{where}: pair [{a}, {b}] is not a pair in a sequence of length {length} (1-based)")
    pairs = np.unique(as_pairs(pairs), axis=0) if len(pairs) else _EMPTY
    if not multiplets:
        try:
            validate_pairs(pairs, length)
        except ValueError as e:
            raise InputError(f"{where}: {str(e).split(': ', 1)[-1]}") from None
    return pairs


def _ids(ids, n: int = SHOW_IDS) -> str:
    ids = list(ids)
    return ", ".join(ids[:n]) + (f", ... ({len(ids) - n} more)" if len(ids) > n else "")


# ---------------------------------------------------------------------------------------------
# scoring sets of records

PER_SEQUENCE_COLUMNS = [
    "id", "family", "length", "n_ref", "n_pred", "correct", "found", "precision", "recall", "f1",
    "mcc", "ref_pseudoknot", "ref_non_canonical", "ref_multiplet", "dropped_ref", "dropped_pred",
]


def match_records(pred: dict[str, Record], ref: dict[str, Record], only_predicted: bool = False,
                  pred_name: str = "predictions", ref_name: str = "references") -> list[str]:
    """Ids to score, in the references' order; ``InputError`` on any mismatch."""
    extra = [k for k in pred if k not in ref]
    if extra:
        raise InputError(f"{pred_name}: {len(extra)} predicted id(s) are not in {ref_name}: {_ids(extra)}")
    missing = [k for k in ref if k not in pred]
    if missing and not only_predicted:
        raise InputError(
            f"{pred_name}: {len(missing)} of {len(ref)} reference id(s) have no prediction: "
            f"{_ids(missing)} (--only-predicted scores just the predicted ones)"
        )
    ids = [k for k in ref if k in pred]
    if not ids:
        raise InputError(f"{pred_name}: no id in common with {ref_name}")
    for k in ids:  # structure-only predictions take the reference's sequence
        if pred[k].seq and set(pred[k].seq) == {UNKNOWN_BASE} and len(pred[k].seq) == len(ref[k].seq):
            pred[k] = pred[k]._replace(seq=ref[k].seq)
    differ = [k for k in ids if pred[k].seq != ref[k].seq]
    if differ:
        k = differ[0]
        raise InputError(
            f"{pred_name}: {len(differ)} id(s) have a different sequence in {ref_name}: "
            f"{_ids(differ)} (first: {k}, length {len(pred[k].seq)} predicted vs {len(ref[k].seq)})"
        )
    return ids


def score_records(pred: dict[str, Record], ref: dict[str, Record], opts: ScoringOptions = ScoringOptions(),
                  only_predicted: bool = False, pred_name: str = "predictions",
                  ref_name: str = "references"):
    """Per-sequence scores as a pandas DataFrame with ``PER_SEQUENCE_COLUMNS``."""
    import pandas as pd

    rows = []
    for k in match_records(pred, ref, only_predicted, pred_name, ref_name):
        seq = ref[k].seq
        prep = prepare_pairs(seq, pred[k].pairs, ref[k].pairs, opts)
        c = count_pairs(prep.pred, prep.ref, len(seq), opts.slip)
        rows.append({"id": k, "family": family_of(k), "length": len(seq), "n_ref": c.n_ref,
                     "n_pred": c.n_pred, "correct": c.correct, "found": c.found, **scores(c),
                     **{f: getattr(prep, f) for f in Prepared._fields[2:]}})
    return pd.DataFrame(rows, columns=PER_SEQUENCE_COLUMNS)


METRICS = ("precision", "recall", "f1", "mcc")


def aggregate(df, by: str | None = None):
    """Mean per-sequence scores and micro averages (scores of summed counts), overall or per
    value of column ``by``. Columns: n, mean_length, precision, recall, f1, mcc, micro_precision,
    micro_recall, micro_f1, micro_mcc."""
    import pandas as pd

    def one(g) -> dict:
        total = Counts(int(g["correct"].sum()), int(g["found"].sum()), int(g["n_pred"].sum()),
                       int(g["n_ref"].sum()), int((g["length"] * (g["length"] - 1) // 2).sum()))
        micro = scores(total)
        return {"n": len(g), "mean_length": float(g["length"].mean()),
                **{m: float(g[m].mean()) for m in METRICS}, **{f"micro_{m}": micro[m] for m in METRICS}}

    if by is None:
        return pd.DataFrame([one(df)], index=pd.Index(["all"], name="set"))
    groups = sorted(df.groupby(by), key=lambda kg: str(kg[0]).lower())
    return pd.DataFrame({k: one(g) for k, g in groups}).T.rename_axis(by).astype({"n": int})


# ---------------------------------------------------------------------------------------------
# reports


def _fmt(x: float) -> str:
    return f"{x:.3f}"


def summary_markdown(df, opts: ScoringOptions, title: str = "") -> str:
    """Markdown summary: overall mean and micro scores, then the per-family table."""
    overall = aggregate(df).iloc[0]
    fam = aggregate(df, "family")
    lines = []
    if title:
        lines += [f"# {title}", ""]
    lines += [
        f"{len(df)} sequences; scoring: {opts.describe()}.",
        f"Reference pairs: {int(df['n_ref'].sum() + df['dropped_ref'].sum())} "
        f"({int(df['ref_pseudoknot'].sum())} pseudoknotted, {int(df['ref_non_canonical'].sum())} "
        f"non-canonical, {int(df['ref_multiplet'].sum())} in multiplets; "
        f"{int(df['dropped_ref'].sum())} dropped); predicted pairs dropped: {int(df['dropped_pred'].sum())}.",
        "",
        "| average | precision | recall | F1 | MCC |",
        "|---|---|---|---|---|",
        "| mean over sequences | " + " | ".join(_fmt(overall[m]) for m in METRICS) + " |",
        "| micro (summed counts) | " + " | ".join(_fmt(overall[f"micro_{m}"]) for m in METRICS) + " |",
        "",
        "| family | n | mean length | precision | recall | F1 | MCC | micro F1 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in fam.iterrows():
        lines.append(f"| {name} | {int(r['n'])} | {r['mean_length']:.0f} | "
                     + " | ".join(_fmt(r[m]) for m in METRICS) + f" | {_fmt(r['micro_f1'])} |")
    return "\n".join(lines) + "\n"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _readable(path: Path) -> None:
    """Give a file written through a temporary file the usual permissions (0666 less umask)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def _save(fig, path: Path) -> None:
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    _readable(path)


def plot_f1_by_length(df, path: str | os.PathLike, title: str = "") -> None:
    """Scatter of per-sequence F1 against length, with the mean F1 per length bin."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4))
    try:
        ax.scatter(df["length"], df["f1"], s=6, alpha=0.4, color="tab:blue", label="one sequence")
        width = LENGTH_BIN
        bins = (df["length"].to_numpy() - 1) // width  # bin b holds lengths b*w+1 .. (b+1)*w
        mean = df.groupby(bins)["f1"].mean()
        if len(mean):
            ax.plot((mean.index.to_numpy() + 0.5) * width, mean.to_numpy(), "o-", color="tab:red",
                    label=f"mean per {width} nt bin")
        ax.set_xlabel("sequence length (nt)")
        ax.set_ylabel("F1")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(title or "F1 by length")
        ax.legend(loc="lower left", fontsize=8)
        _save(fig, Path(path))
    finally:
        plt.close(fig)


def plot_f1_by_family(df, path: str | os.PathLike, title: str = "") -> None:
    """Bar chart of the mean F1 per family (n above each bar)."""
    plt = _pyplot()
    fam = aggregate(df, "family").sort_values("f1")
    fig, ax = plt.subplots(figsize=(max(4.0, 0.6 * len(fam) + 2), 4))
    try:
        bars = ax.bar(range(len(fam)), fam["f1"], color="tab:blue")
        for bar, n in zip(bars, fam["n"]):
            ax.annotate(f"n={int(n)}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        ha="center", va="bottom", fontsize=7)
        ax.set_xticks(range(len(fam)), [str(x) for x in fam.index], rotation=45, ha="right")
        ax.set_ylabel("mean F1")
        ax.set_ylim(0, 1.08)
        ax.set_title(title or "F1 by family")
        _save(fig, Path(path))
    finally:
        plt.close(fig)


#: what ``write_outputs`` writes into its folder
OUTPUT_FILES = ("per_sequence.csv", "summary.md", "f1_by_length.png", "f1_by_family.png")


def write_outputs(df, out_dir: str | os.PathLike, markdown: str) -> list[Path]:
    """``per_sequence.csv``, ``summary.md``, ``f1_by_length.png``, ``f1_by_family.png`` in
    ``out_dir`` (created if its parent exists), each written atomically."""
    out = Path(out_dir)
    if not out.is_dir():
        if not out.parent.is_dir():
            raise InputError(f"{out}: parent folder {out.parent} does not exist")
        out.mkdir()
    paths = [out / name for name in OUTPUT_FILES]
    with atomic_path(paths[0]) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g")
    write_text_atomic(paths[1], markdown)
    for path in paths[:2]:
        _readable(path)
    plot_f1_by_length(df, paths[2])
    plot_f1_by_family(df, paths[3])
    return paths
