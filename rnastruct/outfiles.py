"""Every file a command writes, by one policy (``Outputs``), so that no run loses a byte of
anything that was there before it, and a failed run leaves nothing behind.

What an output path is decides how it is written:

- ``-``: standard output;
- a character or block device, or a FIFO: opened and written to directly (streamed), and left
  as it is (a temporary file renamed over it would replace a device node or a pipe with a
  plain file, and the pipe's reader would get nothing);
- a symbolic link: its target is written, by these same rules; the link stays;
- a regular file: written to a temporary file beside it, flushed to disk (fsync) and renamed
  into place, so it is whole or absent. One that exists already is refused unless the command
  has ``--overwrite`` (``--force``); a file the run reads (its input FASTA, a constraint or
  SHAPE file) is refused always;
- a folder of per-record files (``--bpp``, ``--plot``, bpseq/ct folders): made if missing; each
  file in it follows the rules of a regular file.

Any ``OSError`` while writing (a full disk, a permission) becomes an ``OutputError`` naming the
path, and ``Outputs.discard`` removes every file and folder the run created.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
from pathlib import Path
from typing import NamedTuple

from .errors import InputError
from .seqio import atomic_path

STDOUT = "-"


class OutputError(InputError):
    """An output that cannot be (or must not be) written; the message names the path."""


class Target(NamedTuple):
    """Where one output goes: ``kind`` is "stdout", "stream" (a device or a FIFO, written in
    place) or "file" (a regular file, written by rename); ``path`` is what to open or rename
    onto (a symbolic link's target), ``given`` what the user named."""

    kind: str
    path: Path | None
    given: str


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _streams(path: Path) -> bool:
    """Is ``path`` (following links) a device or a FIFO, to be written in place?"""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode)


class Outputs:
    """The outputs of one run: checked before any work, written by the module's rules,
    removed again when the run fails.

    ``overwrite``: existing regular files may be replaced (``--overwrite``/``--force``).
    ``inputs``: files the run reads; never written, whatever ``overwrite`` says."""

    def __init__(self, overwrite: bool = False, inputs=()):
        self.overwrite = overwrite
        self._inputs = {i for i in (_identity(Path(p)) for p in inputs if p not in (None, STDOUT)) if i}
        self._created: list[Path] = []  # files and folders this run made (absent before it), in order

    # -----------------------------------------------------------------------------------------
    # checks, before any work

    def file(self, given: str | os.PathLike, option: str = "--out", replaceable: bool = False) -> Target:
        """Check one output file named by ``option`` -> its ``Target``. Refused (one line naming
        the option and path): a folder, a missing or unwritable folder, an input of the run, an
        existing regular file without ``--overwrite`` (``replaceable``: this run's own earlier
        output, such as an interrupted run's, may be replaced)."""
        given = str(given)
        if given == STDOUT:
            return Target("stdout", None, given)
        p = Path(given)
        real = p.resolve() if p.is_symlink() else p
        if given.endswith(("/", os.sep)) or real.is_dir():
            raise OutputError(f"{option} {given}: is a folder, not a file")
        if _identity(real) is not None and _identity(real) in self._inputs:
            raise OutputError(f"{option} {given}: is an input of this run; name another file")
        if _streams(real):
            if not os.access(real, os.W_OK):
                raise OutputError(f"{option} {given}: not writable")
            return Target("stream", real, given)
        folder = real.parent
        if not folder.is_dir():
            raise OutputError(f"{option} {given}: output folder {folder} does not exist")
        if not os.access(folder, os.W_OK):
            raise OutputError(f"{option} {given}: output folder {folder} is not writable")
        if real.exists():
            if not (self.overwrite or replaceable):
                raise OutputError(f"{option} {given}: already exists (pass --overwrite to replace it)")
        else:
            self._created.append(real)
        return Target("file", real, given)

    def folder(self, given: str | os.PathLike, option: str) -> Path:
        """Make (or check) a folder of per-record files named by ``option`` -> its path. Every
        folder made (parents too) is the run's, removed if it fails."""
        p = Path(given)
        if p.exists() and not p.is_dir():
            raise OutputError(f"{option} {p}: exists and is not a folder")
        missing = [q for q in (p, *p.parents) if not q.exists()]
        for q in reversed(missing):
            try:
                q.mkdir()
            except FileExistsError:
                continue
            except OSError as e:
                raise OutputError(f"{option} {p}: cannot create the folder {q} ({e.strerror})") from None
            self._created.append(q)
        if not os.access(p, os.W_OK):
            raise OutputError(f"{option} {p}: folder is not writable")
        return p

    def record_files(self, paths, option: str, replaceable: bool = False) -> None:
        """Check the per-record files a run will write into a folder (``folder`` made it):
        existing ones are refused unless ``--overwrite`` (or ``replaceable``), inputs always."""
        for path in paths:
            path = Path(path)
            if _identity(path) is not None and _identity(path) in self._inputs:
                raise OutputError(f"{option}: {path} is an input of this run; name another folder")
            if path.is_dir() or path.is_symlink() or _streams(path):
                raise OutputError(f"{option}: {path} exists and is not a regular file")
            if path.exists():
                if not (self.overwrite or replaceable):
                    raise OutputError(f"{option}: {path} already exists (pass --overwrite to replace it)")
            else:
                self._created.append(path)

    def own(self, path: str | os.PathLike) -> None:
        """A file the run makes beside its outputs (a journal, a shard manifest): removed with
        them if the run fails."""
        path = Path(path)
        if path not in self._created:
            self._created.append(path)

    # -----------------------------------------------------------------------------------------
    # writing

    def write_text(self, target: Target, text: str) -> None:
        self.write_bytes(target, text.encode("utf-8"))

    def write_bytes(self, target: Target, data: bytes) -> None:
        if target.kind == "stdout":
            sys.stdout.flush()
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
            return
        if target.kind == "stream":
            try:
                with open(target.path, "wb") as fh:  # a FIFO: blocks until a reader comes
                    fh.write(data)
            except OSError as e:
                raise OutputError(f"{target.given}: cannot write ({e.strerror})") from None
            return
        write_file(target.path, data)

    # -----------------------------------------------------------------------------------------
    # failure

    def discard(self) -> None:
        """Remove every file and folder this run created (a failed run leaves nothing)."""
        for p in reversed(self._created):
            try:
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)
            except OSError:
                pass
        self._created = []

    def __enter__(self) -> "Outputs":
        return self

    def __exit__(self, kind, value, tb) -> None:
        if kind is not None and not issubclass(kind, KeyboardInterrupt):
            self.discard()


def write_file(path: str | os.PathLike, data: bytes, name: str | None = None) -> None:
    """``data`` into the regular file ``path``: a temporary file beside it, fsynced, renamed into
    place (``seqio.atomic_path``); an ``OSError`` is one line naming the file."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
