"""The eval package's error type: user-fixable problems (a missing judge model, a bad test list)."""

from svae_tts.errors import SvaeError


class EvalError(SvaeError):
    """A problem with evaluation input: a test list, a run dir, a scoring backend or its model."""
