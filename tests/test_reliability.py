"""Bad input through the product paths: one sentence and exit 2 from the CLI, a DemoError from
the app's handlers (shown as one sentence), never a traceback or a silent wrong answer.

Each case is one a tester found (issue "One request must not freeze the app for everyone").
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dashboard import handlers as h
from demo.audio import load_audio, write_wav
from demo.compare import compare
from demo.errors import DemoError
from demo.models import ModelCache
from demo.pipeline import PipelineOptions, References

ROOT = Path(__file__).resolve().parent.parent


def _cli(*args, timeout=300, **env):
    return subprocess.run(
        [sys.executable, "-m", "demo", *args], capture_output=True, text=True, timeout=timeout,
        cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1", **env},
    )  # fmt: skip


def _one_sentence(proc, phrase: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert phrase in lines[0], lines[0]


def _adapter(folder: Path, config, weights: bytes) -> Path:
    folder.mkdir(parents=True)
    text = config if isinstance(config, str) else json.dumps(config)
    (folder / "adapter_config.json").write_text(text)
    (folder / "adapter_model.safetensors").write_bytes(weights)
    return folder


def test_cli_bad_numbers_and_early_checks(jfk_path):
    _one_sentence(_cli("run", str(jfk_path), "--max-seconds", "inf"), "finite")
    _one_sentence(_cli("run", str(jfk_path), "--max-seconds", "nan"), "finite")
    start = time.perf_counter()
    _one_sentence(_cli("run", str(jfk_path), "--language", "de"), "English-only")
    _one_sentence(_cli("run", str(jfk_path), "--language", "xx"), "Unknown language 'xx'")
    assert time.perf_counter() - start < 60  # refused before any model loads (loose: shared CPU)


def test_cli_damaged_adapters_and_pickle_only_model(jfk_path, tmp_path):
    as_list = _adapter(tmp_path / "list", "[1, 2]", b"")
    _one_sentence(_cli("run", str(jfk_path), "--asr-adapter", str(as_list)), "JSON object")
    garbage = _adapter(tmp_path / "garbage", {"peft_type": "LORA"}, b"\x00garbage" * 100)
    _one_sentence(_cli("run", str(jfk_path), "--asr-adapter", str(garbage)), "safetensors")
    half = _adapter(tmp_path / "half", '{"peft_type": "LO', b"")  # killed while saving
    _one_sentence(_cli("run", str(jfk_path), "--asr-adapter", str(half)), "not valid JSON")
    pickled = tmp_path / "pickled-model"
    pickled.mkdir()
    (pickled / "config.json").write_text(json.dumps({"model_type": "whisper"}))
    (pickled / "pytorch_model.bin").write_bytes(b"\x80\x04pickle")
    _one_sentence(_cli("run", str(jfk_path), "--asr", str(pickled)), "safetensors")


def test_cli_huge_reference_is_refused_before_any_work(jfk_path):
    start = time.perf_counter()
    proc = _cli("run", str(jfk_path), "--reference-transcript", "word " * 5000)
    _one_sentence(proc, "over the 20,000-character limit")
    assert time.perf_counter() - start < 60


def test_truncated_wav_is_transcribed_with_a_note(jfk_path, tmp_path):
    whole = write_wav(tmp_path / "whole.wav", load_audio(jfk_path)).read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(whole[: int(len(whole) * 0.7)])  # the header still promises 11 s
    proc = _cli("run", str(cut), "--json")
    assert proc.returncode == 0, proc.stderr
    notes = json.loads(proc.stdout)["notes"]
    assert any("truncated" in note and "11.0 s" in note for note in notes), notes


def test_reference_fields_are_bounded_in_the_app(monkeypatch, jfk_path):
    monkeypatch.setenv("DEMO_MAX_TEXT_CHARS", "100")
    with pytest.raises(DemoError, match="100-character limit"):
        h.transcribe_and_summarize({"audio": str(jfk_path), "reference_summary": "x" * 101})


def test_compare_keeps_going_when_one_configuration_fails(jfk_path):
    configs = [PipelineOptions(quant="fp16", device="cpu"), PipelineOptions(quant="full")]
    rows = compare(jfk_path, configs, References(), cache=ModelCache(2))
    assert not rows[0].ok and "only on cuda" in rows[0].error
    assert rows[1].ok and "ask not" in rows[1].result.transcript.lower()


def test_add_config_refuses_what_cannot_run(monkeypatch):
    config = {"asr": "tiny.en", "quant": "auto", "asr_adapter": "none",
              "summarizer": "bart-large-cnn", "summarizer_adapter": "none"}  # fmt: skip
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DemoError, match="not downloaded"):
        h.add_config([], config)


def test_damaged_adapter_in_checkpoints_is_one_sentence(tmp_path, monkeypatch, write_run):
    run = write_run(tmp_path, "asr-tiny.en-lora-broken", {"method": "lora"}, [])
    _adapter(run / "adapter", {"peft_type": "LORA", "base_model_name_or_path": "tiny.en"},
             b"\x00" * 64)  # fmt: skip
    monkeypatch.setenv("DEMO_CHECKPOINTS", str(tmp_path))
    (label,) = [c for c in h.adapter_choices("tiny.en") if c != h.NO_ADAPTER]
    with pytest.raises(DemoError, match="not a readable safetensors file"):
        h.transcribe_and_summarize({"audio": "tests/data/jfk.flac", "asr_adapter": label})


def _train(*args):
    return subprocess.run(
        [sys.executable, "-m", "training.train_asr", *args], capture_output=True, text=True,
        timeout=600, cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip


def test_training_input_problems_are_sentences_or_counted(tmp_path, jfk_path):
    from training.data import DataReport, read_manifest, speech_examples

    manifest = tmp_path / "manifest.jsonl"
    rows = [{"audio": str(jfk_path), "text": "ask not", "split": "train"},
            {"audio": str(jfk_path), "text": " ... !? ", "split": "train"}]  # fmt: skip
    manifest.write_bytes(b"\xef\xbb\xbf" + "".join(json.dumps(r) + "\n" for r in rows).encode())
    report = DataReport(str(manifest))
    read = read_manifest(manifest, report, strict=False)
    assert len(read) == 2  # the byte-order mark did not cost the first row
    kept = speech_examples(read, report, audio_column="audio", text_column="text",
                           base_dir=None, strict=False)  # fmt: skip
    assert [e.text for e in kept] == ["ask not"] and report.bad["empty text"] == 1
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"run_id": "run", "config": [1, 2]}))
    proc = _train("--resume", str(run))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "config" in proc.stderr.splitlines()[-1]
