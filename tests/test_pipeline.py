"""The whole pipeline on real audio and real models, its bad-input messages, and the model cache."""

import builtins
import dataclasses
import json

import numpy as np
import pytest

from demo.adapters import check_adapter_dir
from demo.asr.registry import get_whisper_model
from demo.audio import SAMPLE_RATE, write_wav
from demo.errors import (
    AdapterError,
    AudioError,
    ModelUnavailableError,
    QuantizationUnavailableError,
    UnknownChoiceError,
)
from demo.metrics import wer
from demo.models import ModelCache, ModelSpec
from demo.pipeline import PipelineOptions, preload, run_pipeline


@pytest.fixture(scope="module")
def cache():
    return ModelCache(max_models=2)


def test_jfk_end_to_end(jfk_path, cache, jfk_text):
    result = run_pipeline(jfk_path, PipelineOptions(device="cpu"), cache)
    assert wer(jfk_text, result.transcript) <= 0.10
    # The default ("auto") resolves to the fastest accurate CPU mode, recorded in the result.
    assert result.options.quant == "auto" and result.memory["asr"].quant == "fast-int8"
    assert result.memory["summarizer"].quant == "full"
    assert "ask not what your country" in result.summary.lower()
    assert result.language == "en"
    assert set(result.timings) == {"load", "asr", "summarize", "total"}
    assert result.timings["total"] >= result.timings["asr"] > 0
    # fast-int8 tiny.en is ~85 MB (int8 decoder, bf16 or int8 encoder); MiniLM ~87 MB.
    assert (
        60 < result.memory["asr"].weights_mb < 120 and result.memory["summarizer"].weights_mb > 50
    )
    assert result.peak_rss_mb > result.memory["asr"].weights_mb
    assert abs(result.audio_seconds - 11.0) < 0.1
    json.dumps(result.to_dict(), default=str)  # serializable for --json and CSV export


def test_second_run_uses_the_cache(jfk_path, cache):
    run_pipeline(jfk_path, PipelineOptions(device="cpu"), cache)
    result = run_pipeline(jfk_path, PipelineOptions(device="cpu"), cache)
    assert result.memory["asr"].cached and result.memory["summarizer"].cached


def test_preloaded_models_are_what_the_first_click_finds(jfk_path):
    fresh = ModelCache(max_models=2)
    specs = preload(PipelineOptions(device="cpu"), fresh)
    assert [spec.role for spec in specs] == ["asr", "summarizer"]
    assert all(spec in fresh for spec in specs)
    result = run_pipeline(jfk_path, PipelineOptions(device="cpu"), fresh)
    assert result.memory["asr"].cached and result.memory["summarizer"].cached
    assert result.timings["load"] < 1.0  # nothing loaded on the click


def test_every_pipeline_name_the_options_accept_has_a_runner():
    from demo.pipeline import PIPELINES
    from demo.pipelines.options import PIPELINE_NAMES

    assert tuple(PIPELINES) == PIPELINE_NAMES
    assert PipelineOptions(pipeline="cascade").specs()[1].role == "summarizer"


def test_cache_evicts_least_recently_used():
    cache = ModelCache(max_models=2)
    a = ModelSpec("asr", "tiny.en", "full", device="cpu")
    b = ModelSpec("asr", "tiny.en", "nf4", device="cpu")
    c = ModelSpec("summarizer", "extractive", "full", device="cpu")
    cache.get(a)
    cache.get(b)
    cache.get(a)  # a is now the most recent
    cache.get(c)  # evicts b
    assert len(cache) == 2 and a in cache and c in cache and b not in cache
    assert cache.get(a)[1] is True


@pytest.mark.parametrize(
    "make, phrase",
    [
        (lambda p: p.write_bytes(b""), "empty"),
        (lambda p: p.write_bytes(b"\x00\x01garbage" * 200), "readable audio"),
        (lambda p: p.write_text("this is a text file, not audio\n" * 50), "readable audio"),
        (lambda p: write_wav(p, np.zeros(0, dtype=np.float32)), "0 seconds"),
        (lambda p: write_wav(p, np.zeros(3 * SAMPLE_RATE, dtype=np.float32)), "silent"),
    ],
    ids=["empty", "corrupt", "text-renamed-wav", "zero-seconds", "silent"],
)
def test_bad_audio_gives_one_clear_sentence(tmp_path, make, phrase):
    path = tmp_path / "clip.wav"
    make(path)
    with pytest.raises(AudioError, match=phrase):
        run_pipeline(path, PipelineOptions(device="cpu"), ModelCache(1))


def test_clip_over_the_length_limit(jfk_path):
    with pytest.raises(AudioError, match="limit"):
        run_pipeline(jfk_path, PipelineOptions(max_seconds=5, device="cpu"), ModelCache(1))


@pytest.mark.parametrize(
    "field, value",
    [("asr", "enormous"), ("quant", "int3"), ("summarizer", "gpt"), ("summarizer_quant", "x")],
)
def test_unknown_choice_lists_valid_ones(field, value):
    with pytest.raises(UnknownChoiceError, match="choose one of"):
        PipelineOptions(**{field: value})


def test_hub_model_missing_offline_names_model_and_command(jfk_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelUnavailableError) as err:
        run_pipeline(jfk_path, PipelineOptions(asr="small", device="cpu"), ModelCache(1))
    assert "openai/whisper-small" in str(err.value)
    assert "python -m demo download" in str(err.value)


def test_missing_adapter_dir(tmp_path):
    with pytest.raises(AdapterError, match="doesn't exist"):
        check_adapter_dir(tmp_path / "nope", get_whisper_model("tiny.en"))


def test_pickle_adapter_is_refused(tmp_path):
    (tmp_path / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA"}))
    (tmp_path / "adapter_model.bin").write_bytes(b"pickle")
    with pytest.raises(AdapterError, match="safetensors"):
        check_adapter_dir(tmp_path, get_whisper_model("tiny.en"))


def test_adapter_for_another_base_is_refused(tmp_path):
    config = {"peft_type": "LORA", "base_model_name_or_path": "base"}
    (tmp_path / "adapter_config.json").write_text(json.dumps(config))
    (tmp_path / "adapter_model.safetensors").write_bytes(b"")
    with pytest.raises(AdapterError, match="trained on base"):
        check_adapter_dir(tmp_path, get_whisper_model("tiny.en"))


def test_whisper_lora_adapter_applies(tmp_path, jfk_path, jfk_text):
    """A PEFT LoRA saved on tiny.en loads through the pipeline (merged, then rebuilt by the
    default fast-int8 mode); a shape mismatch is refused."""
    from peft import LoraConfig, get_peft_model

    from demo.loaders import load_whisper_base

    model, _ = load_whisper_base(get_whisper_model("tiny.en"), "full", "cpu")
    peft_model = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))
    peft_model.save_pretrained(tmp_path / "lora")
    config = json.loads((tmp_path / "lora" / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = "tiny.en"
    (tmp_path / "lora" / "adapter_config.json").write_text(json.dumps(config))
    options = PipelineOptions(asr_adapter=str(tmp_path / "lora"), device="cpu")
    result = run_pipeline(jfk_path, options, ModelCache(2))
    assert result.memory["asr"].quant == "fast-int8"
    assert wer(jfk_text, result.transcript) <= 0.10  # LoRA B starts at zero: same model
    config["base_model_name_or_path"] = None
    (tmp_path / "lora" / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(AdapterError, match="doesn't fit"):
        run_pipeline(jfk_path, dataclasses.replace(options, asr="base"), ModelCache(2))


def test_bnb_unavailable_gives_clear_message(jfk_path, monkeypatch):
    real_import = builtins.__import__

    def no_bnb(name, *args, **kwargs):
        if name == "bitsandbytes":
            raise ImportError("simulated: no bitsandbytes")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_bnb)
    with pytest.raises(QuantizationUnavailableError, match="needs bitsandbytes"):
        run_pipeline(jfk_path, PipelineOptions(quant="nf4", device="cpu"), ModelCache(1))


def test_gpu_only_mode_on_cpu_is_refused(jfk_path):
    with pytest.raises(QuantizationUnavailableError, match="only on cuda"):
        run_pipeline(jfk_path, PipelineOptions(quant="fp16", device="cpu"), ModelCache(1))


@pytest.mark.requires_cuda
def test_fp16_on_gpu(jfk_path, jfk_text):
    result = run_pipeline(jfk_path, PipelineOptions(quant="fp16", device="cuda"), ModelCache(2))
    assert wer(jfk_text, result.transcript) <= 0.10
    assert result.cuda_peak_mb and result.cuda_peak_mb > 0
