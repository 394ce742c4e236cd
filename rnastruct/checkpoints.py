"""Checkpoints: plain dicts of tensors and primitives, saved atomically, loaded with
``torch.load(..., weights_only=True)``, each carrying its kind and the config that rebuilds its
network."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from .errors import InputError
from .seqio import atomic_path


def save_checkpoint(path: str | os.PathLike, state: dict) -> None:
    """Atomically save ``state`` (tensors, state dicts and primitives only)."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str | os.PathLike, kind: str | None = None) -> dict:
    """Load a checkpoint safely (``weights_only=True``) and check what it is."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such checkpoint")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt, truncated, or not a torch file at all
        # torch's own message runs to several lines of advice about weights_only: one line here
        raise InputError(f"{p}: not a readable rnastruct checkpoint ({type(e).__name__})") from None
    if not isinstance(state, dict) or "kind" not in state or "config" not in state:
        raise InputError(f"{p}: not an rnastruct checkpoint (no kind/config)")
    if kind is not None and state["kind"] != kind:
        raise InputError(f"{p}: a {state['kind']} checkpoint, expected {kind}")
    return state


def model_from_checkpoint(path: str | os.PathLike, kind: str, config_cls, build_model):
    """Rebuild a network and its training recipe from a checkpoint file alone -> (model in eval
    mode, config, state): the config is read into ``config_cls`` (unknown keys are errors) and
    the network made by ``build_model(config.model)``."""
    from .config import from_dict

    state = load_checkpoint(path, kind)
    cfg = from_dict(config_cls, state["config"], f"{path}: config")
    return _with_weights(build_model(cfg.model), state, path), cfg, state


def network_from_checkpoint(path: str | os.PathLike, kind: str, model_config_cls, build_model):
    """Rebuild just the network from a checkpoint file alone (its config's ``model`` part, read
    into ``model_config_cls``; what prediction needs) -> (model in eval mode, state)."""
    from .config import from_dict

    state = load_checkpoint(path, kind)
    cfg = from_dict(model_config_cls, state["config"].get("model", {}), f"{path}: config: model")
    return _with_weights(build_model(cfg), state, path), state


def _with_weights(model, state: dict, path):
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as e:
        raise InputError(f"{path}: weights do not fit the network in its config ({e})") from None
    return model.eval()
