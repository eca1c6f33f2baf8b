"""Low-rank Whisper through the training loop and into the app: 3-step runs on espeak-ng clips
(constraint on, token-weighted start, LoRA on the frozen factors, the factors' own rate), the
untrained-split probe, and the pipeline, app and Compare offering a trained low-rank model.
"""

import copy
import json
from pathlib import Path

import pytest
import torch
from loaded_models import TINY_PARAMS, TINY_QUARTER_PARAMS, cpu_model
from training_helpers import spoken_manifest

from demo.compress.lowrank import (
    count_parameters,
    lowrank_modules,
    orthogonality_error,
)
from demo.compress.lowrank_io import (
    WEIGHTS_FILE,
    list_lowrank,
    read_lowrank_config,
)
from demo.models import load_lowrank_whisper

SENTENCES = [
    "the old farmer carried a wooden chair near the river",
    "my younger sister painted the red bicycle in the kitchen",
    "a tired doctor found some fresh bread at the market",
    "the quiet teacher opened the garden gate before dinner",
]

tiny = cpu_model("tiny", "asr", "tiny.en", "fp32")


@pytest.fixture(scope="module")
def jfk(jfk_path):
    from demo.audio import load_audio

    return load_audio(jfk_path)


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    """4 espeak-ng clips: 3 train, 1 validation."""
    return spoken_manifest(tmp_path_factory.mktemp("lowrank-speech"), SENTENCES, 3)


def _train(manifest: Path, out: Path, *flags: str, steps: int = 3) -> Path:
    from training.train_asr import main

    argv = [
        "--train", str(manifest), "--output-dir", str(out), "--max-steps", str(steps),
        "--batch-size", "1", "--max-new-tokens", "8", "--device", "cpu", "--compress", "lowrank",
        "--no-eval-real-speech", *flags,
    ]  # fmt: skip
    assert main(argv) == 0
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    return run


def _metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_full_fine_tune_with_the_constraint_runs_through_the_loop(manifest, tmp_path, jfk):
    from demo.asr import transcribe

    run = _train(manifest, tmp_path / "on", "--method", "full", "--constrain-every", "1")
    info = json.loads((run / "run.json").read_text())
    assert info["system"] == "lowrank" and "lowrank-full" in info["run_id"]
    assert info["extra"]["lowrank"]["ranks"] == [96]
    assert info["total_params"] == TINY_QUARTER_PARAMS
    lines = _metrics(run)
    assert len(lines) == 2 and all("orthogonality_error" in line for line in lines)
    trained = lines[-1]["orthogonality_error"]
    assert trained < 1e-4  # re-imposed after each of the 3 steps
    assert not (run / "checkpoint-final").exists()
    (listed,) = list_lowrank(tmp_path / "on", base="tiny.en")
    assert listed.adapter is None and "r=96, fine-tuned" in listed.label
    loaded = load_lowrank_whisper(run, quant="fp32", device="cpu")
    assert orthogonality_error(loaded.model) == pytest.approx(trained, rel=0.1, abs=1e-6)
    assert isinstance(transcribe(loaded, jfk).text, str)

    # The ablation: plain SVD factors, no constraint; A drifts away from orthonormal.
    ablation = _train(manifest, tmp_path / "off", "--method", "full", "--no-orthogonal", steps=2)
    drifted = _metrics(ablation)[-1]["orthogonality_error"]
    assert drifted > 10 * trained


def test_a_token_weighted_start_trains_from_the_training_transcripts(manifest, tmp_path):
    from training.config import AsrConfig

    flags = ("--compress-targets", "proj_out", "--rank-fraction", "0.667")
    run = _train(manifest, tmp_path, "--method", "full", "--lowrank-init", "token-weighted",
                 "--factor-lr-scale", "4", *flags)  # fmt: skip
    info = json.loads((run / "run.json").read_text())
    assert info["extra"]["lowrank"]["init"] == "token-weighted"
    assert read_lowrank_config(run / "lowrank")["weights"] == WEIGHTS_FILE
    before, after = _metrics(run)
    assert after["wer"] < before["wer"]
    # With LoRA the factors stay frozen: the folder keeps only the counts, which rebuild them.
    lora = _train(manifest, tmp_path / "lora", "--method", "lora", "--lr", "1e-3",
                  "--lowrank-init", "token-weighted", *flags, steps=1)  # fmt: skip
    saved = read_lowrank_config(lora / "lowrank")
    assert saved["weights"] is None and saved["token_counts"]
    assert isinstance(load_lowrank_whisper(lora, quant="fp32", device="cpu").model, torch.nn.Module)
    with pytest.raises(ValueError, match="init must be one of"):
        AsrConfig(train="m.jsonl", compress="lowrank", lowrank_init="weighted")
    # Activation-aware: the decoder's states on the training clips fit the factors.
    # It reads the layer inputs of --lowrank-calibration-clips training clips (base's encoder
    # makes 256 a 40-minute wait on one core).
    aware = _train(manifest, tmp_path / "aware", "--method", "full", "--lowrank-init",
                   "activation-aware", "--lowrank-calibration-clips", "2", *flags,
                   steps=1)  # fmt: skip
    recorded = json.loads((aware / "run.json").read_text())["extra"]["lowrank"]
    assert recorded["init"] == "activation-aware" and recorded["calibration_clips"] == 2
    assert read_lowrank_config(aware / "lowrank")["calibration_clips"] == 2
    with pytest.raises(ValueError, match="calibration_clips must be at least 1"):
        AsrConfig(train="m.jsonl", compress="lowrank", lowrank_calibration_clips=0)
    assert load_lowrank_whisper(aware, quant="fp32", device="cpu").model is not None


def test_the_probe_scores_untrained_splits_of_a_cut(manifest, tmp_path):
    """bench.lowrank_probe: each split beside the original, untrained, on the same clips."""
    from bench import lowrank_probe

    out = tmp_path / "bench"
    lowrank_probe.main(["--model", "tiny.en", "--manifest", str(manifest), "--splits",
                        "fc1:96,fc2:96", "proj_out:272,fc1:300", "--calibration-clips", "2",
                        "--out", str(out), "--real-speech-manifest",
                        str(tmp_path / "not-built.jsonl")])  # fmt: skip
    rows = {r["split"]: r for r in json.loads((out / "lowrank-probe.json").read_text())["rows"]}
    assert list(rows) == ["original", "fc1:96,fc2:96", "proj_out:272,fc1:300"]
    assert rows["original"]["reduction_pct"] == 0 and rows["original"]["params"] == TINY_PARAMS
    assert rows["fc1:96,fc2:96"]["params"] == TINY_QUARTER_PARAMS
    assert all(rows[s]["validation_loss"] > rows["original"]["validation_loss"] for s in rows
               if s != "original")  # fmt: skip
    # Without the real-speech set, its stand-in: jfk and the MIT licence, greedy. The original
    # is near perfect, d/4 on fc1/fc2 is not.
    assert rows["original"]["real_speech_wer"] < 5 < rows["fc1:96,fc2:96"]["real_speech_wer"]


def test_the_factors_can_learn_at_a_larger_rate_than_the_rest(tiny):
    from demo.asr.registry import get_whisper_model
    from training.compress import compress
    from training.config import AsrConfig
    from training.loop import param_groups

    flags = {"train": "m.jsonl", "compress": "lowrank", "method": "full"}
    config = AsrConfig(**flags, factor_lr_scale=10.0)
    model, hooks = compress(copy.deepcopy(tiny.model), config, get_whisper_model("tiny.en"))
    groups = {group["lr"]: group["params"] for group in param_groups(model, 1e-4, hooks.lr_scale)}
    assert sorted(groups) == [pytest.approx(1e-4), pytest.approx(1e-3)]
    factors = {id(p) for m in lowrank_modules(model).values() for p in (m.down.weight, m.up.weight)}
    fast = next(params for lr, params in groups.items() if lr > 5e-4)
    assert {id(p) for p in fast} == factors and len(factors) == 32  # fc1/fc2 x 8 layers x (A, B)
    assert sum(len(params) for params in groups.values()) == len(list(model.parameters()))
    # Scale 1 (the default) keeps one group; the flag is refused where there are no factors.
    _, plain = compress(copy.deepcopy(tiny.model), AsrConfig(**flags), get_whisper_model("tiny.en"))
    assert plain.lr_scale is None and len(param_groups(model, 1e-4, None)) == 1
    with pytest.raises(ValueError, match="full fine-tune of a low-rank model"):
        AsrConfig(train="m.jsonl", factor_lr_scale=10.0)
    with pytest.raises(ValueError, match="must be above 0"):
        AsrConfig(**flags, factor_lr_scale=0.0)


def test_lora_on_the_frozen_factors_saves_a_small_run_that_reloads(manifest, tmp_path, jfk):
    from demo.adapters import list_adapters
    from demo.asr import transcribe

    run = _train(manifest, tmp_path, "--method", "lora", "--lr", "1e-3", steps=2)
    info = json.loads((run / "run.json").read_text())
    assert info["system"] == "lowrank" and info["method"] == "lora"
    adapter = json.loads((run / "adapter" / "adapter_config.json").read_text())
    assert set(adapter["target_modules"]) == {"down", "up"}
    saved = read_lowrank_config(run / "lowrank")
    assert saved["weights"] is None and saved["adapter"] is True
    assert sum(f.stat().st_size for f in run.rglob("*") if f.is_file()) < 5 * 2**20
    assert list_adapters(tmp_path) == []  # its adapter fits the factors, not plain tiny.en
    (listed,) = list_lowrank(tmp_path)
    assert listed.adapter == run / "adapter" and listed.base == "tiny.en"
    loaded = load_lowrank_whisper(run, quant="fp32", device="cpu")
    assert count_parameters(loaded.model) == TINY_QUARTER_PARAMS  # merged back into the factors
    assert isinstance(transcribe(loaded, jfk).text, str)
    assert orthogonality_error(loaded.model) > 1e-4  # the merged adapter moved the down factors
