"""Training runs that stop and go on: resume after kill -9 (nothing lost, nothing repeated),
SIGTERM and Ctrl-C, and a 2-process accelerate run beside a single-process one."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from training_helpers import ROOT, metric_lines, only_run, subprocess_env

from training.train_asr import main as train_asr


def test_resume_after_kill_loses_and_repeats_no_metric_line(speech_corpus, tmp_path):
    out = tmp_path / "runs"
    run_dir = out / "killed"
    flags = [
        "--train", str(speech_corpus), "--epochs", "1", "--batch-size", "1", "--eval-steps", "2",
        "--save-steps", "1", "--max-val-samples", "1", "--max-new-tokens", "8", "--lr", "1e-3",
        "--device", "cpu", "--no-eval-real-speech",
    ]  # fmt: skip
    module = [sys.executable, "-m", "training.train_asr"]
    args = [*module, *flags, "--output-dir", str(out), "--run-id", "killed"]
    process = subprocess.Popen(
        args, cwd=ROOT, env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    pointer = run_dir / "resume" / "latest.json"
    deadline = time.monotonic() + 240
    step = -1
    while time.monotonic() < deadline and process.poll() is None:
        try:
            step = json.loads(pointer.read_text())["step"]
        except (OSError, ValueError):
            step = -1
        if step >= 3:
            break
        time.sleep(0.05)
    assert process.poll() is None, process.stderr.read().decode()[-2000:]
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    process.stderr.close()
    assert 3 <= step < 6  # killed mid-epoch: 6 steps make the epoch
    before = (run_dir / "metrics.jsonl").read_text().splitlines()

    resumed = subprocess.run(
        [*module, "--resume", str(run_dir)], cwd=ROOT, env=subprocess_env(), capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "Resuming killed at step" in resumed.stderr
    after = (run_dir / "metrics.jsonl").read_text().splitlines()
    lines = [json.loads(line) for line in after]
    assert [line["step"] for line in lines] == [0, 2, 4, 6]
    assert [line["epoch"] for line in lines] == [0.0, 0.3333, 0.6667, 1.0]
    kept = [line for line in before if json.loads(line)["step"] <= step]
    assert after[: len(kept)] == kept  # lines from before the kill are kept as they were
    seconds = [line["seconds"] for line in lines]
    assert seconds == sorted(seconds) and lines[-1]["epoch_seconds"] > 0
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "completed" and info["resumed_at"][-1]["step"] == step
    assert not (run_dir / "resume").exists()
    # Weights, optimizer, schedule, data order and RNG all came back: an uninterrupted run
    # with the same flags ends at the same validation loss.
    assert train_asr([*flags, "--output-dir", str(tmp_path / "ref")]) == 0
    reference = metric_lines(only_run(tmp_path / "ref"))
    assert [line["step"] for line in reference] == [0, 2, 4, 6]
    assert abs(reference[-1]["loss"] - lines[-1]["loss"]) < 1e-3


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_accelerate_two_process_run_matches_single_process_structure(speech_corpus, tmp_path):
    # Real-speech scoring is left out: with the full set built (560 clips) it is minutes per run.
    common = ["--train", str(speech_corpus), "--max-train-samples", "4", "--max-val-samples",
              "2", "--max-new-tokens", "8", "--epochs", "1", "--device", "cpu",
              "--no-eval-real-speech"]  # fmt: skip
    single = tmp_path / "single"
    assert train_asr([*common, "--batch-size", "2", "--output-dir", str(single)]) == 0
    double = tmp_path / "double"
    # accelerate 1.15 starts one process for `--cpu --num_processes 2`; torchrun's launcher
    # (--multi_gpu) starts two, and --device cpu makes them one gloo CPU process group.
    launch = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes",
        "2", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_port", str(_free_port()), "-m", "training.train_asr", *common,
        "--batch-size", "1", "--output-dir", str(double),
    ]  # fmt: skip
    result = subprocess.run(
        launch, cwd=ROOT, env=subprocess_env(), capture_output=True, text=True, timeout=400
    )
    assert result.returncode == 0, result.stderr[-3000:]
    one, two = only_run(single), only_run(double)  # only rank 0 wrote a run folder
    info = json.loads((two / "run.json").read_text())
    assert info["hardware"]["num_processes"] == 2 and info["status"] == "completed"
    lines_one, lines_two = metric_lines(one), metric_lines(two)
    assert [sorted(line) for line in lines_one] == [sorted(line) for line in lines_two]
    assert [line["step"] for line in lines_two] == [line["step"] for line in lines_one] == [0, 2]
    assert [line["eval_samples"] for line in lines_two] == [2, 2]  # no padded duplicates
    # Same base, same validation clips: the untrained model's loss must agree.
    assert abs(lines_one[0]["loss"] - lines_two[0]["loss"]) < 1e-3
    assert (two / "adapter" / "adapter_model.safetensors").is_file()


def test_sigterm_stops_a_run_as_ctrl_c_does():
    from training.loop import terminate_as_interrupt

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), terminate_as_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)  # run_training then marks the run "interrupted"
        time.sleep(5)  # the handler raises before this ends
    assert signal.getsignal(signal.SIGTERM) is before


def test_an_interrupted_run_says_how_to_resume_it_in_one_line(monkeypatch, capsys, tmp_path):
    import training.loop
    from training.train_asr import main

    def stopped(config, task, accelerator=None):
        raise training.loop.RunInterrupted(tmp_path / "run")

    monkeypatch.setattr(training.loop, "run_training", stopped)
    assert main(["--train", str(tmp_path / "m.jsonl"), "--device", "cpu"]) == 130
    resume = f"python -m training.train_asr --resume {tmp_path / 'run'}"
    assert capsys.readouterr().err.strip() == f"interrupted: {resume} continues it"


def test_a_stop_in_the_final_scoring_resumes_there_without_training_again(
    speech_corpus, tmp_path, monkeypatch
):
    import training.loop

    flags = ["--train", str(speech_corpus), "--epochs", "1", "--batch-size", "2",
             "--max-train-samples", "4", "--max-val-samples", "1", "--max-test-samples", "1",
             "--max-new-tokens", "8", "--device", "cpu", "--real-speech-clips", "1",
             "--no-eval-more-at-start", "--output-dir", str(tmp_path),
             "--run-id", "cut"]  # fmt: skip
    scored = training.loop.evaluate_more

    def stopped(session):
        raise KeyboardInterrupt  # in the final scoring (test split, real speech)

    monkeypatch.setattr(training.loop, "evaluate_more", stopped)
    assert train_asr(flags) == 130
    run_dir = tmp_path / "cut"
    assert json.loads((run_dir / "resume" / "latest.json").read_text())["step"] == 2
    trained = metric_lines(run_dir, None)
    assert [(line["step"], line["split"]) for line in trained] == [
        (0, "validation"),
        (2, "validation"),
    ]

    monkeypatch.setattr(training.loop, "evaluate_more", scored)
    steps = []
    monkeypatch.setattr(training.loop, "save_state", lambda session: steps.append(1))
    assert train_asr(["--resume", str(run_dir)]) == 0
    lines = metric_lines(run_dir, None)
    scoring = lines[2:]  # real speech: the set's first clip where it is built, the samples
    assert lines[:2] == trained and "real-speech" in [line["split"] for line in scoring]
    assert {line["step"] for line in scoring} == {2}
    assert steps == []  # nothing trained again (no state saved after a step)
    info = json.loads((run_dir / "run.json").read_text())
    assert info["status"] == "completed" and info["resumed_at"][-1]["step"] == 2
