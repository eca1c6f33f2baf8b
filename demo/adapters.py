"""PEFT LoRA/AdaLoRA adapters: find the ones training runs left, check one, apply it.

Only directories inside the checkpoints root are listed (symlinks leading out are ignored), and
only safetensors weights load, so the app can't be pointed at files outside its own folders or
made to unpickle anything. A damaged adapter (a run killed while saving) gives one sentence.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from demo.errors import AdapterError

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
MAX_CONFIG_BYTES = 1024 * 1024


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


def _run_name(adapter: Path) -> str:
    """checkpoints/<run>/adapter -> <run>: the folder name alone says only "adapter"."""
    return adapter.parent.name if adapter.name == "adapter" else adapter.name


def is_inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False


def saved_under(root: str | Path, pattern: str, read: Callable[[Path], Any]) -> list[Any]:
    """``read(folder)`` for every file matching ``root/pattern`` (``*/<folder>/<config>``),
    in name order; links leading out of ``root`` and folders ``read`` refuses (a
    ``DemoError``: damaged, weights absent) are left out. How every trained part is listed."""
    from demo.errors import DemoError

    root = Path(root)
    found: list[Any] = []
    for config in sorted(root.glob(pattern)) if root.is_dir() else []:
        if not is_inside(config, root):
            continue
        try:
            found.append(read(config.parent))
        except DemoError:
            continue  # a damaged or incomplete folder is not offered
    return found


def list_adapters(root: Path, base: str | None = None) -> list[AdapterInfo]:
    """Adapters under ``root/<run>/adapter`` with safetensors weights, optionally for one base."""
    found: list[AdapterInfo] = []
    if not root.is_dir():
        return found
    for adapter_config in sorted(root.glob(f"*/adapter/{ADAPTER_CONFIG}")):
        adapter = adapter_config.parent
        if not is_inside(adapter, root) or not (adapter / ADAPTER_WEIGHTS).is_file():
            continue
        run = _read_json(adapter.parent / "run.json")
        if run.get("system"):
            continue  # a research system's adapter (e.g. LoRA on low-rank factors) needs its model
        made_for = run.get("model") or _read_json(adapter_config).get("base_model_name_or_path")
        if not made_for or (base is not None and made_for != base):
            continue
        method = run.get("method", "adapter")
        precision = run.get("precision", "")
        label = f"{adapter.parent.name} ({method}{', ' + precision if precision else ''})"
        found.append(AdapterInfo(label, adapter, str(made_for)))
    return found


def resolve_adapter(label: str | None, root: Path) -> str | None:
    """Map a dropdown label back to its adapter directory; None/"none" means no adapter."""
    if not label or label == "none":
        return None
    for info in list_adapters(root):
        if info.label == label:
            return str(info.path)
    raise AdapterError(f"No adapter named {label!r} under {root}; refresh the adapter list.")


def read_adapter_config(path: Path) -> dict:
    """The adapter's ``adapter_config.json`` as a dict, or one sentence saying what is wrong."""
    config_file = path / ADAPTER_CONFIG
    try:
        if config_file.stat().st_size > MAX_CONFIG_BYTES:
            raise AdapterError(f"{config_file} is too large to be an adapter config.")
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AdapterError(
            f"{config_file} is not valid JSON (a run killed while saving?); retrain or pick "
            "another adapter."
        ) from exc
    if not isinstance(config, dict):
        raise AdapterError(f"{config_file} does not hold a JSON object; it is not a PEFT config.")
    return config


def _check_weights(weights: Path) -> None:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(weights), framework="pt") as handle:
            keys = list(handle.keys())
    except (SafetensorError, OSError, ValueError) as exc:
        raise AdapterError(
            f"{weights} is not a readable safetensors file (damaged or cut off while saving); "
            "retrain or pick another adapter."
        ) from exc
    if not keys:
        raise AdapterError(f"{weights} holds no tensors; retrain or pick another adapter.")


def halve_adapter(adapter: Path) -> int:
    """Rewrite the adapter's fp32 weights as fp16 (half the file; PEFT casts them back to the
    model's dtype on load). Returns how many tensors changed; an interrupted rewrite leaves the
    old file, since the new one replaces it only once written."""
    import torch
    from safetensors import safe_open

    from demo.provenance import save_safetensors_atomic

    weights = adapter / ADAPTER_WEIGHTS
    _check_weights(weights)
    with safe_open(str(weights), framework="pt") as handle:
        metadata = handle.metadata() or {}
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    changed = [key for key, value in tensors.items() if value.dtype == torch.float32]
    for key in changed:
        tensors[key] = tensors[key].to(torch.float16)
    if changed:
        save_safetensors_atomic(weights, tensors, {**metadata, "dtype": "fp16"})
    return len(changed)


def check_adapter_dir(adapter: str | os.PathLike, base) -> Path:
    """Validate a PEFT adapter directory: exists, readable safetensors, made for ``base``.

    ``base`` is a registry entry (``WhisperModel`` or ``SummarizerModel``).
    """
    path = check_adapter_base(adapter, base)
    _check_weights(path / ADAPTER_WEIGHTS)
    return path


def check_adapter_base(adapter: str | os.PathLike, base) -> Path:
    """The part of ``check_adapter_dir`` that reads no weights: a PEFT adapter folder with
    safetensors weights, made for ``base``."""
    path = Path(adapter)
    if not path.is_dir():
        raise AdapterError(f"Adapter directory {path} doesn't exist.")
    if not (path / ADAPTER_CONFIG).is_file():
        raise AdapterError(f"{path} is not a PEFT adapter: it has no {ADAPTER_CONFIG}.")
    if not (path / ADAPTER_WEIGHTS).is_file():
        # Never fall back to adapter_model.bin: unpickling a user-given file can run code.
        raise AdapterError(f"{path} has no {ADAPTER_WEIGHTS}; only safetensors adapters load.")
    config = read_adapter_config(path)
    made_for = config.get("base_model_name_or_path")
    known = {base.name, getattr(base, "hub_id", None), f"whisper-{base.name}"}
    if made_for and Path(str(made_for)).name not in known and made_for not in known:
        raise AdapterError(
            f"The adapter of {_run_name(path)} was trained on {made_for}, not on {base.name}; "
            "pick an adapter made for this model."
        )
    return path


def apply_adapter(model, adapter: Path, base_name: str, merge: bool):
    """Wrap ``model`` with the adapter (PEFT), merged into the weights when ``merge``."""
    from peft import PeftModel

    try:
        peft_model = PeftModel.from_pretrained(model, str(adapter), is_trainable=False)
    except (RuntimeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise AdapterError(
            f"The adapter of {_run_name(adapter)} doesn't fit {base_name} (its shapes or modules "
            "differ)."
        ) from exc
    return peft_model.merge_and_unload() if merge else peft_model
