"""Reading the text files users hand us (CSV/TSV, YAML, JSON, JSON lines, ``.lst``) and the ones the
toolkit wrote and reads back, with errors that name the file, the line and the problem in one line.

Why one reader: every such file can be in the wrong encoding, hold invalid syntax, or hold the
wrong kind of value at the top (a JSON list where an object belongs). Each of these used to
surface as whatever the library raised (a ``UnicodeDecodeError`` or ``AttributeError``
traceback); here they all become an :class:`SvaeError` subclass (the caller's own, through
``error=``), which the CLI prints as one line with exit status 2. Text is decoded as UTF-8; a
leading byte-order mark is dropped (spreadsheet programs write one).
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any, Type

import yaml

from svae_tts.errors import SvaeError, exc_summary

ENCODING = "utf-8-sig"  # UTF-8; a BOM at the start is skipped rather than becoming part of the first key

_JSON_KIND = {dict: "an object", list: "an array", str: "a string", int: "a number", float: "a number",
              bool: "true/false", type(None): "null"}
_YAML_KIND = {dict: "a mapping", list: "a list", str: "a string", int: "a number", float: "a number",
              bool: "true/false", type(None): "nothing"}


class TextFileError(SvaeError):
    """A user's text file that cannot be read: missing, not UTF-8, invalid syntax, wrong shape."""


def read_text(path: str | os.PathLike, error: Type[SvaeError] = TextFileError) -> str:
    """The whole file as text; a non-UTF-8 byte is reported with its line number."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except IsADirectoryError:
        raise error(f"{path}: is a folder, not a file") from None
    except PermissionError:
        raise error(f"{path}: cannot be read (permission denied)") from None
    except OSError as exc:
        raise error(f"{path}: cannot be read ({exc_summary(exc)})") from None
    try:
        return data.decode(ENCODING)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise error(f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as UTF-8") from None


def _kind(value: Any, names: dict) -> str:
    return names.get(type(value), type(value).__name__)


def _parse_json(text: str, where: str, error: Type[SvaeError], line: int | None = None) -> Any:
    """``json.loads``; errors name ``where`` and the line (``line``: the text is that one line)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"{where}:{line or exc.lineno}: invalid JSON ({exc.msg}, column {exc.colno})") from None
    except RecursionError:
        raise error(f"{where}{f':{line}' if line else ''}: invalid JSON (nested too deeply)") from None
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise error(f"{where}{f':{line}' if line else ''}: invalid JSON ({exc_summary(exc)})") from None


def read_json(path: str | os.PathLike, expect: type | None = dict, error: Type[SvaeError] = TextFileError) -> Any:
    """A JSON file whose top-level value must be of type ``expect`` (an object by default)."""
    obj = _parse_json(read_text(path, error), str(path), error)
    if expect is not None and not isinstance(obj, expect):
        raise error(f"{path}: top level must be {_JSON_KIND.get(expect, expect.__name__)}, found {_kind(obj, _JSON_KIND)}")
    return obj


def read_own_json(path: str | os.PathLike, fix: str, expect: type | None = dict,
                  error: Type[SvaeError] = TextFileError) -> Any:
    """A JSON file this toolkit wrote and reads back (a run's stage log, a job record, a manifest).

    Such a file is damaged by a copy cut short, a full disk or a hand edit, and the user cannot
    repair it line by line: the one line says what :func:`read_json` says (the file, what is wrong)
    and then ``fix``, what to do instead (delete it, use another output folder)."""
    try:
        return read_json(path, expect, error)
    except error as exc:
        raise error(f"{exc}; {fix}") from None


def read_yaml(path: str | os.PathLike, expect: type | None = dict, error: Type[SvaeError] = TextFileError) -> Any:
    """A YAML file (safe loader); an empty file is an empty mapping when a mapping is expected."""
    text = read_text(path, error)
    try:
        obj = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        what = "; ".join(str(p) for p in (getattr(exc, "context", None), getattr(exc, "problem", None)) if p)
        raise error(f"{where}: invalid YAML ({what or exc_summary(exc)})") from None
    except RecursionError:
        raise error(f"{path}: invalid YAML (nested too deeply)") from None
    if obj is None and expect is dict:
        return {}
    if expect is not None and not isinstance(obj, expect):
        raise error(f"{path}: top level must be {_YAML_KIND.get(expect, expect.__name__)}, found {_kind(obj, _YAML_KIND)}")
    return obj


def read_lines(path: str | os.PathLike, error: Type[SvaeError] = TextFileError) -> list[tuple[int, str]]:
    """``(line number, line)`` of every non-blank line (line ends removed)."""
    return [(n, line) for n, line in enumerate(read_text(path, error).splitlines(), 1) if line.strip()]


def read_jsonl(path: str | os.PathLike, error: Type[SvaeError] = TextFileError) -> list[tuple[int, dict]]:
    """``(line number, object)`` per non-blank line; each line must be one JSON object."""
    rows = []
    for n, line in read_lines(path, error):
        obj = _parse_json(line, str(path), error, line=n)
        if not isinstance(obj, dict):
            raise error(f"{path}:{n}: expected a JSON object on each line, found {_kind(obj, _JSON_KIND)}")
        rows.append((n, obj))
    return rows


def check_delimiter(delimiter: str, error: Type[SvaeError] = TextFileError) -> str:
    """A CSV delimiter is one character other than a quote or a line break."""
    if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in "\"\r\n":
        raise error(f"delimiter {delimiter!r}: must be one character such as ',' or a tab")
    return delimiter


def read_csv(path: str | os.PathLike, delimiter: str = ",",
             error: Type[SvaeError] = TextFileError) -> tuple[list[str], list[tuple[int, dict]]]:
    """``(column names, [(line number, row dict), ...])`` of a CSV/TSV with a header line."""
    check_delimiter(delimiter, error)
    reader = csv.DictReader(io.StringIO(read_text(path, error), newline=""), delimiter=delimiter)
    rows = []
    try:
        fields = list(reader.fieldnames or [])
        for row in reader:
            rows.append((reader.line_num, row))
    except csv.Error as exc:
        raise error(f"{path}:{reader.line_num}: unreadable CSV ({exc_summary(exc)})") from None
    return fields, rows
