"""Reading and writing the workflow's files: self-describing (metadata beside every artifact)
and atomic (written to a temporary name, then renamed, so a killed job never leaves a
half-written file that looks complete).

This module needs numpy only, so every job can use it: torch's weights and checkpoints are in
odesdegap.io.weights, the per-run CSV row files (pandas) in odesdegap.io.rows."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import tempfile
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import numpy as np


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


def fingerprint_digest(fingerprint: dict) -> str:
    return hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()


def environment_versions() -> dict:
    """Versions that matter for reproducing a number: the installed distributions' (what
    requirements.txt pins), read from their metadata so that a job that does not compute with
    torch does not load torch to name its version."""
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        **{name: metadata.version(name) for name in ("torch", "torchsde", "torchdiffeq")},
        "numpy": np.__version__,
    }


def file_digest(path) -> str:
    """SHA-256 of a file's bytes: ties a checkpoint to the exact inputs it was trained on."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
