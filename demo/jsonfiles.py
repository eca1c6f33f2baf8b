"""Read JSON that other processes wrote (run.json, metrics.jsonl, benchmark results), tolerantly.

One reader for every such file: the size is bounded before reading, the nesting depth before
parsing, and a value that the charts and tables can't hold (an integer beyond 64 bits) is left
out with a warning. Nothing here raises for what a file contains: a bad value, a bad line or a
bad file becomes one warning sentence and the rest is kept.

    warnings: list[str] = []
    info = read_json(run_dir / "run.json", base=root, limit=4 << 20, warnings=warnings)
    lines = read_jsonl(run_dir / "metrics.jsonl", base=root, limit=64 << 20, warnings=warnings)
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

MAX_DEPTH = 32  # real files nest 3-4 deep; deeper is damage (or a trap for recursion)
INT64 = 2**63  # integers at or beyond this don't fit a chart's or table's number column
_MAX_INT_DIGITS = 19  # longer digit strings are never converted (int() is slow on huge ones)
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


class JsonProblem(ValueError):
    """A file or line that can't be used at all; the message is one sentence."""


class _Oversized:
    """Stands for an integer too large to keep, until ``_drop_oversized`` removes it."""

    def __repr__(self) -> str:
        return "<oversized integer>"


OVERSIZED = _Oversized()


def _parse_int(text: str) -> int | _Oversized:
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:
        return OVERSIZED
    value = int(text)
    return value if -INT64 <= value < INT64 else OVERSIZED


def nesting_depth(text: str) -> int:
    """How deeply arrays and objects nest in JSON ``text`` (brackets inside strings ignored)."""
    if text.count("[") + text.count("{") <= 1:
        return text.count("[") + text.count("{")
    brackets = _NOT_BRACKET.sub("", _STRINGS.sub("", text))
    depth = deepest = 0
    for char in brackets:
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth = max(depth - 1, 0)
    return deepest


def parse_json(text: str, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` with the nesting bounded first; integers beyond 64 bits are ``OVERSIZED``.

    Raises ``JsonProblem`` (one sentence) when the text is not JSON or nests too deeply.
    """
    if text.count("[") + text.count("{") > max_depth and nesting_depth(text) > max_depth:
        raise JsonProblem(f"it nests deeper than {max_depth} levels")
    try:
        return json.loads(text, parse_int=_parse_int)
    except json.JSONDecodeError as exc:
        raise JsonProblem(f"it is not valid JSON ({exc.msg}, line {exc.lineno})") from None
    except (ValueError, RecursionError) as exc:
        raise JsonProblem(f"it is not valid JSON ({type(exc).__name__})") from None


def drop_oversized(value: Any, warnings: list[str], where: str) -> Any:
    """``value`` with every ``OVERSIZED`` integer left out, one warning naming each field."""
    if value is OVERSIZED:
        warnings.append(f"{where} holds an integer too large to use; ignored.")
        return None
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if item is OVERSIZED:
                warnings.append(f"{where}: field {key!r} holds an integer too large; ignored.")
            else:
                out[key] = drop_oversized(item, warnings, where)
        return out
    if isinstance(value, list):
        kept = [item for item in value if item is not OVERSIZED]
        if len(kept) < len(value):
            warnings.append(f"{where}: a list holds an integer too large; it was left out.")
        return [drop_oversized(item, warnings, where) for item in kept]
    return value


def read_text(
    path: Path, limit: int, warnings: list[str], base: Path | None = None, whole: bool = False
) -> str | None:
    """The file's text (read up to ``limit`` bytes), or None with a warning when it is missing,
    resolves outside ``base``, is not a regular file or can't be read (or, with ``whole``, is
    larger than ``limit``: a cut-off JSON document is no use)."""
    if not (path.is_symlink() or path.exists()):
        warnings.append(f"{path.name} is missing.")
        return None
    try:
        target = path.resolve()
    except (OSError, RuntimeError):
        warnings.append(f"{path.name} can't be resolved; ignored.")
        return None
    if base is not None and not (target == base or target.is_relative_to(base)):
        warnings.append(f"{path.name} points outside the folder it is read from; ignored.")
        return None
    if not target.is_file():
        warnings.append(f"{path.name} is not a regular file; ignored.")
        return None
    try:
        with target.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        warnings.append(f"{path.name} can't be read ({exc.strerror or exc}).")
        return None
    if len(data) > limit and whole:
        warnings.append(f"{path.name} is larger than {_size(limit)}; ignored.")
        return None
    if len(data) > limit:
        warnings.append(f"{path.name} is larger than {_size(limit)}; read in part.")
        data = data[:limit]
    return data.decode("utf-8", errors="replace")


def read_json(path: Path, *, limit: int, warnings: list[str], base: Path | None = None) -> Any:
    """The JSON value in ``path``, or None with a warning; oversized integers are left out."""
    text = read_text(path, limit, warnings, base, whole=True)
    if text is None:
        return None
    try:
        value = parse_json(text)
    except JsonProblem as exc:
        warnings.append(f"{path.name} can't be used: {exc}; ignored.")
        return None
    return drop_oversized(value, warnings, path.name)


def read_jsonl(
    path: Path, *, limit: int, warnings: list[str], base: Path | None = None
) -> list[dict[str, Any]]:
    """The JSON objects of a JSONL file, in order; each bad line is skipped with a warning (a
    cut-off last line, as a run killed while writing leaves, says so)."""
    text = read_text(path, limit, warnings, base)
    if text is None:
        return []
    lines = text.splitlines()
    last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = parse_json(line)
        except JsonProblem as exc:
            if number - 1 == last and "not valid JSON" in str(exc):
                warnings.append(
                    f"The last line of {path.name} is incomplete (run killed or still "
                    "writing); it was skipped."
                )
            else:
                warnings.append(f"Line {number} of {path.name} can't be used: {exc}; skipped.")
            continue
        if not isinstance(record, dict):
            warnings.append(f"Line {number} of {path.name} is not a JSON object; skipped.")
            continue
        records.append(drop_oversized(record, warnings, f"Line {number} of {path.name}"))
    return records


def _size(limit: int) -> str:
    return f"{limit / 2**20:g} MB" if limit >= 2**20 else f"{limit:,} bytes"
