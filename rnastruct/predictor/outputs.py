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
    energy: float  # Turner 2004 free energy of the structure (its nested part), kcal/mol (ViennaRNA)
    score: float  # total S2 score (log-odds) of the chosen boxes; nan with the fold decoder
    boxes: list[Box]  # the structure's stems, internal loops and hairpins
    # with probs=True (fold decoder): the free energy of the ensemble the pair probabilities come
    # from, under the model's energies (Turner 2004 plus the learned and SHAPE pseudo-energies;
    # kcal/mol), each base's probability of being unpaired [L], and the pairs with probability
    # >= BPP_CUTOFF as rows (i, j, p) [K, 3] (0-based i < j)
    ensemble_energy: float = float("nan")
    unpaired: np.ndarray | None = None
    bpp: np.ndarray | None = None
    # the learned pseudo-energies of the structure's pairs, summed (kcal/mol; the fold decoder
    # with a learned pair head, else nan): its energy under the model is energy + learned_energy
    learned_energy: float = float("nan")
    # with probs=True: the ensemble free energy under Turner 2004 alone (kcal/mol)
    turner_ensemble_energy: float = float("nan")


#: Pair probabilities below this are not kept (``Result.bpp``, ``--bpp`` files)
BPP_CUTOFF = 1e-3


def with_ensemble(r: Result, folded) -> Result:
    """``r`` with the ensemble fields of a ``folding.Folded`` (when it has probabilities)."""
    if folded.unpaired is None:
        return r
    return r._replace(ensemble_energy=folded.ensemble_energy, unpaired=folded.unpaired, bpp=folded.bpp,
                      turner_ensemble_energy=folded.turner_ensemble_energy)


FORMATS = ("rnafold", "dot-bracket", "bpseq", "ct", "json")


def format_result(r: Result, fmt: str) -> str:
    from ..seqio import Record, format_bpseq, format_ct

    if fmt == "rnafold":
        # the structure line is RNAfold's (the Turner 2004 free energy in brackets); the header
        # names it and the learned part, so neither is mistaken for the other
        learned = "" if np.isnan(r.learned_energy) else f" learned_energy={r.learned_energy:.2f}"
        learned += "" if np.isnan(r.score) else f" s2_score={r.score:.2f}"
        return f">{r.name} turner_energy={r.energy:.2f}{learned}\n{r.seq}\n{r.structure} ({r.energy:6.2f})\n"
    if fmt == "dot-bracket":
        return f">{r.name}\n{r.structure}\n"
    if fmt == "bpseq":
        return format_bpseq(Record(r.name, r.seq, r.pairs))
    if fmt == "ct":
        return format_ct(Record(r.name, r.seq, r.pairs))
    raise ValueError(fmt)


def json_record(r: Result) -> dict:
    """One result as JSON, every quantity named for what it is (kcal/mol unless said):
    ``turner_energy`` the structure's Turner 2004 free energy; ``learned_energy`` the learned
    pseudo-energy of its pairs (null without a learned pair head); ``s2_score`` the box
    decoder's S2 log-odds (null with the fold decoder); with probabilities,
    ``ensemble_energy_model`` the free energy of the ensemble they come from (Turner 2004 plus
    the learned and SHAPE pseudo-energies) and ``ensemble_energy_turner`` Turner 2004's alone."""
    def number(x: float):
        return None if np.isnan(x) else round(float(x), 4)

    out = {"name": r.name, "sequence": r.seq, "structure": r.structure, "turner_energy": r.energy,
           "learned_energy": number(r.learned_energy),
           "s2_score": None if np.isnan(r.score) else float(r.score),
           "pairs": r.pairs.tolist(), "boxes": [b._asdict() for b in r.boxes]}
    if r.unpaired is not None:
        out["ensemble_energy_model"] = number(r.ensemble_energy)
        out["ensemble_energy_turner"] = number(r.turner_ensemble_energy)
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


def work(length: int) -> int:
    """A record's share of a run's time, for the progress bar: S1 grows as L^2 and ViennaRNA's
    partition function as L^3; L^2.5 follows both over 20-2,000 nt well enough for an ETA.
    Whole units, so that the bar ends exactly at its total."""
    return max(1, round(float(length) ** 2.5))


class Journal:
    """Finished records of a ``predict --out FILE`` run, one JSON line each, in a hidden file
    beside the output (``.NAME.partial``). A rerun with the same settings skips the records it
    holds (same name, sequence, constraint and probing data); one written with other settings
    is set aside (``stale`` says which settings differ) and the run starts afresh. It is removed
    once the output is written, so a finished run leaves only its output."""

    def __init__(self, out: str | os.PathLike, settings: dict):
        self.path = self.path_for(out)
        self.settings = settings
        self.stale = ""  # what differed in a journal of other settings ("" if none was found)
        self._fh = None
        self._keys: list[str] = []

    @staticmethod
    def path_for(out: str | os.PathLike) -> Path:
        out = Path(out)
        return out.with_name(f".{out.name}.partial")

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
                old = header.get("settings") or {}
                if old == self.settings:
                    where = {key: k for k, key in enumerate(self._keys)}
                    for line in lines[1:]:
                        try:
                            row = json.loads(line)
                        except json.JSONDecodeError:  # the line a kill cut short
                            continue
                        if row.get("key") in where:
                            done[where[row["key"]]] = row["chunk"]
                else:
                    self.stale = ", ".join(f"--{k.replace('_', '-')} {old.get(k)} then, {v} now"
                                           for k, v in self.settings.items() if old.get(k) != v) or "unknown"
            except (OSError, json.JSONDecodeError, IndexError, AttributeError):
                done, self.stale = {}, "unreadable"
        # start a fresh journal holding what is kept
        try:
            with open(self.path, "w", encoding="utf-8") as fh:
                fh.write(json.dumps({"settings": self.settings}) + "\n")
                for k, chunk in done.items():
                    fh.write(json.dumps({"key": self._keys[k], "chunk": chunk}) + "\n")
            self._fh = open(self.path, "a", encoding="utf-8")
        except OSError as e:
            self._failed(e)
        return done

    def add(self, k: int, chunk) -> None:
        import json

        try:
            self._fh.write(json.dumps({"key": self._keys[k], "chunk": chunk}) + "\n")
            self._fh.flush()
        except OSError as e:
            self._failed(e)

    def _failed(self, e: OSError):
        from ..outfiles import OutputError

        raise OutputError(f"{self.path}: cannot write the journal of finished records ({e.strerror})") from None

    def close(self) -> None:
        if self._fh is not None:
            try:
                self._fh.close()
            except OSError:
                pass
            self._fh = None

    def remove(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)


SHARD_KIND = "rnastruct.predict-shard"
SHARD_SUFFIX = ".shard.json"  # beside each part's --out file


def shard_of(names: list[str], shard: int | None, num_shards: int | None, out: str | None,
             fmt: str) -> tuple[int, int, dict]:
    """Part ``shard`` (0-based) of ``num_shards`` contiguous parts of the input records ``names``
    -> (first record, end, the part's manifest, written beside its ``--out`` file)."""
    if shard is None or num_shards is None or not 0 <= shard < num_shards:
        raise InputError(f"--shard {shard} --num-shards {num_shards}: --shard K needs --num-shards N with "
                         "0 <= K < N")
    if not out or out == "-" or (fmt in ("bpseq", "ct") and not out.endswith((".bpseq", ".ct"))):
        raise InputError("--shard writes one file per part: give --out FILE (for bpseq/ct, a .bpseq/.ct file)")
    total, digest = len(names), _names_digest(names)
    lo, hi = shard * total // num_shards, (shard + 1) * total // num_shards
    return lo, hi, {"kind": SHARD_KIND, "shard": shard, "num_shards": num_shards, "first": lo,
                    "records": hi - lo, "input_records": total, "input_digest": digest, "format": fmt}


def _names_digest(names: list[str]) -> str:
    import hashlib

    return hashlib.sha256("\n".join(names).encode()).hexdigest()


def is_predict_shard(path: str | os.PathLike) -> bool:
    return Path(str(path) + SHARD_SUFFIX).is_file()


def merge_predictions(paths: list[str], outs, target) -> int:
    """Join the parts of a sharded ``rnastruct predict`` (each an ``--out`` file with its
    ``.shard.json``) into ``target`` (an ``outfiles.Target`` of ``outs``), in input order ->
    records written. Every part of the same input must be there once."""
    import json

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
    outs.write_text(target, text)
    return len(rows)
