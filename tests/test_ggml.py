"""bench.ggml: our Whisper weights as whisper.cpp model files, read back in pure Python; the
q8_0 / q5_0 blocks against hand-worked blocks, their error bound, and ggml's own encoder;
whisper.cpp (pywhispercpp, a bench-only package) transcribing the converted tiny.en."""

import ctypes
import json
import struct
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from bench.ggml import (
    FORMATS,
    TYPE_F16,
    TYPE_F32,
    TYPE_Q5_0,
    convert_checkpoint,
    dequantize_q5_0,
    dequantize_q8_0,
    ggml_name,
    quantize_q5_0,
    quantize_q8_0,
    read_ggml,
    read_tensor,
)
from demo.asr.registry import bundled_checkpoint, get_whisper_model

# whisper.cpp's loader: 7 encoder tensors + 15 per encoder layer, 4 decoder + 24 per layer
# (src/whisper.cpp whisper_model_load; names from src/whisper-arch.h).
ENCODER_LAYER = ["mlp_ln.weight", "mlp_ln.bias", "mlp.0.weight", "mlp.0.bias", "mlp.2.weight",
                 "mlp.2.bias", "attn_ln.weight", "attn_ln.bias", "attn.query.weight",
                 "attn.query.bias", "attn.key.weight", "attn.value.weight", "attn.value.bias",
                 "attn.out.weight", "attn.out.bias"]  # fmt: skip
CROSS = [n.replace("attn", "cross_attn") for n in ENCODER_LAYER if "attn" in n]


def _loader_names(n_layers: int) -> set[str]:
    names = {"encoder.positional_embedding", "encoder.conv1.weight", "encoder.conv1.bias",
             "encoder.conv2.weight", "encoder.conv2.bias", "encoder.ln_post.weight",
             "encoder.ln_post.bias", "decoder.positional_embedding",
             "decoder.token_embedding.weight", "decoder.ln.weight", "decoder.ln.bias"}  # fmt: skip
    for i in range(n_layers):
        names |= {f"encoder.blocks.{i}.{n}" for n in ENCODER_LAYER}
        names |= {f"decoder.blocks.{i}.{n}" for n in ENCODER_LAYER + CROSS}
    return names


@pytest.fixture(scope="module")
def tiny_checkpoint() -> Path:
    return bundled_checkpoint(get_whisper_model("tiny.en"))


@pytest.fixture(scope="module")
def converted(tiny_checkpoint, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("ggml")
    return {f: convert_checkpoint(tiny_checkpoint, out / f"{f}.bin", f) for f in ("f16", "q5_0")}


def test_header_filters_and_vocab_read_back(converted, tiny_checkpoint):
    config = json.loads((tiny_checkpoint / "config.json").read_text())
    f = read_ggml(converted["f16"])
    assert f.hparams == {
        "n_vocab": 51864, "n_audio_ctx": 1500, "n_audio_state": 384, "n_audio_head": 6,
        "n_audio_layer": 4, "n_text_ctx": 448, "n_text_state": 384, "n_text_head": 6,
        "n_text_layer": 4, "n_mels": config["num_mel_bins"], "ftype": 1,
    }  # fmt: skip
    assert read_ggml(converted["q5_0"]).hparams["ftype"] == 2008  # QNT version 2, MOSTLY_Q5_0
    # openai/whisper's assets/mel_filters.npz, mel_80: its sum and three entries
    assert f.filters.shape == (80, 201)
    assert f.filters.sum() == pytest.approx(1.9990241527557373, rel=1e-6)
    assert f.filters[1, 2] == pytest.approx(0.022871771827340126, rel=1e-6)
    assert f.filters[40].argmax() == 43
    assert f.filters[40].max() == pytest.approx(0.014735566452145576, rel=1e-6)
    # GPT-2 byte-level BPE undone: "Ġthe" is " the"; the .en vocabulary ends at <|endoftext|>
    assert len(f.tokens) == 50257
    assert f.tokens[262] == b" the"
    assert f.tokens[50256] == b"<|endoftext|>"
    assert b"".join(f.tokens[i] for i in (1870, 523)) == b"And so"


def test_tensor_table_is_what_whisper_cpp_loads(converted, tiny_checkpoint):
    state = load_file(str(tiny_checkpoint / "model.safetensors"))
    for fmt, path in converted.items():
        tensors = read_ggml(path).tensors
        assert set(tensors) == _loader_names(4)
        assert tensors["encoder.conv1.weight"].shape == (384, 80, 3)
        assert tensors["encoder.conv1.bias"].shape == (384, 1)
        assert tensors["decoder.token_embedding.weight"].shape == (51864, 384)
        matrix = {"f16": TYPE_F16, "q5_0": TYPE_Q5_0}[fmt]
        assert tensors["decoder.token_embedding.weight"].type == matrix
        assert tensors["encoder.blocks.0.mlp.0.weight"].type == matrix
        assert tensors["encoder.conv2.weight"].type == TYPE_F16  # conv stays f16 quantized too
        for name in ("encoder.conv1.bias", "decoder.positional_embedding", "decoder.ln.bias"):
            assert tensors[name].type == TYPE_F32
        # the last tensor ends where the file ends: the table's sizes add up
        last = max(tensors.values(), key=lambda t: t.offset)
        assert last.offset + last.nbytes == path.stat().st_size
    f16 = read_ggml(converted["f16"])
    hf = "model.decoder.layers.1.encoder_attn.v_proj.weight"
    name = ggml_name(hf)
    assert name == "decoder.blocks.1.cross_attn.value.weight"
    assert np.array_equal(read_tensor(converted["f16"], f16.tensors[name]), state[hf])
    q5 = read_ggml(converted["q5_0"])
    values = read_tensor(converted["q5_0"], q5.tensors[name])
    assert np.abs(values - state[hf]).max() <= np.abs(state[hf]).max() / 16 * 1.01


def test_q8_0_block_by_hand():
    x = np.zeros(32, np.float32)
    x[:4] = [127.0, -63.5, 1.5, -0.49]  # amax 127: d = 1; roundf halves away from zero
    block = quantize_q8_0(x)
    assert block[:2] == struct.pack("<e", 1.0)
    assert np.frombuffer(block[2:6], np.int8).tolist() == [127, -64, 2, 0]
    assert len(block) == 34


def test_q5_0_block_by_hand():
    # -8 has the largest magnitude: d = -8 / -16 = 0.5; x / d + 16.5 truncates to 0..31 = j
    x = np.arange(-16, 16, dtype=np.float32) * 0.5
    block = quantize_q5_0(x)
    assert block[:2] == struct.pack("<e", 0.5)
    assert struct.unpack("<I", block[2:6])[0] == 0xFFFF0000  # fifth bits: only values 16..31
    assert list(block[6:]) == [j | (j << 4) for j in range(16)]
    assert np.array_equal(dequantize_q5_0(block), x)


@pytest.mark.parametrize(
    ("encode", "decode", "levels"),
    [(quantize_q8_0, dequantize_q8_0, 127), (quantize_q5_0, dequantize_q5_0, 16)],
)
def test_blocks_round_trip_within_their_step(encode, decode, levels):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((64, 96)) * rng.uniform(0.01, 3, (64, 1))).astype(np.float32)
    x[3, :32] = 0.0  # an all-zero block: scale 0, values 0
    back = decode(encode(x)).reshape(x.shape)
    step = np.abs(x.reshape(-1, 32)).max(axis=1, keepdims=True) / levels
    err = np.abs(back - x).reshape(-1, 32)
    # half a step from rounding, plus the fp16 scale's error times the level (2^-11 * 127:
    # 0.07 step); q5_0's top level (+16) is clipped to 15, so the value opposite in sign to
    # the block's extreme can be one step off
    assert (err <= step * (0.57 if levels == 127 else 1.01) + 1e-7).all()
    assert err.mean() < step.mean() * 0.3
    assert np.array_equal(back.reshape(-1, 32)[3 * 3], np.zeros(32))


def _ggml_quantize():
    """ggml's ``ggml_quantize_chunk`` from the library the pywhispercpp wheel ships."""
    pywhispercpp = pytest.importorskip("pywhispercpp", reason="bench-only: make bench-peers")
    site = Path(pywhispercpp.__file__).parent.parent
    libs = sorted(site.glob("pywhispercpp.libs/libggml-base*.so*")) or sorted(
        site.glob("libggml-base.so*")
    )
    if not libs:
        pytest.skip("pywhispercpp's libggml-base is not where its wheel puts it")
    lib = ctypes.CDLL(str(libs[0]))
    fn = lib.ggml_quantize_chunk
    fn.restype = ctypes.c_size_t
    fn.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                   ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]  # fmt: skip
    return fn


@pytest.mark.parametrize("fmt", ["q8_0", "q5_0"])
def test_blocks_equal_ggml_own_encoder(fmt):
    quantize_chunk = _ggml_quantize()
    rng = np.random.default_rng(1)
    x = np.ascontiguousarray(rng.standard_normal((8, 384)).astype(np.float32) * 0.05)
    x[0, :32] = 0.0
    x[1, :32] = 0.1  # ties: every value the block's max
    dst = ctypes.create_string_buffer(x.size * 2)
    size = quantize_chunk(FORMATS[fmt].matrix_type, x.ctypes.data, dst, 0, 8, 384, None)
    ours = FORMATS[fmt].encode(x)
    assert size == len(ours)
    assert dst.raw[:size] == ours


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_whisper_cpp_transcribes_jfk(fmt, data_dir, jfk_text):
    pytest.importorskip("pywhispercpp", reason="bench-only: make bench-peers installs it")
    from bench.engines import EngineSpec, load, transcribe_segments
    from demo.audio import load_audio
    from demo.metrics import wer

    loaded = load(EngineSpec("tiny.en", f"wcpp-{fmt}"), threads=1)
    audio = load_audio(data_dir / "jfk.flac")
    for beams in (1, 5):
        text, segments = transcribe_segments(loaded, audio, beams)
        assert wer(jfk_text, text) <= 0.10, text
        assert segments[0][0] == 0.0 and 10.0 <= segments[-1][1] <= 11.5


def test_bench_without_pywhispercpp_says_make_bench_peers_in_one_line(
    monkeypatch, tmp_path, capsys
):
    import sys

    from bench import asr

    monkeypatch.setitem(sys.modules, "pywhispercpp", None)  # import fails as if not installed
    monkeypatch.setitem(sys.modules, "pywhispercpp.model", None)
    argv = ["--models", "tiny.en", "--modes", "full", "--peers", "fw-int8", "wcpp-q8_0",
            "--clips", "jfk", "--out", str(tmp_path), "--name", "peers"]  # fmt: skip
    with pytest.raises(SystemExit) as exit_info:
        asr.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "make bench-peers" in err and len(err.splitlines()) == 1, err
    assert not list(tmp_path.iterdir())  # refused before measuring anything


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["tiny.en", "q4_k"], "error: Unknown ggml format 'q4_k'; pick from f16, q8_0, q5_0."),
        (["small", "f16"], "error: small has no bundled weights to convert; pick tiny.en or base."),
        (["tiny.en"], "usage: python -m bench.ggml MODEL FORMAT"),
    ],
)
def test_ggml_command_refuses_bad_input_in_one_line(argv, message):
    from bench.ggml import main

    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert str(exit_info.value.code).startswith(message)
