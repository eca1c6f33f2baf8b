"""Frozen Whisper encoder features, computed once per clip and cached as safetensors shards.

The encoder always reads a 30 s window and returns 1500 frames (20 ms each); a 4 s clip has
200 real ones and 1300 of padding. Only the real frames plus a small margin are kept
(``encoder_frames``), which is what a Q-Former cross-attends to, with a mask over the
padding when clips of different lengths share a batch. A cache folder holds
``shard-NNNNN.safetensors`` files (one tensor per clip, float16 by default; the shard's
metadata records what went in, so an interrupted build resumes at the first missing or stale
shard) and ``index.json``. For the clips of the ``reference_splits`` the unmodified Whisper's
transcript (decoded from all 1500 frames) is stored too: the bottleneck's upper bound.

Caches side by side in one folder share their clips: a clip (the same audio file, the same
window of it) already encoded by a sibling cache with the same encoder, margin and precision is
copied from it instead of encoded again, so the end-to-end model's cache of the bridge's corpus
costs seconds once the bridge's exists.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from demo.errors import DemoError

SAMPLE_RATE = 16000
SAMPLES_PER_FRAME = 320  # mel hop 160 x the encoder's stride-2 convolution: 20 ms a frame
MAX_FRAMES = 1500  # one 30 s window
INDEX_FILE = "index.json"
CACHE_FORMAT = "whisper-encoder-features"
CACHE_VERSION = 1
DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}


@dataclass(frozen=True)
class CacheItem:
    key: str  # unique name of the clip inside the cache
    audio: str | bytes  # audio file path, or encoded audio bytes
    text: str  # its transcript
    split: str  # train / validation / test
    # A window of a longer clip: (start, end) in seconds (the end-to-end model's 30 s windows);
    # None = the whole clip.
    span: tuple[float, float] | None = None


@dataclass(frozen=True)
class CacheOptions:
    margin_frames: int = 10  # frames kept after the audio's end (200 ms): Whisper looks ahead
    batch_size: int = 8  # clips per encoder call
    dtype: str = "float16"  # storage precision (features are read back as float32)
    shard_size: int = 256  # clips per safetensors file
    reference_splits: tuple[str, ...] = ("validation", "test")  # also decode with plain Whisper
    language: str | None = None  # transcript language for a multilingual Whisper (e.g. "en")
    max_new_tokens: int = 224  # longest reference transcript (Whisper's own limit is 448)

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, not {self.dtype!r}.")
        if self.margin_frames < 0 or self.batch_size < 1 or self.shard_size < 1:
            raise ValueError("margin_frames must be >= 0, batch_size and shard_size >= 1.")


def encoder_frames(num_samples: int, margin: int) -> int:
    """Encoder frames that cover ``num_samples`` of 16 kHz audio, plus ``margin``, at most 1500."""
    return min(MAX_FRAMES, math.ceil(num_samples / SAMPLES_PER_FRAME) + margin)


@torch.no_grad()
def encode(whisper, processor, audios: list[np.ndarray]) -> torch.Tensor:
    """The frozen encoder's last hidden states for each 30 s window: (B, 1500, d_model)."""
    encoder = whisper.get_encoder()
    parameter = next(encoder.parameters())
    inputs = processor.feature_extractor(audios, sampling_rate=SAMPLE_RATE, return_tensors="pt")
    features = inputs.input_features.to(parameter.device, parameter.dtype)
    return encoder(features).last_hidden_state


def pad_features(features: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack (T_i, d) tensors into (B, T_max, d) with zeros, and a (B, T_max) bool mask."""
    longest = max(f.shape[0] for f in features)
    out = features[0].new_zeros(len(features), longest, features[0].shape[1])
    mask = torch.zeros(len(features), longest, dtype=torch.bool)
    for i, f in enumerate(features):
        out[i, : f.shape[0]] = f
        mask[i, : f.shape[0]] = True
    return out, mask.to(out.device)


def encode_clips(
    whisper, processor, audios: list[np.ndarray], margin_frames: int = 10
) -> tuple[torch.Tensor, torch.Tensor]:
    """Trimmed, padded encoder features of a few clips and their mask, ready for a bridge."""
    hidden = encode(whisper, processor, audios)
    trimmed = [hidden[i, : encoder_frames(len(a), margin_frames)] for i, a in enumerate(audios)]
    return pad_features(trimmed)


@torch.no_grad()
def reference_transcripts(whisper, processor, hidden: torch.Tensor, options: CacheOptions):
    """Plain Whisper's greedy transcripts from the full encoder output (the upper bound)."""
    from transformers.modeling_outputs import BaseModelOutput

    kwargs: dict[str, Any] = {"max_new_tokens": options.max_new_tokens, "num_beams": 1}
    if getattr(whisper.generation_config, "is_multilingual", False):
        kwargs.update(language=options.language or "en", task="transcribe")
    ids = whisper.generate(encoder_outputs=BaseModelOutput(last_hidden_state=hidden), **kwargs)
    return [t.strip() for t in processor.batch_decode(ids, skip_special_tokens=True)]


def _audio_identity(audio: str | bytes) -> list:
    if isinstance(audio, bytes):
        return ["bytes", hashlib.sha1(audio).hexdigest()]
    path = Path(audio)
    stat = path.stat()
    return [str(path.resolve()), stat.st_size, stat.st_mtime_ns]


def _fingerprint(encoder: str, options: CacheOptions, items: list[CacheItem]) -> str:
    # Everything that changes a shard's contents; the batch size and shard size don't.
    parts = [CACHE_VERSION, encoder, options.margin_frames, options.dtype]
    parts.append([options.language, options.max_new_tokens, list(options.reference_splits)])
    parts += [
        [i.key, _audio_identity(i.audio), i.text, i.split, *([list(i.span)] if i.span else [])]
        for i in items
    ]
    return hashlib.sha256(json.dumps(parts).encode("utf-8")).hexdigest()


def _clip_id(item: CacheItem) -> str:
    """What a clip's features depend on besides the cache's options: its audio and window."""
    parts = [_audio_identity(item.audio), list(item.span) if item.span else None]
    return hashlib.sha1(json.dumps(parts).encode("utf-8")).hexdigest()[:20]


def _compatible(encoder: str, options: CacheOptions) -> dict[str, Any]:
    """The index fields two caches must agree on to share features (and reference texts)."""
    return {
        "encoder": encoder,
        "margin_frames": options.margin_frames,
        "dtype": options.dtype,
        "reference": [options.language, options.max_new_tokens],
    }


def _donors(
    folder: Path, encoder: str, options: CacheOptions
) -> dict[str, tuple[FeatureCache, str]]:
    """clip id -> (sibling cache, its key) for the compatible caches beside ``folder``."""
    wanted = _compatible(encoder, options)
    found: dict[str, tuple[FeatureCache, str]] = {}
    for index_path in sorted(folder.parent.glob(f"*/{INDEX_FILE}")):
        if index_path.parent == folder:
            continue
        try:
            sibling = FeatureCache.open(index_path.parent)
        except DemoError:
            continue
        if any(sibling.index.get(k) != v for k, v in wanted.items()):
            continue
        for key, row in sibling.rows.items():
            if "clip" in row:
                found.setdefault(row["clip"], (sibling, key))
    return found


def cache_folder(root: str | Path, encoder: str, options: CacheOptions, items: list[CacheItem]):
    """``root/<encoder>-m<margin>-<hash of the inputs>``: runs on the same clips share one
    cache, and a run on other clips (a subset, the test split) doesn't overwrite it."""
    name = f"{Path(encoder).name}-m{options.margin_frames}"
    return Path(root) / f"{name}-{_fingerprint(encoder, options, items)[:10]}"


class FeatureCache:
    """A built cache folder: clip keys, texts, frame counts, and the features on demand."""

    def __init__(self, folder: Path, index: dict[str, Any]) -> None:
        self.folder = Path(folder)
        self.index = index
        self.encoder: str = index["encoder"]
        self.d_model: int = index["d_model"]
        self.rows: dict[str, dict[str, Any]] = index["rows"]
        self._handles: dict[str, Any] = {}

    @classmethod
    def open(cls, folder: str | Path) -> FeatureCache:
        """Open a cache built by ``build``."""
        path = Path(folder) / INDEX_FILE
        try:
            index = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DemoError(
                f"{folder} has no {INDEX_FILE}; build the feature cache first."
            ) from None
        except (OSError, ValueError) as exc:
            raise DemoError(f"Can't read the feature cache index {path}: {exc}.") from exc
        if not isinstance(index, dict) or index.get("format") != CACHE_FORMAT:
            raise DemoError(f"{path} is not a feature cache index.")
        return cls(Path(folder), index)

    def keys(self, split: str | None = None) -> list[str]:
        """Clip keys in build order, optionally of one split."""
        return [k for k, row in self.rows.items() if split is None or row["split"] == split]

    def text(self, key: str) -> str:
        return self.rows[key]["text"]

    def reference_text(self, key: str) -> str | None:
        """Plain Whisper's transcript of the clip (reference splits only)."""
        return self.rows[key].get("whisper_text")

    def features(self, key: str) -> torch.Tensor:
        """The clip's trimmed encoder features, (frames, d_model) float32."""
        return self.stored(key).float()

    def stored(self, key: str) -> torch.Tensor:
        """The clip's features as stored (the cache's ``dtype``)."""
        from safetensors import safe_open

        shard = self.rows[key]["shard"]
        if shard not in self._handles:  # opened lazily, so a DataLoader worker opens its own
            self._handles[shard] = safe_open(str(self.folder / shard), framework="pt")
        return self._handles[shard].get_tensor(key)

    def __getstate__(self):  # file handles don't pickle; workers reopen them
        return {**self.__dict__, "_handles": {}}

    @classmethod
    def build(
        cls,
        folder: str | Path,
        items: list[CacheItem],
        whisper,
        processor,
        encoder: str,
        options: CacheOptions = CacheOptions(),
    ) -> FeatureCache:
        """Encode every item once (skipping shards already built from the same inputs)."""
        from demo.provenance import write_json_atomic

        if not items:
            raise DemoError("No clips to encode; the feature cache would be empty.")
        if len({i.key for i in items}) != len(items):
            raise ValueError("Cache item keys must be unique.")
        folder = Path(folder)
        fingerprint = _fingerprint(encoder, options, items)
        if (folder / INDEX_FILE).is_file():
            cache = cls.open(folder)
            if cache.index.get("fingerprint") == fingerprint:
                return cache
        folder.mkdir(parents=True, exist_ok=True)
        donors = _donors(folder, encoder, options)
        rows: dict[str, dict[str, Any]] = {}
        d_model = whisper.config.d_model
        bar = tqdm(total=len(items), desc=f"encoding ({encoder})", unit="clip")
        for start in range(0, len(items), options.shard_size):
            chunk = items[start : start + options.shard_size]
            name = f"shard-{start // options.shard_size:05d}.safetensors"
            shard_rows = _built_shard(folder / name, _fingerprint(encoder, options, chunk))
            if shard_rows is None:
                shard_rows = _build_shard(
                    folder / name, chunk, (whisper, processor), encoder, options, donors, bar
                )
            else:
                bar.update(len(chunk))
            for key, row in shard_rows.items():
                rows[key] = {**row, "shard": name}
        bar.close()
        index = {
            "format": CACHE_FORMAT,
            "version": CACHE_VERSION,
            **_compatible(encoder, options),
            "d_model": d_model,
            "fingerprint": fingerprint,
            "rows": rows,
        }
        write_json_atomic(folder / INDEX_FILE, index)
        return cls(folder, index)


def _window(audio: np.ndarray, span: tuple[float, float] | None) -> np.ndarray:
    if span is None:
        return audio
    return audio[int(span[0] * SAMPLE_RATE) : int(span[1] * SAMPLE_RATE)]


def _built_shard(path: Path, fingerprint: str) -> dict[str, Any] | None:
    """The rows of a shard already built from the same inputs, else None."""
    from safetensors import SafetensorError, safe_open

    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
    except (SafetensorError, OSError):
        return None  # a shard cut off mid-write is rebuilt
    if metadata.get("fingerprint") != fingerprint:
        return None
    return json.loads(metadata["rows"])


def _build_shard(path, chunk, models, encoder, options, donors, bar):
    """Encode one shard's clips (copying those a sibling cache has) and save it atomically."""
    from demo.provenance import save_safetensors_atomic

    tensors: dict[str, torch.Tensor] = {}
    rows: dict[str, Any] = {}
    clips = {item.key: _clip_id(item) for item in chunk}
    fresh = []
    for item in chunk:
        sibling, key = donors.get(clips[item.key], (None, None))
        row = sibling.rows[key] if sibling is not None else None
        wants_text = item.split in options.reference_splits
        if row is None or (wants_text and "whisper_text" not in row):
            fresh.append(item)
            continue
        tensors[item.key] = sibling.stored(key)
        rows[item.key] = _row(item, clips[item.key], row["frames"], row["seconds"])
        if wants_text:
            rows[item.key]["whisper_text"] = row["whisper_text"]
        bar.update(1)
    for start in range(0, len(fresh), options.batch_size):
        batch = fresh[start : start + options.batch_size]
        tensors_rows = _encode_batch(batch, clips, *models, options)
        for item, (tensor, row) in zip(batch, tensors_rows, strict=True):
            tensors[item.key], rows[item.key] = tensor, row
        bar.update(len(batch))
    tensors = {item.key: tensors[item.key] for item in chunk}  # the clips' order, as before
    metadata = {"fingerprint": _fingerprint(encoder, options, chunk), "rows": json.dumps(rows)}
    save_safetensors_atomic(path, tensors, metadata)  # a shard is complete or absent
    return rows


def _row(item: CacheItem, clip: str, frames: int, seconds: float) -> dict[str, Any]:
    return {
        "text": item.text,
        "split": item.split,
        "frames": frames,
        "seconds": seconds,
        "clip": clip,
    }


def _encode_batch(batch, clips, whisper, processor, options) -> list[tuple[torch.Tensor, dict]]:
    from demo.audio import load_audio

    audios = [_window(load_audio(item.audio, max_seconds=None), item.span) for item in batch]
    hidden = encode(whisper, processor, audios)
    refs = [i for i, item in enumerate(batch) if item.split in options.reference_splits]
    texts = {}
    if refs:
        decoded = reference_transcripts(whisper, processor, hidden[refs], options)
        texts = dict(zip(refs, decoded, strict=True))
    out = []
    for i, (item, audio) in enumerate(zip(batch, audios, strict=True)):
        frames = encoder_frames(len(audio), options.margin_frames)
        row = _row(item, clips[item.key], frames, round(len(audio) / SAMPLE_RATE, 3))
        if i in texts:
            row["whisper_text"] = texts[i]
        out.append((hidden[i, :frames].to("cpu", DTYPES[options.dtype]).contiguous(), row))
    return out
