"""Run folders as training writes them: run.json, metrics.jsonl, adapter/, resume state.

The layout and run.json fields are the ones ``demo.runs`` reads for the dashboard. Writes are
crash-safe: run.json and the resume pointer are replaced atomically, metric lines are appended
and fsynced, and each resume state records how many metric lines existed when it was taken, so
a run killed with ``kill -9`` resumes without losing or repeating a line.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shlex
import shutil
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from demo.errors import DemoError
from demo.measure import cpu_model_name
from demo.runs import METRICS_FILE, RUN_FILE

ADAPTER_DIR = "adapter"
FULL_MODEL_DIR = "checkpoint-final"  # full fine-tunes: git ignores checkpoints/*/checkpoint*/
RESUME_DIR = "resume"  # git ignores checkpoints/*/resume/
RESUME_POINTER = "latest.json"
RESUME_STATE = "state.pt"
VERSION_PACKAGES = (
    "torch", "transformers", "peft", "accelerate", "bitsandbytes", "datasets", "jiwer",
    "rouge-score",
)  # fmt: skip


def now_iso() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def make_run_id(task: str, model: str, mode: str, rank: int | None, root: Path) -> str:
    """``asr-tiny.en-int8-lora-r8-20240501-120000``, unique under ``root``."""
    short = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(model.rstrip("/")).name or model)
    parts = [task if task == "asr" else "sum", short, mode.replace("+", "-")]
    if rank is not None:
        parts.append(f"r{rank}")
    parts.append(datetime.now().strftime("%Y%m%d-%H%M%S"))
    base = "-".join(parts)
    run_id, n = base, 2
    while (root / run_id).exists():
        run_id, n = f"{base}-{n}", n + 1
    return run_id


def versions() -> dict[str, str | None]:
    """Python and the versions of the packages that decide a run's numbers."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in VERSION_PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def hardware(num_processes: int = 1) -> dict[str, Any]:
    """CPU, memory and GPUs of this machine, and how many processes trained."""
    import psutil
    import torch

    info: dict[str, Any] = {
        "platform": platform.platform(),
        "cpu": cpu_model_name(),
        "cpu_count": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "num_processes": num_processes,
        "gpus": [],
    }
    if torch.cuda.is_available():
        info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_json_atomic(path: Path, data: Any) -> None:
    """Replace ``path`` with ``data`` as JSON so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, default=str)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


class RunWriter:
    """Writes one run folder. On processes other than the main one every write is a no-op."""

    def __init__(self, run_dir: Path, enabled: bool = True) -> None:
        self.run_dir = Path(run_dir)
        self.enabled = enabled
        self.info: dict[str, Any] = {}

    @property
    def metrics_path(self) -> Path:
        return self.run_dir / METRICS_FILE

    @property
    def resume_dir(self) -> Path:
        return self.run_dir / RESUME_DIR

    def read_info(self) -> dict[str, Any]:
        """run.json of an existing run (for --resume)."""
        path = self.run_dir / RUN_FILE
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DemoError(f"{self.run_dir} has no {RUN_FILE}; it is not a run folder.") from None
        except (OSError, json.JSONDecodeError) as exc:
            raise DemoError(f"Can't read {path}: {exc}.") from exc
        if not isinstance(info, dict):
            raise DemoError(f"{path} does not hold a JSON object.")
        self.info = info
        return info

    def write_info(self, **fields: Any) -> None:
        """Update run.json with ``fields`` (atomic replace)."""
        self.info.update(fields)
        if self.enabled:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            write_json_atomic(self.run_dir / RUN_FILE, self.info)

    # -- metrics.jsonl

    def append_metrics(self, line: dict[str, Any]) -> None:
        """Append one evaluation line and push it to disk before returning."""
        if not self.enabled:
            return
        with self.metrics_path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(line, default=_json_default) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def metrics_lines(self) -> int:
        """Complete lines in metrics.jsonl (a cut-off last line doesn't count)."""
        if not self.metrics_path.is_file():
            return 0
        return self.metrics_path.read_bytes().count(b"\n")

    def truncate_metrics(self, keep: int) -> int:
        """Keep the first ``keep`` lines: later ones came after the state we resume from and will
        be measured again. Returns how many lines were dropped."""
        if not self.enabled or not self.metrics_path.is_file():
            return 0
        data = self.metrics_path.read_bytes()
        lines = data.split(b"\n")
        complete = lines[:-1]  # the part after the last newline is empty or cut off
        kept = b"".join(line + b"\n" for line in complete[:keep])
        dropped = len(complete) - min(keep, len(complete)) + (1 if lines[-1] else 0)
        if kept != data:
            tmp = self.metrics_path.with_name(f".{METRICS_FILE}.tmp")
            with tmp.open("wb") as handle:
                handle.write(kept)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.metrics_path)
            _fsync_dir(self.run_dir)
        return dropped

    # -- resume state

    def save_resume(self, state: dict[str, Any], step: int) -> None:
        """Save a resume state for ``step`` and point ``resume/latest.json`` at it."""
        if not self.enabled:
            return
        import torch

        folder = self.resume_dir / f"step-{step:08d}"
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        with (folder / RESUME_STATE).open("wb") as handle:
            torch.save(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
        _fsync_dir(folder)
        write_json_atomic(self.resume_dir / RESUME_POINTER, {"step": step, "path": folder.name})
        for old in self.resume_dir.glob("step-*"):
            if old != folder:
                shutil.rmtree(old, ignore_errors=True)

    def load_resume(self) -> dict[str, Any] | None:
        """The latest resume state, or None when the run never got to save one."""
        import torch

        pointer = self.resume_dir / RESUME_POINTER
        if not pointer.is_file():
            return None
        try:
            target = json.loads(pointer.read_text())["path"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DemoError(f"{pointer} is damaged ({exc}); the run can't be resumed.") from exc
        path = self.resume_dir / Path(target).name / RESUME_STATE
        # weights_only: only tensors and plain containers load, never arbitrary objects.
        return torch.load(path, map_location="cpu", weights_only=True)

    def clear_resume(self) -> None:
        if self.enabled:
            shutil.rmtree(self.resume_dir, ignore_errors=True)


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy / torch scalars
        return value.item()
    return str(value)


def resolve_run_dir(resume: str, output_dir: str) -> Path:
    """``--resume`` takes a run folder or a run id under ``--output-dir``."""
    path = Path(resume)
    if path.is_dir():
        return path
    candidate = Path(output_dir) / resume
    if candidate.is_dir():
        return candidate
    raise DemoError(f"No run folder {resume} (nor {candidate}); give the folder of the run.")


def command_line() -> str:
    """How this process was started, e.g. ``python -m training.train_asr --train ...``."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    head = f"python -m {spec.name}" if spec is not None else sys.argv[0]
    return " ".join([head, *(shlex.quote(arg) for arg in sys.argv[1:])])
