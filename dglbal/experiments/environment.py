"""Where an experiment runs and writes, checked before any work: the device and ``--out``.

Both refusals are ``ValueError`` naming the option (``--device``, ``--out``) and what is wrong.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import List, Sequence

import torch

__all__ = ["available_devices", "resolve_device", "prepare_output_dir"]


def available_devices() -> List[str]:
    """``cpu`` and every CUDA device torch can see (``cuda:0``, ...)."""
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return ["cpu"] + [f"cuda:{i}" for i in range(count)]


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when available, else the CPU; ``gpu`` means ``cuda``. A device this
    machine does not have is a ``ValueError`` listing the ones it has."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    spelled = "cuda" + name[3:] if name.lower().startswith("gpu") else name
    available = ", ".join(available_devices())
    try:
        device = torch.device(spelled)
    except (RuntimeError, TypeError):
        raise ValueError(f"--device {name!r} is not a device name; available: {available} "
                         "(or auto)") from None
    if device.type == "cpu":
        return torch.device("cpu")  # torch has one CPU device; "cpu:5" would reach DGL as-is
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count > (device.index or 0):
            return device
        raise ValueError(f"--device {name!r}: no such CUDA device here "
                         f"({'no GPU is visible to torch' if count == 0 else f'{count} GPUs'}); "
                         f"available: {available}")
    raise ValueError(f"--device {name!r}: dglbal runs on CPU or CUDA; available: {available}")


def prepare_output_dir(out: Path, folders: Sequence[str] = (),
                       files: Sequence[str] = ()) -> Path:
    """Create ``out`` and its ``folders`` and prove each writable, and each of ``files``
    that exists already replaceable, before any work is done (not after hours of training).

    Every refusal is a ``ValueError`` naming ``--out`` and the path.
    """
    out = Path(out)
    for folder in (out, *(out / name for name in folders)):
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"--out {out}: {folder} exists and is not a directory")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as error:
            raise ValueError(f"--out {out}: cannot write in {folder} "
                             f"({error.strerror or error})") from None
    for name in files:
        path = out / name
        if path.is_dir():
            raise ValueError(f"--out {out}: {path} is a directory, where a file will be written")
    return out
