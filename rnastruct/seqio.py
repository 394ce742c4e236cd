"""Every file rnastruct reads or writes: FASTA (with RNAfold-style structure lines), CT, BPSEQ,
GTF, Parquet datasets with their JSON manifests.

Errors are ``InputError`` (a ``ValueError``) that name the file, the line and the record. Writes
go to a temporary file in the target folder that is renamed into place, so a failed run never
leaves a half-written output.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import IO, Iterator, NamedTuple

import numpy as np

from .errors import InputError
from .structure import normalize_sequence, parse_dot_bracket, to_dot_bracket, validate_pairs


class Record(NamedTuple):
    """One sequence record. ``pairs`` is a ``[P, 2]`` 0-based pair list, or None."""

    name: str
    seq: str
    pairs: np.ndarray | None = None
    description: str = ""
    constraint: str | None = None  # an RNAfold hard-constraint line (read_fasta(constraints=True))


# ---------------------------------------------------------------------------------------------
# atomic writes


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` only if the block succeeds.

    A missing or unwritable folder raises ``InputError`` naming it before any work is done; an
    ``OSError`` in the block (a full disk) one naming ``path``. The content is fsynced before
    the rename.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"{path}: output folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise InputError(f"{path}: output folder {folder} is not writable")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix + ".tmp", dir=folder)
    os.close(fd)
    tmp = Path(tmp)
    # mkstemp makes the file private (0600); outputs get the usual permissions (umask)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield tmp
        # on disk before the rename, so that a crash leaves the old file or the new one, whole
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as e:  # a full disk, a permission: one line naming the file
        raise InputError(f"{path}: cannot write ({e.strerror or e})") from None
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


# ---------------------------------------------------------------------------------------------
# FASTA with optional dot-bracket lines (as RNAfold writes them)

_ENERGY_SUFFIX = re.compile(r"\s+[(\[]\s*[-+]?\d+(\.\d*)?\s*[)\]]\s*$")
_STRUCTURE_START = frozenset(".()[]{}<>")
_CONSTRAINT_START = frozenset(".()x|<>")


def _open_text(path: str | os.PathLike | IO[str]) -> tuple[IO[str], str]:
    if hasattr(path, "read"):
        return path, getattr(path, "name", "<stdin>")  # type: ignore[return-value]
    p = Path(path)
    if str(p) == "-":
        return sys.stdin, "<stdin>"
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if p.is_dir():
        raise InputError(f"{p}: is a folder, not a file")
    with open(p, "rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":  # gzip, as FASTA often comes (.fa.gz)
        import gzip

        return gzip.open(p, "rt", encoding="utf-8", errors="replace"), str(p)
    for sig, kind in ((b"BZ", "bzip2"), (b"\xfd7", "xz"), (b"PK", "zip"), (b"(\xb5", "zstd")):
        if magic == sig:
            raise InputError(f"{p}: {kind}-compressed file: decompress it first (gzip files are read as they are)")
    return open(p, encoding="utf-8", errors="replace"), str(p)


def read_fasta(
    path: str | os.PathLike | IO[str], ambiguous: str = "error", structures: bool = True,
    constraints: bool = False,
) -> list[Record]:
    """Read a FASTA file; sequences are normalised (upper case, T -> U, ACGUN only).

    A line after the sequence that starts with a structure character is a dot-bracket
    structure, as RNAfold writes it (a trailing energy such as ``(-12.30)`` is ignored); it must
    be as long as the sequence. ``structures=False`` makes such lines an error.
    ``constraints=True``: that line is an RNAfold hard constraint (``. x | ( ) < >``), kept as
    text in ``Record.constraint`` (``RNAfold -C`` reads it there too).
    Errors (``InputError``) name the file, line and record: text before the first header,
    empty records, duplicate ids, invalid bases, bad or mis-sized structures, no records.
    """
    fh, fname = _open_text(path)
    records: list[Record] = []
    seen: dict[str, int] = {}
    with contextlib.ExitStack() as stack:
        if fh is not sys.stdin and not hasattr(path, "read"):
            stack.enter_context(fh)
        header: tuple[str, str, int] | None = None
        seq_lines: list[tuple[int, str]] = []
        db_lines: list[tuple[int, str]] = []

        def flush() -> None:
            name, desc, hline = header  # type: ignore[misc]
            records.append(_make_record(fname, name, desc, hline, seq_lines, db_lines, ambiguous, constraints))

        for lineno, raw in enumerate(fh, start=1):
            line = raw.strip()
            if not line or line.startswith(";"):
                continue
            if line.startswith(">"):
                if header is not None:
                    flush()
                parts = line[1:].strip().split(maxsplit=1)
                if not parts:
                    raise InputError(f"{fname}, line {lineno}: header without a name")
                name = parts[0]
                if name in seen:
                    raise InputError(
                        f"{fname}, line {lineno}: duplicate record id {name!r} "
                        f"(first at line {seen[name]})"
                    )
                seen[name] = lineno
                header = (name, parts[1] if len(parts) > 1 else "", lineno)
                seq_lines, db_lines = [], []
            elif header is None:
                raise InputError(f"{fname}, line {lineno}: sequence before the first '>' header")
            elif line[0] in (_CONSTRAINT_START if constraints else _STRUCTURE_START):
                if not structures:
                    raise InputError(
                        f"{fname}, line {lineno}, record {header[0]}: unexpected structure line"
                    )
                db_lines.append((lineno, _ENERGY_SUFFIX.sub("", line)))
            elif db_lines:
                raise InputError(
                    f"{fname}, line {lineno}, record {header[0]}: sequence after the structure"
                )
            else:
                seq_lines.append((lineno, line))
        if header is not None:
            flush()
    if not records:
        raise InputError(f"{fname}: no FASTA records found")
    return records


def _make_record(fname, name, desc, hline, seq_lines, db_lines, ambiguous, constraints=False) -> Record:
    if not seq_lines:
        raise InputError(f"{fname}, line {hline}: record {name} is empty")
    seq_raw = "".join(s for _, s in seq_lines)
    try:
        seq = normalize_sequence(seq_raw, name, ambiguous)
    except ValueError as e:
        pos = int(re.search(r"position (\d+)", str(e)).group(1)) - 1  # type: ignore[union-attr]
        lineno, offset = _locate(seq_lines, pos)
        raise InputError(
            f"{fname}, line {lineno}, record {name}: invalid base {seq_raw[pos]!r} "
            f"at position {pos + 1} (column {offset + 1})"
        ) from None
    pairs = None
    if db_lines and constraints:
        db = "".join(s for _, s in db_lines)
        if len(db) != len(seq):
            raise InputError(f"{fname}, line {db_lines[0][0]}, record {name}: constraint length {len(db)} "
                             f"differs from sequence length {len(seq)}")
        return Record(name, seq, None, desc, db)
    if db_lines:
        db = "".join(s for _, s in db_lines)
        if len(db) != len(seq):
            raise InputError(
                f"{fname}, line {db_lines[0][0]}, record {name}: structure length {len(db)} "
                f"differs from sequence length {len(seq)}"
            )
        try:
            pairs = parse_dot_bracket(db, name)
        except ValueError as e:
            raise InputError(f"{fname}, line {db_lines[0][0]}: {e}") from None
    return Record(name, seq, pairs, desc)


def _locate(lines: list[tuple[int, str]], pos: int) -> tuple[int, int]:
    for lineno, text in lines:
        if pos < len(text):
            return lineno, pos
        pos -= len(text)
    return lines[-1][0], len(lines[-1][1])


def format_fasta(records, width: int = 0) -> str:
    """Records -> FASTA text; a record with pairs gets an RNAfold-style dot-bracket line."""
    out = io.StringIO()
    for r in records:
        out.write(f">{r.name}{(' ' + r.description) if r.description else ''}\n")
        seq = r.seq
        if width:
            for k in range(0, len(seq), width):
                out.write(seq[k : k + width] + "\n")
        else:
            out.write(seq + "\n")
        if r.pairs is not None:
            out.write(to_dot_bracket(r.pairs, len(seq)) + "\n")
    return out.getvalue()


def write_fasta(records, path: str | os.PathLike) -> None:
    write_text_atomic(path, format_fasta(records))


# ---------------------------------------------------------------------------------------------
# CT and BPSEQ (1-based on disk, 0-based in memory)


def format_bpseq(record: Record) -> str:
    table = np.zeros(len(record.seq), dtype=np.int64)
    pairs = record.pairs if record.pairs is not None else np.zeros((0, 2), dtype=np.int64)
    table[pairs[:, 0]] = pairs[:, 1] + 1
    table[pairs[:, 1]] = pairs[:, 0] + 1
    lines = [f"# {record.name}"] + [f"{k + 1} {b} {table[k]}" for k, b in enumerate(record.seq)]
    return "\n".join(lines) + "\n"


def format_ct(record: Record, energy: float | None = None) -> str:
    n = len(record.seq)
    table = np.zeros(n, dtype=np.int64)
    pairs = record.pairs if record.pairs is not None else np.zeros((0, 2), dtype=np.int64)
    table[pairs[:, 0]] = pairs[:, 1] + 1
    table[pairs[:, 1]] = pairs[:, 0] + 1
    head = f"{n}\t" + (f"ENERGY = {energy:.2f}\t" if energy is not None else "") + record.name
    lines = [head] + [
        f"{k + 1}\t{b}\t{k}\t{k + 2 if k + 1 < n else 0}\t{table[k]}\t{k + 1}"
        for k, b in enumerate(record.seq)
    ]
    return "\n".join(lines) + "\n"


def _is_int(text: str) -> bool:
    """ASCII digits only: str.isdigit() also accepts '²' and other digits int() rejects."""
    return text.isascii() and text.isdigit()


def read_bpseq(path: str | os.PathLike | IO[str], name: str | None = None) -> Record:
    """Read one BPSEQ record (``index base partner`` lines, 1-based, 0 = unpaired)."""
    fh, fname = _open_text(path)
    rows: list[tuple[int, str, int, int]] = []
    with contextlib.closing(fh) if not hasattr(path, "read") else contextlib.nullcontext():
        for lineno, raw in enumerate(fh, start=1):
            line = raw.strip()
            if not line or line.startswith("#") or line.lower().startswith(("filename", "organism", "accession", "citation")):
                if name is None and line.startswith("#") and not rows:
                    name = line[1:].strip() or None
                continue
            parts = line.split()
            if len(parts) != 3 or not _is_int(parts[0]) or not _is_int(parts[2].lstrip("-")):
                raise InputError(f"{fname}, line {lineno}: expected 'index base partner', got {line!r}")
            rows.append((int(parts[0]), parts[1], int(parts[2]), lineno))
    return _record_from_table(rows, fname, name or Path(fname).stem)


def read_ct(path: str | os.PathLike | IO[str]) -> list[Record]:
    """Read a CT file (one or more records; 6 columns, 1-based, partner 0 = unpaired)."""
    fh, fname = _open_text(path)
    records: list[Record] = []
    with contextlib.closing(fh) if not hasattr(path, "read") else contextlib.nullcontext():
        lines = [(k, l.strip()) for k, l in enumerate(fh, start=1)]
    lines = [(k, l) for k, l in lines if l and not l.startswith("#")]
    pos = 0
    while pos < len(lines):
        lineno, head = lines[pos]
        parts = head.split()
        if not parts or not _is_int(parts[0]):
            raise InputError(f"{fname}, line {lineno}: expected a CT header 'N name', got {head!r}")
        n = int(parts[0])
        title = re.sub(r"ENERGY\s*=\s*[-+\d.]+\s*", "", " ".join(parts[1:])).strip()
        name = title.split()[0] if title else f"{Path(fname).stem}_{len(records) + 1}"
        body = lines[pos + 1 : pos + 1 + n]
        if len(body) < n:
            raise InputError(f"{fname}, line {lineno}: record {name} declares {n} bases, has {len(body)}")
        rows = []
        for k, line in body:
            cols = line.split()
            if len(cols) < 6 or not all(_is_int(c.lstrip("-")) for c in (cols[0], cols[4])):
                raise InputError(f"{fname}, line {k}, record {name}: malformed CT line {line!r}")
            rows.append((int(cols[0]), cols[1], int(cols[4]), k))
        records.append(_record_from_table(rows, fname, name))
        pos += 1 + n
    if not records:
        raise InputError(f"{fname}: no CT records found")
    return records


def _record_from_table(rows, fname: str, name: str) -> Record:
    if not rows:
        raise InputError(f"{fname}: record {name} has no bases")
    n = len(rows)
    for expect, (idx, _, _, lineno) in enumerate(rows, start=1):
        if idx != expect:
            raise InputError(f"{fname}, line {lineno}, record {name}: index {idx}, expected {expect}")
    seq_raw = "".join(b for _, b, _, _ in rows)
    try:
        seq = normalize_sequence(seq_raw, name)
    except ValueError as e:
        raise InputError(f"{fname}: {e}") from None
    pairs = []
    partner = {idx: p for idx, _, p, _ in rows}
    for idx, _, p, lineno in rows:
        if p < 0 or p > n or p == idx:
            raise InputError(f"{fname}, line {lineno}, record {name}: invalid partner {p} for base {idx}")
        if p and partner[p] != idx:
            raise InputError(
                f"{fname}, line {lineno}, record {name}: base {idx} pairs with {p}, "
                f"but base {p} pairs with {partner[p]}"
            )
        if p > idx:
            pairs.append((idx - 1, p - 1))
    arr = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    validate_pairs(arr, n, name)
    return Record(name, seq, arr)


# ---------------------------------------------------------------------------------------------
# GTF


class Transcript(NamedTuple):
    """An annotated transcript: exons as 0-based half-open genomic ``[start, end)`` intervals
    in transcription order (descending on the minus strand)."""

    transcript_id: str
    gene_id: str
    chrom: str
    strand: str
    exons: np.ndarray  # [E, 2]

    @property
    def start(self) -> int:
        return int(self.exons.min())

    @property
    def end(self) -> int:
        return int(self.exons.max())

    @property
    def length(self) -> int:
        return int((self.exons[:, 1] - self.exons[:, 0]).sum())


_ATTR = re.compile(r'(\w+)\s+"([^"]*)"')


def read_gtf(path: str | os.PathLike) -> list[Transcript]:
    """Exon records of a GTF file grouped into transcripts (sorted by gene, transcript id).

    Only ``exon`` lines are used; each needs ``gene_id`` and ``transcript_id`` attributes.
    Coordinates in the file are 1-based inclusive; in memory 0-based half-open.
    """
    fh, fname = _open_text(path)
    exons: dict[str, list] = {}
    with fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip() or line.startswith("#"):
                continue
            f = line.rstrip("\n").split("\t")
            if len(f) < 9:
                raise InputError(f"{fname}, line {lineno}: expected 9 tab-separated columns, got {len(f)}")
            if f[2] != "exon":
                continue
            attrs = dict(_ATTR.findall(f[8]))
            if "transcript_id" not in attrs or "gene_id" not in attrs:
                raise InputError(f"{fname}, line {lineno}: exon without gene_id/transcript_id")
            if not (_is_int(f[3]) and _is_int(f[4])) or int(f[3]) > int(f[4]):
                raise InputError(f"{fname}, line {lineno}: bad coordinates {f[3]}-{f[4]}")
            if f[6] not in "+-" or len(f[6]) != 1:
                raise InputError(f"{fname}, line {lineno}: strand must be + or -, got {f[6]!r}")
            tid = attrs["transcript_id"]
            entry = exons.setdefault(tid, [attrs["gene_id"], f[0], f[6], [], lineno])
            if (entry[0], entry[1], entry[2]) != (attrs["gene_id"], f[0], f[6]):
                raise InputError(
                    f"{fname}, line {lineno}: transcript {tid} changes gene, chromosome or strand"
                )
            entry[3].append((int(f[3]) - 1, int(f[4])))
    if not exons:
        raise InputError(f"{fname}: no exon lines with gene_id and transcript_id")
    out = []
    for tid, (gid, chrom, strand, ex, _) in exons.items():
        arr = np.asarray(sorted(ex), dtype=np.int64)
        if strand == "-":
            arr = arr[::-1].copy()
        out.append(Transcript(tid, gid, chrom, strand, arr))
    out.sort(key=lambda t: (t.gene_id, t.transcript_id))
    return out


# ---------------------------------------------------------------------------------------------
# indexed FASTA (pyfaidx) for genomes and transcriptomes


def open_indexed_fasta(path: str | os.PathLike):
    """Open a FASTA with pyfaidx, keeping case (soft-masking) and failing clearly.

    An existing ``.fai`` beside the file is used; otherwise the index is built in
    ``$XDG_CACHE_HOME/rnastruct`` (default ``~/.cache``), keyed by the file's path, so that
    reference folders (often read-only, or shared) are never written to.
    """
    import pyfaidx

    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file")
    if p.is_dir():
        raise InputError(f"{p}: is a folder, not a FASTA file")
    index = Path(str(p) + ".fai")
    if not index.exists():
        cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "rnastruct"
        cache.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha1(str(p.resolve()).encode()).hexdigest()[:12]
        index = cache / f"{digest}_{p.name}.fai"
    try:
        fa = pyfaidx.Fasta(str(p), indexname=str(index), as_raw=True, sequence_always_upper=False)
    except pyfaidx.FastaIndexingError as e:
        raise InputError(f"{p}: cannot index FASTA: {e}") from None
    except ValueError as e:  # duplicate keys and the like
        raise InputError(f"{p}: {e}") from None
    for name in fa.keys():
        if len(fa[name]) == 0:
            raise InputError(f"{p}: record {name} is empty")
    return fa


# ---------------------------------------------------------------------------------------------
# datasets: Parquet + manifest.json

DATA_FILE = "segments.parquet"
MANIFEST_FILE = "manifest.json"


def write_dataset(table, out_dir: str | os.PathLike, manifest: dict, overwrite: bool = False) -> None:
    """Write ``table`` (a pyarrow Table) and ``manifest`` into ``out_dir`` atomically.

    Everything is written into a temporary folder beside ``out_dir`` that is renamed into place
    at the end, so ``out_dir`` either holds a complete dataset or does not exist. The manifest
    is also stored in the Parquet metadata, so the Parquet file alone describes itself.
    """
    import pyarrow.parquet as pq

    out = Path(out_dir)
    if out.exists() and not overwrite:
        raise InputError(f"{out}: already exists (pass --overwrite to replace it)")
    parent = out.parent
    if not parent.is_dir():
        raise InputError(f"{out}: parent folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise InputError(f"{out}: parent folder {parent} is not writable")
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=parent))
    _normal_permissions(tmp)
    try:
        meta = dict(table.schema.metadata or {})
        meta[b"rnastruct.manifest"] = json.dumps(manifest).encode()
        pq.write_table(table.replace_schema_metadata(meta), tmp / DATA_FILE, compression="zstd")
        (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            os.replace(out, old)
            os.replace(tmp, out)
            _rmtree(old)
        else:
            os.replace(tmp, out)
    finally:
        if tmp.exists():
            _rmtree(tmp)


def _normal_permissions(folder: Path) -> None:
    """mkdtemp makes folders 0700; a dataset others should read gets what mkdir would give it."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(folder, 0o777 & ~umask)


def _rmtree(p: Path) -> None:
    import shutil

    shutil.rmtree(p, ignore_errors=True)


def list_offsets(lengths):
    """Row lengths -> the int32 offsets of a pyarrow list column."""
    import pyarrow as pa

    return pa.array(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32))


def pairs_column(pairs: list[np.ndarray]):
    """Pair lists ``[P, 2]`` (one per row) -> a pyarrow ``list<fixed_size_list<int32, 2>>``
    column, the ``pairs`` column of every dataset."""
    import pyarrow as pa

    flat = np.concatenate([np.asarray(p, np.int32).reshape(-1, 2) for p in pairs]).ravel() \
        if pairs else np.zeros(0, np.int32)
    inner = pa.FixedSizeListArray.from_arrays(pa.array(flat, pa.int32()), 2)
    return pa.ListArray.from_arrays(list_offsets([len(p) for p in pairs]), inner)


def pairs_of_table(table) -> list[np.ndarray]:
    """The ``pairs`` column of a dataset table -> one int64 ``[P, 2]`` array per row."""
    flat = table.column("pairs").combine_chunks()
    offsets = flat.offsets.to_numpy()
    values = np.asarray(flat.values.flatten().to_numpy(zero_copy_only=False), dtype=np.int64).reshape(-1, 2)
    return [values[offsets[k]:offsets[k + 1]] for k in range(len(offsets) - 1)]


def check_out_dir(out: str | os.PathLike, overwrite: bool) -> None:
    """Fail before any work when ``out`` exists (unless ``overwrite``) or its parent folder
    cannot be made or written."""
    p = Path(out)
    if p.exists() and not overwrite:
        raise InputError(f"{p}: already exists (pass --overwrite to replace it)")
    parent = p.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"{p}: cannot create the folder {parent} ({e.strerror})") from None
    if not os.access(parent, os.W_OK):
        raise InputError(f"{p}: parent folder {parent} is not writable")


def read_table(path: str | os.PathLike):
    """Read a dataset folder (or its Parquet file) -> ``(pyarrow.Table, manifest dict)``."""
    import pyarrow.parquet as pq

    p = Path(path)
    f = p / DATA_FILE if p.is_dir() else p
    if not f.exists():
        raise InputError(f"{p}: no dataset here (expected {DATA_FILE})")
    try:
        table = pq.read_table(f)
    except Exception as e:  # pyarrow raises several types for corrupt files
        raise InputError(f"{f}: not a readable Parquet file ({e})") from None
    meta = table.schema.metadata or {}
    manifest = json.loads(meta[b"rnastruct.manifest"]) if b"rnastruct.manifest" in meta else {}
    return table, manifest


def read_dataset(path: str | os.PathLike):
    """Read a dataset folder (or its Parquet file) -> ``(pandas.DataFrame, manifest dict)``."""
    table, manifest = read_table(path)
    return table.to_pandas(), manifest


def read_shape(path: str | os.PathLike, seq: str, name: str) -> np.ndarray:
    """A SHAPE/DMS reactivity file as RNAfold reads it (one ``position [base] value`` line per
    nucleotide, 1-based; a position without a value, or a negative value such as -999, means no
    data) for record ``name`` -> ``[L]`` float64, NaN where there is no data. Errors name the
    file and line: unreadable numbers, positions outside the sequence or given twice, a base
    column that disagrees with the sequence."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such SHAPE file (record {name})")
    out = np.full(len(seq), np.nan)
    seen: set[int] = set()
    with open(p, encoding="utf-8", errors="replace") as fh:
        for lineno, raw in enumerate(fh, start=1):
            fields = raw.split()
            if not fields or fields[0].startswith("#"):
                continue
            where = f"{p}, line {lineno} (record {name})"
            if not _is_int(fields[0]):
                raise InputError(f"{where}: expected 'position [base] value', got {raw.strip()[:40]!r}")
            pos = int(fields[0])
            if not 1 <= pos <= len(seq):
                raise InputError(f"{where}: position {pos} is outside the sequence (1-{len(seq)})")
            if pos in seen:
                raise InputError(f"{where}: position {pos} given twice")
            seen.add(pos)
            rest = fields[1:]
            if rest and rest[0].isalpha() and rest[0].upper() not in ("NA", "NAN"):
                base = rest[0].upper().replace("T", "U")
                if base != seq[pos - 1] and seq[pos - 1] != "N":
                    raise InputError(f"{where}: base {rest[0]!r} at position {pos}, but the sequence has "
                                     f"{seq[pos - 1]!r}")
                rest = rest[1:]
            if len(rest) > 1:
                raise InputError(f"{where}: expected 'position [base] value', got {raw.strip()[:40]!r}")
            if not rest or rest[0].upper() in ("NA", "NAN"):
                continue
            try:
                value = float(rest[0])
            except ValueError:
                raise InputError(f"{where}: reactivity {rest[0]!r} is not a number") from None
            if not np.isfinite(value):
                raise InputError(f"{where}: reactivity {rest[0]!r} is not finite")
            if value >= 0:
                out[pos - 1] = value
    return out


def read_named_blocks(path: str | os.PathLike, what: str) -> list[tuple[str, str, int]]:
    """A FASTA-shaped file of ``what`` (constraints, structures): ``>name`` lines, each followed
    by lines joined into one text (the first word of each line) -> ``(name, text, header line)``
    in file order. Errors name the file and line: text before the first header, an empty or
    repeated name."""
    p = Path(path)
    out: list[tuple[str, str, int]] = []
    seen: set[str] = set()
    name, lines, at = None, [], 0
    with open(p, encoding="utf-8", errors="replace") as fh:
        for lineno, raw in enumerate(fh, start=1):
            line = raw.strip()
            if not line:
                continue
            if line.startswith(">"):
                if name is not None:
                    out.append((name, "".join(lines), at))
                name, lines, at = (line[1:].split() or [""])[0], [], lineno
                if not name or name in seen:
                    raise InputError(f"{p}, line {lineno}: {'duplicate' if name else 'empty'} record name")
                seen.add(name)
            elif name is None:
                raise InputError(f"{p}, line {lineno}: {what} before the first '>' header")
            else:
                lines.append(line.split()[0])
    if name is not None:
        out.append((name, "".join(lines), at))
    return out
