"""Real secondary structures (bpRNA, PDB, ArchiveII CSVs) -> the project's dataset format.

A real structure is not a ViennaRNA fold: it can hold pseudoknots, non-canonical pairs, bases in
several pairs (base triples in 3D structures), hairpins shorter than 3 bases and letters other
than A C G U. S1's box targets and ViennaRNA's recursions take a nested structure of canonical
pairs, so each record is reduced to one, every step counted in the manifest:

1. letters: upper case, T -> U; IUPAC codes and any other letter (P for pseudouridine, ...)
   become N, which pairs with nothing (as RNAfold folds them);
2. bases in several pairs: canonical pairs first, then stacked ones, then by position, a pair
   is kept when neither base is taken yet;
3. non-canonical pairs (anything but AU, GC, GU; N included) are dropped;
4. pairs closing a hairpin of fewer than 3 bases (``j - i < 4``) are dropped: no energy model
   forms them;
5. pseudoknots: the nested part (``structure.split_pseudoknots``: whole stems, largest first)
   is the ``pairs`` column; the crossing rest is kept in ``pk_pairs``.

Records longer than ``max_length`` are left out. ``exclude`` names sequences (of evaluation
sets) that must not be trained on: identical ones are left out, with ``kmer`` every record that
shares a k-mer (either strand) with one of them, and with ``homologs`` (``nhmmer_homologs``:
HMMER's nhmmer, each evaluation sequence a query) every record found as their homolog.

Positions are 0-based, pairs ``(i, j)`` with ``i < j``, as everywhere in rnastruct.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Iterable

import numpy as np

from .boxes import structure_to_boxes
from .structure import CANONICAL_PAIRS, as_pairs, split_pseudoknots, to_dot_bracket

#: Unpaired bases a hairpin needs (ViennaRNA's minimum)
MIN_HAIRPIN = 3
_NOT_ACGU = re.compile(r"[^ACGU]")
_COMP = str.maketrans("ACGUN", "UGCAN")


def clean_sequence(raw: str) -> tuple[str, int]:
    """Upper case, T -> U, every letter other than A C G U -> N -> (sequence, letters changed).
    Non-letters are an error: a real sequence file holds letters only."""
    s = raw.strip().upper().replace("T", "U")
    if not s or not s.isascii() or not s.isalpha():
        bad = next((k for k, c in enumerate(s) if not (c.isascii() and c.isalpha())), 0)
        raise ValueError(f"invalid character {s[bad:bad + 1]!r} at position {bad + 1}" if s else "empty sequence")
    n_other = len(_NOT_ACGU.findall(s)) - s.count("N")
    return _NOT_ACGU.sub("N", s), n_other


def resolve_multiplets(seq: str, pairs: np.ndarray) -> tuple[np.ndarray, int]:
    """Pairs ``[P, 2]`` where a base may be in several -> pairs where each base is in at most
    one, and how many pairs were dropped. Preference: canonical, then stacked on another pair
    of the list, then the earlier ``(i, j)``."""
    pairs = as_pairs(pairs)
    if len(pairs) == 0:
        return pairs, 0
    bases = pairs.ravel()
    if len(np.unique(bases)) == len(bases):
        return pairs, 0
    keyset = {(int(i), int(j)) for i, j in pairs}
    canonical = [seq[i] + seq[j] in CANONICAL_PAIRS for i, j in pairs.tolist()]
    stacked = [(i + 1, j - 1) in keyset or (i - 1, j + 1) in keyset for i, j in pairs.tolist()]
    order = sorted(range(len(pairs)), key=lambda k: (not canonical[k], not stacked[k], k))
    taken: set[int] = set()
    keep = []
    for k in order:
        i, j = int(pairs[k, 0]), int(pairs[k, 1])
        if i not in taken and j not in taken:
            taken |= {i, j}
            keep.append(k)
    return as_pairs(pairs[sorted(keep)]), len(pairs) - len(keep)


def reduce_structure(seq: str, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray, Counter]:
    """A real structure -> (nested canonical pairs, pseudoknotted canonical pairs, counts of
    what was dropped: ``multiplet_pairs``, ``non_canonical_pairs``, ``sharp_hairpin_pairs``,
    ``pseudoknot_pairs``)."""
    counts: Counter = Counter()
    pairs, counts["multiplet_pairs"] = resolve_multiplets(seq, pairs)
    if len(pairs):
        canon = np.array([seq[i] + seq[j] in CANONICAL_PAIRS for i, j in pairs.tolist()])
        counts["non_canonical_pairs"] = int((~canon).sum())
        pairs = pairs[canon]
        sharp = pairs[:, 1] - pairs[:, 0] <= MIN_HAIRPIN
        counts["sharp_hairpin_pairs"] = int(sharp.sum())
        pairs = pairs[~sharp]
    nested, knotted = split_pseudoknots(as_pairs(pairs))
    counts["pseudoknot_pairs"] = len(knotted)
    return nested, knotted, counts


def kmers(seq: str, k: int) -> set[str]:
    """Every k-mer of ``seq`` and of its reverse complement."""
    both = (seq, seq.translate(_COMP)[::-1])
    return {s[i:i + k] for s in both for i in range(len(s) - k + 1)}


def nhmmer_homologs(queries: Iterable[str], targets: dict[str, str], evalue: float = 1e-3,
                    cpus: int = 0) -> set[str]:
    """Names of the ``targets`` (name -> sequence) that HMMER's nhmmer finds with an E-value
    <= ``evalue`` when each of ``queries`` is searched against them.

    Exact and k-mer matches miss distant members of an RNA family (a tRNA of another phylum
    shares few 16-mers with ours); a profile HMM built from each query finds them. E-values
    count the whole target set (nhmmer's default), so a set's filter is deterministic. Letters
    other than A C G U are searched as N. Needs ``pyhmmer`` (``pip install rnastruct[homology]``)."""
    try:
        import pyhmmer
    except ImportError:
        raise ImportError("the homology filter needs pyhmmer: pip install 'rnastruct[homology]'") from None
    alphabet = pyhmmer.easel.Alphabet.rna()

    def block(named):  # (name, cleaned sequence) pairs
        return pyhmmer.easel.TextSequenceBlock(
            [pyhmmer.easel.TextSequence(name=name.encode(), sequence=s) for name, s in named]
        ).digitize(alphabet)

    unique = sorted({clean_sequence(s)[0] for s in queries})
    if not unique or not targets:
        return set()
    found = set()
    for hits in pyhmmer.hmmer.nhmmer(block((f"q{k}", s) for k, s in enumerate(unique)),
                                     block((n, clean_sequence(s)[0]) for n, s in targets.items()),
                                     cpus=cpus, E=evalue, incE=evalue):
        found.update(h.name.decode() if isinstance(h.name, bytes) else h.name for h in hits if h.included)
    return found


def build_rows(records: Iterable, split: str, max_length: int | None = None,
               exclude: Iterable[str] = (), kmer: int = 0, families: dict[str, str] | None = None,
               homologs: Iterable[str] = (), identical: Iterable[str] = ()):
    """Real records (``seqio.Record`` with raw sequence and 0-based pairs, bases possibly in
    several pairs) -> (column dict for ``to_table``, counts). ``exclude``: sequences of
    evaluation sets (cleaned the same way) that no row may equal, or with ``kmer > 0`` share a
    k-mer with; ``homologs``: names of records to leave out as their homologs; ``identical``:
    more sequences that no row may equal (a validation split)."""
    homologs = set(homologs)
    excluded = {clean_sequence(s)[0] for s in exclude}
    held = set().union(*(kmers(s, kmer) for s in excluded)) if kmer and excluded else set()
    excluded |= {clean_sequence(s)[0] for s in identical}
    cols: dict[str, list] = {k: [] for k in ("id", "family", "split", "len", "seq", "structure",
                                             "pairs", "pk_pairs", "n_ref_pairs", "boxes")}
    counts: Counter = Counter()
    for r in records:
        counts["read"] += 1
        seq, n_other = clean_sequence(r.seq)
        if n_other:
            counts["records_with_other_letters"] += 1
            counts["other_letters"] += n_other
        if "N" in seq:
            counts["records_with_n"] += 1
        if max_length is not None and len(seq) > max_length:
            counts["dropped_too_long"] += 1
            continue
        if seq in excluded:
            counts["dropped_identical_to_evaluation"] += 1
            continue
        if held and not held.isdisjoint(kmers(seq, kmer)):
            counts["dropped_kmer_shared_with_evaluation"] += 1
            continue
        if r.name in homologs:
            counts["dropped_homolog_of_evaluation"] += 1
            continue
        ref = as_pairs(r.pairs)
        nested, knotted, c = reduce_structure(seq, ref)
        counts.update(c)
        counts["records_with_pseudoknots"] += bool(len(knotted))
        counts["records_with_multiplets"] += bool(c["multiplet_pairs"])
        counts["reference_pairs"] += len(ref)
        counts["kept_pairs"] += len(nested)
        counts["kept"] += 1
        cols["id"].append(r.name)
        cols["family"].append((families or {}).get(r.name, ""))
        cols["split"].append(split)
        cols["len"].append(len(seq))
        cols["seq"].append(seq)
        cols["structure"].append(to_dot_bracket(nested, len(seq)))
        cols["pairs"].append(nested)
        cols["pk_pairs"].append(knotted)
        cols["n_ref_pairs"].append(len(ref))
        cols["boxes"].append([(b.type, b.bb_x, b.bb_y, b.siz_x, b.siz_y, False)
                              for b in structure_to_boxes(nested, len(seq))])
    return cols, counts


def to_table(cols: dict[str, list]):
    """``build_rows`` columns -> a pyarrow Table in the dataset layout of ``rnastruct generate``
    (``seq``, ``pairs``, ``split``, ``boxes``, ...), so every stage reads it."""
    import pyarrow as pa

    from .datagen import boxes_column
    from .seqio import pairs_column

    out = {k: pa.array(cols[k], type=pa.string()) for k in ("id", "family", "split", "seq", "structure")}
    out["len"] = pa.array(cols["len"], type=pa.int32())
    out["n_ref_pairs"] = pa.array(cols["n_ref_pairs"], type=pa.int32())
    out["pairs"] = pairs_column(cols["pairs"])
    out["pk_pairs"] = pairs_column(cols["pk_pairs"])
    out["boxes"] = boxes_column(cols["boxes"])
    return pa.table(out)


def read_real_csv(path) -> tuple[list, dict[str, str]]:
    """A real-structure CSV (columns ``id``, ``sequence``, ``base_pairs`` as a JSON list of
    1-based ``[i, j]``, optional ``family``) -> (records with the raw sequence and 0-based pairs,
    bases in several pairs allowed; family by id). Errors name the file, line and record."""
    import csv
    from pathlib import Path

    from .errors import InputError
    from .evaluate import parse_base_pairs
    from .seqio import Record

    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such file")
    records, families, seen = [], {}, set()
    with open(p, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if not {"id", "sequence", "base_pairs"} <= set(reader.fieldnames or []):
            raise InputError(f"{p}, line 1: a real-structure CSV needs columns id, sequence and base_pairs; "
                             f"found {', '.join(reader.fieldnames or []) or 'none'}")
        for row in reader:
            name = (row["id"] or "").strip()
            where = f"{p}, line {reader.line_num}, record {name or '?'}"
            if not name or name in seen:
                raise InputError(f"{where}: {'duplicate' if name else 'empty'} id")
            seen.add(name)
            try:
                clean_sequence(row["sequence"] or "")
            except ValueError as e:
                raise InputError(f"{where}: {e}") from None
            raw = row["sequence"].strip()
            records.append(Record(name, raw, parse_base_pairs(row["base_pairs"], len(raw), where, True)))
            families[name] = (row.get("family") or "").strip()
    if not records:
        raise InputError(f"{p}: no records")
    return records, families


def subset_dataset(src, dst, train_rows: int, seed: int) -> dict:
    """A dataset folder's ``train_rows`` training rows (drawn with ``seed``) and all its
    validation rows, as a new dataset folder ``dst`` (written under a temporary name, then
    renamed) -> its manifest: the source's, with a ``subset`` entry."""
    import json
    from pathlib import Path

    import pandas as pd

    from .errors import InputError

    src, dst = Path(src), Path(dst)
    if dst.exists():
        raise InputError(f"{dst}: exists")
    if not (src / "segments.parquet").is_file() or not (src / "manifest.json").is_file():
        raise InputError(f"{src}: not a dataset folder (segments.parquet, manifest.json)")
    df = pd.read_parquet(src / "segments.parquet")
    if (df.split == "train").sum() < train_rows:
        raise InputError(f"{src}: {(df.split == 'train').sum()} training rows, fewer than {train_rows}")
    part = pd.concat([df[df.split == "train"].sample(train_rows, random_state=seed), df[df.split == "valid"]])
    manifest = json.loads((src / "manifest.json").read_text())
    manifest["subset"] = {"from": str(src), "train_rows": train_rows, "valid_rows": int((df.split == "valid").sum()),
                          "seed": seed}
    tmp = dst.with_name(dst.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    part.to_parquet(tmp / "segments.parquet", index=False)
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
    tmp.rename(dst)
    return manifest
