"""The bundled model sets and how a network is loaded: each is rebuilt from its checkpoint's
own config (``checkpoints.network_from_checkpoint``), with no training code involved.

The sets, each an (S1, S2) pair of checkpoints under ``rnastruct/models/``:

* ``real`` (the default): S1 trained on real structures; its pair head's scores enter
  ViennaRNA as pseudo-energies (``learned.FoldEnergy``, stored in the checkpoint);
* ``mfe``: S1 and S2 trained on ViennaRNA's MFE folds of human segments; the fold decoder
  restricts ViennaRNA to S1's proposed pairs;
* ``turner``: no learned model, ViennaRNA's Turner 2004 alone (RNAfold).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError

MODELS = Path(__file__).resolve().parents[1] / "models"
MODEL_SETS = {"real": (MODELS / "real" / "s1.pt", MODELS / "real" / "s2.pt"),
              "mfe": (MODELS / "mfe" / "s1.pt", MODELS / "mfe" / "s2.pt"),
              "turner": (None, None)}
DEFAULT_MODEL = "real"
#: S2 of a model folder that has none of its own
FALLBACK_S2 = MODEL_SETS["mfe"][1]


def model_paths(model: str) -> tuple[Path | None, Path | None]:
    """A model set's name ("real", "mfe", "turner") or folder (holding ``s1.pt``, and ``s2.pt``
    for the box decoder) -> its (S1, S2) checkpoint paths (None for Turner alone)."""
    if model in MODEL_SETS:
        return MODEL_SETS[model]
    folder = Path(model)
    if not folder.is_dir():
        raise InputError(f"--model {model}: neither a bundled set ({', '.join(MODEL_SETS)}) nor a folder")
    if not (folder / "s1.pt").is_file():
        raise InputError(f"--model {model}: the folder has no s1.pt")
    return folder / "s1.pt", (folder / "s2.pt" if (folder / "s2.pt").is_file() else FALLBACK_S2)


def load_s1(path):
    """An S1 checkpoint -> (network in eval mode, the checkpoint's state: its decoding settings
    ``fold_energy`` or ``fold_proposal`` among them)."""
    from ..s1.model import from_checkpoint

    return from_checkpoint(path)


def load_s2(path):
    """An S2 checkpoint -> (network in eval mode, the checkpoint's state: its assembly settings
    ``box_threshold`` and ``energy_weight`` among them)."""
    from ..s2.model import from_checkpoint

    return from_checkpoint(path)
