"""``python -m demo``: real runs in a subprocess, exit codes, and flag/option parity."""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

from demo.cli import build_parser
from demo.metrics import wer
from demo.pipeline import PipelineOptions
from tests.conftest import JFK_TEXT

ROOT = Path(__file__).resolve().parent.parent


def _cli(*args, timeout=300):
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    return subprocess.run(
        [sys.executable, "-m", "demo", *args],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env,
    )  # fmt: skip


def test_run_json(jfk_path):
    proc = _cli("run", str(jfk_path), "--asr", "tiny.en", "--quant", "int8",
                "--summarizer", "extractive", "--json")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert wer(JFK_TEXT, result["transcript"]) <= 0.10
    assert result["options"]["quant"] == "int8"
    assert result["timings"]["asr"] > 0 and result["memory"]["asr"]["weights_mb"] > 0


def test_run_text_output(jfk_path):
    proc = _cli("run", str(jfk_path))
    assert proc.returncode == 0, proc.stderr
    assert "ask not what your country" in proc.stdout
    assert "Latency:" in proc.stdout and "Memory:" in proc.stdout


def test_bad_input_exits_nonzero_with_one_sentence(tmp_path):
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    proc = _cli("run", str(bad))
    assert proc.returncode == 2
    assert "error: The file isn't a readable audio file" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = _cli("run", str(bad), "--asr", "huge")
    assert proc.returncode == 2 and "Unknown Whisper model 'huge'" in proc.stderr


def test_models_lists_every_choice_with_offline_status():
    proc = _cli("models")
    assert proc.returncode == 0
    assert "tiny.en          bundled" in proc.stdout
    assert "base             bundled" in proc.stdout
    assert "large-v3" in proc.stdout and "extractive" in proc.stdout and "nf4" in proc.stdout


def test_cli_flags_match_option_fields():
    run = build_parser()._subparsers._group_actions[0].choices["run"]
    flags = {a.dest for a in run._actions} - {"help", "clip", "json"}
    assert flags == {f.name for f in dataclasses.fields(PipelineOptions)}
    defaults = {a.dest: a.default for a in run._actions if a.dest in flags}
    assert defaults == {f.name: f.default for f in dataclasses.fields(PipelineOptions)}
