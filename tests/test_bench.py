"""Benchmark plumbing and the fast CPU path, on the real bundled Whisper weights.

No test asserts a timing: the machine is shared. Speed is what `make bench` reports.
"""

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from demo.batched import greedy_batch, log_mel_batch, strip_batch
from demo.fast import FastWhisper, log_mel, mel_filters_of, to_fast, transcribe_fast

from bench import asr as bench_asr
from bench import gpu as bench_gpu
from bench import memory as bench_memory
from bench import report as bench_report
from bench.clips import JFK_TEXT, MIT_EN_SECONDS
from demo.asr import TranscribeOptions, transcribe
from demo.audio import SAMPLE_RATE, load_audio
from demo.errors import QuantizationUnavailableError
from demo.metrics import normalize_text, wer
from demo.models import ModelSpec, load_model
from demo.quant import default_quant_mode, get_quant_mode, post_load

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def jfk(jfk_path):
    return load_audio(jfk_path)


@pytest.fixture(scope="module")
def tiny_full():
    return load_model(ModelSpec("asr", "tiny.en", "full", device="cpu"))


@pytest.fixture(scope="module")
def tiny_fast():
    return load_model(ModelSpec("asr", "tiny.en", "fast-int8", device="cpu"))


@pytest.fixture(scope="module")
def quick_results(tmp_path_factory):
    """One quick run (one repeat, three engines) written to a temporary folder.

    It runs as the CLI does, in a fresh process: the bench forks its memory-measuring children
    before any model is loaded, and forking this pytest process (whose OpenMP pool earlier
    tests have used) can deadlock the child.
    """
    out = tmp_path_factory.mktemp("bench")
    args = ["--models", "tiny.en", "--modes", "full", "fast-int8", "--peers", "fw-int8",
            "--clips", "jfk", "--beams", "1", "--repeats", "1", "--out", str(out)]  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "bench.asr", *args],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    path = next(out.glob("*.json"))
    return out, path, json.loads(path.read_text())["rows"]


# --------------------------------------------------------------------------- bench.asr


def test_quick_bench_writes_json_and_csv_with_every_field(quick_results):
    out, path, rows = quick_results
    data = json.loads(path.read_text())
    meta = data["meta"]
    assert meta["command"].startswith("python -m bench.asr --models tiny.en")
    assert meta["machine"]["cores"] >= 1 and meta["versions"]["faster-whisper"]
    assert meta["threads"] == torch.get_num_threads()
    assert {r["quant"] for r in data["rows"]} == {"full", "fast-int8", "fw-int8"}
    for row in data["rows"]:
        assert row["kind"] == "asr" and row["clip"] == "jfk" and row["decoding"] == "greedy"
        assert row["runs"] == 1 and len(row["latencies_s"]) == 1
        assert row["rtfx"] == pytest.approx(row["audio_s"] / row["latency_s"])
        assert row["wer"] <= 0.10, row["text"]
        assert row["peak_rss_mb"] > row["rss_before_mb"] > 0
        assert row["load_s"] is not None
    by_quant = {r["quant"]: r for r in data["rows"]}
    assert by_quant["fw-int8"]["ratio_to_fw_int8"] == 1.0
    assert by_quant["fw-int8"]["weights_mb"] is None  # CTranslate2 hides it; never made up
    assert by_quant["fast-int8"]["weights_mb"] < by_quant["full"]["weights_mb"]
    with open(out / "asr-cpu.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 3
    assert {"config", "latency_s", "ratio_to_fw_int8", "wer", "peak_rss_mb"} <= set(table[0])


def test_quick_flag_selects_tiny_en_jfk_greedy():
    options = bench_asr.parse_args(["--quick"])
    assert options.models == ("tiny.en",)
    assert options.clips == ("jfk",) and options.beams == (1,)
    assert options.out.endswith("quick")
    full = bench_asr.parse_args(["--beams", "1", "5", "--ablation"])
    assert full.beams == (1, 5) and full.ablation and full.clips == bench_asr.CLIPS


def test_cpu_modes_drop_aliases_and_include_the_fast_path():
    modes = bench_asr.cpu_modes()
    assert "full" in modes and "fast-int8" in modes and "dynamic-int8" in modes
    assert "fp32" not in modes  # fp32 is full on a CPU
    assert "fp16" not in modes  # GPU only


def test_bench_options_keep_the_baseline():
    with pytest.raises(ValueError, match="baseline"):
        bench_asr.BenchOptions(peers=("fw-fp32",))


def test_report_is_built_from_result_files(quick_results, tmp_path):
    out, _, _ = quick_results
    report = bench_report.build(out, tmp_path / "benchmarks.md", images=False)
    text = report.read_text()
    assert "python -m bench.asr --models tiny.en" in text  # the command that made the file
    assert "| **fast-int8** |" in text and "fw-int8" in text
    assert "GPU throughput" in text


# --------------------------------------------------------------------------- demo.fast


def test_log_mel_matches_the_feature_extractor_bit_for_bit(tiny_full, jfk):
    extractor = tiny_full.processor.feature_extractor
    filters = mel_filters_of(tiny_full.processor)
    short = extractor(jfk, sampling_rate=SAMPLE_RATE, return_tensors="pt").input_features
    assert torch.equal(log_mel(jfk, filters, pad_to_window=True), short)
    long_audio = np.concatenate([jfk] * 3)
    long = extractor(
        long_audio, sampling_rate=SAMPLE_RATE, return_tensors="pt", truncation=False,
        padding="longest",
    ).input_features  # fmt: skip
    assert torch.equal(log_mel(long_audio, filters, pad_to_window=False), long)
    batch = log_mel_batch([jfk, jfk[: SAMPLE_RATE * 3]], filters)
    assert torch.equal(batch[0], short[0])


def test_fast_mode_transcribes_jfk_like_the_standard_path(tiny_full, tiny_fast, jfk):
    standard = transcribe(tiny_full, jfk)
    fast = transcribe(tiny_fast, jfk)
    assert isinstance(tiny_fast.model, FastWhisper)
    assert wer(JFK_TEXT, fast.text) <= 0.10, fast.text
    # Same words; int8 may move a comma ("you, ask" / "you. Ask"), as faster-whisper int8 does.
    assert normalize_text(fast.text) == normalize_text(standard.text)
    assert fast.language == "en" and not fast.language_detected and fast.windows == 1
    assert tiny_fast.weights_mb < tiny_full.weights_mb
    beam = transcribe(tiny_fast, jfk, TranscribeOptions(num_beams=5))
    assert wer(JFK_TEXT, beam.text) <= 0.10, beam.text


def test_fast_loop_at_fp32_decodes_exactly_like_generate(tiny_full, jfk):
    model, processor = tiny_full.model, tiny_full.processor
    features = processor.feature_extractor(jfk, sampling_rate=SAMPLE_RATE, return_tensors="pt")
    with torch.inference_mode():
        expected = model.generate(input_features=features.input_features)[0].tolist()
    exact = to_fast(model, encoder="fp32", decoder="fp32")
    result = transcribe_fast(exact, mel_filters_of(processor), jfk)
    eos = model.generation_config.eos_token_id
    assert result.tokens == [t for t in expected if t != eos]


def test_fast_long_form_matches_generate_and_stays_accurate(tiny_full, tiny_fast, jfk):
    audio = np.concatenate([jfk] * 3)  # 33 s: two windows, timestamps decide the seek
    standard = transcribe(tiny_full, audio)
    exact = to_fast(tiny_full.model, encoder="fp32", decoder="fp32")
    result = transcribe_fast(exact, mel_filters_of(tiny_full.processor), audio)
    text = tiny_full.processor.tokenizer.decode(result.tokens, skip_special_tokens=True)
    assert text.strip() == standard.text
    fast = transcribe(tiny_fast, audio)
    assert fast.windows == 2
    assert wer(" ".join([JFK_TEXT] * 3), fast.text) <= 0.10, fast.text


def test_fast_mode_on_base_detects_the_language(multilingual_path, data_dir):
    loaded = load_model(ModelSpec("asr", "base", "fast-int8", device="cpu"))
    audio = load_audio(multilingual_path, max_seconds=None)
    english = transcribe(loaded, audio[: int(MIT_EN_SECONDS * SAMPLE_RATE)])
    reference = (data_dir / "multilingual_en.txt").read_text().strip()
    assert english.language == "en" and english.language_detected
    assert wer(reference, english.text) <= 0.05, english.text
    german = transcribe(loaded, audio[35 * SAMPLE_RATE : 55 * SAMPLE_RATE])
    assert german.language == "de" and german.text


def test_batched_static_decoder_matches_generate_per_clip(tiny_full, jfk, multilingual_path):
    english = load_audio(multilingual_path, max_seconds=None)[: 29 * SAMPLE_RATE]
    processor, model = tiny_full.processor, tiny_full.model
    features = processor.feature_extractor(
        [jfk, english], sampling_rate=SAMPLE_RATE, return_tensors="pt"
    ).input_features
    with torch.inference_mode():
        expected = model.generate(input_features=features)
    exact = to_fast(model, encoder="fp32", decoder="fp32")
    config = exact.generation_config
    prompt = [config.decoder_start_token_id, config.no_timestamps_token_id]
    tokens = greedy_batch(exact, log_mel_batch([jfk, english], mel_filters_of(processor)), prompt)
    eos = config.eos_token_id
    assert strip_batch(tokens, eos) == strip_batch(expected, eos)
    fixed = greedy_batch(exact, features, prompt, max_new_tokens=7, min_new_tokens=7)
    assert fixed.shape == (2, 7) and not (fixed == eos).any()


def test_fast_mode_is_for_whisper_only():
    from transformers import BartConfig, BartForConditionalGeneration

    tiny = BartForConditionalGeneration(
        BartConfig(
            vocab_size=64, d_model=8, encoder_layers=1, decoder_layers=1,
            encoder_attention_heads=2, decoder_attention_heads=2,
            encoder_ffn_dim=16, decoder_ffn_dim=16,
        )
    )  # fmt: skip
    with pytest.raises(QuantizationUnavailableError, match="Whisper"):
        post_load(get_quant_mode("fast-int8"), tiny)


def test_fast_int8_is_the_cpu_default():
    assert default_quant_mode("cpu") == "fast-int8"
    assert "cuda" not in get_quant_mode("fast-int8").devices


# --------------------------------------------------------------------------- bench.memory


def test_memory_of_the_tiny_architecture_shrinks_with_precision(tmp_path):
    bench_memory.save_random_checkpoint("tiny", tmp_path)
    fp32 = bench_memory.measure_precision(tmp_path, "fp32", "float32")
    fp16 = bench_memory.measure_precision(tmp_path, "fp16", "float16")
    nf4 = bench_memory.measure_precision(tmp_path, "nf4", "float16")
    assert nf4["weights_mb"] < fp16["weights_mb"] < fp32["weights_mb"]
    assert fp32["weights_mb"] == pytest.approx(2 * fp16["weights_mb"], rel=0.01)
    # What stays unquantized: the tied token embedding above all (51865 x 384 fp16 = 38 MiB).
    assert "token embedding (tied proj_out)" in nf4["unquantized_parts"]
    assert nf4["unquantized_mb"] > 38


def test_trainable_share_under_lora_and_adalora():
    result = bench_memory.trainable("tiny")
    assert result["lora_r"] == 8 and result["adalora_init_r"] == 12
    assert 0 < result["lora_pct"] < result["adalora_pct"] < 5
    assert result["adalora_budget_pct"] == pytest.approx(result["adalora_pct"] * 8 / 12)


# --------------------------------------------------------------------------- bench.gpu


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal without a GPU")
def test_gpu_bench_refuses_cleanly_without_cuda(tmp_path, capsys):
    assert bench_gpu.main(["--out", str(tmp_path)]) == 2
    assert "needs a CUDA GPU" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_gpu_bench_cpu_safe_parts(tmp_path, jfk):
    assert bench_gpu.rtfx(60.0, 0.5) == 120.0
    windows = bench_gpu.tile_windows(jfk, 4)
    assert len(windows) == 4 and all(len(w) == 30 * SAMPLE_RATE for w in windows)
    with pytest.raises(ValueError, match="paths"):
        bench_gpu.GpuOptions(paths=("warp",))
    written = bench_gpu.export_audio(tmp_path)
    audio = bench_gpu.load_audio_set(str(tmp_path))
    assert [p.name for p in written] == ["jfk.npy", "long.npy"]
    assert np.array_equal(audio["jfk"][0], jfk)
    assert len(audio["long"][0]) > 60 * SAMPLE_RATE


@pytest.mark.requires_cuda
def test_gpu_bench_runs_tiny_en_on_cuda(tmp_path):
    options = bench_gpu.GpuOptions(models=("tiny.en",), batches=(2,), repeats=1, out=str(tmp_path))
    _, rows = bench_gpu.run(options)
    assert rows and all(r["error"] is None for r in rows), rows
    assert all(r["wer"] <= 0.10 for r in rows if r["workload"] == "jfk")
