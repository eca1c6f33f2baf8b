"""Run an experiment grid from its recipe file (training/grids/*.yaml), resumably.

    python -m training.grid training/grids/asr.yaml              # every run; finished ones skip
    python -m training.grid training/grids/asr.yaml --only asr-base-full-sci
    python -m training.grid training/grids/lowrank.yaml --dry-run  # the commands, nothing runs

A recipe names the training module, the corpora it needs (``corpora.yaml`` beside it says how
to build each), the flags every run shares, and each run's id with its own flags; ``after``
lists commands (benchmarks) to run once the runs are done. A run whose ``run.json`` says
completed is skipped, one that was cut short resumes (``--resume``), any other starts; every run
records its exact command in its own ``run.json``, as a run started by hand does.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from demo.errors import DemoError
from demo.jsonfiles import read_json

ROOT = Path(__file__).resolve().parent.parent
CORPORA_FILE = "corpora.yaml"  # beside the recipes: corpus name -> {creates, run}
RECIPE_KEYS = {"module", "corpora", "common", "runs", "after"}
RUN_KEYS = {"flags", "if_exists"}
MAX_RECIPE_BYTES = 256 * 1024
RUN_JSON_BYTES = 4 * 1024 * 1024


class GridError(DemoError):
    """A recipe that cannot be read or run: one sentence."""


@dataclass(frozen=True)
class Step:
    why: str  # what the step does, for the log line
    argv: list[str]  # the interpreter's arguments: ["-m", module, *flags]


def read_recipe(path: str | Path) -> dict:
    """The recipe at ``path``, its keys checked (an unknown key names the known ones)."""
    path = Path(path)
    if not path.is_file():
        raise GridError(f"No recipe file at {path}; the grids are training/grids/*.yaml.")
    if path.stat().st_size > MAX_RECIPE_BYTES:
        raise GridError(f"{path} is over {MAX_RECIPE_BYTES // 1024} KB; is it a recipe?")
    try:
        recipe = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise GridError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(recipe, dict) or not isinstance(recipe.get("runs"), dict):
        raise GridError(f"{path} needs a 'runs' mapping (run id -> flags).")
    _known(recipe, RECIPE_KEYS, str(path))
    for run_id, run in recipe["runs"].items():
        if isinstance(run, dict):
            _known(run, RUN_KEYS, f"{path}: run {run_id}")
    recipe["path"] = path
    return recipe


def _known(mapping: dict, keys: set[str], where: str) -> None:
    unknown = sorted(set(mapping) - keys)
    if unknown:
        raise GridError(f"{where}: unknown key {unknown[0]!r}; known: {', '.join(sorted(keys))}.")


def _flags(value) -> list[str]:
    return shlex.split(value) if isinstance(value, str) else [str(v) for v in value or ()]


def _run_status(root: Path, run_id: str) -> str | None:
    """``completed``, another status for a run that started, or None for none."""
    info = root / "checkpoints" / run_id / "run.json"
    if not info.is_file():
        return None
    data = read_json(info, limit=RUN_JSON_BYTES, warnings=[])
    return data.get("status", "started") if isinstance(data, dict) else "started"


def plan(recipe: dict, root: Path = ROOT, only: list[str] | None = None) -> list[Step]:
    """The steps a grid takes from the state of ``root``: corpora to build, runs to start or
    resume (completed ones left out), then the ``after`` commands (not with ``only``)."""
    runs = recipe["runs"]
    unknown = [run_id for run_id in only or () if run_id not in runs]
    if unknown:
        raise GridError(f"No run {unknown[0]!r} in {recipe['path']}; its runs: {', '.join(runs)}.")
    steps = [Step(f"corpus {name}", argv) for name, argv in _corpora(recipe, root)]
    module = recipe.get("module")
    for run_id, run in runs.items():
        if only and run_id not in only:
            continue
        status = _run_status(root, run_id)
        if status == "completed":
            continue
        if status is not None:
            resume = ["-m", module, "--resume", f"checkpoints/{run_id}"]
            steps.append(Step(f"{run_id}: resuming", resume))
            continue
        run = run if isinstance(run, dict) else {"flags": run}
        flags = _flags(recipe.get("common")) + _flags(run.get("flags"))
        for path, extra in (run.get("if_exists") or {}).items():
            if (root / path).exists():  # e.g. a trained bridge to start from, when there is one
                flags += _flags(extra)
        steps.append(Step(run_id, ["-m", module, "--run-id", run_id, *flags]))
    if not only:
        steps += [Step("after", ["-m", *_flags(command)]) for command in recipe.get("after", ())]
    return steps


def _corpora(recipe: dict, root: Path) -> list[tuple[str, list[str]]]:
    names = recipe.get("corpora") or []
    if not names:
        return []
    known = yaml.safe_load((recipe["path"].parent / CORPORA_FILE).read_text(encoding="utf-8"))
    missing = []
    for name in names:
        if name not in known:
            raise GridError(f"{recipe['path']}: no corpus {name!r} in {CORPORA_FILE}.")
        if not (root / known[name]["creates"]).exists():
            missing.append((name, ["-m", *_flags(known[name]["run"])]))
    return missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.grid", description=__doc__)
    parser.add_argument("recipe", help="a recipe file, e.g. training/grids/asr.yaml")
    parser.add_argument("--only", nargs="+", metavar="RUN_ID", help="these runs only")
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run none")
    args = parser.parse_args(argv)
    try:
        steps = plan(read_recipe(args.recipe), ROOT, args.only)
    except GridError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for step in steps:
        command = [sys.executable, *step.argv]
        print(f"== {step.why}: python {shlex.join(step.argv)}", flush=True)
        if args.dry_run:
            continue
        code = subprocess.run(command, cwd=ROOT).returncode
        if code != 0:
            print(f"error: {step.why} stopped with exit status {code}.", file=sys.stderr)
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
