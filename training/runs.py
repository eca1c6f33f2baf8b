"""Run folders as training writes them: run.json, metrics.jsonl, adapter/, resume state.

``run.json`` is a ``demo.runinfo.RunInfo``, the one schema the dashboard reads. Writes are
crash-safe: run.json and the resume pointer are replaced atomically, metric lines are appended
and fsynced, and each resume state records how many metric lines existed when it was taken, so
a run killed with ``kill -9`` resumes without losing or repeating a line.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

from demo.errors import DemoError
from demo.jsonfiles import read_json
from demo.provenance import fsync_dir, json_default, write_json_atomic
from demo.runinfo import METRICS_FILE, PREDICTIONS_DIR, RUN_FILE, RunInfo

ADAPTER_DIR = "adapter"
FULL_MODEL_DIR = "checkpoint-final"  # full fine-tunes: git ignores checkpoints/*/checkpoint*/
RESUME_DIR = "resume"  # git ignores checkpoints/*/resume/
RESUME_POINTER = "latest.json"
RESUME_STATE = "state.pt"
RESUME_KEYS = {"progress", "model", "optimizer", "scheduler", "rng"}
MAX_RUN_FILE_BYTES = 4 * 1024 * 1024


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


class RunWriter:
    """Writes one run folder. On processes other than the main one every write is a no-op."""

    def __init__(self, run_dir: Path, enabled: bool = True) -> None:
        self.run_dir = Path(run_dir)
        self.enabled = enabled
        self.info: RunInfo | None = None

    @property
    def metrics_path(self) -> Path:
        return self.run_dir / METRICS_FILE

    @property
    def resume_dir(self) -> Path:
        return self.run_dir / RESUME_DIR

    def read_info(self) -> RunInfo:
        """run.json of an existing run (for --resume)."""
        path = self.run_dir / RUN_FILE
        if not path.is_file():
            raise DemoError(f"{self.run_dir} has no {RUN_FILE}; it is not a run folder.")
        problems: list[str] = []
        data = read_json(path, limit=MAX_RUN_FILE_BYTES, warnings=problems)
        if problems or data is None:  # a bad value, too deep, too large, not JSON
            reason = problems[0] if problems else f"{RUN_FILE} is empty"
            raise DemoError(f"Can't resume from {path}: {reason.rstrip('.')}.")
        if not isinstance(data, dict):
            raise DemoError(f"{path} does not hold a JSON object; it is not a run's record.")
        if not isinstance(data.get("config", {}), dict):
            raise DemoError(f"{path} has no usable config object; the run can't be resumed.")
        self.info = RunInfo.from_dict(data, self.run_dir.name)
        return self.info

    def start(self, info: RunInfo) -> None:
        """Write the run.json of a new run."""
        self.info = info
        self._write()

    def write_info(self, **fields: Any) -> None:
        """Update run.json with ``fields`` (atomic replace)."""
        if self.info is None:
            raise RuntimeError("RunWriter.start or read_info first.")
        self.info = self.info.updated(**fields)
        self._write()

    def _write(self) -> None:
        if self.enabled:
            write_json_atomic(self.run_dir / RUN_FILE, self.info.to_dict())

    # -- metrics.jsonl

    def append_metrics(self, line: dict[str, Any]) -> None:
        """Append one evaluation line and push it to disk before returning."""
        if not self.enabled:
            return
        with self.metrics_path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(line, default=json_default) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def write_predictions(self, split: str, step: int, references: list, predictions: list) -> None:
        """``predictions/<split>.jsonl``: what the model wrote for each example of a held-out
        split at its last evaluation (step), beside the reference, so two runs scored on the same
        examples can be compared example by example (a paired bootstrap, ``demo.intervals``)."""
        if not self.enabled:
            return
        folder = self.run_dir / PREDICTIONS_DIR
        folder.mkdir(exist_ok=True)
        lines = "".join(
            json.dumps({"step": step, "reference": ref, "prediction": pred}) + "\n"
            for ref, pred in zip(references, predictions, strict=True)
        )
        tmp = folder / f".{split}.jsonl.tmp"
        tmp.write_text(lines, encoding="utf-8")
        os.replace(tmp, folder / f"{split}.jsonl")

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
            fsync_dir(self.run_dir)
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
        fsync_dir(folder)
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
        except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
            why = type(exc).__name__
            raise DemoError(f"{pointer} is damaged ({why}); the run can't be resumed.") from None
        path = self.resume_dir / Path(str(target)).name / RESUME_STATE
        try:  # weights_only: only tensors and plain containers load, never arbitrary objects
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # cut off, a foreign pickle, not a torch file: many types
            why = "not found" if isinstance(exc, FileNotFoundError) else type(exc).__name__
            raise DemoError(
                f"The resume state {path} can't be loaded ({why}), so it is damaged or not "
                "written by this training code; delete its resume/ folder to start the run over."
            ) from None
        if not isinstance(state, dict) or not RESUME_KEYS <= state.keys():
            raise DemoError(
                f"The resume state {path} lacks what a run resumes from; delete its resume/ "
                "folder to start the run over."
            )
        return state

    def clear_resume(self) -> None:
        if self.enabled:
            shutil.rmtree(self.resume_dir, ignore_errors=True)


def resolve_run_dir(resume: str, output_dir: str) -> Path:
    """``--resume`` takes a run folder or a run id under ``--output-dir``."""
    path = Path(resume)
    if path.is_dir():
        return path
    candidate = Path(output_dir) / resume
    if candidate.is_dir():
        return candidate
    raise DemoError(f"No run folder {resume} (nor {candidate}); give the folder of the run.")
