"""The error family of the data stage."""

from svae_tts.errors import SvaeError, exc_summary

__all__ = ["DataError", "exc_summary"]


class DataError(SvaeError):
    """A corpus, dataset, teacher or latent input that cannot be used; the message names it."""
