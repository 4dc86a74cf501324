"""The one error family users can cause.

Every stage raises a subclass of :class:`SvaeError` for problems in user input (a bad file, a
wrong config value, a missing model). The CLI turns these into a one-line message and exit status
2; anything else is a bug and keeps its traceback.
"""


def exc_summary(exc: BaseException, limit: int = 200) -> str:
    """``"TypeName: first line of the message"`` (cut to ``limit``): a library's error kept to one line
    inside ours. An empty message gives the type name alone (never an IndexError)."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:limit]}" if text else type(exc).__name__


class SvaeError(Exception):
    """A problem the user can fix; the message names the input and the problem in one line."""


class AudioError(SvaeError):
    """An audio file that cannot be used (unreadable, empty, non-finite, bad sample rate...)."""


class ConfigError(SvaeError):
    """A config file or override that does not fit its dataclass."""


class CheckpointError(SvaeError):
    """A model directory or hub id that cannot be loaded, or weights that do not fit."""


class OutputExistsError(SvaeError):
    """An output the user owns would be overwritten without ``overwrite=True``."""


class DataError(SvaeError):
    """A corpus, dataset, teacher or latent input that cannot be used; the message names it.

    Defined in the core because the artefact readers (:mod:`svae_tts.formats`) raise it for every
    stage that reads a corpus, feature store or latent set; :mod:`data_prep.errors` exports it as
    the data stage's error."""
