"""``rnastruct predict``: the predictor's command line (inputs, options, outputs, resuming an
interrupted run, shards)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

from ..seqio import InputError


def add_args(p) -> None:
    from ..learned import DECODINGS
    from ..pipeline import BPP_CUTOFF, DECODERS, DEFAULT_MODEL, FORMATS, PRECISIONS
    from ..s1.infer import MAX_LENGTH

    p.add_argument("inputs", nargs="*", metavar="SEQ_OR_FASTA",
                   help="sequences, or FASTA files (.gz read as is); none or '-': FASTA or one "
                        f"sequence per line from standard input. At most {MAX_LENGTH:,} nt per sequence")
    p.add_argument("--format", choices=FORMATS, default="rnafold",
                   help="rnafold (default: name, sequence, dot-bracket with the score), dot-bracket "
                        "(name and dot-bracket), bpseq, ct or json")
    p.add_argument("--out", help="output file (rnafold, dot-bracket, json; and bpseq/ct when the name ends in "
                                 ".bpseq/.ct), else a folder of one file per record (bpseq, ct); default stdout")
    p.add_argument("--plot", metavar="DIR", help="also draw each structure (SVG, ViennaRNA) and its boxes (PNG)")
    p.add_argument("--model", default=DEFAULT_MODEL, metavar="SET",
                   help="real (default): S1 trained on real structures (bpRNA), its pair scores added "
                        "to Turner 2004 as pseudo-energies in ViennaRNA; mfe: the models trained on "
                        "ViennaRNA's MFE folds of human segments (ViennaRNA restricted to S1's "
                        "proposals); turner: no learned model, ViennaRNA's Turner 2004 alone (RNAfold); "
                        "or a folder holding s1.pt (and s2.pt)")
    p.add_argument("--s1", help="S1 checkpoint (default: the --model set's)")
    p.add_argument("--s2", help="S2 checkpoint (default: the --model set's; used by --decoder boxes)")
    p.add_argument("--decoder", choices=DECODERS, default="fold",
                   help="fold (default): ViennaRNA's exact folding with the model's learned "
                        "pseudo-energies (or, for a model without a pair head, over the pairs S1 "
                        "proposes); boxes: S2 scores and the exact box assembly, no ViennaRNA")
    p.add_argument("--decoding", choices=DECODINGS,
                   help="fold decoder: mfe, or from the partition function mea, centroid or threshknot "
                        "(default: what the model chose on validation structures)")
    p.add_argument("--gamma", type=float, help="MEA: weight of paired against unpaired bases")
    p.add_argument("--threshold", type=float, help="threshknot: least pair probability")
    p.add_argument("--bpp", metavar="DIR",
                   help="also write each record's pair probabilities under the model's energies "
                        f"(NAME.bpp.csv: i, j 1-based, p >= {BPP_CUTOFF:g}) and its dot plot (NAME.dp.png, "
                        "NAME.dp.svg); JSON output gains unpaired probabilities and the ensemble energy")
    p.add_argument("--constraint", action="store_true",
                   help="RNAfold hard constraints (. x | ( ) < >), enforced exactly, from the line after "
                        "each sequence of the input FASTA (as RNAfold -C reads them)")
    p.add_argument("--constraint-file", metavar="FILE",
                   help="the constraints from FILE instead (FASTA-style: >name, then the constraint)")
    p.add_argument("--shape", metavar="PATH",
                   help="SHAPE/DMS reactivities ('position [base] value' per line, as RNAfold reads "
                        "them; no value or a negative one = no data): a file (one input record) or a "
                        "folder of NAME.shape files; Deigan et al.'s pseudo-energies, added to the model's")
    p.add_argument("--shape-slope", type=float, help="Deigan slope m, kcal/mol (default 1.8)")
    p.add_argument("--shape-intercept", type=float, help="Deigan intercept b, kcal/mol (default -0.6)")
    p.add_argument("--allow-pseudoknots", action="store_true",
                   help="with --decoder boxes: also add every positive-scoring S2 stem that crosses "
                        "the nested structure (greedily; written with [], {}, <>). It adds "
                        "pseudoknots to most RNAs and lowered ArchiveII F1 (0.551 -> 0.509); for "
                        "pseudoknots that are probable, use --decoding threshknot")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="S1 arithmetic: bf16 (as it trained; fast on CPUs with AMX), fp32, or auto "
                        "(default: bf16 where the device computes it natively)")
    p.add_argument("--threads", type=int, help="CPU cores to use (default: all available); many "
                   "sequences run in that many processes")
    p.add_argument("--shard", type=int, metavar="K",
                   help="predict only part K (0-based) of --num-shards contiguous parts of the input; "
                        "rnastruct merge joins the parts' --out files in input order (predict/submit.sh "
                        "does both on Slurm)")
    p.add_argument("--num-shards", type=int, metavar="N")
    p.add_argument("--strict", action="store_true",
                   help="refuse letters other than A C G U T N (default: IUPAC codes and modified "
                        "bases are folded as N, unpairable, as RNAfold does, with a warning)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _read_inputs(inputs: list[str], constraints: bool = False) -> tuple[list[str], list[str], list]:
    """Command-line sequences and FASTA files (or stdin: FASTA, or one sequence per line as
    RNAfold reads it) -> (names, sequences, constraint lines: None where absent; with
    ``constraints`` the line after a FASTA sequence is one)."""
    import io

    from ..seqio import read_fasta
    from ..structure import AMBIGUOUS

    names, seqs, cons = [], [], []
    if not inputs or inputs == ["-"]:
        if sys.stdin.isatty():
            print("rnastruct predict: reading sequences from standard input (FASTA, or one per line; "
                  "end with Ctrl-D)", file=sys.stderr)
        text = sys.stdin.read()
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if lines and not lines[0].startswith(">"):  # bare sequences; bases are checked later
            return [f"seq{k + 1}" for k in range(len(lines))], lines, [None] * len(lines)
        recs = read_fasta(io.StringIO(text), ambiguous="keep", structures=True, constraints=constraints)
        return [r.name for r in recs], [r.seq for r in recs], [r.constraint for r in recs]
    for k, item in enumerate(inputs):
        if Path(item).is_file():
            recs = read_fasta(item, ambiguous="keep", structures=True, constraints=constraints)
            names += [r.name for r in recs]
            seqs += [r.seq for r in recs]
            cons += [r.constraint for r in recs]
        elif set(item.upper()) <= set("ACGUTN" + AMBIGUOUS) and item:
            names.append(f"seq{len(names) + 1}")
            seqs.append(item)
            cons.append(None)
        else:
            raise InputError(f"input {k + 1} ({item[:30]!r}): neither a file nor a sequence of A, C, G, U/T, N")
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise InputError(f"record name {dup!r} appears more than once")
    return names, seqs, cons


def _constraints(args, names: list[str], seqs: list[str], inline: list) -> list | None:
    """Each record's constraint (or None), checked: problems name the record and position."""
    from ..folding import check_constraint

    if args.constraint and args.constraint_file:
        raise InputError("--constraint reads the constraints from the input FASTA, --constraint-file from a "
                         "file: give one")
    if not (args.constraint or args.constraint_file):
        return None
    cons = inline if args.constraint else _read_constraint_file(args.constraint_file, names)
    for name, seq, c in zip(names, seqs, cons):
        if c is not None:
            problems = check_constraint(seq, c)
            if problems:
                raise InputError(f"record {name}: {problems[0]}")
    if all(c is None for c in cons):
        raise InputError("--constraint: no record has a constraint")
    return cons


def _read_constraint_file(path: str, names: list[str]) -> list:
    """A FASTA-style constraint file (``>name`` then the constraint, possibly over several
    lines) -> a constraint per record of ``names`` (None where the file has none)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"--constraint-file {p}: no such file")
    from ..seqio import read_named_blocks

    found = {name: text for name, text, _ in read_named_blocks(p, "constraint")}
    unknown = [n for n in found if n not in set(names)]
    if unknown:
        raise InputError(f"{p}: constraint for record {unknown[0]!r}, which is not in the input")
    return [found.get(n) for n in names]


def _shapes(args, names: list[str], seqs: list[str]) -> list | None:
    from ..pipeline import file_stem
    from ..seqio import read_shape

    if args.shape is None:
        return None
    p = Path(args.shape)
    if p.is_dir():
        return [read_shape(p / f"{file_stem(n)}.shape", s, n) if (p / f"{file_stem(n)}.shape").is_file() else None
                for n, s in zip(names, seqs)]
    if len(seqs) != 1:
        raise InputError(f"--shape {p}: one file is for one record ({len(seqs)} given); give a folder of "
                         "NAME.shape files")
    return [read_shape(p, seqs[0], names[0])]


def run(args) -> int:
    import json

    from tqdm import tqdm

    from ..pipeline import (Predictor, dot_plot, draw, file_stem, format_result, json_record,
                            with_suffix)
    from ..s1.infer import check_sequences
    from ..seqio import write_text_atomic

    names, seqs, inline = _read_inputs(args.inputs, constraints=args.constraint)
    if not seqs:
        raise InputError("no sequences given")
    shard = None
    if args.shard is not None or args.num_shards is not None:
        if args.shard is None or args.num_shards is None or not 0 <= args.shard < args.num_shards:
            raise InputError("--shard K needs --num-shards N with 0 <= K < N")
        if not args.out or (args.format in ("bpseq", "ct") and not args.out.endswith((".bpseq", ".ct"))):
            raise InputError("--shard writes one file per part: give --out FILE (for bpseq/ct, a .bpseq/.ct file)")
        total, digest = len(seqs), _names_digest(names)
        lo, hi = args.shard * total // args.num_shards, (args.shard + 1) * total // args.num_shards
        names, seqs, inline = names[lo:hi], seqs[lo:hi], inline[lo:hi]
        shard = {"kind": SHARD_KIND, "shard": args.shard, "num_shards": args.num_shards, "first": lo,
                 "records": hi - lo, "input_records": total, "input_digest": digest, "format": args.format}
    seqs = check_sequences(seqs, names, "input", strict=args.strict)
    constraints = _constraints(args, names, seqs, inline)
    shapes = _shapes(args, names, seqs)
    if args.bpp:
        check_output_folder(args.bpp)
    per_file = args.format in ("bpseq", "ct") and args.out and not args.out.endswith((".bpseq", ".ct"))
    if args.out and not per_file:
        check_output_file(args.out)
    elif per_file:
        check_output_folder(args.out)
    if args.plot:
        check_output_folder(args.plot)
    predictor = Predictor(args.s1, args.s2, device=args.device, decoder=args.decoder,
                          precision=args.precision, threads=args.threads,
                          allow_pseudoknots=args.allow_pseudoknots, model=args.model,
                          decoding=args.decoding, gamma=args.gamma, threshold=args.threshold,
                          probs=bool(args.bpp), shape_slope=args.shape_slope, shape_intercept=args.shape_intercept)
    journal = Journal(args.out, _settings(args)) if args.out and not per_file else None
    done = journal.load(names, seqs, constraints, shapes) if journal else {}
    todo = [k for k in range(len(seqs)) if k not in done]
    if done and not args.quiet:
        print(f"rnastruct predict: {len(done)} of {len(seqs)} records already done by an interrupted run "
              f"({journal.path.name}); predicting the other {len(todo)}", file=sys.stderr)
    chunks: dict[int, str | dict] = dict(done)
    # every run shows where it is (unless --quiet); per-record files (drawings, probabilities)
    # are written as records finish, inside the bar; finished records go to the journal, so an
    # interrupted run (exit 130, no --out file) loses nothing a rerun cannot skip
    # the bar counts work, not records: the workers take the longest sequences first (no long
    # tail), and a bar of records then promised 21 h for a 9-minute run
    cost = [work(len(s)) for s in seqs]
    finished = len(done)
    with tqdm(total=sum(cost), initial=sum(cost[k] for k in done), disable=args.quiet, dynamic_ncols=True,
              desc=f"predict {finished}/{len(seqs)} records", mininterval=0.5,
              bar_format="{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]") as bar:
        sub = predictor.predict([names[k] for k in todo], [seqs[k] for k in todo],
                                constraints=[constraints[k] for k in todo] if constraints else None,
                                shapes=[shapes[k] for k in todo] if shapes else None)
        for t, r in sub:
            k = todo[t]
            chunks[k] = json_record(r) if args.format == "json" else format_result(r, args.format)
            if per_file:
                write_text_atomic(Path(args.out) / f"{file_stem(r.name)}.{args.format}", chunks[k])
            if args.plot:
                draw(r, Path(args.plot) / file_stem(r.name))
            if args.bpp:
                stem = Path(args.bpp) / file_stem(r.name)
                write_text_atomic(with_suffix(stem, ".bpp.csv"), "i,j,p\n" + "".join(
                    f"{int(i) + 1},{int(j) + 1},{p:.6g}\n" for i, j, p in r.bpp))
                dot_plot(r, stem)
            if journal:
                journal.add(k, chunks[k])
            finished += 1
            bar.set_description_str(f"predict {finished}/{len(seqs)} records", refresh=False)
            bar.update(cost[k])
    ordered = [chunks[k] for k in range(len(seqs))]
    text = json.dumps(ordered, indent=1) + "\n" if args.format == "json" else "".join(ordered)
    if args.out and not per_file:
        write_text_atomic(args.out, text)
        if shard is not None:
            write_text_atomic(args.out + SHARD_SUFFIX, json.dumps(shard, indent=1) + "\n")
        journal.remove()
    elif not args.out:
        sys.stdout.write(text)
    return 0


def work(length: int) -> float:
    """A record's share of a run's time, for the progress bar: S1 grows as L^2 and ViennaRNA's
    partition function as L^3; L^2.5 follows both over 20-2,000 nt well enough for an ETA."""
    return float(length) ** 2.5


def _settings(args) -> dict:
    """What decides a record's output (a resumed run must have the same)."""
    keys = ("format", "model", "s1", "s2", "decoder", "decoding", "gamma", "threshold", "allow_pseudoknots",
            "precision", "bpp", "shape", "shape_slope", "shape_intercept", "constraint", "constraint_file",
            "strict", "device")
    return {k: str(getattr(args, k, None)) for k in keys}


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


