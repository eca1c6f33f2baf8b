"""The experiment grids (training/grids/*.yaml, run by ``python -m training.grid``).

Each recipe is planned as in a fresh checkout (no run folders: every run is a fresh start, no
data: every corpus is built), and each planned command is parsed by its own module in-process:
a training run's flags become its config (every check in the config runs), the corpus
builder's and the benches' flags go through their parsers. Nothing trains and nothing is built.
The runner's own choices (skip a completed run, resume a cut one, refuse a bad recipe) are
tested on a small recipe.
"""

import argparse
import importlib
import json
from pathlib import Path

import pytest

from training.grid import GridError, main, plan, read_recipe

ROOT = Path(__file__).resolve().parent.parent
GRIDS = sorted((ROOT / "training" / "grids").glob("*.yaml"))
RECIPES = [g for g in GRIDS if g.name != "corpora.yaml"]


class _Parsed(Exception):
    """Raised once a bench's or the corpus builder's flags have parsed."""


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


@pytest.mark.parametrize("grid", RECIPES, ids=[g.stem for g in RECIPES])
def test_every_command_of_the_grid_parses(grid, tmp_path, monkeypatch):
    steps = plan(read_recipe(grid), tmp_path)
    runs = [s for s in steps if "--run-id" in s.argv]
    assert runs, f"{grid.name} plans no run"
    assert len({s.argv[3] for s in runs}) == len(runs)  # run ids are unique
    for step in steps:
        with monkeypatch.context() as patch:
            _check(step.argv, patch)


def _recipe(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "grids" / "tiny.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    (path.parent / "corpora.yaml").write_text(
        "clips:\n  creates: data/clips/manifest.jsonl\n"
        "  run: training.make_speech_corpus --out data/clips\n"
    )
    return path


def test_the_runner_skips_completed_runs_resumes_cut_ones_and_builds_missing_corpora(tmp_path):
    recipe = read_recipe(
        _recipe(
            tmp_path,
            """
module: training.train_asr
corpora: [clips]
common: --train data/clips/manifest.jsonl --epochs 1
runs:
  done: --method lora
  cut: --method lora
  new:
    flags: --method full --quant fp32
    if_exists:
      data/start.txt: --lr 1e-4
after:
  - bench.asr --quick
""",
        )
    )
    for run_id, status in (("done", "completed"), ("cut", "running")):
        folder = tmp_path / "checkpoints" / run_id
        folder.mkdir(parents=True)
        (folder / "run.json").write_text(json.dumps({"status": status}))
    argvs = [s.argv for s in plan(recipe, tmp_path)]
    assert argvs[0][:3] == ["-m", "training.make_speech_corpus", "--out"]  # data/clips is missing
    assert ["-m", "training.train_asr", "--resume", "checkpoints/cut"] in argvs
    new = ["-m", "training.train_asr", "--run-id", "new", "--train", "data/clips/manifest.jsonl",
           "--epochs", "1", "--method", "full", "--quant", "fp32"]  # fmt: skip
    assert new in argvs and argvs[-1] == ["-m", "bench.asr", "--quick"]
    assert not any("done" in argv for argv in argvs)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "start.txt").write_text("")
    assert [*new, "--lr", "1e-4"] in [s.argv for s in plan(recipe, tmp_path)]
    only = [s.argv for s in plan(recipe, tmp_path, only=["cut"])]
    assert only[-1] == ["-m", "training.train_asr", "--resume", "checkpoints/cut"]  # no "after"


def test_a_bad_recipe_or_run_id_is_one_sentence(tmp_path, capsys):
    with pytest.raises(GridError, match="unknown key 'flagz'"):
        read_recipe(_recipe(tmp_path, "module: m\nruns:\n  a:\n    flagz: --x\n"))
    with pytest.raises(GridError, match="needs a 'runs' mapping"):
        read_recipe(_recipe(tmp_path, "module: m\n"))
    recipe = _recipe(tmp_path, "module: training.train_asr\nruns:\n  a: --method lora\n")
    with pytest.raises(GridError, match="No run 'b'"):
        plan(read_recipe(recipe), tmp_path, only=["b"])
    assert main([str(tmp_path / "none.yaml")]) == 2
    assert capsys.readouterr().err.startswith("error: No recipe file at")
