"""torch's files: a model's weights and training checkpoints. Loads are weights_only (a file
holding anything but tensors and plain containers is refused) and writes atomic
(artifacts.atomic_path). Apart from artifacts so that only jobs that compute with torch load
it."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import torch

from odesdegap.io.artifacts import atomic_path, fingerprint_digest


def save_state_dict(path, module: torch.nn.Module) -> None:
    with atomic_path(path) as tmp:
        torch.save(module.state_dict(), tmp)


def load_state_dict(path) -> dict:
    """Weights only: a file that holds anything but tensors and plain containers is refused."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for damaged or foreign files
        raise ValueError(f"cannot read model weights from {path} ({type(error).__name__}: "
                         f"{str(error).splitlines()[0]}); delete the file so that Snakemake "
                         "retrains it") from error


def load_model(path, settings: dict, dim: int, process, image_shape=None) -> torch.nn.Module:
    """A trained model: built from the config's `model` section, then given its saved weights."""
    from odesdegap.models import build_model

    model = build_model(settings, dim=dim, process=process, image_shape=image_shape)
    model.load_state_dict(load_state_dict(path))
    return model


def save_checkpoint(path, fingerprint: dict, state: dict) -> None:
    """Training state (weights, optimiser, RNG, history) tagged with the job's fingerprint."""
    with atomic_path(path) as tmp:
        torch.save({"fingerprint": fingerprint_digest(fingerprint), **state}, tmp)


def load_checkpoint(path, fingerprint: dict) -> dict | None:
    """The saved state if it exists and belongs to this exact job, else None."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, dict):
            raise TypeError(f"it holds a {type(state).__name__}, not a training state")
    except Exception as error:  # truncated (a node failure), foreign torch version, not ours
        aside = path.with_name(f"{path.name}.unreadable-{time.strftime('%Y%m%dT%H%M%S')}")
        os.replace(path, aside)
        print(f"warning: cannot read checkpoint {path} ({type(error).__name__}: "
              f"{str(error).splitlines()[0] if str(error) else ''}); moved it to {aside} and "
              "training starts over", file=sys.stderr)
        return None
    if state.get("fingerprint") != fingerprint_digest(fingerprint):
        print(f"ignoring checkpoint {path}: it was written for other settings", file=sys.stderr)
        return None
    return state
