"""Load any model for a frozen spec, with its quantization and adapter, into a bounded cache.

Training and serving both load through here, so quantization and adapter placement are the
same in both (shared DESIGN.md). The quantization mode is resolved once, here: ``auto``
becomes a concrete mode for the model kind and device, the mode is checked, and its post-load
conversion (the fast Whisper rebuild, dynamic int8) runs inside the measured "load" stage.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from demo.adapters import apply_adapter, check_adapter_dir
from demo.asr.registry import WhisperModel, get_whisper_model
from demo.errors import AdapterError, DemoError, unknown_choice
from demo.loaders import BASE_LOADERS
from demo.measure import Measurements, measure, release_freed_memory, weights_footprint_mb
from demo.quant import (
    AUTO,
    QuantMode,
    check_quant_name,
    get_quant_mode,
    post_load,
    resolve_device,
    resolve_quant,
)
from demo.summarize.registry import SummarizerModel, get_summarizer

log = logging.getLogger(__name__)

ROLES = ("asr", "summarizer", "e2e")
# Kinds that run in fp32 whatever the quantization asked: nothing to quantize (MiniLM) or a
# trained end-to-end model whose Q-Former and prefix were trained against fp32 weights.
FP32_KINDS = ("extractive", "e2e")


@dataclass(frozen=True)
class ModelSpec:
    """Everything that decides which weights end up in memory; the cache key."""

    role: str  # "asr", "summarizer" or "e2e" (an end-to-end speech -> summary model)
    name: str  # registry name, hub id, or local checkpoint directory (e2e: its folder)
    quant: str = "auto"  # quantization mode name (demo.quant), or "auto"
    adapter: str | None = None  # PEFT adapter directory (safetensors), or None
    device: str = "auto"  # auto, cpu or cuda
    compression: str | None = None  # a low-rank model folder (demo.compress), or None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise unknown_choice("model role", self.role, list(ROLES))
        self.entry()  # an unknown name lists the valid ones now, before anything loads
        check_quant_name(self.quant)

    def entry(self):
        """The registry entry this spec names (an E2E model: what its ``e2e.json`` says)."""
        if self.role == "e2e":
            from demo.bridge.e2e_io import e2e_entry

            return e2e_entry(self.name)
        return get_whisper_model(self.name) if self.role == "asr" else get_summarizer(self.name)

    @property
    def kind(self) -> str:
        """What loads and runs it: "asr", "e2e", or the summarizer's kind (extractive...)."""
        return self.role if self.role in ("asr", "e2e") else self.entry().kind

    def resolved(self) -> ModelSpec:
        """The same spec with device and quantization mode made concrete (and checked)."""
        device = resolve_device(self.device)
        if self.kind in FP32_KINDS or (self.quant == AUTO and self._fp32_compression()):
            return replace(self, quant="full", device=device)
        mode = resolve_quant(self.quant, self.kind, device, adapter=self.adapter is not None)
        return replace(self, quant=mode.name, device=device)

    def _fp32_compression(self) -> bool:
        """Whether the compression runs at full precision only (a bridge: auto means full)."""
        if not self.compression:
            return False
        from demo.compress.choices import compression_kind

        try:
            return compression_kind(self.compression).fp32
        except DemoError:  # load_model says what is wrong with the folder
            return False


@dataclass
class LoadedModel:
    spec: ModelSpec  # resolved: concrete device and quantization mode
    model: Any  # a transformers model (possibly PEFT-wrapped), a FastWhisper, or None
    processor: Any  # WhisperProcessor or a tokenizer
    entry: WhisperModel | SummarizerModel
    weights_mb: float = 0.0  # weights + buffers footprint
    load: Measurements = field(default_factory=Measurements)  # the "load" stage
    notes: list[str] = field(default_factory=list)  # caveats to show the user


def check_available(spec: ModelSpec) -> None:
    """Refuse, without loading anything, a hub model that is neither cached nor reachable."""
    from pathlib import Path

    from demo.hub import hub_error, hub_reachable, is_hub_cached

    entry = spec.entry()
    hub_id = getattr(entry, "hub_id", None)
    if getattr(entry, "bundled", None) is not None or hub_id is None or Path(hub_id).is_dir():
        return
    if not is_hub_cached(hub_id) and not hub_reachable():
        what = "Whisper model" if spec.role == "asr" else "summarizer"
        raise hub_error(what, hub_id, OSError("not cached"))


def _load_extractive(entry, mode: QuantMode | None, device: str):
    from demo.embeddings import load_encoder

    _, model = load_encoder()
    return None, None, model  # (model, processor, what to measure)


def _load_e2e(entry, mode: QuantMode | None, device: str):
    from demo.bridge.e2e_io import load_e2e

    model = load_e2e(entry.name, device=device)
    return model, model.tokenizer, model


def _load_weights(loader: Callable) -> Callable:
    def load(entry, mode: QuantMode, device: str):
        model, processor = loader(entry, mode, device)
        return model, processor, model

    return load


# Model kind -> loader returning (model, processor, module whose footprint is reported).
LOADERS: dict[str, Callable] = {
    **{kind: _load_weights(loader) for kind, loader in BASE_LOADERS.items()},
    "extractive": _load_extractive,
    "e2e": _load_e2e,
}


def load_model(spec: ModelSpec) -> LoadedModel:
    """Load what ``spec`` names, apply its adapter and quantization, and measure the load."""
    spec = spec.resolved()
    entry = spec.entry()
    kind = spec.kind
    # resolved() checked the mode for this kind, device and adapter: only its object is needed.
    mode = None if kind in FP32_KINDS else get_quant_mode(spec.quant)
    method, compressed = _compression(spec, mode)
    adapter_dir = spec.adapter or (compressed.adapter if compressed else None)
    adapter = check_adapter_dir(adapter_dir, entry) if adapter_dir else None
    if kind == "extractive" and adapter is not None:
        raise AdapterError("The extractive summarizer has no weights to adapt; pick none.")
    measurements = Measurements()
    notes = [mode.note] if mode is not None and mode.note else []
    if method is not None and method.note:
        notes.append(method.note)
    with measure("load", measurements):
        model, processor, measured = LOADERS[kind](entry, mode, spec.device)
        if model is not None:
            if method is not None:  # factors replace layers before any adapter
                model = method.attach(compressed, model, entry.name)
            if adapter is not None:
                # Merge where weights are plain floats (faster inference); keep bnb wrapped.
                model = apply_adapter(model, adapter, entry.name, merge=not mode.bnb)
            model = post_load(mode, model) if mode is not None else model
            model.eval()
            measured = model
    return LoadedModel(
        spec, model, processor, entry, _safe_footprint(measured), measurements, notes
    )


def load_lowrank_whisper(
    folder: str | Path, quant: str = "auto", device: str = "auto", adapter: str | None = None
) -> LoadedModel:
    """A saved low-rank Whisper (``demo.compress.lowrank_io``) loaded as ``load_model`` loads
    any compressed spec: base, factors, the LoRA adapter saved beside them (or ``adapter``),
    then the quantization's post-load step."""
    from demo.compress.lowrank_io import lowrank_info

    info = lowrank_info(folder)
    return load_model(ModelSpec("asr", info.base, quant, adapter, device, str(info.path)))


def _compression(spec: ModelSpec, mode: QuantMode | None):
    """``(kind, info)`` of the compressed model ``spec.compression`` names (checked), or
    ``(None, None)``."""
    if not spec.compression:
        return None, None
    from demo.compress.choices import compression_info, compression_kind
    from demo.errors import CompressionError

    if spec.role != "asr":
        raise CompressionError("Only Whisper models can be compressed; pick none.")
    kind = compression_kind(spec.compression)
    if kind.fp32 and mode is not None and mode.name != "full":
        raise CompressionError(
            f"A Q-Former bridge was trained against the full-precision decoder, not "
            f"{mode.name}; pick auto or full for it."
        )
    if not kind.adapters and spec.adapter:
        raise CompressionError(
            "A Q-Former bridge was trained against the stock decoder; pick no Whisper adapter."
        )
    if mode is not None and mode.bnb:
        raise CompressionError(
            "bitsandbytes modes quantize while loading, before the factors exist; pick auto, "
            "full, bf16, dynamic-int8 or fast-int8 for a low-rank model."
        )
    info = compression_info(spec.compression, kind)
    if info.base != spec.entry().name:
        raise CompressionError(
            f"The compressed model {Path(spec.compression).name} was made from {info.base}, "
            f"not {spec.name}; pick it with {info.base}."
        )
    return kind, info


def _safe_footprint(model) -> float:
    try:
        return weights_footprint_mb(model)
    except Exception:  # a measurement must never break loading
        log.exception("could not measure weights footprint")
        return float("nan")


class ModelCache:
    """Least-recently-used cache of loaded models, bounded in count.

    Keys are resolved specs, so ``auto`` and the mode it resolves to share one entry.
    Switching configurations in the app loads new models; the oldest are dropped (and their
    memory released) so that memory stays bounded.
    """

    def __init__(self, max_models: int | None = None) -> None:
        if max_models is None:
            from demo.settings import settings

            max_models = settings().max_models
        if max_models < 1:
            raise ValueError("max_models must be at least 1")
        self.max_models = max_models
        self._models: OrderedDict[ModelSpec, LoadedModel] = OrderedDict()
        # One load at a time: two app workers must not both evict and load into the cache.
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return len(self._models)

    def __contains__(self, spec: ModelSpec) -> bool:
        return spec.resolved() in self._models

    def get(self, spec: ModelSpec) -> tuple[LoadedModel, bool]:
        """Return ``(model, was_cached)``, loading and evicting as needed."""
        key = spec.resolved()
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key], True
            while len(self._models) >= self.max_models:
                self._evict()
            loaded = load_model(key)
            self._models[key] = loaded
            return loaded, False

    def _evict(self) -> None:
        _, loaded = self._models.popitem(last=False)
        del loaded
        release_freed_memory()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass

    def clear(self) -> None:
        with self._lock:
            while self._models:
                self._evict()
