"""What a prediction gives and how it is written: ``Result``, the output formats, the journal
that lets an interrupted ``rnastruct predict --out FILE`` resume, and the shards of a split run
and their merging. No drawing (``rnastruct.plots``) and no argument parsing."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..boxes import Box
from ..errors import InputError


class Result(NamedTuple):
    """One sequence's prediction."""

    name: str
    seq: str
    structure: str  # dot-bracket
    pairs: np.ndarray  # [P, 2] 0-based, i < j
    energy: float  # free energy of the structure (its nested part), kcal/mol (ViennaRNA, Turner 2004)
    score: float  # total S2 score (log-odds) of the chosen boxes; nan with the fold decoder
    boxes: list[Box]  # the structure's stems, internal loops and hairpins
    # with an ensemble decoding or probs=True (fold decoder): the ensemble's free energy under
    # every energy used (kcal/mol), each base's probability of being unpaired [L], and the pairs
    # with probability >= BPP_CUTOFF as rows (i, j, p) [K, 3] (0-based i < j)
    ensemble_energy: float = float("nan")
    unpaired: np.ndarray | None = None
    bpp: np.ndarray | None = None


#: Pair probabilities below this are not kept (``Result.bpp``, ``--bpp`` files)
BPP_CUTOFF = 1e-3


def with_ensemble(r: Result, folded) -> Result:
    """``r`` with the ensemble fields of a ``folding.Folded`` (when it has probabilities)."""
    if folded.unpaired is None:
        return r
    return r._replace(ensemble_energy=folded.ensemble_energy, unpaired=folded.unpaired, bpp=folded.bpp)


FORMATS = ("rnafold", "dot-bracket", "bpseq", "ct", "json")


def format_result(r: Result, fmt: str) -> str:
    from ..seqio import Record, format_bpseq, format_ct

    if fmt == "rnafold":
        return f">{r.name}\n{r.seq}\n{r.structure} ({r.energy:6.2f})\n"
    if fmt == "dot-bracket":
        return f">{r.name}\n{r.structure}\n"
    if fmt == "bpseq":
        return format_bpseq(Record(r.name, r.seq, r.pairs))
    if fmt == "ct":
        return format_ct(Record(r.name, r.seq, r.pairs))
    raise ValueError(fmt)


def json_record(r: Result) -> dict:
    out = {"name": r.name, "sequence": r.seq, "structure": r.structure, "energy": r.energy,
           "score": None if np.isnan(r.score) else r.score,
           "pairs": r.pairs.tolist(), "boxes": [b._asdict() for b in r.boxes]}
    if r.unpaired is not None:
        out["ensemble_energy"] = round(r.ensemble_energy, 4)
        out["unpaired_probability"] = [round(float(x), 6) for x in r.unpaired]
    return out


def file_stem(name: str) -> str:
    """A record name as a file stem, unique and stable: the name itself when it is a safe file
    name, else its safe characters plus 8 hex digits of its SHA-1 (so ``a/b`` and ``a_b`` never
    share a file). Suffixes are appended, never substituted: ``NM_000014.4`` keeps its ``.4``."""
    import hashlib

    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
    if safe == name and not name.startswith("."):
        return name
    return f"{safe.lstrip('.') or 'record'}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"


def with_suffix(stem: Path, suffix: str) -> Path:
    return stem.with_name(stem.name + suffix)


def bpp_table(r: Result) -> str:
    """``r``'s pair probabilities as CSV: ``i,j,p`` (1-based, p >= ``BPP_CUTOFF``)."""
    return "i,j,p\n" + "".join(f"{int(i) + 1},{int(j) + 1},{p:.6g}\n" for i, j, p in r.bpp)


def work(length: int) -> float:
    """A record's share of a run's time, for the progress bar: S1 grows as L^2 and ViennaRNA's
    partition function as L^3; L^2.5 follows both over 20-2,000 nt well enough for an ETA."""
    return float(length) ** 2.5


class Journal:
    """Finished records of a ``predict --out FILE`` run, one JSON line each, in a hidden file
    beside the output (``.NAME.partial``). A rerun with the same settings skips the records it
    holds (same name, sequence, constraint and probing data); it is removed once the output is
    written, so a finished run leaves only its output."""

    def __init__(self, out: str, settings: dict):
        out = Path(out)
        self.path = out.with_name(f".{out.name}.partial")
        self.settings = settings
        self._fh = None
        self._keys: list[str] = []

    @staticmethod
    def _key(name: str, seq: str, constraint, shape) -> str:
        import hashlib

        extra = "" if shape is None else ",".join(f"{x:.6g}" for x in np.asarray(shape))
        return hashlib.sha256(f"{name}\n{seq}\n{constraint}\n{extra}".encode()).hexdigest()

    def load(self, names, seqs, constraints, shapes) -> dict:
        """-> {record index: its output chunk} of the records a previous run finished."""
        import json

        self._keys = [self._key(n, s, constraints[k] if constraints else None, shapes[k] if shapes else None)
                      for k, (n, s) in enumerate(zip(names, seqs))]
        done: dict = {}
        if self.path.is_file():
            try:
                lines = self.path.read_text(encoding="utf-8").splitlines()
                header = json.loads(lines[0]) if lines else {}
                if header.get("settings") == self.settings:
                    where = {key: k for k, key in enumerate(self._keys)}
                    for line in lines[1:]:
                        try:
                            row = json.loads(line)
                        except json.JSONDecodeError:  # the line a kill cut short
                            continue
                        if row.get("key") in where:
                            done[where[row["key"]]] = row["chunk"]
            except (OSError, json.JSONDecodeError, IndexError):
                done = {}
        # start a fresh journal holding what is kept
        with open(self.path, "w", encoding="utf-8") as fh:
            fh.write(json.dumps({"settings": self.settings}) + "\n")
            for k, chunk in done.items():
                fh.write(json.dumps({"key": self._keys[k], "chunk": chunk}) + "\n")
        self._fh = open(self.path, "a", encoding="utf-8")
        return done

    def add(self, k: int, chunk) -> None:
        import json

        self._fh.write(json.dumps({"key": self._keys[k], "chunk": chunk}) + "\n")
        self._fh.flush()

    def remove(self) -> None:
        if self._fh is not None:
            self._fh.close()
        self.path.unlink(missing_ok=True)


SHARD_KIND = "rnastruct.predict-shard"
SHARD_SUFFIX = ".shard.json"  # beside each part's --out file


def shard_of(names: list[str], shard: int | None, num_shards: int | None, out: str | None,
             fmt: str) -> tuple[int, int, dict]:
    """Part ``shard`` (0-based) of ``num_shards`` contiguous parts of the input records ``names``
    -> (first record, end, the part's manifest, written beside its ``--out`` file)."""
    if shard is None or num_shards is None or not 0 <= shard < num_shards:
        raise InputError("--shard K needs --num-shards N with 0 <= K < N")
    if not out or (fmt in ("bpseq", "ct") and not out.endswith((".bpseq", ".ct"))):
        raise InputError("--shard writes one file per part: give --out FILE (for bpseq/ct, a .bpseq/.ct file)")
    total, digest = len(names), _names_digest(names)
    lo, hi = shard * total // num_shards, (shard + 1) * total // num_shards
    return lo, hi, {"kind": SHARD_KIND, "shard": shard, "num_shards": num_shards, "first": lo,
                    "records": hi - lo, "input_records": total, "input_digest": digest, "format": fmt}


def write_shard_manifest(out: str, manifest: dict) -> None:
    import json

    from ..seqio import write_text_atomic

    write_text_atomic(out + SHARD_SUFFIX, json.dumps(manifest, indent=1) + "\n")


def _names_digest(names: list[str]) -> str:
    import hashlib

    return hashlib.sha256("\n".join(names).encode()).hexdigest()


def is_predict_shard(path: str | os.PathLike) -> bool:
    return Path(str(path) + SHARD_SUFFIX).is_file()


def merge_predictions(paths: list[str], out: str) -> int:
    """Join the parts of a sharded ``rnastruct predict`` (each an ``--out`` file with its
    ``.shard.json``) into ``out``, in input order -> records written. Every part of the same
    input must be there once."""
    import json

    from ..seqio import write_text_atomic

    parts = []
    for p in paths:
        side = Path(str(p) + SHARD_SUFFIX)
        if not side.is_file() or not Path(p).is_file():
            raise InputError(f"{p}: not a part of a sharded rnastruct predict (no {side.name} beside it)")
        try:
            man = json.loads(side.read_text())
        except json.JSONDecodeError as e:
            raise InputError(f"{side}: not readable ({e.msg})") from None
        if man.get("kind") != SHARD_KIND:
            raise InputError(f"{side}: not a predict shard manifest")
        parts.append((man, Path(p)))
    first = parts[0][0]
    for man, p in parts:
        for key in ("num_shards", "input_digest", "format"):
            if man[key] != first[key]:
                raise InputError(f"{p}: its {key} differs from {parts[0][1]}'s: parts of different runs")
    have = sorted(m["shard"] for m, _ in parts)
    if have != list(range(first["num_shards"])):
        missing = sorted(set(range(first["num_shards"])) - set(have))
        raise InputError(f"parts {missing or 'duplicated'} of {first['num_shards']} missing: "
                         f"got {', '.join(map(str, have))}")
    parts.sort(key=lambda mp: mp[0]["shard"])
    if first["format"] == "json":
        rows = [r for _, p in parts for r in json.loads(p.read_text())]
        text = json.dumps(rows, indent=1) + "\n"
    else:
        rows = [None] * sum(m["records"] for m, _ in parts)
        text = "".join(p.read_text() for _, p in parts)
    if len(rows) != first["input_records"]:
        raise InputError(f"the parts hold {len(rows)} records, the input had {first['input_records']}")
    write_text_atomic(out, text)
    return len(rows)


def check_output_file(path: str) -> None:
    """Fail with a one-line error, before any prediction runs, when ``path`` cannot become the
    output file: a folder, a name ending in '/', a missing or unwritable parent folder."""
    p = Path(path)
    if path.endswith(("/", os.sep)) or p.is_dir():
        raise InputError(f"{path}: is a folder; this --format writes one file (bpseq and ct write a "
                         "folder of files unless the name ends in .bpseq/.ct)")
    parent = p.resolve().parent
    if not parent.is_dir():
        raise InputError(f"{path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise InputError(f"{path}: not writable")


def check_output_folder(path: str) -> None:
    """Make ``path`` (a folder for per-record files) or fail with a one-line error, before any
    prediction runs."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise InputError(f"{p}: exists and is not a folder")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"{p}: cannot create the folder ({e.strerror})") from None
    if not os.access(p, os.W_OK):
        raise InputError(f"{p}: folder is not writable")


