"""The experiment grids (training/grids/*.sh) ask only for what the scripts accept.

Each grid runs in a scratch copy of the repo (no run folders: every run is a fresh start, no
data: every corpus is built) with PY pointing at a recorder instead of the interpreter. Each
recorded command is then parsed by its own module in-process: a training run's flags become
its config (every check in the config runs), the corpus builder's and the benches' flags go
through their parsers. Nothing trains and nothing is built.
"""

import argparse
import importlib
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GRIDS = sorted((ROOT / "training" / "grids").glob("*_grid.sh"))
RECORDER = """#!{python}
import json, sys
with open({log!r}, "a") as out:
    out.write(json.dumps(sys.argv[1:]) + "\\n")
"""


class _Parsed(Exception):
    """Raised once a bench's or the corpus builder's flags have parsed."""


def _recorded(grid: Path, tmp_path: Path) -> list[list[str]]:
    scratch = tmp_path / "repo"
    shutil.copytree(ROOT / "training" / "grids", scratch / "training" / "grids")
    log = tmp_path / "commands.jsonl"
    recorder = tmp_path / "python"
    recorder.write_text(RECORDER.format(python=sys.executable, log=str(log)))
    recorder.chmod(recorder.stat().st_mode | stat.S_IEXEC)
    script = scratch / "training" / "grids" / grid.name
    env = {k: v for k, v in os.environ.items() if k not in ("RUNS", "SIZES", "NQS")}
    result = subprocess.run(
        ["bash", str(script)], env={**env, "PY": str(recorder)}, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in log.read_text().splitlines()]


def _check(command: list[str], monkeypatch) -> None:
    assert command[0] == "-m", command
    module, argv = command[1], command[2:]
    seen = []
    if module.startswith("training.train_"):
        import training.loop

        def record(config, task, accelerator=None):
            seen.append(config)
            return Path("unused")

        monkeypatch.setattr(training.loop, "run_training", record)
        assert importlib.import_module(module).main(argv) == 0, command
        assert seen, command
        return

    def parse_then_stop(self, args=None, namespace=None):
        parsed = original(self, args, namespace)
        seen.append(parsed)
        raise _Parsed

    original = argparse.ArgumentParser.parse_args
    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_then_stop)
    with pytest.raises(_Parsed):
        importlib.import_module(module).main(argv)
    assert seen, command


@pytest.mark.parametrize("grid", GRIDS, ids=[g.stem for g in GRIDS])
def test_every_command_of_the_grid_parses(grid, tmp_path, monkeypatch):
    commands = _recorded(grid, tmp_path)
    assert commands, f"{grid.name} ran nothing"
    for command in commands:
        with monkeypatch.context() as patch:
            _check(command, patch)
