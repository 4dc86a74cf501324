"""The one reading of a ``--device`` value, for every command and Python entry point that takes one.

``auto`` (every command's default) is the first GPU when CUDA is available, else the CPU, so the
same command line runs on a laptop and on a GPU machine. A name torch does not know, or a GPU this
machine lacks, is refused here in one line before any model is loaded, instead of as a CUDA
traceback minutes later.
"""

from __future__ import annotations

import torch

from svae_tts.errors import SvaeError

AUTO = "auto"
DEVICE_HELP = "auto (default: a GPU when there is one, else the CPU), cpu, cuda, cuda:1 ..."


class DeviceError(SvaeError):
    """A device name that is not one, or a device this machine does not have."""


def resolve_device(device: str | torch.device | None = AUTO) -> torch.device:
    """``auto``/``None`` -> ``cuda`` when available else ``cpu``; any other name is checked to exist here."""
    if isinstance(device, torch.device):
        dev = device
    elif device is None or str(device).strip().lower() == AUTO:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        try:
            dev = torch.device(str(device).strip())
        except (RuntimeError, ValueError):
            raise DeviceError(f"device {device!r}: not a torch device (auto, cpu, cuda, cuda:1 ...)") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device {str(device)!r}: CUDA is not available on this machine (use auto or cpu)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(f"device {str(device)!r}: this machine has {torch.cuda.device_count()} CUDA "
                              f"device(s) (cuda:0 to cuda:{torch.cuda.device_count() - 1})")
    elif dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise DeviceError(f"device {str(device)!r}: MPS is not available on this machine (use auto or cpu)")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise DeviceError(f"device {str(device)!r}: {dev.type} devices are not supported (auto, cpu, cuda ...)")
    return dev


def device_name(device: str | torch.device | None = AUTO) -> str:
    """:func:`resolve_device` as the string the stage functions take (``"cpu"``, ``"cuda"``, ``"cuda:1"``)."""
    return str(resolve_device(device))


__all__ = ["resolve_device", "device_name", "DeviceError", "DEVICE_HELP", "AUTO"]
