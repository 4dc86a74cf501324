"""Load every native library the toolkit uses at run time, each in its own process.

A broken binary wheel (a torchaudio built against another torch, a libsndfile that does not load)
otherwise shows up as a dozen unrelated import errors deep in the test suite. Here each library is
exercised once, in a fresh interpreter so one crash cannot hide the others, and the result is one
line per library. ``python -m svae_tts.native_check`` exits 1 when any of them fails; ``make test``
runs it before the suite.
"""

from __future__ import annotations

import subprocess
import sys

# name -> a small program that loads the library and makes one real call into it
CHECKS: dict[str, str] = {
    "torch": "import torch; assert float(torch.ones(3).sum()) == 3.0",
    "torchaudio (libtorchaudio)": (
        "import torch, torchaudio, torchaudio._extension as e\n"
        "assert e._IS_TORCHAUDIO_EXT_AVAILABLE, 'libtorchaudio did not load'\n"
        "x = torchaudio.functional.resample(torch.randn(1, 1600), 16000, 8000); assert x.shape[-1] == 800"
    ),
    "soundfile (libsndfile)": (
        "import io, numpy as np, soundfile as sf\n"
        "b = io.BytesIO(); sf.write(b, np.zeros(160, 'float32'), 16000, format='WAV'); b.seek(0)\n"
        "assert sf.read(b)[0].shape == (160,)"
    ),
    "soxr": "import numpy as np, soxr; assert soxr.resample(np.zeros(1600, 'float32'), 16000, 8000).shape == (800,)",
    "onnxruntime": "import onnxruntime as ort; assert 'CPUExecutionProvider' in ort.get_available_providers()",
    "espeak-ng (espeakng-loader)": (
        "from data_prep.espeak import VoiceParams, synth_utterance\n"
        "assert synth_utterance('hello', VoiceParams(), 16000).size > 1000"
    ),
    "pesq": (
        "import numpy as np; from pesq import pesq\n"
        "t = np.arange(16000) / 16000; x = (0.3 * np.sin(2 * np.pi * 220 * t)).astype('float32')\n"
        "assert 1.0 <= pesq(16000, x, x, 'wb') <= 4.7"
    ),
}


def run_check(name: str, timeout: float = 120.0) -> tuple[bool, str]:
    """Run one check in a fresh interpreter; ``(ok, last line of its error)``."""
    proc = subprocess.run([sys.executable, "-c", CHECKS[name]], capture_output=True, text=True, timeout=timeout)
    if proc.returncode == 0:
        return True, ""
    lines = [ln for ln in (proc.stderr or "").strip().splitlines() if ln.strip()]
    return False, lines[-1] if lines else f"exit status {proc.returncode}"


def main() -> int:
    failed = 0
    for name in CHECKS:
        ok, why = run_check(name)
        failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {name}" + (f": {why}" if why else ""))
    if failed:
        print(f"{failed} native librar{'y' if failed == 1 else 'ies'} failed to load: reinstall from the lock (make clean-venv install)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
