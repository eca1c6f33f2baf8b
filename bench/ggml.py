"""Our bundled Whisper weights as a whisper.cpp model file (ggml), f16, q8_0 or q5_0.

    python -m bench.ggml tiny.en q8_0     # converts once into the cache, prints the path

No package ships a ggml Whisper file, so this writes one from the transformers checkpoint the
demo loads (``demo.asr.registry.bundled_checkpoint``: the CTranslate2 weights converted once),
following the format's description in ggml-org/whisper.cpp:

- ``models/convert-h5-to-ggml.py`` (and ``convert-pt-to-ggml.py``): int32 magic ``ggml``; 11
  int32 hparams (n_vocab, n_audio_ctx, n_audio_state, n_audio_head, n_audio_layer, n_text_ctx,
  n_text_state, n_text_head, n_text_layer, n_mels, ftype); the mel filters (int32 n_mel, int32
  n_fft, n_mel x n_fft float32); the vocabulary (int32 count, then per token int32 length and
  its bytes, GPT-2's byte-to-unicode mapping undone); then per tensor int32 n_dims, name length,
  type, the dims innermost first, the name, the raw data. Tensor names are openai/whisper's
  (``encoder.blocks.0.attn.query.weight``...), mapped from transformers' as that script does;
  f16 files keep 1-D tensors, the conv biases (stored [n, 1]) and the positional embeddings in
  f32, everything else in f16.
- ``src/whisper.cpp`` ``whisper_model_load``: what the loader checks (shapes, each tensor's
  type against ``ftype``; the conv weights stay f16 in quantized files).
- ``examples/quantize/quantize.cpp`` + ``examples/common-ggml.cpp``: a quantized file is the f16
  file with ``ftype = GGML_QNT_VERSION (2) * 1000 + GGML_FTYPE_MOSTLY_Q8_0 (7) / _Q5_0 (8)`` and
  every 2-D tensor except the conv biases and positional embeddings quantized (tensor type
  ``GGML_TYPE_Q8_0`` = 8, ``_Q5_0`` = 6).
- ``ggml/src/ggml-common.h`` and ``ggml/src/ggml-quants.c`` (``quantize_row_q8_0_ref``,
  ``quantize_row_q5_0_ref``, ``dequantize_row_q5_0``): the block layouts written here. Blocks of
  32 values along a row. q8_0 (34 bytes): fp16 scale d = amax / 127, 32 int8 ``roundf(x / d)``.
  q5_0 (22 bytes): fp16 d = max / -16 (max: the value of largest magnitude, signed), uint32 qh
  of fifth bits, 16 bytes of nibbles; q = min(31, trunc(x / d + 16.5)), value j in the low nibble
  of byte j and value 16 + j in its high nibble, their fifth bits at qh bits j and 16 + j;
  x ~ (q - 16) * d.

whisper.cpp has no quantize call in its library (its ``quantize`` is an example program) and
pywhispercpp exposes none, so the blocks are encoded here with numpy; tests/test_ggml.py checks
them byte for byte against ggml's own ``ggml_quantize_chunk`` from the pywhispercpp wheel where
it is installed, and against blocks worked out by hand from the C code everywhere.
"""

from __future__ import annotations

import json
import os
import struct
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

GGML_FILE_MAGIC = 0x67676D6C  # "ggml"
GGML_QNT_VERSION = 2
GGML_QNT_VERSION_FACTOR = 1000
TYPE_F32, TYPE_F16, TYPE_Q5_0, TYPE_Q8_0 = 0, 1, 6, 8
QK = 32  # values per block, q8_0 and q5_0 alike
CONVERTER_VERSION = 1  # part of the cache file name: bump when the output changes
Q8_0_BLOCK = np.dtype([("d", "<f2"), ("qs", "i1", QK)])  # 34 bytes
Q5_0_BLOCK = np.dtype([("d", "<f2"), ("qh", "<u4"), ("qs", "u1", QK // 2)])  # 22 bytes
# Kept in f32 and never quantized (examples/quantize/quantize.cpp's to_skip).
F32_TENSORS = (
    "encoder.conv1.bias",
    "encoder.conv2.bias",
    "encoder.positional_embedding",
    "decoder.positional_embedding",
)
# transformers name (inside a layer, or whole) -> openai/whisper name (convert-h5-to-ggml.py).
HF_TO_GGML = {
    "self_attn.k_proj": "attn.key",
    "self_attn.q_proj": "attn.query",
    "self_attn.v_proj": "attn.value",
    "self_attn.out_proj": "attn.out",
    "self_attn_layer_norm": "attn_ln",
    "encoder_attn.q_proj": "cross_attn.query",
    "encoder_attn.k_proj": "cross_attn.key",
    "encoder_attn.v_proj": "cross_attn.value",
    "encoder_attn.out_proj": "cross_attn.out",
    "encoder_attn_layer_norm": "cross_attn_ln",
    "fc1": "mlp.0",
    "fc2": "mlp.2",
    "final_layer_norm": "mlp_ln",
    "encoder.layer_norm.bias": "encoder.ln_post.bias",
    "encoder.layer_norm.weight": "encoder.ln_post.weight",
    "encoder.embed_positions.weight": "encoder.positional_embedding",
    "decoder.layer_norm.bias": "decoder.ln.bias",
    "decoder.layer_norm.weight": "decoder.ln.weight",
    "decoder.embed_positions.weight": "decoder.positional_embedding",
    "decoder.embed_tokens.weight": "decoder.token_embedding.weight",
}


# --------------------------------------------------------------------------- blocks


def quantize_q8_0(x: np.ndarray) -> bytes:
    """q8_0 blocks of ``x`` (its size a multiple of 32), as ``quantize_row_q8_0_ref``."""
    v = _blocks(x)
    amax = np.abs(v).max(axis=1)
    d = amax / np.float32(127)
    inv = np.divide(np.float32(1), d, out=np.zeros_like(d), where=d != 0)
    scaled = v * inv[:, None]
    out = np.empty(len(v), Q8_0_BLOCK)
    out["d"] = d.astype(np.float16)
    out["qs"] = np.sign(scaled) * np.floor(np.abs(scaled) + np.float32(0.5))  # C roundf
    return out.tobytes()


def dequantize_q8_0(data: bytes) -> np.ndarray:
    """The float32 values of q8_0 blocks."""
    b = np.frombuffer(data, Q8_0_BLOCK)
    return (b["qs"].astype(np.float32) * b["d"].astype(np.float32)[:, None]).reshape(-1)


def quantize_q5_0(x: np.ndarray) -> bytes:
    """q5_0 blocks of ``x`` (its size a multiple of 32), as ``quantize_row_q5_0_ref``."""
    v = _blocks(x)
    rows = np.arange(len(v))
    signed_max = v[rows, np.argmax(np.abs(v), axis=1)]  # first of the largest magnitude
    d = signed_max / np.float32(-16)
    inv = np.divide(np.float32(1), d, out=np.zeros_like(d), where=d != 0)
    q = np.minimum(31, np.trunc(v * inv[:, None] + np.float32(16.5))).astype(np.uint32)
    lo, hi = q[:, : QK // 2], q[:, QK // 2 :]
    bits = np.arange(QK // 2, dtype=np.uint32)
    qh = ((lo >> 4) & 1) << bits | ((hi >> 4) & 1) << (bits + QK // 2)
    out = np.empty(len(v), Q5_0_BLOCK)
    out["d"] = d.astype(np.float16)
    out["qh"] = np.bitwise_or.reduce(qh, axis=1)
    out["qs"] = (lo & 0x0F) | ((hi & 0x0F) << 4)
    return out.tobytes()


def dequantize_q5_0(data: bytes) -> np.ndarray:
    """The float32 values of q5_0 blocks (``dequantize_row_q5_0``)."""
    b = np.frombuffer(data, Q5_0_BLOCK)
    bits = np.arange(QK // 2, dtype=np.uint32)
    qh = b["qh"][:, None]
    lo = (b["qs"] & 0x0F) | (((qh >> bits) & 1) << 4).astype(np.uint8)
    hi = (b["qs"] >> 4) | (((qh >> (bits + QK // 2)) & 1) << 4).astype(np.uint8)
    q = np.concatenate([lo, hi], axis=1).astype(np.float32) - 16
    return (q * b["d"].astype(np.float32)[:, None]).reshape(-1)


def _blocks(x: np.ndarray) -> np.ndarray:
    flat = np.ascontiguousarray(x, dtype=np.float32).reshape(-1)
    if flat.size % QK:
        raise ValueError(f"{flat.size} values: q8_0/q5_0 need a multiple of {QK}.")
    return flat.reshape(-1, QK)


@dataclass(frozen=True)
class Format:
    ftype: int  # the header's ftype field (quantized: GGML_QNT_VERSION * 1000 + GGML_FTYPE_*)
    matrix_type: int  # GGML_TYPE_* of the quantized 2-D tensors (f16 for the f16 file)
    encode: Callable[[np.ndarray], bytes]  # float32 values -> bytes of that type


def _f16(x: np.ndarray) -> bytes:
    return np.ascontiguousarray(x, dtype=np.float16).tobytes()


FORMATS: dict[str, Format] = {
    "f16": Format(1, TYPE_F16, _f16),
    "q8_0": Format(GGML_QNT_VERSION * GGML_QNT_VERSION_FACTOR + 7, TYPE_Q8_0, quantize_q8_0),
    "q5_0": Format(GGML_QNT_VERSION * GGML_QNT_VERSION_FACTOR + 8, TYPE_Q5_0, quantize_q5_0),
}
# Bytes per value of each tensor type (the quantized ones per 32-value block).
TYPE_BYTES = {TYPE_F32: 4.0, TYPE_F16: 2.0, TYPE_Q8_0: 34 / 32, TYPE_Q5_0: 22 / 32}


def available_formats() -> list[str]:
    """The ggml weight formats this converter writes."""
    return list(FORMATS)


def get_format(name: str) -> Format:
    """A format by name; an unknown one raises an error listing the valid ones."""
    if name not in FORMATS:
        raise ValueError(f"Unknown ggml format {name!r}; pick from {', '.join(FORMATS)}.")
    return FORMATS[name]


# --------------------------------------------------------------------------- the file


def ggml_name(hf_name: str) -> str:
    """openai/whisper's name of a transformers Whisper tensor (``model.`` prefix optional)."""
    parts = hf_name.removeprefix("model.").split(".")
    if parts[1] == "layers":
        inner = ".".join(parts[3:-1])
        mapped = "attn.key" if inner == "encoder_attn.k_proj" and parts[0] == "encoder" else None
        mapped = mapped or HF_TO_GGML[inner]
        return ".".join([parts[0], "blocks", parts[2], mapped, parts[-1]])
    name = ".".join(parts)
    return HF_TO_GGML.get(name, name)


def ggml_tensors(state: dict[str, np.ndarray]) -> Iterator[tuple[str, np.ndarray]]:
    """(ggml name, float32 array) per tensor; the tied output projection is left out."""
    for hf_name, value in state.items():
        if hf_name == "proj_out.weight":
            continue
        name = ggml_name(hf_name)
        data = np.asarray(value, dtype=np.float32)
        if name in ("encoder.conv1.bias", "encoder.conv2.bias"):
            data = data.reshape(-1, 1)
        yield name, data


def tensor_type(name: str, data: np.ndarray, fmt: Format) -> int:
    """The type a tensor is stored as in a file of format ``fmt``."""
    if data.ndim < 2 or name in F32_TENSORS:
        return TYPE_F32
    return fmt.matrix_type if data.ndim == 2 else TYPE_F16  # conv weights (3-D) stay f16


def mel_filters(n_mels: int) -> np.ndarray:
    """Whisper's mel filterbank (n_mels x 201), the one its feature extractor builds
    (librosa's slaney filters, what openai/whisper's ``mel_filters.npz`` holds)."""
    from transformers.audio_utils import mel_filter_bank

    bank = mel_filter_bank(num_frequency_bins=201, num_mel_filters=n_mels, min_frequency=0.0,
                           max_frequency=8000.0, sampling_rate=16000, norm="slaney",
                           mel_scale="slaney")  # fmt: skip
    return bank.T.astype(np.float32)


def token_bytes(vocab: dict[str, int]) -> list[bytes]:
    """Each id's bytes, ids 0..max in order (a missing id is empty), GPT-2's mapping undone."""
    decoder = {ch: b for b, ch in _bytes_to_unicode().items()}
    out = [b""] * (max(vocab.values()) + 1)
    for token, i in vocab.items():
        out[i] = bytes(decoder[ch] for ch in token)
    return out


def _bytes_to_unicode() -> dict[int, str]:
    # openai/gpt-2 encoder.py, as the whisper.cpp converters copy it
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), 256)]
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs), strict=True))


def write_ggml(out: BinaryIO, config: dict, state: dict, vocab: dict[str, int], fmt: Format):
    """Write a whisper.cpp model file: header, mel filters, vocabulary, tensors."""
    hparams = [config["vocab_size"], config["max_source_positions"], config["d_model"],
               config["encoder_attention_heads"], config["encoder_layers"],
               config["max_target_positions"], config["d_model"],
               config["decoder_attention_heads"], config["decoder_layers"],
               config["num_mel_bins"], fmt.ftype]  # fmt: skip
    out.write(struct.pack("<12i", GGML_FILE_MAGIC, *hparams))
    filters = mel_filters(config["num_mel_bins"])
    out.write(struct.pack("<2i", *filters.shape))
    out.write(filters.astype("<f4").tobytes())
    tokens = token_bytes(vocab)
    out.write(struct.pack("<i", len(tokens)))
    for token in tokens:
        out.write(struct.pack("<i", len(token)) + token)
    for name, data in ggml_tensors(state):
        kind = tensor_type(name, data, fmt)
        raw = name.encode()
        out.write(struct.pack("<3i", data.ndim, len(raw), kind))
        out.write(struct.pack(f"<{data.ndim}i", *reversed(data.shape)))
        out.write(raw)
        if kind == TYPE_F32:
            out.write(data.astype("<f4").tobytes())
        elif kind == TYPE_F16:
            out.write(_f16(data))
        else:
            out.write(fmt.encode(data))


def convert_checkpoint(checkpoint: Path, target: Path, fmt_name: str) -> Path:
    """Write ``target`` from a transformers Whisper checkpoint folder (safetensors only)."""
    from safetensors.numpy import load_file

    fmt = get_format(fmt_name)
    config = json.loads((checkpoint / "config.json").read_text())
    vocab = json.loads((checkpoint / "tokenizer.json").read_text())["model"]["vocab"]
    state = load_file(str(checkpoint / "model.safetensors"))
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write_ggml(f, config, state, vocab, fmt)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the cache from other users
        os.replace(tmp, target)  # never a half-written file under the final name
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def ggml_model(model: str, fmt_name: str) -> Path:
    """The ggml file of a bundled Whisper model in a format, converted once into the cache."""
    from demo.asr.registry import bundled_checkpoint, get_whisper_model
    from demo.settings import settings

    get_format(fmt_name)
    entry = get_whisper_model(model)
    if entry.bundled is None:
        raise ValueError(f"{model} has no bundled weights to convert; pick tiny.en or base.")
    target = settings().cache_dir / "ggml" / f"{model}-{fmt_name}-v{CONVERTER_VERSION}.bin"
    if target.is_file():
        return target
    return convert_checkpoint(bundled_checkpoint(entry), target, fmt_name)


# --------------------------------------------------------------------------- reading back


@dataclass
class GgmlTensor:
    type: int
    shape: tuple[int, ...]  # numpy order (outermost first)
    offset: int  # of the data in the file
    nbytes: int


@dataclass
class GgmlFile:
    hparams: dict[str, int]
    filters: np.ndarray
    tokens: list[bytes]
    tensors: dict[str, GgmlTensor]


HPARAM_NAMES = ("n_vocab", "n_audio_ctx", "n_audio_state", "n_audio_head", "n_audio_layer",
                "n_text_ctx", "n_text_state", "n_text_head", "n_text_layer", "n_mels",
                "ftype")  # fmt: skip


def read_ggml(path: Path) -> GgmlFile:
    """Read a whisper.cpp model file's header, filters, vocabulary and tensor table."""
    with open(path, "rb") as f:
        magic, *values = struct.unpack("<12i", f.read(48))
        if magic != GGML_FILE_MAGIC:
            raise ValueError(f"{path} is not a ggml file (magic {magic:#x}).")
        n_mel, n_fft = struct.unpack("<2i", f.read(8))
        filters = np.frombuffer(f.read(4 * n_mel * n_fft), "<f4").reshape(n_mel, n_fft)
        tokens = []
        for _ in range(struct.unpack("<i", f.read(4))[0]):
            tokens.append(f.read(struct.unpack("<i", f.read(4))[0]))
        tensors = {}
        while header := f.read(12):
            n_dims, length, kind = struct.unpack("<3i", header)
            dims = struct.unpack(f"<{n_dims}i", f.read(4 * n_dims))
            name = f.read(length).decode()
            count = int(np.prod(dims))
            nbytes = int(count * TYPE_BYTES[kind])
            tensors[name] = GgmlTensor(kind, tuple(reversed(dims)), f.tell(), nbytes)
            f.seek(nbytes, os.SEEK_CUR)
    return GgmlFile(dict(zip(HPARAM_NAMES, values, strict=True)), filters, tokens, tensors)


def read_tensor(path: Path, tensor: GgmlTensor) -> np.ndarray:
    """A tensor's values as float32 (dequantized), in its numpy shape."""
    with open(path, "rb") as f:
        f.seek(tensor.offset)
        data = f.read(tensor.nbytes)
    decode = {TYPE_F32: lambda b: np.frombuffer(b, "<f4"),
              TYPE_F16: lambda b: np.frombuffer(b, "<f2").astype(np.float32),
              TYPE_Q8_0: dequantize_q8_0, TYPE_Q5_0: dequantize_q5_0}  # fmt: skip
    return decode[tensor.type](data).reshape(tensor.shape)


def main(argv: list[str] | None = None) -> None:
    from demo.errors import DemoError

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        sys.exit(
            f"usage: python -m bench.ggml MODEL FORMAT  (formats: {', '.join(available_formats())})"
        )
    try:
        print(ggml_model(*args))
    except (ValueError, DemoError) as exc:
        sys.exit(f"error: {exc}")


if __name__ == "__main__":
    main()
