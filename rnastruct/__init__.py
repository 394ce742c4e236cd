"""rnastruct: RNA secondary structure as object detection on the base-pair map."""

from ._version import __version__

__all__ = ["__version__", "predict"]


def predict(seqs, names=None, **kwargs):
    """Predict secondary structures with the bundled models -> list of ``predictor.Result``
    (name, seq, structure, pairs, energy, score, boxes, ...). See ``rnastruct.predictor.predict``."""
    from .predictor import predict as _predict

    return _predict(seqs, names, **kwargs)
