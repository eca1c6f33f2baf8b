"""Where and how a number was measured: machine, library versions, command, commit, time.

Training runs and benchmark results both record these, through the same helpers, and write
their JSON files atomically so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Packages that decide a training run's or a benchmark's numbers.
PACKAGES = (
    "torch", "transformers", "peft", "accelerate", "bitsandbytes", "datasets", "jiwer",
    "rouge-score", "numpy", "ctranslate2", "faster-whisper", "pywhispercpp", "llama-cpp-python",
)  # fmt: skip
# A frozen base's fingerprint reads every FINGERPRINT_STRIDE-th value of each tensor: enough to
# tell other weights apart (another checkpoint, a fine-tune), fast enough to run at each load.
FINGERPRINT_STRIDE = 97
CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8")


def repo_relative(value: Any) -> Any:
    """An absolute path inside the repository as a path relative to it (what a result file
    records, so that it reads the same in any clone); anything else unchanged."""
    if not isinstance(value, (str, Path)) or not os.path.isabs(value):
        return value
    path = Path(value)
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(value)


def now_iso() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def cpu_model_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    """The SIMD flags (``CPU_FLAGS``) this CPU has: they decide int8/bf16 speed."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    for line in text.splitlines():
        if line.startswith("flags"):
            present = set(line.split(":", 1)[1].split())
            return [f for f in CPU_FLAGS if f in present]
    return []


def machine(num_processes: int = 1) -> dict[str, Any]:
    """CPU, cores, memory, SIMD flags, OS, Python and GPUs of this machine."""
    import psutil

    info: dict[str, Any] = {
        "cpu": cpu_model_name(),
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu_flags": cpu_flags(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "num_processes": num_processes,
        "gpus": [],
    }
    try:
        import torch

        if torch.cuda.is_available():
            info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
            info["gpu_memory_gb"] = round(
                torch.cuda.get_device_properties(0).total_memory / 2**30, 1
            )
            info["cuda"] = torch.version.cuda
    except ImportError:
        pass
    return info


def versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    """Python and the installed versions of ``packages`` (None when not installed)."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in packages:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def git_commit() -> str | None:
    """The checkout's short commit, with ``+dirty`` when it has uncommitted changes."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
            check=True,
        )  # fmt: skip
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
            capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
        return out.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def command_line(module: str | None = None, argv: list[str] | None = None) -> str:
    """How this process was started, e.g. ``python -m training.train_asr --train ...``."""
    if module is None:
        spec = getattr(sys.modules.get("__main__"), "__spec__", None)
        head = f"python -m {spec.name}" if spec is not None else sys.argv[0]
    else:
        head = f"python -m {module}"
    argv = sys.argv[1:] if argv is None else argv
    return " ".join([head, *(shlex.quote(arg) for arg in argv)])


def fsync_dir(path: Path) -> None:
    """Push a folder's entries (a rename, a new file) to disk."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def json_default(value: Any) -> Any:
    """JSON for numpy / torch scalars and anything else (as text)."""
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def write_json_atomic(path: Path, data: Any) -> Path:
    """Replace ``path`` with ``data`` as JSON so a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1, default=json_default)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)
    return path


def save_safetensors_atomic(path: Path, tensors: dict, metadata: dict[str, str]) -> Path:
    """Replace ``path`` with ``tensors`` as safetensors: the file is complete or absent."""
    from safetensors.torch import save_file

    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    os.replace(tmp, path)
    return path


def weights_fingerprint(module) -> str:
    """A short hash of a model's weights (names, shapes and a strided sample of the values in
    fp32), so a trained part saved against a frozen base can refuse another one when it loads."""
    import hashlib

    import torch

    digest = hashlib.sha256()
    state = {
        # A PEFT-wrapped model fingerprints as its base: its adapter's tensors are left out.
        name.replace("base_model.model.", "", 1).replace(".base_layer", ""): tensor
        for name, tensor in module.state_dict().items()
        if "lora_" not in name
    }
    for name, tensor in sorted(state.items()):
        digest.update(f"{name}:{tuple(tensor.shape)};".encode())
        if tensor.is_floating_point():
            sample = tensor.detach().reshape(-1)[::FINGERPRINT_STRIDE].to("cpu", torch.float32)
            digest.update(sample.numpy().tobytes())
    return digest.hexdigest()[:16]


def output_name(value: str, flag: str) -> str:
    """``value`` when it is a plain file or folder name; a path (a separator, ``..``, an
    absolute or empty name) is refused in one sentence, so no output lands outside its folder."""
    if not value or value == "." or any(part in value for part in ("/", "\\", "..", "\0")):
        raise ValueError(
            f"{flag} {value[:80]!r} is not a plain name; give one without '/' or '..', since "
            "the output goes inside its output folder."
        )
    return value


def output_folder(folder: Path, flag: str) -> Path:
    """``folder`` unless something that is not a folder sits at that path (one sentence)."""
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{flag} {folder} is a file, not a folder; give a folder for the outputs.")
    return folder
