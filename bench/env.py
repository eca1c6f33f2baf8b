"""Where and how a benchmark ran: machine, library versions, command, and result files."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import platform
import shlex
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

from demo.measure import cpu_model_name

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "checkpoints" / "bench"
PACKAGES = (
    "torch",
    "transformers",
    "peft",
    "bitsandbytes",
    "ctranslate2",
    "faster-whisper",
    "numpy",
)
CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8")


def _cpu_flags() -> list[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
            break
    return [f for f in CPU_FLAGS if f in flags]


def machine() -> dict[str, Any]:
    """CPU model, logical cores, memory, the SIMD flags that decide int8/bf16 speed, GPU."""
    info: dict[str, Any] = {
        "cpu": cpu_model_name(),
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu_flags": _cpu_flags(),
        "os": platform.platform(),
        "python": platform.python_version(),
    }
    try:
        import torch

        if torch.cuda.is_available():
            props = torch.cuda.get_device_properties(0)
            info["gpu"] = props.name
            info["gpu_memory_gb"] = round(props.total_memory / 2**30, 1)
            info["cuda"] = torch.version.cuda
    except ImportError:
        pass
    return info


def versions() -> dict[str, str]:
    """Installed versions of the libraries whose speed is measured."""
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def command(module: str, argv: list[str] | None = None) -> str:
    """The command line that reproduces this run."""
    argv = sys.argv[1:] if argv is None else argv
    return " ".join(["python", "-m", module, *map(shlex.quote, argv)])


def meta(module: str, argv: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    """Everything a result file records about its run."""
    return {
        "command": command(module, argv),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "machine": machine(),
        "versions": versions(),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        **extra,
    }


def write_results(
    folder: Path, name: str, meta_: dict, rows: list[dict], csv_rows=None, **extra
) -> Path:
    """Write ``name.json`` ({"meta", "rows", ...extra}) and ``name.csv`` (``csv_rows``, by
    default the rows) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    meta_ = {**meta_, "loadavg_end": [round(x, 2) for x in os.getloadavg()]}
    path = folder / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"meta": meta_, "rows": rows, **extra}, indent=1) + "\n")
    tmp.replace(path)
    csv_rows = rows if csv_rows is None else csv_rows
    columns: list[str] = []
    for row in csv_rows:
        columns += [k for k, v in row.items() if k not in columns and not isinstance(v, list)]
    with open(folder / f"{name}.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(csv_rows)
    return path


def read_results(path: Path) -> dict | None:
    """A result file written by ``write_results``, or None if it isn't there."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
