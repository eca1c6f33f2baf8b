"""Where a benchmark's result files go and what they record (through ``demo.provenance``)."""

from __future__ import annotations

import argparse
import csv
import functools
import os
import sys
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from demo.errors import DemoError
from demo.options import OneLineParser, add_flags, from_args
from demo.provenance import (
    ROOT,
    command_line,
    git_commit,
    machine,
    now_iso,
    output_folder,
    output_name,
    repo_relative,
    versions,
    write_json_atomic,
)

DEFAULT_OUT = ROOT / "checkpoints" / "bench"
MAX_RESULT_BYTES = 64 * 1024 * 1024
# --overwrite of the command running now (write_results refuses to replace a file without it)
OVERWRITE: ContextVar[bool] = ContextVar("bench_overwrite", default=False)


def meta(module: str, argv: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    """Everything a result file records about its run: command, date, commit, machine (paths
    inside the repository relative to it)."""
    return {
        "command": command_line(module, argv),
        "date": now_iso(),
        "git_commit": git_commit(),
        "machine": machine(),
        "versions": versions(),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        **{key: repo_relative(value) for key, value in extra.items()},
    }


class _Overwrite(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        OVERWRITE.set(True)
        setattr(namespace, self.dest, True)


def add_output_flags(parser: argparse.ArgumentParser) -> None:
    """``--overwrite``: without it, ``write_results`` refuses to replace a result file."""
    OVERWRITE.set(False)  # a parser built anew starts without it (tests call main() in turn)
    parser.add_argument(
        "--overwrite", action=_Overwrite, nargs=0, default=False,
        help="replace result files of the same --name (refused otherwise)",
    )  # fmt: skip


def check_output(folder: Path, name: str) -> Path:
    """Where ``write_results`` will write ``name.json``, refused in one sentence when ``name``
    is a path, ``folder`` is a file, or the file exists and ``--overwrite`` was not given."""
    try:
        output_name(name, "--name")
        output_folder(Path(folder), "--out")
    except ValueError as exc:
        raise DemoError(str(exc)) from None
    path = Path(folder) / f"{name}.json"
    if path.exists() and not OVERWRITE.get():
        raise DemoError(
            f"{repo_relative(str(path))} already exists; pass --overwrite to replace it, or give "
            "another --name."
        )
    return path


def one_line_errors(main):
    """A benchmark ``main`` whose ``DemoError`` is one line on stderr and exit 2."""

    @functools.wraps(main)
    def wrapped(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except DemoError as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None

    return wrapped


def write_results(
    folder: Path, name: str, meta_: dict, rows: list[dict], csv_rows=None, **extra
) -> Path:
    """Write ``name.json`` ({"meta", "rows", ...extra}) and ``name.csv`` (``csv_rows``, by
    default the rows) into ``folder``; an existing result is replaced only with ``--overwrite``
    (``check_output``)."""
    check_output(folder, name)
    meta_ = {**meta_, "loadavg_end": [round(x, 2) for x in os.getloadavg()]}
    path = write_json_atomic(Path(folder) / f"{name}.json", {"meta": meta_, "rows": rows, **extra})
    csv_rows = rows if csv_rows is None else csv_rows
    columns: list[str] = []
    for row in csv_rows:
        columns += [k for k, v in row.items() if k not in columns and not isinstance(v, list)]
    with open(Path(folder) / f"{name}.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(csv_rows)
    return path


def read_results(path: Path) -> dict | None:
    """A result file written by ``write_results``, or None if it isn't there."""
    from demo.jsonfiles import read_json

    data = read_json(Path(path), limit=MAX_RESULT_BYTES, warnings=[])
    return data if isinstance(data, dict) else None


def set_threads(threads: int) -> int:
    """Use ``threads`` intra-op threads (0: torch's default); the count in effect."""
    import torch

    if threads > 0:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def decoding_label(beams: int) -> str:
    """``greedy`` or ``beam<N>``: how a row names its decoding."""
    return "greedy" if beams == 1 else f"beam{beams}"


def report(path: Path, table: str) -> None:
    """What a benchmark's command prints at the end: its table and where the files went."""
    print(table)
    print(f"\nwritten: {path} (+ .csv)")


def bench_main(parse_args, run, format_table):
    """A benchmark's ``main(argv)``: parse its flags, ``run(options, argv)`` into (result file,
    rows), print its table and files."""

    def main(argv: list[str] | None = None) -> None:
        try:  # bad flags (the options refuse them) or bad input: one line, no traceback
            options = parse_args(argv)
            if hasattr(options, "out") and hasattr(options, "name"):
                check_output(Path(options.out), options.name)  # before, not after, measuring
            path, rows = run(options, argv)
        except DemoError as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
        report(path, format_table(rows))

    return main


def recorded(module: str, measure):
    """``bench_main``'s ``run`` for a benchmark whose rows are dataclasses and whose record is
    its options: ``meta`` first (the load average it starts under), ``measure(options)``, then
    ``write_results``."""
    from dataclasses import asdict

    def run(options, argv: list[str] | None):
        info = meta(module, argv, **asdict(options))
        rows = measure(options)
        return write_results(Path(options.out), options.name, info, [asdict(r) for r in rows]), rows

    return run


def bench_parser(module: str, doc: str) -> OneLineParser:
    """A benchmark's parser: ``python -m <module>``, its docstring's first line, and the output
    flags every benchmark shares."""
    parser = OneLineParser(prog=f"python -m {module}", description=doc.split("\n")[0])
    add_output_flags(parser)
    return parser


def parse_options(options_cls: type, module: str, doc: str, argv, quick: tuple[str, dict]):
    """A benchmark's options from its flags (one per field, ``demo.options``) plus ``--quick``,
    which changes the defaults to ``quick[1]`` (``quick[0]`` is its help)."""
    parser = bench_parser(module, doc)
    parser.add_argument("--quick", action="store_true", help=quick[0])
    add_flags(parser, options_cls)
    if "--quick" in (sys.argv[1:] if argv is None else argv):
        parser.set_defaults(**quick[1])
    args = parser.parse_args(argv)
    try:
        return from_args(options_cls, args)
    except ValueError as exc:  # a value the options refuse: one line, exit 2
        parser.error(str(exc))
