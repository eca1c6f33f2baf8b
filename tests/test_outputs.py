"""Training and bench CLIs: every error one line, outputs only inside their folder and never
replaced without --overwrite, resume state loaded without unpickling anything; settings and
wording cases (issue 39, items 3 and 4)."""

import contextlib
import io
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import app
from bench import env as bench_env
from demo.adapters import check_adapter_dir
from demo.asr.registry import get_whisper_model
from demo.audio import SAMPLE_RATE, load_audio, write_wav
from demo.errors import DemoError
from demo.options import from_args, from_dict
from demo.provenance import output_name
from training.cli import build_parser, run_cli
from training.config import AsrConfig
from training.data import DataReport, read_manifest
from training.runs import RESUME_DIR, RESUME_POINTER, RESUME_STATE, RunWriter
from training.train_asr import AsrTask


def _one_line(err: str, *phrases: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err and all(p in lines[0] for p in phrases), lines[0]
    return lines[0]


def _train(argv, capsys) -> str:
    assert run_cli(AsrConfig, AsrTask(), argv, prog="train", doc="train\n") == 2
    return capsys.readouterr().err


def _manifest(tmp_path) -> str:
    path = tmp_path / "m.jsonl"
    path.write_text('{"audio": "a.wav", "text": "hello"}\n')
    return str(path)


# --------------------------------------------------------------------------- training


def test_run_id_is_a_name_and_output_dir_a_folder(tmp_path, capsys):
    train = ["--train", _manifest(tmp_path), "--output-dir", str(tmp_path / "runs")]
    for run_id in ("../x", "/tmp/x", "a/b", ".."):
        _one_line(_train([*train, "--run-id", run_id], capsys), "--run-id", "plain name")
    (tmp_path / "file").write_text("x")
    err = _train(["--train", _manifest(tmp_path), "--output-dir", str(tmp_path / "file")], capsys)
    _one_line(err, "--output-dir", "is a file, not a folder")
    assert (tmp_path / "file").read_text() == "x"


def test_resume_with_a_config_value_of_the_wrong_type(tmp_path, capsys, write_run):
    config = {"model": "tiny.en", "train": "m.jsonl", "epochs": "three"}
    run = write_run(tmp_path, "asr-bad", {"config": config}, [])
    _one_line(_train(["--resume", str(run)], capsys), "epochs", "not of type int")


def _resume_state(tmp_path, write_run, data: bytes) -> RunWriter:
    run = write_run(tmp_path, "asr-resume", {}, [])
    folder = run / RESUME_DIR / "step-00000010"
    folder.mkdir(parents=True)
    (folder / RESUME_STATE).write_bytes(data)
    (run / RESUME_DIR / RESUME_POINTER).write_text(json.dumps({"step": 10, "path": folder.name}))
    return RunWriter(run, enabled=False)


class _Trap:
    """Unpickling this would create ``marker``: proof that nothing is unpickled freely."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_resume_state_damaged_or_a_pickle_is_one_sentence(tmp_path, write_run):
    import torch

    marker = tmp_path / "unpickled"
    buffer = io.BytesIO()
    torch.save({"progress": {}, "model": {}}, buffer)
    cases = {
        "truncated": buffer.getvalue()[:40],
        "pickle": pickle.dumps({"progress": _Trap(marker)}),
        "torch, no state": buffer.getvalue(),
        "empty": b"",
    }
    for name, data in cases.items():
        writer = _resume_state(tmp_path / name.replace(" ", "-"), write_run, data)
        with pytest.raises(DemoError) as raised:
            writer.load_resume()
        message = str(raised.value)
        assert "resume/" in message and "\n" not in message, (name, message)
    assert not marker.exists()


def test_resume_counters_of_the_wrong_type(tmp_path):
    from training.state import saved_progress

    with pytest.raises(DemoError, match="damaged counters"):
        saved_progress({"global_step": "ten"}, "run")
    with pytest.raises(DemoError, match="damaged counters"):
        saved_progress({"no_such_counter": 1}, "run")
    with pytest.raises(DemoError, match="damaged counters"):
        saved_progress([1, 2], "run")


def test_manifest_messages(tmp_path):
    def refused(path, phrase):
        with pytest.raises(DemoError, match=phrase):
            read_manifest(path, DataReport(str(path)), strict=False)

    refused(tmp_path, "is a folder")
    (tmp_path / "bin.jsonl").write_bytes(b"\x89PNG\x00\xff\xfe" * 50)
    refused(tmp_path / "bin.jsonl", "not UTF-8 text")
    (tmp_path / "prose.jsonl").write_text("these are\nnot json lines\n")
    refused(tmp_path / "prose.jsonl", "none of its 2 lines is a JSON object")
    (tmp_path / "bin.csv").write_bytes(b"audio,text\n\xff\xfe\x00,b\n")
    refused(tmp_path / "bin.csv", "not UTF-8 text")
    (tmp_path / "deep.jsonl").write_text("[" * 10_000 + "]" * 10_000 + "\n")
    refused(tmp_path / "deep.jsonl", "no usable row")


# --------------------------------------------------------------------------- bench


def _bench(main, argv, capsys) -> str:
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    return capsys.readouterr().err


def test_bench_output_names_folders_and_overwrite(tmp_path, capsys):
    from bench import accuracy

    (tmp_path / "file").write_text("x")
    err = _bench(accuracy.main, ["--out", str(tmp_path / "file")], capsys)
    _one_line(err, "--out", "is a file, not a folder")
    for name in ("../x", "/abs/x", "a/b"):
        _one_line(_bench(accuracy.main, ["--out", str(tmp_path), "--name", name], capsys), "--name")
    (tmp_path / "accuracy.json").write_text("{}")
    err = _bench(accuracy.main, ["--out", str(tmp_path)], capsys)
    _one_line(err, "already exists", "--overwrite")
    assert (tmp_path / "accuracy.json").read_text() == "{}"


def test_write_results_replaces_only_with_overwrite(tmp_path):
    import argparse

    bench_env.write_results(tmp_path, "r", {}, [{"a": 1}])
    with pytest.raises(DemoError, match="already exists"):
        bench_env.write_results(tmp_path, "r", {}, [{"a": 2}])
    parser = argparse.ArgumentParser()
    bench_env.add_output_flags(parser)
    parser.parse_args(["--overwrite"])
    bench_env.write_results(tmp_path, "r", {}, [{"a": 3}])
    assert json.loads((tmp_path / "r.json").read_text())["rows"] == [{"a": 3}]
    bench_env.add_output_flags(argparse.ArgumentParser())  # the next command starts without
    with pytest.raises(DemoError, match="not a plain name"):
        bench_env.write_results(tmp_path, "../r", {}, [])


# --------------------------------------------------------------------------- settings, wording


@pytest.mark.parametrize(
    ("variable", "value", "phrase"),
    [
        ("DEMO_QUEUE_SIZE", "abc", "DEMO_QUEUE_SIZE must be a whole number"),
        ("DEMO_MAX_UPLOAD_MB", "-1", "DEMO_MAX_UPLOAD_MB must be a positive number"),
        ("DEMO_CONCURRENCY", "0", "DEMO_CONCURRENCY must be a positive number"),
        ("DEMO_MAX_UPLOAD_MB", "1e999", "finite"),
        ("DEMO_ALLOW_DOWNLOADS", "maybe", "DEMO_ALLOW_DOWNLOADS must be 1 or 0"),
    ],
)
def test_bad_settings_stop_the_app_in_one_line(monkeypatch, capsys, variable, value, phrase):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SystemExit) as stopped:
        app.main([])
    assert stopped.value.code == 2
    _one_line(capsys.readouterr().err, phrase)


def test_audio_wording(tmp_path):
    silent = write_wav(tmp_path / "silent.wav", np.zeros(SAMPLE_RATE, dtype=np.float32))
    for source, phrase in ((silent, "silent"), (Path("/dev/zero"), "not a regular file")):
        with pytest.raises(DemoError) as raised:
            load_audio(source)
        assert phrase in str(raised.value) and "reject_silence" not in str(raised.value)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(DemoError, match="not a regular file"):
        load_audio(fifo)  # refused before it is opened: opening a FIFO would wait forever


def test_adapter_messages_name_the_run(tmp_path):
    adapter = tmp_path / "asr-tiny-lora" / "adapter"
    adapter.mkdir(parents=True)
    config = {"peft_type": "LORA", "base_model_name_or_path": "openai/whisper-tiny.en"}
    (adapter / "adapter_config.json").write_text(json.dumps(config))
    (adapter / "adapter_model.safetensors").write_bytes(b"\x00" * 16)
    with pytest.raises(DemoError) as raised:
        check_adapter_dir(adapter, get_whisper_model("base"))
    assert "The adapter of asr-tiny-lora was trained on" in str(raised.value)
    assert "Adapter adapter" not in str(raised.value)


# --------------------------------------------------------------------------- properties

TRAIN_FLAGS = st.sampled_from(
    ["--epochs", "--lr", "--batch-size", "--val-fraction", "--max-grad-norm", "--run-id",
     "--precision", "--method", "--r", "--keep-best", "--compress", "--rank-fraction",
     "--compress-targets", "--weight-decay", "--sweep-r"]
)  # fmt: skip
VALUE = st.one_of(
    st.sampled_from(["nan", "inf", "-1", "0", "1", "1e9", "none", "..", "a/b", "lora", "x:0"]),
    st.text(max_size=8),
)


@settings(
    max_examples=200,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    deadline=None,
)
@given(pairs=st.lists(st.tuples(TRAIN_FLAGS, VALUE), max_size=4))
def test_training_flags_parse_or_refuse_in_one_line(pairs):
    argv = ["--train", "m.jsonl"] + [part for pair in pairs for part in pair]
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            args = build_parser(AsrConfig, "train", "train\n").parse_args(argv)
        except SystemExit as stop:
            assert stop.code == 2
            _one_line(err.getvalue())
            return
    try:
        from_args(AsrConfig, args)
    except (ValueError, DemoError) as exc:
        assert "\n" not in str(exc)


SAVED = st.dictionaries(
    st.sampled_from(["epochs", "lr", "model", "method", "strict", "compress_targets", "r", "x"]),
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6)
    | st.lists(st.text(max_size=4), max_size=2),
)  # fmt: skip


@given(saved=SAVED)
def test_saved_config_loads_or_refuses_in_one_sentence(saved):
    try:
        from_dict(AsrConfig, {"train": "m.jsonl", **saved})
    except (ValueError, DemoError) as exc:
        assert "\n" not in str(exc)


@given(st.text(max_size=20))
def test_output_names_never_leave_their_folder(name):
    try:
        output_name(name, "--name")
    except ValueError:
        return
    target = (Path("/out") / name).resolve()
    assert target.parent == Path("/out")
