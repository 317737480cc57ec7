"""Score models and the registry that builds them from the config's `model` section.

Potential models (phi(x, t), score = grad_x phi) derive from base.PotentialModel; vector
models give the score directly. unet.py is imported only when a U-Net is asked for."""

from __future__ import annotations

from torch import nn

from odesdegap.models.base import PotentialModel
from odesdegap.models.gaussian import GaussianPotential
from odesdegap.models.mlp import PotentialMLP, VectorScoreMLP, softplus_mlp

__all__ = ["GaussianPotential", "PotentialMLP", "PotentialModel", "VectorScoreMLP", "build_model",
           "model_settings", "softplus_mlp"]

MLP_KEYS = ("hidden_width", "hidden_layers", "softplus_beta", "gaussian_baseline")
UNET_KEYS = ("channels", "channel_multipliers")
# Which `model` config keys each kind reads: the rules pass only these on, so that editing, say,
# the U-Net's channels does not retrain the MLPs.
MODEL_KEYS = {
    "potential_mlp": MLP_KEYS,
    "vector_mlp": MLP_KEYS,
    "unet_potential": UNET_KEYS,
    "unet_vector": UNET_KEYS,
}


def model_settings(settings: dict) -> dict:
    """The config's `model` section reduced to its kind and the keys that kind reads (each
    must be there: the schema fills them in)."""
    kind = settings["kind"]
    missing = [k for k in MODEL_KEYS[kind] if k not in settings]
    if missing:
        raise KeyError(f"config key(s) {', '.join(f'model.{k}' for k in missing)} missing from "
                       f"the model settings of kind {kind!r}")
    return {"kind": kind, **{k: settings[k] for k in MODEL_KEYS[kind]}}


def build_model(settings: dict, dim: int, process=None,
                image_shape: tuple[int, int, int] | None = None) -> nn.Module:
    """Build a model from the config's `model` section: {kind, ...architecture keys}. The
    U-Nets see flat (n, C*H*W) points like every other model and fold them into `image_shape`."""
    settings = model_settings(settings)
    kind = settings.pop("kind")
    if kind.startswith("unet"):
        from odesdegap.models.unet import UNetPotential, UNetScore

        if image_shape is None:
            raise ValueError(f"model kind {kind!r} needs an image data set")
        network = UNetPotential if kind == "unet_potential" else UNetScore
        settings["channel_multipliers"] = tuple(settings["channel_multipliers"])
        return network(dim=dim, image_shape=tuple(image_shape), process=process, **settings)
    return {"potential_mlp": PotentialMLP, "vector_mlp": VectorScoreMLP}[kind](
        dim=dim, process=process, **settings)
