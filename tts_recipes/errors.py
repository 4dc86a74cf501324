"""The TTS stage's user-facing error type."""

from svae_tts.errors import SvaeError


class TTSError(SvaeError):
    """Bad input to TTS training or synthesis (empty or too-long text, unusable reference, missing VAE...)."""
