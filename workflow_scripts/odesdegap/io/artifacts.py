"""Reading and writing the workflow's files: safe (weights_only loads), self-describing
(metadata beside every artifact) and atomic (written to a temporary name, then renamed, so a
killed job never leaves a half-written file that looks complete)."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import torch


@contextmanager
def atomic_path(path: Path | str):
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.
    The file gets the permissions a plain open() would give it (mkstemp's are owner-only, which
    would hide results from collaborators on a shared cluster)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path, payload: dict) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2, sort_keys=True, default=_to_builtin) + "\n")


def read_json(path) -> dict:
    return json.loads(Path(path).read_text())


def write_rows(path, run: dict, rows: list[dict]) -> None:
    """A per-run row file: a CSV whose every row starts with its run (data set, FP weight,
    seed), so that a table of many runs is their concatenation (read_rows)."""
    frame = pd.DataFrame(rows)
    frame = pd.concat([pd.DataFrame([run] * len(frame)), frame], axis=1)
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


def read_rows(paths) -> pd.DataFrame:
    """The row files (write_rows) of many runs as one table, in the order given; floats read
    back exactly as written."""
    return pd.concat([pd.read_csv(path) for path in paths], ignore_index=True)


def _to_builtin(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")


def save_arrays(path, **arrays) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)


def load_arrays(path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


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


def fingerprint_digest(fingerprint: dict) -> str:
    return hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()


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


def environment_versions() -> dict:
    """Versions that matter for reproducing a number."""
    import torchdiffeq
    import torchsde

    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torchsde": torchsde.__version__,
        "torchdiffeq": torchdiffeq.__version__,
        "numpy": np.__version__,
    }


def file_digest(path) -> str:
    """SHA-256 of a file's bytes: ties a checkpoint to the exact inputs it was trained on."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
