"""Load Whisper and summarizer models for a frozen spec, with adapters, into a bounded LRU cache.

Training and serving both load through here, so quantization and adapter placement are the
same in both (shared DESIGN.md).
"""

from __future__ import annotations

import gc
import json
import logging
import os
import socket
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from demo.errors import AdapterError, DemoError, ModelUnavailableError
from demo.measure import Measurements, measure, weights_footprint_mb
from demo.quant import (
    apply_dynamic_int8,
    check_mode,
    from_pretrained_kwargs,
    get_quant_mode,
    resolve_device,
)
from demo.registry import (
    SummarizerModel,
    WhisperModel,
    bundled_checkpoint,
    get_summarizer,
    get_whisper_model,
)

log = logging.getLogger(__name__)

MAX_MODELS_ENV = "DEMO_MAX_MODELS"
DEFAULT_MAX_MODELS = 3
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
HUB_URL = "https://huggingface.co"


@dataclass(frozen=True)
class ModelSpec:
    """Everything that decides which weights end up in memory; the cache key."""

    kind: str  # "asr" or "summarizer"
    name: str  # registry name, hub id, or local checkpoint directory
    quant: str = "full"  # quantization mode name (demo.quant)
    adapter: str | None = None  # PEFT adapter directory (safetensors), or None
    device: str = "auto"  # auto, cpu or cuda


@dataclass
class LoadedModel:
    spec: ModelSpec  # with the device resolved
    model: Any  # a transformers model (possibly PEFT-wrapped), or None for extractive
    processor: Any  # WhisperProcessor or a tokenizer
    entry: WhisperModel | SummarizerModel
    weights_mb: float = 0.0  # weights + buffers footprint
    load: Measurements = field(default_factory=Measurements)  # the "load" stage
    notes: list[str] = field(default_factory=list)  # caveats to show the user


def whisper_source(entry: WhisperModel) -> str:
    """Where ``from_pretrained`` reads a Whisper model: the converted bundle or the hub id."""
    if entry.bundled is not None:
        return str(bundled_checkpoint(entry))
    return entry.hub_id


def _hub_error(what: str, source: str, exc: Exception) -> DemoError:
    if Path(source).is_dir():
        return ModelUnavailableError(f"Can't load {what} from {source}: {exc}")
    why = "is not downloaded and the hub can't be reached"
    return ModelUnavailableError(
        f"The {what} {source} {why}; with network, run `python -m demo download {source}` "
        "(or `hf download " + source + "`) and try again, or pick a bundled model."
    )


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the model hub answers a TCP connection quickly (False when offline)."""
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        return False
    host = urlparse(os.environ.get("HF_ENDPOINT", HUB_URL)).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _from_pretrained(cls, what: str, source: str, **kwargs):
    """``from_pretrained`` that reads the local cache first and fails fast when offline.

    Without the cache-first try, transformers retries an unreachable hub for minutes before
    giving up, which is what a presenter with no network would see.
    """
    try:
        return cls.from_pretrained(source, local_files_only=True, **kwargs)
    except DemoError:
        raise
    except (OSError, ValueError) as exc:
        if Path(source).is_dir() or not hub_reachable():
            raise _hub_error(what, source, exc) from exc
    try:
        return cls.from_pretrained(source, **kwargs)
    except DemoError:
        raise
    except (OSError, ValueError) as exc:
        raise _hub_error(what, source, exc) from exc


def check_adapter_dir(adapter: str | os.PathLike, base: WhisperModel | SummarizerModel) -> Path:
    """Validate a PEFT adapter directory: exists, safetensors only, made for this base model."""
    path = Path(adapter)
    if not path.is_dir():
        raise AdapterError(f"Adapter directory {path} doesn't exist.")
    config_file = path / ADAPTER_CONFIG
    if not config_file.is_file():
        raise AdapterError(f"{path} is not a PEFT adapter: it has no {ADAPTER_CONFIG}.")
    if not (path / ADAPTER_WEIGHTS).is_file():
        # Never fall back to adapter_model.bin: unpickling a user-given file can run code.
        raise AdapterError(f"{path} has no {ADAPTER_WEIGHTS}; only safetensors adapters load.")
    try:
        config = json.loads(config_file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise AdapterError(f"{config_file} is not valid JSON.") from exc
    made_for = config.get("base_model_name_or_path")
    known = {base.name, getattr(base, "hub_id", None), f"whisper-{base.name}"}
    if made_for and Path(str(made_for)).name not in known and made_for not in known:
        raise AdapterError(
            f"Adapter {path.name} was trained on {made_for}, not on {base.name}; "
            "pick an adapter made for this model."
        )
    return path


def _apply_adapter(model, adapter: Path, base_name: str, merge: bool):
    from peft import PeftModel

    try:
        peft_model = PeftModel.from_pretrained(model, str(adapter), is_trainable=False)
    except (RuntimeError, ValueError, KeyError) as exc:
        raise AdapterError(
            f"Adapter {adapter.name} doesn't fit {base_name} (its shapes or modules differ)."
        ) from exc
    return peft_model.merge_and_unload() if merge else peft_model


def load_whisper_base(entry: WhisperModel, quant: str, device: str, **extra):
    """Load a Whisper model and processor at a quantization mode (no adapter, no eval mode)."""
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    mode = get_quant_mode(quant)
    check_mode(mode, device)
    source = whisper_source(entry)
    processor = _from_pretrained(WhisperProcessor, "Whisper model", source)
    kwargs = from_pretrained_kwargs(mode, device, skip_modules=["proj_out"])
    kwargs.update(extra)
    model = _from_pretrained(WhisperForConditionalGeneration, "Whisper model", source, **kwargs)
    if device == "cuda" and not mode.bnb:
        model = model.to("cuda")
    return model, processor


def load_seq2seq_base(entry: SummarizerModel, quant: str, device: str, **extra):
    """Load a seq2seq summarizer and tokenizer at a quantization mode (no adapter)."""
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    mode = get_quant_mode(quant)
    check_mode(mode, device)
    tokenizer = _from_pretrained(AutoTokenizer, "summarizer", entry.hub_id)
    kwargs = from_pretrained_kwargs(mode, device, skip_modules=["lm_head"])
    kwargs.update(extra)
    model = _from_pretrained(AutoModelForSeq2SeqLM, "summarizer", entry.hub_id, **kwargs)
    if device == "cuda" and not mode.bnb:
        model = model.to("cuda")
    return model, tokenizer


def load_model(spec: ModelSpec) -> LoadedModel:
    """Load what ``spec`` names, apply its adapter and quantization, and measure the load."""
    device = resolve_device(spec.device)
    spec = ModelSpec(spec.kind, spec.name, spec.quant, spec.adapter, device)
    mode = get_quant_mode(spec.quant)
    entry = get_whisper_model(spec.name) if spec.kind == "asr" else get_summarizer(spec.name)
    adapter = check_adapter_dir(spec.adapter, entry) if spec.adapter else None
    measurements = Measurements()
    notes = [mode.note] if mode.note else []
    if spec.kind == "summarizer" and entry.kind == "extractive":
        from demo.embeddings import load_encoder

        if adapter is not None:
            raise AdapterError("The extractive summarizer has no weights to adapt; pick none.")
        with measure("load", measurements):
            _, model = load_encoder()
        return LoadedModel(spec, None, None, entry, _safe_footprint(model), measurements, notes)
    loader = load_whisper_base if spec.kind == "asr" else load_seq2seq_base
    with measure("load", measurements):
        model, processor = loader(entry, spec.quant, device)
        if adapter is not None:
            # Merge where weights are plain floats (faster inference); keep bnb weights wrapped.
            model = _apply_adapter(model, adapter, entry.name, merge=not mode.bnb)
        if mode.dynamic_int8:
            model = apply_dynamic_int8(model)
        model.eval()
    return LoadedModel(spec, model, processor, entry, _safe_footprint(model), measurements, notes)


def _safe_footprint(model) -> float:
    try:
        return weights_footprint_mb(model)
    except Exception:  # a measurement must never break loading
        log.exception("could not measure weights footprint")
        return float("nan")


class ModelCache:
    """Least-recently-used cache of loaded models, bounded in count.

    Switching configurations in the app loads new models; the oldest are dropped (and their
    memory released) so that memory stays bounded.
    """

    def __init__(self, max_models: int | None = None) -> None:
        if max_models is None:
            max_models = int(os.environ.get(MAX_MODELS_ENV, DEFAULT_MAX_MODELS))
        if max_models < 1:
            raise ValueError("max_models must be at least 1")
        self.max_models = max_models
        self._models: OrderedDict[ModelSpec, LoadedModel] = OrderedDict()
        # One load at a time: two app workers must not both evict and load into the cache.
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return len(self._models)

    def __contains__(self, spec: ModelSpec) -> bool:
        return self._key(spec) in self._models

    @staticmethod
    def _key(spec: ModelSpec) -> ModelSpec:
        device = resolve_device(spec.device)
        return ModelSpec(spec.kind, spec.name, spec.quant, spec.adapter, device)

    def get(self, spec: ModelSpec) -> tuple[LoadedModel, bool]:
        """Return ``(model, was_cached)``, loading and evicting as needed."""
        key = self._key(spec)
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
        gc.collect()
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
