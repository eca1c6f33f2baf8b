"""Shared fixtures: real clips from tests/data, run folders written through the training
writer, a running app on loopback, offline hub settings, the requires_cuda marker.

No test module imports another: what several modules need lives here as a fixture.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

# Property tests run on a shared 2-core machine: a busy moment must not fail them for slowness
# (input generation or one example over Hypothesis' 200 ms deadline); what they check stays.
hypothesis_settings.register_profile(
    "shared-machine", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
hypothesis_settings.load_profile("shared-machine")

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data"
ARTIFACTS = ROOT / "test-artifacts"
JFK_TEXT = (
    "And so my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)
APP_START_TIMEOUT_S = 120
BENCH_ROWS = [
    {"config": "tiny.en full", "latency_s": 4.1, "peak_rss_mb": 650.0, "weights_mb": 144.0,
     "wer": 0.0},
    {"config": "tiny.en nf4", "latency_s": 5.0, "peak_rss_mb": 700.0, "weights_mb": 90.0,
     "wer": 0.05},
]  # fmt: skip

# Under pytest-xdist (`make test` runs two workers) each worker gets its share of the cores,
# so that two torch processes on a 2-core machine do not each spin two threads. The apps and
# trainings the tests start inherit it.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // _WORKERS)))

# No test touches the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def pytest_collection_modifyitems(config, items):
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    if has_cuda:
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "requires_cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def tracked_checkpoints() -> list[Path]:
    """The files git tracks under checkpoints/ (what a fresh clone has), as paths in ROOT; in a
    folder that is not a git checkout nothing tells them from local runs: skipped."""
    try:
        out = subprocess.run(["git", "ls-files", "checkpoints"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: nothing tells committed weights from local ones")
    return [ROOT / name for name in out.splitlines() if (ROOT / name).is_file()]


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def jfk_text() -> str:
    return JFK_TEXT


@pytest.fixture(scope="session")
def jfk_path() -> Path:
    return DATA / "jfk.flac"


@pytest.fixture(scope="session")
def multilingual_path() -> Path:
    return DATA / "multilingual.mp3"


@pytest.fixture(scope="session")
def tiny_seq2seq(tmp_path_factory):
    """``family -> path`` of tiny random t5/bart/mbart checkpoints (see tests/tiny_models.py)."""
    from tiny_models import FAMILIES, make_tiny_seq2seq

    root = tmp_path_factory.mktemp("tiny-seq2seq")
    return {f: make_tiny_seq2seq(f, root / f"tiny-{f}") for f in FAMILIES}


# --------------------------------------------------------------------------- run folders


def _write_run(root: Path, run_id: str, info: dict, metrics: list[dict]) -> Path:
    """A run folder written by the training writer (``training.runs.RunWriter``)."""
    from demo.runinfo import RunInfo
    from training.runs import RunWriter

    fields = {"task": "asr", "model": "tiny.en", "method": "full", "precision": "fp32", **info}
    writer = RunWriter(root / run_id)
    writer.start(RunInfo(run_id=run_id, **fields))
    for line in metrics:
        writer.append_metrics(line)
    return writer.run_dir


@pytest.fixture()
def write_run() -> Callable[[Path, str, dict, list[dict]], Path]:
    """``write_run(root, run_id, RunInfo fields, metrics lines)`` through the training writer."""
    return _write_run


ASR_MODES = {"int8+adalora": ("adalora", "int8"), "nf4+lora": ("lora", "nf4"),
             "full": ("full", "fp32")}  # fmt: skip


@pytest.fixture()
def runs_root(tmp_path) -> Path:
    """tiny/base x int8+adalora/nf4+lora/full with 4 evaluations of WER (epochs 0-3), and T5
    LoRA/AdaLoRA at r=4/8/16 with ROUGE-1 (12 runs)."""
    root = tmp_path / "runs"
    for size_index, size in enumerate(("tiny", "base")):
        for mode_index, (mode, (method, precision)) in enumerate(ASR_MODES.items()):
            start = 0.40 - 0.05 * size_index - 0.02 * mode_index
            metrics = [
                {"step": 100 * epoch, "epoch": float(epoch), "split": "validation",
                 "loss": 1.0 - 0.1 * epoch, "lr": 1e-4, "seconds": 60.0 * epoch,
                 "epoch_seconds": None if epoch == 0 else 60.0 * (size_index + 1),
                 "peak_memory_mb": 900.0, "wer": round(start - 0.03 * epoch, 4),
                 "cer": round((start - 0.03 * epoch) / 2, 4),
                 "wer_raw": round(start - 0.03 * epoch + 0.05, 4)}
                for epoch in range(4)
            ]  # fmt: skip
            info = {
                "task": "asr", "model": f"{size}.en" if size == "tiny" else size, "size": size,
                "method": method, "precision": precision,
                "rank": None if method == "full" else 8, "dataset": "how2",
                "status": "completed",
                "started_at": f"2024-05-0{size_index + 1}T1{mode_index}:00:00",
                "trainable_params": 1000, "total_params": 100000, "trainable_pct": 1.0,
            }  # fmt: skip
            _write_run(root, f"asr-{size}-{mode.replace('+', '-')}", info, metrics)
    for method_index, method in enumerate(("lora", "adalora")):
        for rank in (4, 8, 16):
            rouge1 = 0.25 + 0.01 * rank.bit_length() + 0.02 * method_index
            metrics = [
                {"step": 0, "epoch": 0.0, "split": "validation", "loss": 3.0, "rouge1": 0.1},
                {"step": 50, "epoch": 1.0, "split": "validation", "loss": 2.0, "rouge1": rouge1},
            ]
            info = {
                "task": "summarization", "model": "google-t5/t5-small", "family": "t5",
                "method": method, "precision": "fp32", "rank": rank, "dataset": "wikihow",
                "status": "completed",
                "started_at": f"2024-04-0{rank.bit_length()}T0{method_index}:00:00",
            }  # fmt: skip
            _write_run(root, f"sum-t5-{method}-r{rank}", info, metrics)
    return root


@pytest.fixture()
def dashboard_root(tmp_path, monkeypatch) -> Path:
    """A checkpoints folder for the app (DEMO_CHECKPOINTS points at it): Whisper tiny/base in
    two modes with 3 epochs of WER, T5 LoRA at r=4 and 16, one run killed mid-write, a
    benchmark file and a broken one."""
    root = tmp_path / "checkpoints"
    for size, weights in (("tiny", 150.0), ("base", 290.0)):
        for method, precision in (("full", "fp32"), ("adalora", "int8")):
            start = (0.30 if size == "tiny" else 0.25) + (0.05 if precision == "int8" else 0.0)
            metrics = [
                {"step": 10 * e, "epoch": float(e), "split": "validation",
                 "wer": round(start - 0.04 * e, 4), "cer": round(start / 2, 4),
                 "epoch_seconds": 90.0 if e else None}
                for e in range(3)
            ]  # fmt: skip
            info = {
                "task": "asr", "model": f"{size}.en" if size == "tiny" else size, "size": size,
                "method": method, "precision": precision,
                "rank": 8 if method == "adalora" else None, "dataset": "how2",
                "status": "completed", "weights_footprint_mb": weights,
                "started_at": f"2024-05-01T0{len(size)}:00:00",
            }  # fmt: skip
            _write_run(root, f"asr-{size}-{method}-{precision}", info, metrics)
    for rank in (4, 16):
        info = {"task": "summarization", "model": "google-t5/t5-small", "family": "t5",
                "method": "lora", "precision": "fp32", "rank": rank, "dataset": "wikihow",
                "status": "completed"}  # fmt: skip
        metrics = [{"step": 5, "epoch": 1.0, "split": "validation", "rouge1": 0.2 + rank / 100}]
        _write_run(root, f"sum-t5-lora-r{rank}", info, metrics)
    info = {"task": "asr", "model": "tiny.en", "size": "tiny", "method": "lora",
            "precision": "nf4", "rank": 8, "dataset": "how2"}  # fmt: skip
    killed = _write_run(
        root, "asr-tiny-killed", info, [{"step": 10, "epoch": 1.0, "split": "validation",
                                         "wer": 0.4}]
    )  # fmt: skip
    with (killed / "metrics.jsonl").open("a") as handle:
        handle.write('{"step": 20, "epoch": 2.0, "wer"')  # killed while writing
    (root / "bench").mkdir()
    (root / "bench" / "tiny.json").write_text(json.dumps({"rows": BENCH_ROWS}))
    (root / "bench" / "broken.json").write_text("{not json")
    monkeypatch.setenv("DEMO_CHECKPOINTS", str(root))
    return root


# --------------------------------------------------------------------------- a running app


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def _running_app(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """Start ``python app.py --port <free>`` on loopback; yield its URL; always stop it."""
    port = _free_port()
    full_env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1", **env}  # fmt: skip
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=full_env,
            stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped as a whole below
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}/"
            _wait_until_up(url, process, log_path)
            yield url
        finally:
            _stop(process)


def _wait_until_up(url: str, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + APP_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"app exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"app not up after {APP_START_TIMEOUT_S}s:\n{log_path.read_text()[-3000:]}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)


@pytest.fixture()
def running_app():
    """``with running_app(env, log_path) as url:`` the real app as a user starts it."""
    return _running_app


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where tests leave screenshots and logs for a person to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def speech_corpus(tmp_path_factory) -> Path:
    """8 espeak-ng clips with exact transcripts: 6 train, 2 validation sentences."""
    from training.make_speech_corpus import CorpusConfig, make_corpus

    out = tmp_path_factory.mktemp("espeak")
    config = CorpusConfig(
        out=str(out), num_utterances=8, voices="en-us,en-gb", speeds="150,175", val_fraction=0.25
    )
    return make_corpus(config)
