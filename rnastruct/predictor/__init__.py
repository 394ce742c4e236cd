"""The predictor: sequence -> S1 -> a decoder -> ``Result``.

* ``models``: the bundled model sets and loading a network from its checkpoint;
* ``decoders``: the decoders, one interface (Turner alone, learned energies, proposal-restricted
  fold, box assembly);
* ``core``: ``Predictor`` (S1, then the decoder; the worker pool), ``load_predictor`` (from the
  command line's options), ``predict`` and ``fold``;
* ``inputs`` and ``outputs``: what ``rnastruct predict`` reads, and ``Result``, the formats,
  the resume journal and the shards.

The default: S1 trained on real structures, its pair scores added to Turner 2004 as
pseudo-energies in ViennaRNA, decoded as the ensemble's centroid (``learned.FoldEnergy``).

Importing the package loads no PyTorch: ``core`` (which does) is imported when one of its names
is first used, so that the modules a decoding process needs can be imported without it.
"""

from .outputs import Result

__all__ = ["Predictor", "Result", "fold", "load_predictor", "predict"]


def __getattr__(name: str):
    if name in ("Predictor", "fold", "load_predictor", "predict"):
        from . import core

        return getattr(core, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
