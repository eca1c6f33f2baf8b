"""``python -m demo``: real runs in a subprocess, exit codes, quiet output, flag/option parity."""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

from demo.cli import build_parser
from demo.metrics import wer
from demo.pipeline import PipelineOptions

ROOT = Path(__file__).resolve().parent.parent
NOT_OPTIONS = {
    "help",
    "clip",
    "json",
    "format",
    "out",
    "verbose",
    "reference_transcript",
    "reference_summary",
    "key_fact",
}


def _cli(*args, timeout=300):
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    return subprocess.run(
        [sys.executable, "-m", "demo", *args],
        capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env,
    )  # fmt: skip


def test_run_json_with_no_flags_reports_the_resolved_mode(jfk_path, jfk_text):
    proc = _cli("run", str(jfk_path), "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)  # stdout is only JSON
    assert wer(jfk_text, result["transcript"]) <= 0.10
    assert result["options"]["quant"] == "auto"
    assert result["memory"]["asr"]["quant"] == "fast-int8"  # what auto became on this CPU
    # The fast rebuild happens while loading, so it is timed as load, not as transcription.
    assert result["timings"]["load"] > result["timings"]["asr"] > 0
    assert proc.stderr.strip() == "", proc.stderr  # no progress bars, no library warnings


def test_run_text_output_and_scores(jfk_path, jfk_text):
    proc = _cli("run", str(jfk_path), "--quant", "int8", "--reference-transcript", jfk_text)
    assert proc.returncode == 0, proc.stderr
    assert "ask not what your country" in proc.stdout
    assert "Latency:" in proc.stdout and "Memory:" in proc.stdout and "(int8)" in proc.stdout
    assert "Score wer: 0.0" in proc.stdout
    assert "Warning" not in proc.stderr and "warn" not in proc.stderr.lower()


def test_bad_input_exits_2_with_one_sentence(tmp_path):
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
    assert "auto" in proc.stdout and "asr on cpu: fast-int8" in proc.stdout


def test_cli_flags_match_option_fields():
    run = build_parser()._subparsers._group_actions[0].choices["run"]
    flags = {a.dest for a in run._actions} - NOT_OPTIONS
    assert flags == {f.name for f in dataclasses.fields(PipelineOptions)}
    defaults = {a.dest: a.default for a in run._actions if a.dest in flags}
    assert defaults == {f.name: f.default for f in dataclasses.fields(PipelineOptions)}
