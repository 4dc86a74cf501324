"""svae-tts: speech synthesis on semantically aligned VAE latents.

This package is the front door (the ``svae-tts`` CLI) and the small core every stage shares:
audio I/O, configs, checkpoint I/O, atomic writes, the error type the CLI reports, and the
readers and writers of the artefacts that cross stages (:mod:`svae_tts.formats`).
It imports none of the stage packages (``vae``, ``data_prep``, ``tts_recipes``, ``eval``).
"""

from svae_tts.errors import SvaeError

__version__ = "0.1.0"

__all__ = ["SvaeError", "__version__"]
