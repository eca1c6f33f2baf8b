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

import psutil
import pytest
from demo.dashboard import CONCURRENCY_ENV, MAX_UPLOAD_MB_ENV, QUEUE_SIZE_ENV
from test_browser import PHRASE, ROOT, running_app

pytestmark = pytest.mark.browser  # starts a server: runs with the browser test, not the unit suite

QUEUE_SIZE = 8
CONCURRENT = 8
EXTRA = 4  # sent while the 8 still wait: at most 8 may wait, so some of these must be refused
MAX_UPLOAD_MB = 3
JOB_TIMEOUT_S = 240
JOIN_TIMEOUT_S = 60
# Try-it inputs after the clip: the bundled tiny.en with torch dynamic int8 (fastest on CPU).
TRY_IT_ARGS = ("tiny.en", "dynamic-int8", "none", "extractive", "full", "none", "auto", "auto")
TRY_IT_NUMBERS = (1, 3, 0, "", "")


def _submit(client, clip):
    from gradio_client import handle_file

    return client.submit(
        handle_file(str(clip)), *TRY_IT_ARGS, *TRY_IT_NUMBERS, api_name="/transcribe"
    )


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


def test_concurrent_requests_queue_limit_uploads_and_served_files(tmp_path, jfk_path):
    from gradio_client import Client

    env = {
        QUEUE_SIZE_ENV: str(QUEUE_SIZE),
        CONCURRENCY_ENV: "1",
        MAX_UPLOAD_MB_ENV: str(MAX_UPLOAD_MB),
        "DEMO_CHECKPOINTS": str(tmp_path / "no-runs"),
    }
    with running_app(env, tmp_path / "load-app.log") as url:
        client = Client(url, verbose=False)
        jobs = [_submit(client, jfk_path) for _ in range(CONCURRENT)]
        _wait_joined(jobs, JOIN_TIMEOUT_S)
        extra = [_submit(client, jfk_path) for _ in range(EXTRA)]
        _wait_joined(extra, JOIN_TIMEOUT_S)
        # The server says why in words to any client (the browser shows "busy, try again").
        status, detail = _join_queue_directly(url)
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
        status, body = _http(
            url + "gradio_api/upload",
            payload,
            {"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        assert status == 413 and b"size" in body.lower()

        # Only the app's own folders are served: not system files, not the source tree.
        for forbidden in ("/etc/passwd", str(ROOT / "app.py"), str(ROOT / "demo" / "runs.py")):
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


def _join_queue_directly(url: str, attempts: int = 5) -> tuple[int, str]:
    """POST to queue/join while the queue is full; retried in case a job just finished (an
    accepted attempt has no clip and fails at once when its turn comes)."""
    _, config = _http(url + "config")
    fn_index = next(
        d["id"] for d in json.loads(config)["dependencies"] if d.get("api_name") == "transcribe"
    )
    body = json.dumps(
        {"data": [None, *TRY_IT_ARGS, *TRY_IT_NUMBERS], "fn_index": fn_index, "session_hash": "t"}
    ).encode()
    for _ in range(attempts):
        status, answer = _http(
            url + "gradio_api/queue/join", body, {"Content-Type": "application/json"}
        )
        if status != 200:
            return status, json.loads(answer).get("detail", "")
    return status, answer.decode()
