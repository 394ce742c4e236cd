"""Proposals datasets: what ``rnastruct s1-infer`` and ``prune`` write and read (the commands
themselves are in ``rnastruct.cli.s1``).

Files: a proposals dataset is a folder like ``rnastruct generate`` writes (``segments.parquet``
+ ``manifest.json``), one row per sequence: ``id``, ``seq``, ``len``, the input's ``pairs``,
``mfe_freq`` and ``split`` when it had them, and one list column ``prop_<c>`` per column ``c``
of ``infer.BOX_COLUMNS`` (the proposed boxes, box convention of ``rnastruct.boxes``: top-right
corner ``(bb_x, bb_y)``, sizes including closing bases). Parquet lists, never pickle.
"""

from __future__ import annotations

import dataclasses
import sys
import time

import numpy as np

from ..errors import InputError
from ..seqio import list_offsets, read_table, write_dataset
from .infer import BOX_COLUMNS, ProposalConfig

CARRIED = ("pairs", "mfe_freq", "split")  # input columns kept beside the proposals
_OPTIONAL = ("vote", "vote_norm")  # BOX_COLUMNS that older proposals datasets lack


# ---------------------------------------------------------------------------------------------
# proposals dataset I/O


def _box_columns(tables: list[dict[str, np.ndarray]]) -> dict:
    """Per-sequence per-box tables -> ``prop_<c>`` list columns."""
    import pyarrow as pa

    offsets = list_offsets([len(t["type"]) for t in tables])
    out = {}
    for c in BOX_COLUMNS:
        values = np.concatenate([np.asarray(t[c]) for t in tables]) if tables else np.zeros(0)
        arr = pa.array(values.tolist() if c == "type" else values,
                       type=pa.string() if c == "type" else None)
        out[f"prop_{c}"] = pa.ListArray.from_arrays(offsets, arr)
    return out


def read_proposals(path) -> tuple[list[str], list[str], list[dict[str, np.ndarray]], object, dict]:
    """A proposals dataset -> (ids, sequences, per-sequence box tables, pyarrow table, manifest)."""
    table, manifest = read_table(path)
    # datasets written before votes existed lack their columns: votes not computed (NaN)
    missing = [f"prop_{c}" for c in BOX_COLUMNS if f"prop_{c}" not in table.column_names
               and c not in _OPTIONAL]
    missing += [c for c in ("id", "seq") if c not in table.column_names]
    if missing:
        raise InputError(f"{path}: not a proposals dataset from rnastruct s1-infer "
                         f"(missing {', '.join(missing[:4])})")
    cols = {}
    box_offsets = table.column("prop_type").combine_chunks().offsets.to_numpy()
    for c in BOX_COLUMNS:
        if f"prop_{c}" not in table.column_names:  # an optional column
            cols[c] = (box_offsets, np.full(box_offsets[-1] - box_offsets[0], np.nan))
            continue
        arr = table.column(f"prop_{c}").combine_chunks()
        offsets = arr.offsets.to_numpy()
        values = arr.values.to_numpy(zero_copy_only=False)
        cols[c] = (offsets, np.asarray(values, dtype="<U5") if c == "type" else values)
    n = table.num_rows
    tables = [{c: v[o[k]:o[k + 1]] for c, (o, v) in cols.items()} for k in range(n)]
    return table.column("id").to_pylist(), table.column("seq").to_pylist(), tables, table, manifest


def write_proposals(out: str, ids, seqs, carried: dict, tables, manifest: dict, overwrite: bool) -> None:
    """Write a proposals dataset (one row per sequence, the boxes as ``prop_*`` list columns)."""
    import pyarrow as pa

    columns = {"id": pa.array(ids, pa.string()), "seq": pa.array(seqs, pa.string()),
               "len": pa.array([len(s) for s in seqs], pa.int32()), **carried, **_box_columns(tables)}
    write_dataset(pa.table(columns), out, manifest, overwrite=overwrite)


def proposals_manifest(kind: str, params: dict, source: dict, counts: dict, seconds: float) -> dict:
    from ..datagen import versions

    return {"kind": kind, "params": params, "versions": versions(), "input": source,
            "counts": counts, "run": {"seconds": round(seconds, 2), "argv": sys.argv,
                                      "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}}


def shard_rows(n: int, shard: int, num_shards: int) -> slice:
    """Rows of shard ``shard``: contiguous blocks, so shards joined in order give the input order."""
    if num_shards < 1 or not 0 <= shard < num_shards:
        raise InputError(f"--shard must be in 0..{num_shards - 1} and --num-shards >= 1")
    return slice(shard * n // num_shards, (shard + 1) * n // num_shards)


def merge_proposals(datasets: list[tuple]) -> tuple:
    """Join the shards of one s1-infer run ``[(pyarrow.Table, manifest), ...]`` in shard order ->
    ``(table, manifest)``; every shard exactly once, all made with the same parameters."""
    import pyarrow as pa

    from ..datagen import group_shards

    by_shard, ref, _ = group_shards(datasets)
    order = sorted(by_shard)
    first = by_shard[order[0]][1]
    counts = {key: sum(by_shard[s][1]["counts"][key] for s in order) for key in first["counts"]}
    manifest = proposals_manifest("rnastruct.s1-infer", {**ref, "shard": None}, first["input"], counts,
                         sum(by_shard[s][1]["run"]["seconds"] for s in order))
    manifest["merged_shards"] = order
    return pa.concat_tables([by_shard[s][0] for s in order]), manifest


def infer_params(manifest: dict) -> dict:
    """The proposal settings a proposals dataset was made with (its s1-infer manifest, also
    when a prune manifest wraps it)."""
    m = manifest
    while m and m.get("kind") != "rnastruct.s1-infer":
        m = m.get("input") if isinstance(m.get("input"), dict) else None
    params = dataclasses.asdict(ProposalConfig())
    if not m:
        return params
    # a vote's threshold is vote_threshold; manifests from before votes lack the vote keys
    params.update({k: v for k, v in m["params"].items() if k in params})
    if params["method"] == "vote":
        params["threshold"] = params["vote_threshold"]
    return params


