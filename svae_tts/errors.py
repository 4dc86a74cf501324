"""The one error family users can cause.

Every stage raises a subclass of :class:`SvaeError` for problems in user input (a bad file, a
wrong config value, a missing model). The CLI turns these into a one-line message and exit status
2; anything else is a bug and keeps its traceback. The exit statuses every command keeps are the
``EXIT_*`` constants below (0 done, 2 a user error before any work, 3 done with items skipped,
1 a bug), defined here once so every stage and the CLI use the same numbers.
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


# -- exit statuses: the one contract every command keeps ------------------------------------------------
EXIT_OK = 0  # everything asked for was done (outputs kept from an earlier run count as done)
EXIT_INTERNAL = 1  # an unexpected error: a bug, reported with its traceback
EXIT_USER_ERROR = 2  # a user error, found before any work (or every item of a batch was bad): nothing written
EXIT_SKIPPED = 3  # done, but some items were skipped; they are listed, with the reason, on stderr and in the report


class NothingDone(SvaeError):
    """Every item of a batch job failed: a user error (exit 2), and no output is left behind."""


def named(name: str, reason: str) -> str:
    """``"name: reason"``, or ``reason`` alone when it already starts with the name (most do)."""
    return reason if reason.startswith(str(name)) else f"{name}: {reason}"


def nothing_done(what: str, failed: list[tuple[str, str]], limit: int = 3) -> NothingDone:
    """The one-line error of a batch job none of whose ``failed`` ``(item, reason)`` pairs worked:
    the count, and the first ``limit`` items with their reasons."""
    shown = "; ".join(named(name, reason) for name, reason in failed[:limit])
    more = f"; ... {len(failed) - limit} more" if len(failed) > limit else ""
    return NothingDone(f"{what}: nothing done, all {len(failed)} item(s) failed ({shown}{more})")
