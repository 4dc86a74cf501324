"""The ``--batch`` list of ``tts synth``: one output name, text and (optionally) reference per line.

Read and checked whole before any synthesis, so a malformed line stops the command at once instead
of after hours of audio, and two lines can never write the same file.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from svae_tts.textio import read_lines
from tts_recipes.errors import TTSError


@dataclass
class BatchRow:
    """One line: the output is ``<name>.wav``; the reference is the command line's for two-column lines."""

    name: str
    text: str
    ref_audio: str | None
    ref_text: str | None


def read_batch_tsv(path: str | os.PathLike, ref_audio: str | None = None, ref_text: str | None = None,
                   asr: bool = False) -> list[BatchRow]:
    """Lines ``name<TAB>text`` (the command line's reference) or ``name<TAB>ref_audio<TAB>ref_text<TAB>text``.

    Empty lines and lines starting with ``#`` are ignored; a malformed line is an error naming it.
    With ``asr`` (an ASR model will transcribe references) a reference may come without its text.
    """
    path = Path(path)
    if not path.is_file():
        raise TTSError(f"{path}: batch list not found")
    rows, names = [], set()
    for n, line in read_lines(path, error=TTSError):  # one-line errors for non-UTF-8 files
        if line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) == 2:
            name, text = parts
            if not ref_audio or not (ref_text or asr):
                raise TTSError(f"{path}:{n}: two-column line needs --ref-audio and --ref-text (or --asr)")
            row = BatchRow(name.strip(), text, ref_audio, ref_text)
        elif len(parts) == 4:
            name, ra, rt, text = parts
            row = BatchRow(name.strip(), text, ra.strip(), rt)
        else:
            raise TTSError(f"{path}:{n}: expected 2 or 4 tab-separated columns, got {len(parts)}")
        if not re.fullmatch(r"[\w.-]+", row.name) or row.name in names:
            raise TTSError(f"{path}:{n}: output name {row.name!r} is empty, has odd characters, or repeats")
        names.add(row.name)
        rows.append(row)
    if not rows:
        raise TTSError(f"{path}: batch list has no lines")
    return rows
