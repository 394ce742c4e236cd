"""S1 in a process of its own: ``rnastruct predict``'s layout for work that one process does.

PyTorch holds about 200 MB before it computes anything, and ViennaRNA's matrices for one long
sequence take hundreds more: in one process the peak carried both (3.5x RNAfold's memory at
3,000 nt; 1.8x apart). So the process that folds never imports PyTorch. ``Apart`` forks a child
(before anything has imported PyTorch here), which loads the predictor and runs S1 over the
sequences, handing over each one's output through a temporary ``.npy`` file as it comes. This
process decodes it with the fold decoder, which needs ViennaRNA and numpy only. Shorter
sequences' scores come through the pipe and fold while S1 runs on (the pipe holds S1 back when
folding is slower). A sequence of ``LONG`` nt or more is folded only once the child has exited, so
that its matrices never share the machine's memory with PyTorch: such sequences go in rounds of
at most ``ROUND_BYTES`` of scores, each round's maps waiting in a temporary folder while a child
of its own runs S1 over them. Decoders that read S1's box proposals need the networks to
decode, and decode in the child.

A job large enough for the worker pool (``runs_parallel``) keeps the in-process layout: its
workers fork from a process that loaded PyTorch once, and its sequences are short. ``Apart`` is
for a process that has not loaded PyTorch (the command line's); a library caller that has uses
``Predictor`` itself.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import signal
import sys
import tempfile
import traceback
import weakref
from typing import Iterator

import numpy as np

from ..errors import InputError
from ..hardware import runs_parallel
from .decoders import LOGITS, NO_S1

#: Sequences at least this long are folded after S1's process has exited: from here on the
#: dynamic programme's matrices (about 25 MB at 1,000 nt, 200 MB at 3,000) outgrow PyTorch's
#: share of the peak.
LONG = 1000
#: S1's tiles (pixels a side) for such sequences: S1's own share of the peak is about 130 MB at
#: 256 and 300 MB at the default 512, for a third more S1 time at 3,000 nt
LONG_TILE = 256
#: Long sequences go in rounds of at most this many bytes of scores (float32 maps; one sequence
#: a round when it alone is more), a child per round: the maps of a round wait on disk
ROUND_BYTES = 2**29


def runs_apart(lengths: list[int], threads: int, device: str) -> bool:
    """Does ``rnastruct predict`` run this job with S1 in a child process (``Apart``)?
    Every job the worker pool does not take, where processes fork."""
    return sys.platform.startswith("linux") and not runs_parallel(lengths, threads, device)


def rounds(lengths: list[int]) -> list[list[int]]:
    """The indices of a job's sequences, in the rounds ``Apart.predict`` runs them: the short
    ones first, then the long ones in rounds of at most ``ROUND_BYTES`` of maps."""
    short = [k for k, n in enumerate(lengths) if n < LONG]
    out, size = ([short] if short else []), ROUND_BYTES
    for k, n in enumerate(lengths):
        if n >= LONG:
            if size + 4 * n * n > ROUND_BYTES:
                out.append([])
                size = 0
            out[-1].append(k)
            size += 4 * n * n
    return out


class Apart:
    """S1's process: forked at once, loading the predictor of ``load_predictor(**options)`` (a
    bad option is raised here, before any work); ``predict`` then runs one job through it (and
    through one more child per round of long sequences). Every child is gone when ``predict``
    ends or stops, at ``close``, or when this object is collected."""

    def __init__(self, options: dict):
        self._options = options
        self._children: list = []  # what the finalizer stops: each (process, pipes, folder)
        self._finalizer = weakref.finalize(self, _stop, self._children)
        self.decoder = None
        try:
            self._next = self._start()
        except BaseException:
            self.close()
            raise

    def predict(self, names: list[str], seqs: list[str], constraints: list | None = None,
                shapes: list | None = None) -> Iterator[tuple[int, object]]:
        """``Predictor.predict`` -> ``(index, Result)`` for every sequence, in an order of the
        children's choosing. Errors in a child (a record the decoder refuses) are raised here, as
        they were raised there; a child that dies without a word (killed, out of memory) is a
        ``RuntimeError``."""
        constraints = constraints or [None] * len(seqs)
        shapes = shapes or [None] * len(seqs)
        try:
            jobs = rounds([len(s) for s in seqs]) if self.decoder is not None else [list(range(len(seqs)))]
            for r, ks in enumerate(jobs):
                child = self._next if r == 0 else self._start()
                self._next = None
                yield from self._round(child, ks, names, seqs, constraints, shapes)
        finally:
            self.close()

    def close(self) -> None:
        self._finalizer()

    def _start(self) -> dict:
        """Fork a child; wait for its predictor -> the child's handles."""
        ctx = mp.get_context("fork")
        results, send = ctx.Pipe(duplex=False)
        receive_jobs, jobs = ctx.Pipe(duplex=False)
        sys.stdout.flush()  # the child would write out what is buffered here a second time
        sys.stderr.flush()
        folder = tempfile.mkdtemp(prefix="rnastruct-s1-")
        process = ctx.Process(target=_run_s1, args=(self._options, receive_jobs, send, (results, jobs), folder),
                              daemon=True)
        child = {"process": process, "results": results, "jobs": jobs, "folder": folder}
        self._children.append(child)
        process.start()
        send.close()  # these ends are the child's: its exit then ends the pipes
        receive_jobs.close()
        self.decoder = _receive(child)[1]  # None when the child decodes
        return child

    def _round(self, child: dict, ks: list[int], names, seqs, constraints, shapes) -> Iterator[tuple[int, object]]:
        def decode(j: int, out) -> tuple[int, object]:
            k = ks[j]
            return k, self.decoder.decode(names[k], seqs[k], out, constraints[k], shapes[k])

        child["jobs"].send(([names[k] for k in ks], [seqs[k] for k in ks], [constraints[k] for k in ks],
                            [shapes[k] for k in ks]))
        deferred = []
        while True:
            kind, *rest = _receive(child)
            if kind == "done":
                break
            if kind == "result":  # decoded there
                yield ks[rest[0]], rest[1]
            elif kind == "map":  # a long sequence's: waits for the child's exit
                deferred.append(rest)
            else:  # "scores": S1's output itself (None when the decoder reads none)
                yield decode(*rest)
        child["process"].join()  # its memory is the system's again before the long sequences fold
        for j, path in deferred:
            if path is None:  # a decoder that reads no S1 output
                yield decode(j, None)
                continue
            try:  # no reference kept here: the decoder frees the map before its dynamic programme
                yield decode(j, np.load(path))
            finally:
                os.remove(path)  # a 3,000-nt map is 36 MB of disk


def _receive(child: dict) -> tuple:
    try:
        message = child["results"].recv()
    except EOFError:
        child["process"].join()
        raise RuntimeError(f"S1's process ended without finishing its work (exit code {child['process'].exitcode}: "
                           "killed, or out of memory?)") from None
    if message[0] == "error":
        error, text = message[1], message[2]
        if isinstance(error, (InputError, KeyboardInterrupt)):  # the user's to read, as in-process
            raise error
        raise RuntimeError(f"in S1's process:\n{text}") from error
    return message


def _stop(children: list) -> None:
    for child in children:
        if child["process"].is_alive():
            child["process"].terminate()
        child["process"].join()
        child["results"].close()
        child["jobs"].close()
        shutil.rmtree(child["folder"], ignore_errors=True)
    children.clear()


def _run_s1(options: dict, jobs, send, parents_ends, folder: str) -> None:
    """The child: the predictor, ``("ready", decoder or None)``; then one job from ``jobs``
    (the sequences: a round of ``rounds``, all long or all short) and S1's output for each sequence (``("scores", j,
    array or None)``; ``("map", j, path)``, a file in the folder, for a long sequence) or, for a
    decoder that reads proposals, the results (``("result", j, Result)``), ``j`` the index in
    the job; last ``("done",)``. Or ``("error", exception, traceback)``."""
    for end in parents_ends:  # so that the parent's death ends these pipes for the child
        end.close()
    _die_with_parent(folder)
    try:
        from .core import load_predictor

        predictor = load_predictor(**options)
        decoder = predictor.decoder
        here = decoder.s1_output not in (NO_S1, LOGITS)
        send.send(("ready", None if here else decoder))
        names, seqs, constraints, shapes = jobs.recv()
        if not here and predictor.s1 is not None and min(map(len, seqs)) >= LONG:
            predictor.s1.tile = LONG_TILE
        if here:
            for j, r in predictor.predict(names, seqs, constraints=constraints, shapes=shapes):
                send.send(("result", j, r))
        else:
            predictor.set_threads()
            for j, out in predictor.s1_outputs(seqs):
                if len(seqs[j]) >= LONG:
                    path = None if out is None else os.path.join(folder, f"{j}.npy")
                    if path is not None:
                        np.save(path, out)
                    send.send(("map", j, path))
                else:  # through the pipe, which holds S1 back while the parent folds
                    send.send(("scores", j, out))
        send.send(("done",))
    except BaseException as e:  # raised again in the parent
        text = traceback.format_exc()
        try:
            send.send(("error", e, text))
        except BrokenPipeError:  # the parent is gone
            pass
        except Exception:  # an exception that does not pickle: its text
            send.send(("error", RuntimeError(f"{type(e).__name__}: {e}"), text))
    finally:
        send.close()


def _die_with_parent(folder: str) -> None:
    """Have the kernel end this process when its parent dies (Linux ``PR_SET_PDEATHSIG``), and
    remove ``folder`` then: a parent killed outright runs no clean-up. (The parent's own
    ``terminate`` sends the same signal, and removes the folder itself.)"""
    import ctypes

    def end(signum, frame):
        shutil.rmtree(folder, ignore_errors=True)
        os._exit(128 + signum)

    signal.signal(signal.SIGTERM, end)
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
