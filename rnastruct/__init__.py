"""rnastruct: RNA secondary structure as object detection on the base-pair map."""

__version__ = "0.1.0"


def predict(seqs, names=None, **kwargs):
    """Predict secondary structures with the bundled models -> list of ``pipeline.Result``
    (name, seq, structure, pairs, score, boxes). See ``rnastruct.pipeline.predict``."""
    from .pipeline import predict as _predict

    return _predict(seqs, names, **kwargs)
