"""The command line shared by the training scripts: flags from the config, one line per error."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from demo.errors import DemoError
from demo.options import OneLineParser, add_flags, from_args, from_dict

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130  # as a shell reports a Ctrl-C


def build_parser(config_cls: type, prog: str, doc: str) -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog=prog,
        description=doc.strip().split("\n")[0],
        epilog=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_flags(parser, config_cls)
    return parser


def run_cli(
    config_cls: type,
    task,
    argv: list[str] | None,
    *,
    prog: str,
    doc: str,
    expand: Callable | None = None,
) -> int:
    """Parse flags into a config, train (each config ``expand`` makes), report the run folders."""
    from training.loop import RunInterrupted, run_training

    args = build_parser(config_cls, prog, doc).parse_args(argv)
    try:
        config = from_args(config_cls, args)
        configs = expand(config) if expand is not None else [config]
        accelerator = _accelerator(config, config_cls)
        for one in configs:
            run_dir = run_training(one, task, accelerator)
            accelerator.print(f"Run written to {run_dir}")
    except (DemoError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except RunInterrupted as stop:
        print(f"interrupted: {prog} --resume {stop.run_dir} continues it", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0


def _accelerator(config, config_cls: type):
    from accelerate import Accelerator

    from demo.quant import resolve_device

    if config.resume is not None:  # a resumed run keeps the settings it started with
        from training.runs import RunWriter, resolve_run_dir

        run_dir = resolve_run_dir(config.resume, config.output_dir)
        saved = RunWriter(run_dir, enabled=False).read_info().config
        config = from_dict(config_cls, {**saved, "resume": config.resume})
    # "cuda" without a GPU fails here in one sentence. "auto" on a machine without a GPU must
    # say cpu=True too, or processes started by torchrun would not join one CPU process group.
    device = resolve_device(config.device)
    # One for the whole process: a sweep's runs share it (accelerate keeps global state).
    return Accelerator(mixed_precision=config.mixed_precision, cpu=device == "cpu")
