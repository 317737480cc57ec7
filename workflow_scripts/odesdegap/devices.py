"""Where a torch job computes: its threads, its device, its precision.

torch's thread count follows the rule's `threads`. The device follows the config: `cpu`,
`cuda`, `cuda:N`, or `auto` (CUDA when present, else the CPU). On one machine with several GPUs,
jobs that leave the choice to us (`auto`/`cuda`) each take a GPU of their own from a pool of
lock files (one per GPU, held with flock for the life of the job, so a crashed job frees its
GPU). Where a scheduler has already restricted the job (SLURM's `--gres`/`--gpus` sets
CUDA_VISIBLE_DEVICES), the job's own GPUs are the only ones torch sees and no pool is needed.
On CUDA the determinism settings below are applied and recorded (docs/gpu.md).

Only jobs that compute with torch import this module (runtime.job(sm) does, for them): loading
torch takes seconds, as long as a small job's work (docs/performance.md, start-up).
"""

from __future__ import annotations

import fcntl
import os
import re
import sys
import tempfile
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path

import torch

DEVICE_PATTERN = r"^(auto|cpu|cuda(:[0-9]+)?)$"
PRECISIONS = ("float32", "tf32", "bf16")
CUBLAS_WORKSPACE = ":4096:8"
LOCK_DIR_VARIABLE = "ODESDEGAP_GPU_LOCK_DIR"

# The GPU this process holds (its lock file stays open for the life of the process).
_held_gpu: tuple[int, object] | None = None


def cuda_build() -> str:
    """torch's CUDA build, as a user needs to read it in an error message."""
    return f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU-only build"


class DeviceError(RuntimeError):
    """The config's device or GPU request cannot be met here (device_problems says why)."""


def device_problems(device: str, gpus: int, cuda_available: bool, device_count: int) -> list[str]:
    """Why the config's device and GPU request cannot be met on this machine (empty if they
    can). Checked before any job (the Snakefile) and again in each job (setup)."""
    if not re.match(DEVICE_PATTERN, str(device)):
        return [f"config key 'device' has value {device!r}: expected auto, cpu, cuda or cuda:N"]
    needs_cuda = gpus >= 1 or str(device).startswith("cuda")
    if device == "cpu" and gpus >= 1:
        return [f"config key 'compute.gpus' has value {gpus!r}: expected 0 with device 'cpu' "
                "(a job that computes on the CPU must not hold a GPU)"]
    if needs_cuda and not cuda_available:
        why = (f"compute.gpus is {gpus}" if gpus >= 1 else f"device is {device!r}")
        build = cuda_build()
        if torch.version.cuda:
            need = (f"an NVIDIA GPU and a driver recent enough for CUDA {torch.version.cuda} "
                    "(see the table in NVIDIA's CUDA release notes; `nvidia-smi` shows the "
                    "driver's CUDA version)")
        else:
            need = ("a CUDA build of torch (the CUDA wheel, see docs/gpu.md) and an NVIDIA "
                    "GPU")
        return [f"the config asks for a GPU ({why}) but torch {torch.__version__} "
                f"({build}) finds no usable CUDA device: that needs {need}. Run on a GPU "
                "machine, or set compute.gpus: 0 and device: cpu (or auto)"]
    index = _device_index(device)
    if needs_cuda and index is not None and index >= device_count:
        return [f"config key 'device' has value {device!r}: this machine has {device_count} "
                f"CUDA device(s) (cuda:0 to cuda:{device_count - 1})"]
    return []


def _device_index(device: str) -> int | None:
    return int(device.split(":")[1]) if str(device).startswith("cuda:") else None


def lock_dir() -> Path:
    """Where the per-GPU lock files live: machine-local (/tmp), one pool per user."""
    default = Path(tempfile.gettempdir()) / f"odesdegap-gpu-locks-{os.getuid()}"
    return Path(os.environ.get(LOCK_DIR_VARIABLE, default))


def claim_gpu(device_count: int, directory: Path | None = None, poll_seconds: float = 2.0,
              timeout_seconds: float | None = None) -> tuple[int, object]:
    """Take the first free GPU of `device_count` and hold it: returns (index, open lock file).
    The lock lasts as long as the returned file stays open (the process's life, or until it
    is closed). Waits while every GPU is taken (more GPU jobs than GPUs: the local GPU profile's
    `gpu` resource limit should prevent that)."""
    directory = Path(directory or lock_dir())
    directory.mkdir(parents=True, exist_ok=True)
    waited_since = time.monotonic()
    warned = False
    while True:
        for index in range(device_count):
            handle = open(directory / f"gpu{index}.lock", "a+")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            return index, handle
        if timeout_seconds is not None and time.monotonic() - waited_since > timeout_seconds:
            raise TimeoutError(f"all {device_count} GPU(s) are held by other jobs "
                               f"(lock files in {directory})")
        if not warned:
            print(f"waiting for a free GPU: all {device_count} are held by other jobs "
                  f"(lock files in {directory}; lower the profile's gpu resource limit to the "
                  "number of GPUs)", file=sys.stderr)
            warned = True
        time.sleep(poll_seconds)


def resolve_device(device: str, gpus: int = 0, cuda_available: bool | None = None,
                   device_count: int | None = None, scheduler_pinned: bool | None = None,
                   directory: Path | None = None) -> torch.device:
    """The torch device of a job. The keyword arguments default to this machine's state; tests
    pass fake ones."""
    global _held_gpu
    cuda_available = torch.cuda.is_available() if cuda_available is None else cuda_available
    device_count = (torch.cuda.device_count() if cuda_available else 0) \
        if device_count is None else device_count
    if scheduler_pinned is None:
        scheduler_pinned = bool(os.environ.get("CUDA_VISIBLE_DEVICES", "").strip())
    problems = device_problems(device, gpus, cuda_available, device_count)
    if problems:
        raise DeviceError(problems[0])
    if device == "cpu" or (device == "auto" and not cuda_available):
        return torch.device("cpu")
    if device.startswith("cuda:"):
        return torch.device(device)
    # auto or cuda with CUDA present: a GPU of our own.
    if scheduler_pinned or device_count <= 1:
        return torch.device("cuda:0")
    if _held_gpu is None:
        _held_gpu = claim_gpu(device_count, directory)
        print(f"using GPU {_held_gpu[0]} of {device_count} (lock {_held_gpu[1].name})",
              file=sys.stderr)
    return torch.device(f"cuda:{_held_gpu[0]}")


def setup(threads: int, device: str = "auto", gpus: int = 0) -> torch.device:
    """Threads, device and (on CUDA) determinism settings of a job; returns its device."""
    torch.set_num_threads(max(1, int(threads)))
    # Must be in the environment before cuBLAS starts for deterministic CUDA matmuls.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    chosen = resolve_device(str(device), int(gpus or 0))
    if chosen.type == "cuda":
        torch.cuda.set_device(chosen)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        # warn_only: an op without a deterministic CUDA kernel warns instead of stopping a job.
        torch.use_deterministic_algorithms(True, warn_only=True)
    return chosen


def determinism_record(device: torch.device, precision: str = "float32") -> dict:
    """The settings that decide whether a CUDA run repeats bit for bit (model.json)."""
    record = {
        "device": str(device),
        "precision": precision,
        "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        "deterministic_algorithms": bool(torch.are_deterministic_algorithms_enabled()),
        "deterministic_algorithms_warn_only": bool(
            torch.is_deterministic_algorithms_warn_only_enabled()),
        "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
        "torch_cuda_build": torch.version.cuda,
    }
    if device.type == "cuda":
        properties = torch.cuda.get_device_properties(device)
        record["gpu"] = properties.name
        record["gpu_capability"] = f"{properties.major}.{properties.minor}"
    return record


def check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")


@contextmanager
def precision_context(precision: str, device: torch.device):
    """Run the block at `precision`: float32 (exact IEEE float32 matmuls), tf32 (CUDA matmuls
    and convolutions in TensorFloat-32; no effect on the CPU) or bf16 (autocast to bfloat16,
    on CUDA or the CPU)."""
    check_precision(precision)
    if precision == "bf16":
        context = torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    else:
        context = nullcontext()
    matmul = torch.backends.cuda.matmul.allow_tf32
    cudnn = torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
    torch.backends.cudnn.allow_tf32 = precision == "tf32"
    try:
        with context:
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = matmul
        torch.backends.cudnn.allow_tf32 = cudnn
