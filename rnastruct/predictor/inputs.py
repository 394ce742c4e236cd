"""What ``rnastruct predict`` reads: sequences (command line, FASTA files, standard input),
RNAfold hard constraints (inline or from a file) and SHAPE reactivities, each checked with
errors that name the record."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import InputError


def read_inputs(inputs: list[str], constraints: bool = False) -> tuple[list[str], list[str], list]:
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
            if any(c in item for c in "/.\\") or Path(item).suffix:  # meant as a file name
                raise InputError(f"{item}: no such file (neither a file nor a sequence of A, C, G, U/T, N)")
            raise InputError(f"input {k + 1} ({item[:30]!r}): neither a file nor a sequence of A, C, G, U/T, N")
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise InputError(f"record name {dup!r} appears more than once")
    return names, seqs, cons


def read_constraints(names: list[str], seqs: list[str], inline: list, from_input: bool = False,
                     path: str | None = None) -> list | None:
    """Each record's constraint (or None), checked: problems name the record and position.
    ``from_input``: the lines after the FASTA sequences (``inline``); ``path``: a FASTA-style
    constraint file; neither: None."""
    from ..constraints import check_constraint

    if from_input and path:
        raise InputError("--constraint reads the constraints from the input FASTA, --constraint-file from a "
                         "file: give one")
    if not (from_input or path):
        return None
    cons = inline if from_input else _read_constraint_file(path, names)
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


def read_shapes(path: str | None, names: list[str], seqs: list[str], all_names: list[str] | None = None) -> list | None:
    """Each record's SHAPE reactivities (or None) from a file (one record) or a folder of
    ``NAME.shape`` files, which must hold no file that matches no record of the input
    (``all_names``: every shard's; default ``names``)."""
    from ..seqio import read_shape
    from .outputs import file_stem

    if path is None:
        return None
    p = Path(path)
    if not p.exists():
        raise InputError(f"--shape {p}: no such file or folder")
    if p.is_dir():
        wanted = {f"{file_stem(n)}.shape" for n in (all_names or names)}
        stray = sorted(f.name for f in p.glob("*.shape") if f.name not in wanted)
        if stray:  # a misspelt name would otherwise fold that record without its data, silently
            raise InputError(f"--shape {p}: {stray[0]} matches no input record"
                             + (f" (nor do {len(stray) - 1} more)" if len(stray) > 1 else "")
                             + f"; the files are named after the records (e.g. {sorted(wanted)[0]})")
        return [read_shape(p / f"{file_stem(n)}.shape", s, n) if (p / f"{file_stem(n)}.shape").is_file() else None
                for n, s in zip(names, seqs)]
    if len(seqs) != 1:
        raise InputError(f"--shape {p}: one file is for one record ({len(seqs)} given); give a folder of "
                         "NAME.shape files")
    return [read_shape(p, seqs[0], names[0])]
