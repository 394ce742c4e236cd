"""S1 in a process of its own: ``rnastruct predict``'s layout for work that one process does.

PyTorch holds about 200 MB before it computes anything, and ViennaRNA's matrices for one long
sequence take hundreds more: in one process the peak carried both (3.5x RNAfold's memory at
3,000 nt, 1.7x apart). So the process that folds never imports PyTorch. ``Apart`` forks a child
(before anything has imported PyTorch here), which loads the predictor and runs S1 over the
sequences, handing over each one's output through a temporary ``.npy`` file as it comes. This
process decodes it with the fold decoder, which needs ViennaRNA and numpy only. A sequence of
``LONG`` nt or more is folded only once the child has exited, so that its matrices never share
the machine's memory with PyTorch; shorter ones fold while S1 runs on, in parallel with it.
Decoders that read S1's box proposals need the networks to decode, and decode in the child.

A job large enough for the worker pool (``runs_parallel``) keeps the in-process layout: its
workers fork from a process that loaded PyTorch once, and its sequences are short.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import sys
import tempfile
from typing import Iterator

import numpy as np

from ..hardware import runs_parallel
from .decoders import LOGITS, NO_S1

#: Sequences at least this long are folded after S1's process has exited: from here on the
#: dynamic programme's matrices (about 25 MB at 1,000 nt, 200 MB at 3,000) outgrow PyTorch's
#: share of the peak.
LONG = 1000
#: S1's tiles (pixels a side) in a job holding such a sequence: S1's own share of the peak is
#: about 130 MB at 256 and 300 MB at the default 512, for a third more S1 time at 3,000 nt
LONG_TILE = 256


def runs_apart(lengths: list[int], threads: int, device: str) -> bool:
    """Does ``rnastruct predict`` run this job with S1 in a child process (``Apart``)?
    Every job the worker pool does not take, where processes fork."""
    return sys.platform.startswith("linux") and not runs_parallel(lengths, threads, device)


class Apart:
    """S1's process: forked at once, loading the predictor of ``load_predictor(**options)`` (a bad
    option is raised here, before any work); then ``predict`` runs one job through it. The
    process ends with the job, or with ``close``."""

    def __init__(self, options: dict):
        ctx = mp.get_context("fork")
        self._results, send = ctx.Pipe(duplex=False)
        jobs, self._jobs = ctx.Pipe(duplex=False)
        self._folder = None  # made with the job: nothing to clean up until then
        sys.stdout.flush()  # the child would write out what is buffered here a second time
        sys.stderr.flush()
        self._child = ctx.Process(target=_run_s1, args=(options, jobs, send), daemon=True)
        self._child.start()
        send.close()  # these ends are the child's: its exit then ends the pipes
        jobs.close()
        try:
            self.decoder = self._receive()[1]  # None when the child decodes
        except BaseException:
            self.close()
            raise

    def predict(self, names: list[str], seqs: list[str], constraints: list | None = None,
                shapes: list | None = None) -> Iterator[tuple[int, object]]:
        """``Predictor.predict`` -> ``(index, Result)`` for every sequence, in an order of the
        child's choosing. Errors in the child (a record the decoder refuses) are raised here, as
        they were raised there; a child that dies without a word (killed, out of memory) is a
        ``RuntimeError``."""
        constraints = constraints or [None] * len(seqs)
        shapes = shapes or [None] * len(seqs)
        try:
            self._folder = tempfile.mkdtemp(prefix="rnastruct-s1-")
            self._jobs.send((self._folder, names, seqs, constraints, shapes))
            deferred = []
            while True:
                kind, *rest = self._receive()
                if kind == "done":
                    break
                if kind == "result":  # decoded there
                    yield rest[0], rest[1]
                elif len(seqs[rest[0]]) >= LONG:
                    deferred.append(rest)
                else:
                    yield rest[0], self._decode(*rest, names, seqs, constraints, shapes)
            self._child.join()  # its memory is the system's again before the long sequences fold
            for k, path in deferred:
                yield k, self._decode(k, path, names, seqs, constraints, shapes)
        finally:
            self.close()

    def close(self) -> None:
        if self._child.is_alive():
            self._child.terminate()
        self._child.join()
        self._results.close()
        self._jobs.close()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)

    def _receive(self) -> tuple:
        try:
            message = self._results.recv()
        except EOFError:
            self._child.join()
            raise RuntimeError(f"S1's process ended without finishing its work (exit code {self._child.exitcode}: "
                               "killed, or out of memory?)") from None
        if message[0] == "error":
            raise message[1]
        return message

    def _decode(self, k: int, path: str | None, names, seqs, constraints, shapes):
        if path is None:
            return self.decoder.decode(names[k], seqs[k], None, constraints[k], shapes[k])
        try:  # no reference kept here: the decoder frees the map before its dynamic programme
            return self.decoder.decode(names[k], seqs[k], np.load(path), constraints[k], shapes[k])
        finally:
            os.remove(path)  # a 3,000-nt map is 36 MB of disk


def _run_s1(options: dict, jobs, send) -> None:
    """The child: the predictor, ``("ready", decoder or None)``; then the job from ``jobs`` (a
    folder, and the sequences) and S1's output for each sequence as a file in the folder, named on
    ``send`` (``("s1", k, path)``; path None
    when the decoder reads none), or, for a decoder that reads proposals, the results
    (``("result", k, Result)``); last ``("done",)``. Or ``("error", exception)``."""
    try:
        from .core import load_predictor

        predictor = load_predictor(**options)
        decoder = predictor.decoder
        here = decoder.s1_output not in (NO_S1, LOGITS)
        send.send(("ready", None if here else decoder))
        folder, names, seqs, constraints, shapes = jobs.recv()
        if predictor.s1 is not None and max(map(len, seqs), default=0) >= LONG:
            predictor.s1.tile = min(predictor.s1.tile, LONG_TILE)
        if here:
            for k, r in predictor.predict(names, seqs, constraints=constraints, shapes=shapes):
                send.send(("result", k, r))
        else:
            predictor.set_threads()
            for k, out in predictor.s1_outputs(seqs):
                path = None
                if out is not None:
                    path = os.path.join(folder, f"{k}.npy")
                    np.save(path, out)
                send.send(("s1", k, path))
        send.send(("done",))
    except BaseException as e:  # raised again in the parent
        try:
            send.send(("error", e))
        except Exception:  # an exception that does not pickle: its text
            send.send(("error", RuntimeError(f"{type(e).__name__}: {e}")))
    finally:
        send.close()
