"""Option values checked as argparse reads them, so that a wrong one ends the run before any
work with one line naming the option and the value (``argument --gamma: must be > 0, got
-1``). The library checks its parameters again, by their Python names, for API users."""

from __future__ import annotations

import argparse
import math
import zipfile
from pathlib import Path


def number(kind=float, low: float | None = None, high: float | None = None, low_open: bool = False,
           high_open: bool = False):
    """An argparse type: a finite ``kind`` (int or float) within ``[low, high]`` (an open end
    when ``low_open``/``high_open``)."""
    lo = "" if low is None else ("> " if low_open else ">= ") + f"{low:g}"
    hi = "" if high is None else ("< " if high_open else "<= ") + f"{high:g}"
    if lo and hi:
        want = f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    else:
        want = lo or hi
    what = "a whole number" if kind is int else "a number"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}{' ' + want if want else ''}, got {text!r}") from None
        if kind is float and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        if (low is not None and (value < low or (low_open and value == low))) or \
                (high is not None and (value > high or (high_open and value == high))):
            raise argparse.ArgumentTypeError(f"must be {want}, got {text}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its own messages
    return parse


POSITIVE_INT = number(int, 1)
NON_NEGATIVE_INT = number(int, 0)
NON_NEGATIVE = number(float, 0)
POSITIVE = number(float, 0, low_open=True)
PROBABILITY = number(float, 0, 1)
FINITE = number(float)


def existing_file(text: str) -> str:
    if not Path(text).is_file():
        raise argparse.ArgumentTypeError(f"{text}: no such file" + (" (a folder)" if Path(text).is_dir() else ""))
    return text


def existing_path(text: str) -> str:
    if not Path(text).exists():
        raise argparse.ArgumentTypeError(f"{text}: no such file or folder")
    return text


def checkpoint(text: str) -> str:
    """A PyTorch checkpoint file (a zip archive holding a pickle; ``torch.save``'s format),
    checked without loading torch."""
    p = Path(text)
    if not p.is_file():
        raise argparse.ArgumentTypeError(f"{text}: no such file")
    try:
        with zipfile.ZipFile(p) as z:
            ok = any(name.endswith("data.pkl") for name in z.namelist())
    except (zipfile.BadZipFile, OSError):
        ok = False
    if not ok:
        raise argparse.ArgumentTypeError(f"{text}: not an rnastruct checkpoint (not a file torch.save wrote)")
    return text


def shard(args, what: str = "input") -> None:
    """``--shard K --num-shards N``: both or neither, ``0 <= K < N``; one line naming them."""
    from ..errors import InputError

    k, n = getattr(args, "shard", None), getattr(args, "num_shards", None)
    if k is None and n is None:
        return
    if k is None or n is None or n < 1 or not 0 <= k < n:
        raise InputError(f"--shard {k} --num-shards {n}: --shard K needs --num-shards N with 0 <= K < N "
                         f"(part K of N contiguous parts of the {what})")
