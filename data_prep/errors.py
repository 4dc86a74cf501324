"""The error family of the data stage (``DataError`` lives in the core: the artefact readers raise it too)."""

from svae_tts.errors import DataError, exc_summary

__all__ = ["DataError", "exc_summary"]
