"""One way to turn an options dataclass into command-line flags, for demo, training and bench.

Every flag has the name of its field (``--batch-size`` sets ``batch_size``; the underscore
spelling works too) and its default, so a command line, a saved ``config`` and the code can't
drift apart. Field help comes from ``option(default, "help")``; ``X | None`` fields accept
``none``; ``tuple[X, ...]`` fields take several values; ``bool`` fields get ``--no-...``.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import types
import typing
from dataclasses import field
from typing import Any


def option(
    default: Any = None,
    help: str = "",  # noqa: A002 (argparse's name)
    aliases: tuple[str, ...] = (),
    **kwargs: Any,
):
    """A dataclass field with its flag help text (defaults must be immutable). ``aliases``: older
    names of the field, still accepted as flags and as keys of saved options."""
    return field(default=default, metadata={"help": help, "aliases": aliases}, **kwargs)


def _flag_type(hint: Any) -> tuple[Any, bool, bool]:
    """(scalar type, optional, many) for an annotation such as ``int | None``."""
    optional = False
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        optional, hint = len(args) < len(typing.get_args(hint)), args[0]
    if typing.get_origin(hint) is tuple:
        return typing.get_args(hint)[0], optional, True
    return hint, optional, False


class OneLineParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line, ``error: ...``, and exit 2 (argparse's
    own adds the usage above it)."""

    def error(self, message: str):
        # A control character typed into a value would break the line: shown escaped.
        shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)
        self.exit(2, f"error: {shown}\n")


def _parser_for(kind: type, optional: bool):
    def parse(value: str):
        if optional and value.lower() == "none":
            return None
        if kind is float:
            number = float(value)
            if not math.isfinite(number):  # nan slips past every range check
                raise argparse.ArgumentTypeError(f"must be a finite number, not {value!r}")
            return number
        return kind(value)

    parse.__name__ = kind.__name__  # argparse names the type in its error message
    return parse


def add_flags(parser: argparse.ArgumentParser, options_cls: type, skip: tuple[str, ...] = ()):
    """One flag per dataclass field: ``--field-name`` (and ``--field_name``, and its aliases),
    same default."""
    hints = typing.get_type_hints(options_cls)
    for f in dataclasses.fields(options_cls):
        if f.name in skip or not f.init:
            continue
        kind, optional, many = _flag_type(hints[f.name])
        names = []
        for name in (f.name, *f.metadata.get("aliases", ())):
            names += dict.fromkeys(["--" + name.replace("_", "-"), "--" + name])
        help_text = f.metadata.get("help", "")
        if kind is bool:
            parser.add_argument(
                *names, dest=f.name, action=argparse.BooleanOptionalAction, default=f.default,
                help=help_text,
            )  # fmt: skip
            continue
        shown = " ".join(map(str, f.default)) if many and f.default else f.default
        parser.add_argument(
            *names, dest=f.name, type=_parser_for(kind, optional), default=f.default,
            nargs="+" if many else None, help=f"{help_text} (default: {shown})",
        )  # fmt: skip


def from_args(options_cls: type, args: argparse.Namespace, **overrides: Any):
    """Build the options from parsed flags (only the fields the dataclass has)."""
    names = {f.name for f in dataclasses.fields(options_cls) if f.init}
    values = {k: v for k, v in vars(args).items() if k in names}
    for k, v in values.items():
        if isinstance(v, list):
            values[k] = tuple(v)
    return options_cls(**{**values, **overrides})


def to_dict(options) -> dict[str, Any]:
    """Field name -> value, JSON-ready (what run.json stores under ``config``)."""
    return dataclasses.asdict(options)


def from_dict(options_cls: type, data: dict[str, Any]):
    """Rebuild options from a saved dict, ignoring keys the dataclass no longer has."""
    if not isinstance(data, dict):
        raise ValueError(f"saved options must be a JSON object, not {type(data).__name__}.")
    names = {f.name: f for f in dataclasses.fields(options_cls) if f.init}
    hints = typing.get_type_hints(options_cls)
    # Saved under an older name (a field's alias): read as the field.
    renamed = {a: f.name for f in names.values() for a in f.metadata.get("aliases", ())}
    data = {renamed.get(k, k): v for k, v in data.items()}
    values = {}
    for k, v in data.items():
        if k in names:
            kind, optional, many = _flag_type(hints[k])
            items = v if many and isinstance(v, list) else [v]
            if (v is None and not optional) or (v is not None and not all(
                _is_a(kind, item) for item in items
            )):  # fmt: skip
                raise ValueError(
                    f"saved option {k} = {str(v)[:40]!r} is not of type {kind.__name__}; the "
                    "saved options (a run.json's config) are damaged."
                )
            values[k] = tuple(v) if isinstance(v, list) and many else v
    return options_cls(**values)


def _is_a(kind: type, value: Any) -> bool:
    """Whether a JSON value fits a field of ``kind`` (an int fits a float, a bool only bool)."""
    if kind is bool or isinstance(value, bool):
        return kind is bool and isinstance(value, bool)
    if kind is float:
        return isinstance(value, int | float)
    return isinstance(value, kind)
