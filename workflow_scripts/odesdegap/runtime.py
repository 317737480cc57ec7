"""Where and how a job computes: torch's thread count follows the rule's `threads`, and the
device follows the config (`auto` picks CUDA when present, else the CPU)."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import NoReturn

import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def setup(threads: int, device: str = "auto") -> torch.device:
    torch.set_num_threads(max(1, int(threads)))
    if device not in DEVICE_CHOICES:
        raise ValueError(f"device must be one of {DEVICE_CHOICES}, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("config asks for device 'cuda' but no CUDA device is available")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)


def log_to(path) -> None:
    """Send this process's stdout and stderr (progress bars included) to the job's log file."""
    handle = open(path, "w", buffering=1)
    sys.stdout = sys.stderr = handle


def stop(problem: Exception | str) -> NoReturn:
    """End a job over a problem the user must fix (missing data, offline weights): the message
    goes to the job's log and to the terminal that runs Snakemake, without a traceback."""
    print(problem)
    print(f"Error: {problem}", file=sys.__stderr__)
    sys.exit(1)


@contextmanager
def stopping_on(*problems: type[Exception]):
    """Turn the listed exceptions, raised inside the block, into `stop`."""
    try:
        yield
    except problems as problem:
        stop(problem)
