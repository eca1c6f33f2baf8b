"""The running app under load, through gradio_client on loopback: 8 concurrent requests all
complete with the right transcript, requests over the queue limit are refused with a clear
"queue is full", oversized uploads are refused, only the app's own files are served, and the
server listens on 127.0.0.1 only. Every wait is bounded.

    pytest -m browser tests/test_load.py
"""

import json
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.browser  # starts a server: runs with the browser test

ROOT = Path(__file__).resolve().parent.parent
PHRASE = "ask not what your country"

QUEUE_SIZE = 8
CONCURRENT = 8
EXTRA = 4  # sent while the 8 still wait: at most 8 may wait, so some of these must be refused
MAX_UPLOAD_MB = 3
JOB_TIMEOUT_S = 240
JOIN_TIMEOUT_S = 60


@pytest.fixture(scope="module")
def try_defaults() -> dict:
    """The Try-it widgets' defaults by name, in the order of the /transcribe API parameters."""
    import app

    return {name: widget.value for name, widget in app.build_demo().try_inputs.items()}


def try_args(defaults: dict, audio) -> list:
    return list({**defaults, "audio": audio}.values())


def _submit(client, clip, defaults):
    from gradio_client import handle_file

    return client.submit(*try_args(defaults, handle_file(str(clip))), api_name="/transcribe")


def _wait_joined(jobs, timeout_s: float) -> None:
    """Until every job has got past uploading and joining (or failed), bounded."""
    from gradio_client.utils import Status

    waiting = {Status.STARTING, Status.JOINING_QUEUE}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(job.done() or job.status().code not in waiting for job in jobs):
            return
        time.sleep(0.1)
    pytest.fail(f"jobs did not join the queue within {timeout_s}s")


def _outcome(job):
    """("ok", transcript) or ("refused", message), never hanging."""
    from gradio_client.exceptions import AppError
    from gradio_client.utils import QueueError

    try:
        return "ok", job.result(timeout=JOB_TIMEOUT_S)[0]
    except QueueError as exc:
        return "refused", str(exc)
    except AppError as exc:
        return "error", str(exc)


def _http(url: str, data: bytes | None = None, headers: dict | None = None):
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_concurrent_requests_queue_limit_uploads_and_served_files(
    tmp_path, jfk_path, running_app, try_defaults
):
    from gradio_client import Client

    env = {
        "DEMO_QUEUE_SIZE": str(QUEUE_SIZE),
        "DEMO_CONCURRENCY": "1",
        "DEMO_MAX_UPLOAD_MB": str(MAX_UPLOAD_MB),
        "DEMO_CHECKPOINTS": str(tmp_path / "no-runs"),
    }
    with running_app(env, tmp_path / "load-app.log") as url:
        client = Client(url, verbose=False)
        jobs = [_submit(client, jfk_path, try_defaults) for _ in range(CONCURRENT)]
        _wait_joined(jobs, JOIN_TIMEOUT_S)
        extra = [_submit(client, jfk_path, try_defaults) for _ in range(EXTRA)]
        _wait_joined(extra, JOIN_TIMEOUT_S)
        # The server says why in words to any client (the browser shows "busy, try again").
        status, detail = _join_queue_directly(url, try_defaults)
        assert status == 503 and "Queue is full" in detail
        with ThreadPoolExecutor(len(jobs) + len(extra)) as pool:
            outcomes = list(pool.map(_outcome, jobs + extra))

        first, rest = outcomes[:CONCURRENT], outcomes[CONCURRENT:]
        assert [kind for kind, _ in first] == ["ok"] * CONCURRENT, first
        for _, transcript in first:
            assert PHRASE in transcript.lower()
        refused = [message for kind, message in rest if kind == "refused"]
        assert refused, f"no request was refused with {QUEUE_SIZE} allowed to wait: {rest}"
        assert all("queue is full" in message.lower() for message in refused)
        for kind, transcript in rest:
            assert kind in ("ok", "refused")
            if kind == "ok":
                assert PHRASE in transcript.lower()

        # Uploads over the limit are refused with a message.
        boundary = "demo-test-boundary"
        payload = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="big.wav"'
                "\r\nContent-Type: audio/wav\r\n\r\n"
            ).encode()
            + b"\0" * ((MAX_UPLOAD_MB + 1) * 1024 * 1024)
            + f"\r\n--{boundary}--\r\n".encode()
        )
        try:
            status, body = _http(
                url + "gradio_api/upload",
                payload,
                {"Content-Type": f"multipart/form-data; boundary={boundary}"},
            )
            assert status == 413 and b"size" in body.lower()
        except urllib.error.URLError as exc:  # the server may cut a too-large body off early
            assert isinstance(exc.reason, ConnectionResetError), exc

        # Only the app's own folders are served: not system files, not the source tree.
        for forbidden in ("/etc/passwd", str(ROOT / "app.py"), str(ROOT / "demo" / "models.py")):
            status, _ = _http(url + "gradio_api/file=" + forbidden)
            assert status in (403, 404), forbidden
        status, _ = _http(url + "gradio_api/file=" + str(ROOT / "assets" / "samples" / "jfk.flac"))
        assert status == 200

        # Bound to loopback only.
        port = int(url.rstrip("/").rsplit(":", 1)[1])
        listening = [
            c.laddr.ip
            for c in psutil.net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN and c.laddr.port == port
        ]
        assert listening and set(listening) <= {"127.0.0.1"}
    # The default models were loaded as the app started (DEMO_PRELOAD), not on the first click.
    assert "preloaded tiny.en, extractive in " in (tmp_path / "load-app.log").read_text()


def _join_queue_directly(url: str, defaults: dict, attempts: int = 5) -> tuple[int, str]:
    """POST to queue/join while the queue is full; retried in case a job just finished (an
    accepted attempt has no clip and fails at once when its turn comes)."""
    _, config = _http(url + "config")
    fn_index = next(
        d["id"] for d in json.loads(config)["dependencies"] if d.get("api_name") == "transcribe"
    )
    data = try_args(defaults, None)
    body = json.dumps({"data": data, "fn_index": fn_index, "session_hash": "t"}).encode()
    for _ in range(attempts):
        status, answer = _http(
            url + "gradio_api/queue/join", body, {"Content-Type": "application/json"}
        )
        if status != 200:
            return status, json.loads(answer).get("detail", "")
    return status, answer.decode()


def _server_process(url: str) -> psutil.Process:
    port = int(url.rstrip("/").rsplit(":", 1)[1])
    for conn in psutil.net_connections(kind="inet"):
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
            return psutil.Process(conn.pid)
    pytest.fail("no process listens on the app's port")


def _busy_cpu(process: psutil.Process, seconds: float = 3.0) -> float:
    """Percent of one core the server used over ``seconds`` (threads included)."""
    process.cpu_percent(None)
    time.sleep(seconds)
    return process.cpu_percent(None)


def test_stop_frees_the_worker_then_a_soak_of_mixed_requests(
    tmp_path, jfk_path, running_app, try_defaults, jfk_text
):
    """Stop on a 9-minute clip ends its work at the next 30 s window and the next request
    runs at once; then 20 sequential requests (good and bad, both modes, Compare) are served
    with a resident memory that stops growing after warm-up."""
    import numpy as np
    from gradio_client import Client, handle_file

    from demo.audio import SAMPLE_RATE, load_audio, write_wav

    jfk = load_audio(jfk_path)
    gap = np.zeros(SAMPLE_RATE, dtype=np.float32)
    long_clip = write_wav(tmp_path / "long.wav", np.concatenate([jfk, gap] * 45))  # 540 s
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    # No preload: the Stop check below reads the server's CPU use to see the long clip decode.
    env = {"DEMO_CONCURRENCY": "1", "DEMO_CHECKPOINTS": str(tmp_path / "no-runs"),
           "DEMO_PRELOAD": "0"}  # fmt: skip
    with running_app(env, tmp_path / "soak-app.log") as url:
        client = Client(url, verbose=False)
        server = _server_process(url)
        slow = {**try_defaults, "quant": "full"}  # the transformers path: minutes for 540 s
        job = client.submit(*try_args(slow, handle_file(str(long_clip))), api_name="/transcribe")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and _busy_cpu(server, 1.0) < 50:
            pass  # until the long request is decoding
        job.cancel()
        start = time.monotonic()
        quick = client.submit(*try_args(try_defaults, handle_file(str(jfk_path))),
                              api_name="/transcribe")  # fmt: skip
        assert PHRASE in quick.result(timeout=JOB_TIMEOUT_S)[0].lower()
        after_stop_s = time.monotonic() - start
        idle = _busy_cpu(server, 3.0)  # the stopped decoding must not go on in the background
        assert idle < 40, f"the server still uses {idle:.0f}% of a core after Stop"

        rss = []
        kinds = ["good", "bad", "good-full", "compare", "good-reference"]
        for i in range(20):
            kind = kinds[i % len(kinds)]
            if kind == "compare":
                configs = [{"asr": "tiny.en", "quant": q, "asr_adapter": "none",
                            "summarizer": "extractive", "summarizer_adapter": "none"}
                           for q in ("auto", "dynamic-int8")]  # fmt: skip
                status = client.predict(
                    handle_file(str(jfk_path)), configs, jfk_text, "", 3, "light", "",
                    api_name="/compare",
                )[0]  # fmt: skip
                assert status == "Ran 2 configurations.", status
            elif kind == "bad":
                from gradio_client.exceptions import AppError

                with pytest.raises(AppError, match="readable audio"):
                    client.predict(*try_args(try_defaults, handle_file(str(bad))),
                                   api_name="/transcribe")  # fmt: skip
            else:
                values = {**try_defaults, "quant": "full" if kind == "good-full" else "auto"}
                if kind == "good-reference":
                    values["reference_transcript"] = jfk_text
                out = client.predict(*try_args(values, handle_file(str(jfk_path))),
                                     api_name="/transcribe")  # fmt: skip
                assert PHRASE in out[0].lower(), kind
            rss.append(server.memory_info().rss / 2**20)
    warm, end = max(rss[:10]), max(rss[10:])
    print(
        f"after Stop the next request took {after_stop_s:.1f} s; server RSS MB: first 10 "
        f"max {warm:.0f}, last 10 max {end:.0f}, all {[round(r) for r in rss]}"
    )
    assert end < warm * 1.10 + 50, rss  # no growth beyond noise after warm-up
