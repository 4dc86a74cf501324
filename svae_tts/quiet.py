"""Loading another library's model without its chatter: one context manager for every such load.

transformers logs a multi-line "LOAD REPORT" of missing and unexpected weight keys, and it and
huggingface_hub draw progress bars, when a model loads; Python warnings (deprecations, a config
attribute it does not know) come on top. On a command line that is dozens of lines around the one
line that matters, so the loaders of the judges and teachers wrap the load in
:func:`quiet_library_loads`: the libraries' verbosity is set to errors only, their progress bars
and Python's warnings are off inside, and everything is restored as it was afterwards, an
exception included. A load that fails still raises; the loader turns that into its own one line.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Iterator


@contextlib.contextmanager
def quiet_library_loads() -> Iterator[None]:
    """transformers' and huggingface_hub's logging at errors only, their progress bars and Python
    warnings off, inside the block; restored on the way out."""
    with contextlib.ExitStack() as stack:
        stack.enter_context(warnings.catch_warnings())
        warnings.simplefilter("ignore")
        try:
            from transformers.utils import logging as tf_logging
        except ImportError:
            tf_logging = None
        if tf_logging is not None:
            verbosity, bars = tf_logging.get_verbosity(), tf_logging.is_progress_bar_enabled()
            tf_logging.set_verbosity_error()
            tf_logging.disable_progress_bar()
            stack.callback(tf_logging.set_verbosity, verbosity)
            stack.callback(tf_logging.enable_progress_bar if bars else tf_logging.disable_progress_bar)
        try:
            from huggingface_hub import utils as hub_utils
        except ImportError:
            hub_utils = None
        if hub_utils is not None:
            hub_bars_off = hub_utils.are_progress_bars_disabled()
            hub_utils.disable_progress_bars()
            if not hub_bars_off:
                stack.callback(hub_utils.enable_progress_bars)
        yield


__all__ = ["quiet_library_loads"]
