"""Bad input through the product paths: one sentence and exit 2 from the CLI, a DemoError from
the app's handlers (shown as one sentence), never a traceback or a silent wrong answer.

Each case is one a tester found (issue "One request must not freeze the app for everyone").
"""

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dashboard import compare_view
from dashboard import handlers as h
from demo.audio import load_audio, write_wav
from demo.cancel import Cancelled, cancellable
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


def test_references_at_the_limit_are_scored_in_seconds(jfk_path):
    words = "and so my fellow americans ask not what your country can do for you".split()
    reference = " ".join(words[i * 7 % len(words)] for i in range(4000))[:20_000]
    h.transcribe_and_summarize({"audio": str(jfk_path)})  # models loaded outside the timing
    start = time.perf_counter()
    out = h.transcribe_and_summarize({"audio": str(jfk_path), "summary_sentences": 10,
                                      "reference_transcript": reference,
                                      "reference_summary": reference})  # fmt: skip
    assert time.perf_counter() - start < 30  # about 3 s: no quadratic ROUGE-S or word diff
    assert {name for name, _ in out["scores"]} >= {"WER (%)", "ROUGE-S (x100)"}
    assert out["transcript_diff"].visible is True


def test_compare_keeps_going_when_one_configuration_fails(jfk_path):
    configs = [PipelineOptions(quant="fp16", device="cpu"),
               PipelineOptions(summarizer="bart-large-cnn"),  # a hub model, offline
               PipelineOptions(quant="full")]  # fmt: skip
    rows = compare(jfk_path, configs, References(), cache=ModelCache(2))
    assert not rows[0].ok and "only on cuda" in rows[0].error
    assert not rows[1].ok and "is not downloaded" in rows[1].error
    assert rows[2].ok and "ask not" in rows[2].result.transcript.lower()
    cards = compare_view.compare_cards_html(rows)
    assert "only on cuda" in cards and "is not downloaded" in cards  # the sentence, not "Error"


def test_compare_is_bounded_cancellable_and_leaves_no_old_folders(jfk_path, tmp_path, monkeypatch):
    import app
    from demo import compare as compare_module

    config = {"asr": "tiny.en", "quant": "auto", "asr_adapter": "none",
              "summarizer": "extractive", "summarizer_adapter": "none"}  # fmt: skip
    monkeypatch.setenv("DEMO_MAX_COMPARE_SECONDS", "20")
    with pytest.raises(DemoError, match="22 s of audio .* over the 20 s limit"):
        h.run_compare({"audio": str(jfk_path), "configs": [config] * 2})  # before any model
    monkeypatch.delenv("DEMO_MAX_COMPARE_SECONDS")

    # Stop during the first configuration: the second one never starts.
    stop, ran = threading.Event(), []
    real = compare_module.run_pipeline

    def run_then_stop(*args, **kwargs):
        ran.append(1)
        result = real(*args, **kwargs)
        stop.set()
        return result

    monkeypatch.setattr(compare_module, "run_pipeline", run_then_stop)
    with cancellable(stop), pytest.raises(Cancelled, match="cancelled"):
        h.run_compare({"audio": str(jfk_path), "configs": [config] * 2})
    assert ran == [1]
    monkeypatch.setattr(compare_module, "run_pipeline", real)

    # Result folders older than an hour go when a new one is made; gradio ages out uploads.
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    old, young, other = (tmp_path / n for n in ("stt-demo-compare-old", "stt-demo-charts-new",
                                                "stt-demo-mine"))  # fmt: skip
    for folder in (old, young, other):
        folder.mkdir()
    os.utime(old, (time.time() - 2 * 3600,) * 2)
    os.utime(other, (time.time() - 2 * 3600,) * 2)
    out = h.run_compare({"audio": str(jfk_path), "configs": [config]})
    assert Path(out["csv"]).parent.parent == tmp_path
    assert not old.exists() and young.exists() and other.exists()
    assert app.build_demo().delete_cache == (3600, 3600)


def test_add_config_refuses_what_cannot_run(monkeypatch):
    config = {"asr": "tiny.en", "quant": "auto", "asr_adapter": "none",
              "summarizer": "bart-large-cnn", "summarizer_adapter": "none"}  # fmt: skip
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DemoError, match="not downloaded"):
        h.add_config([], config)


def test_damaged_adapter_in_checkpoints_is_one_sentence(tmp_path, monkeypatch, write_run):
    import gradio as gr

    import app

    broken = write_run(tmp_path, "asr-tiny.en-lora-broken", {"method": "lora"}, [])
    _adapter(broken / "adapter", {"peft_type": "LORA", "base_model_name_or_path": "tiny.en"},
             b"\x00" * 64)  # fmt: skip
    listed = write_run(tmp_path, "asr-tiny.en-lora-listed", {"method": "lora"}, [])
    _adapter(listed / "adapter", "[1, 2]", b"")
    monkeypatch.setenv("DEMO_CHECKPOINTS", str(tmp_path))
    labels = sorted(c for c in h.adapter_choices("tiny.en") if c != h.NO_ADAPTER)
    assert len(labels) == 2, labels
    run = app.user_errors(h.transcribe_and_summarize)
    phrases = ("not a readable safetensors file", "JSON object")  # broken, listed
    for label, phrase in zip(labels, phrases, strict=True):
        with pytest.raises(gr.Error) as raised:
            run({"audio": "tests/data/jfk.flac", "asr_adapter": label})
        message = raised.value.message
        assert phrase in message and "Traceback" not in message and message.count(". ") == 0


def _pty_cli(*args) -> str:
    """What ``python -m demo run`` writes to a terminal (progress bars on), as text."""
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "demo", "run", *args], stdin=slave, stdout=subprocess.DEVNULL,
        stderr=slave, cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert proc.wait(timeout=300) in (0, 2)
    return out.decode(errors="replace")


def test_cli_on_a_terminal_shows_progress_then_errors_on_a_line_of_their_own(jfk_path, tmp_path):
    garbage = _adapter(tmp_path / "garbage", {"peft_type": "LORA"}, b"\x00garbage" * 100)
    screen = _pty_cli(str(jfk_path), "--asr-adapter", str(garbage))
    assert "loading models" in screen  # the error came while the bar was up
    before, error = screen.split("error: ", 1)
    assert before.endswith(("\r", "\n")) and before.rstrip("\r\n").split("\r")[-1].strip() == ""
    assert "safetensors" in error and "Traceback" not in screen
    # The transformers path (full) on a terminal: bars only, no library warning among them.
    screen = _pty_cli(str(jfk_path), "--quant", "full")
    assert "summarizing" in screen
    assert "transformers" not in screen and "deprecated" not in screen, screen[-800:]


def _train(*args):
    return subprocess.run(
        [sys.executable, "-m", "training.train_asr", *args], capture_output=True, text=True,
        timeout=600, cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip


def test_training_input_problems_are_sentences_or_counted(tmp_path, jfk_path):
    from training.data import DataReport, read_manifest, speech_examples, text_pairs

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
    pairs = [(1, {"text": "a paper", "summary": "a summary"}), (2, {"text": "b", "summary": "—;"}),
             (3, {"text": " ?! ", "summary": "c"})]  # fmt: skip
    report = DataReport("pairs")
    kept = text_pairs(pairs, report, text_column="text", summary_column="summary", strict=False)
    assert [p.summary for p in kept] == ["a summary"]
    assert report.bad["empty summary"] == 1 and report.bad["empty text"] == 1
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"run_id": "run", "config": [1, 2]}))
    proc = _train("--resume", str(run))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "config" in proc.stderr.splitlines()[-1]
    notes = tmp_path / "notes.txt"
    notes.write_text("keep me")
    proc = subprocess.run(
        [sys.executable, "-m", "training.make_speech_corpus", "--out", str(notes)],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    _one_sentence(proc, "is a file; name a folder")
    assert notes.read_text() == "keep me"
