"""The error family of the data stage."""

from svae_tts.errors import SvaeError


class DataError(SvaeError):
    """A corpus, dataset, teacher or latent input that cannot be used; the message names it."""


def exc_summary(exc: BaseException, limit: int = 200) -> str:
    """``"TypeName: first line of the message"`` (cut to ``limit``): a library's error, kept to one line
    inside ours. An empty message gives the type name alone."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:limit]}" if text else type(exc).__name__
