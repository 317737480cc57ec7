"""Score models and the registry that builds them from the config's `model` section.

Potential models (phi(x, t), score = grad_x phi) derive from base.PotentialModel; vector
models give the score directly. unet.py is imported only when a U-Net is asked for."""

from __future__ import annotations

from torch import nn

from odesdegap.config import register_choices
from odesdegap.models.base import PotentialModel
from odesdegap.models.gaussian import GaussianPotential
from odesdegap.models.mlp import PotentialMLP, VectorScoreMLP, softplus_mlp

__all__ = ["MODEL_KINDS", "GaussianPotential", "PotentialMLP", "PotentialModel", "VectorScoreMLP",
           "build_model", "model_settings", "softplus_mlp"]

MLP_KEYS = ("hidden_width", "hidden_layers", "softplus_beta", "gaussian_baseline")
UNET_KEYS = ("channels", "channel_multipliers")


def _mlp(network):
    def build(settings: dict, dim: int, process, image_shape):
        return network(dim=dim, process=process, **settings)
    return build


def _unet(name: str):
    def build(settings: dict, dim: int, process, image_shape):
        from odesdegap.models import unet  # torch's convolutions only when asked for

        if image_shape is None:
            raise ValueError(f"model kind {name!r} needs an image data set")
        network = {"unet_potential": unet.UNetPotential, "unet_vector": unet.UNetScore}[name]
        return network(dim=dim, image_shape=tuple(image_shape), process=process,
                       channels=settings["channels"],
                       channel_multipliers=tuple(settings["channel_multipliers"]))
    return build


# The one list of model kinds (config_schema.yaml's model.kind choices are filled in from it):
# each kind's builder and the `model` config keys it reads. The rules pass only those keys on,
# so that editing, say, the U-Net's channels does not retrain the MLPs.
MODEL_KINDS = {
    "potential_mlp": (_mlp(PotentialMLP), MLP_KEYS),
    "vector_mlp": (_mlp(VectorScoreMLP), MLP_KEYS),
    "unet_potential": (_unet("unet_potential"), UNET_KEYS),
    "unet_vector": (_unet("unet_vector"), UNET_KEYS),
}


@register_choices
def fill_schema(schema: dict) -> None:
    """The schema's model kinds are MODEL_KINDS."""
    schema["properties"]["model"]["properties"]["kind"]["enum"] = list(MODEL_KINDS)


def model_settings(settings: dict) -> dict:
    """The config's `model` section reduced to its kind and the keys that kind reads (each
    must be there: the schema fills them in)."""
    kind = settings["kind"]
    _, keys = MODEL_KINDS[kind]
    missing = [k for k in keys if k not in settings]
    if missing:
        raise KeyError(f"config key(s) {', '.join(f'model.{k}' for k in missing)} missing from "
                       f"the model settings of kind {kind!r}")
    return {"kind": kind, **{k: settings[k] for k in keys}}


def build_model(settings: dict, dim: int, process=None,
                image_shape: tuple[int, int, int] | None = None) -> nn.Module:
    """Build a model from the config's `model` section: {kind, ...architecture keys}. The
    U-Nets see flat (n, C*H*W) points like every other model and fold them into `image_shape`."""
    settings = model_settings(settings)
    build, _ = MODEL_KINDS[settings.pop("kind")]
    return build(settings, dim, process, image_shape)
