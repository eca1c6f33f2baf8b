"""Find the LoRA/AdaLoRA adapters that training runs left under ``checkpoints/``.

Only directories inside the checkpoints root are listed (symlinks leading out are ignored), so
the app can't be pointed at files outside its own folders.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from demo.errors import AdapterError
from demo.models import ADAPTER_CONFIG, ADAPTER_WEIGHTS

CHECKPOINTS = Path(__file__).resolve().parent.parent / "checkpoints"


@dataclass(frozen=True)
class AdapterInfo:
    label: str  # what the dropdown shows: run id and method
    path: Path  # the adapter directory
    base: str  # the base model it was trained on (registry name or hub id)


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False


def list_adapters(root: Path = CHECKPOINTS, base: str | None = None) -> list[AdapterInfo]:
    """Adapters under ``root/<run>/adapter`` with safetensors weights, optionally for one base."""
    found = []
    if not root.is_dir():
        return found
    for adapter_config in sorted(root.glob(f"*/adapter/{ADAPTER_CONFIG}")):
        adapter = adapter_config.parent
        if not _inside(adapter, root) or not (adapter / ADAPTER_WEIGHTS).is_file():
            continue
        run = _read_json(adapter.parent / "run.json")
        made_for = run.get("model") or _read_json(adapter_config).get("base_model_name_or_path")
        if not made_for or (base is not None and made_for != base):
            continue
        method = run.get("method", "adapter")
        precision = run.get("precision", "")
        label = f"{adapter.parent.name} ({method}{', ' + precision if precision else ''})"
        found.append(AdapterInfo(label, adapter, str(made_for)))
    return found


def resolve_adapter(label: str | None, root: Path = CHECKPOINTS) -> str | None:
    """Map a dropdown label back to its adapter directory; None/"none" means no adapter."""
    if not label or label == "none":
        return None
    for info in list_adapters(root):
        if info.label == label:
            return str(info.path)
    raise AdapterError(f"No adapter named {label!r} under {root}; refresh the adapter list.")
