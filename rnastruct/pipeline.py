"""Compatibility shim: the predictor lives in ``rnastruct.predictor``."""

from .predictor import Predictor, Result, fold, load_predictor, predict

__all__ = ["Predictor", "Result", "fold", "load_predictor", "predict"]
