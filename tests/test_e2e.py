"""The end-to-end speech -> summary model on real parts: espeak-ng clips, the frozen Whisper
tiny.en encoder, a Q-Former from the bundled MiniLM and the bundled SmolLM2-135M-Instruct,
trained a step per stage through the one training loop, then picked in the pipeline, the app's
handlers and the CLI."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from spoken import SENTENCES, spoken_manifest

from demo.audio import SAMPLE_RATE, load_audio
from demo.bridge.e2e import SUMMARY_TASK, TRANSCRIBE_TASK, audio_windows
from demo.bridge.e2e_io import E2EError, load_e2e, save_e2e
from demo.bridge.features import FeatureCache
from demo.errors import DemoError
from demo.pipeline import PipelineOptions, References, run_pipeline

pytestmark = pytest.mark.slow  # two training runs and real-model loads: minutes on 2 cores
ROOT = Path(__file__).resolve().parents[1]
NUM_QUERIES = 4


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Sentence clips; each row's "summary" is its first five words (a target to learn)."""
    rows = [
        {"text": text, "summary": " ".join(text.split()[:5]) + ".", "split": split}
        for text, split in SENTENCES[:5]  # one validation clip is enough here
    ]
    return spoken_manifest(tmp_path_factory.mktemp("e2e-corpus"), rows)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    return tmp_path_factory.mktemp("checkpoints")


def _train(corpus, checkpoints, run_id, **fields):
    from training.loop import run_training
    from training.train_e2e import E2ETask, E2ETrainConfig

    config = E2ETrainConfig(
        train=str(corpus), num_queries=NUM_QUERIES, max_steps=1, batch_size=4,
        eval_batch_size=1, max_new_tokens=4, eval_more_at_start=False, device="cpu",
        output_dir=str(checkpoints), run_id=run_id, **fields,
    )  # fmt: skip
    return run_training(config, E2ETask())


@pytest.fixture(scope="module")
def asr_run(corpus, checkpoints):
    return _train(corpus, checkpoints, "e2e-asr", stage=TRANSCRIBE_TASK)


@pytest.fixture(scope="module")
def summary_run(corpus, checkpoints, asr_run):
    """Stage 2: from stage 1's E2E folder, with a LoRA adapter on the LM."""
    return _train(corpus, checkpoints, "e2e-sum", stage=SUMMARY_TASK,
                  init_e2e=str(asr_run / "e2e"), lora_rank=2)  # fmt: skip


@pytest.fixture(scope="module")
def trainable(summary_run):
    return load_e2e(summary_run / "e2e", trainable=True, with_encoder=False)


@pytest.fixture(scope="module")
def batch(summary_run, trainable):
    from training.train_e2e import ClipWindows, E2ECollator

    info = json.loads((summary_run / "run.json").read_text())
    cache = FeatureCache.open(info["extra"]["feature_cache"])
    clips = [[k] for k in cache.keys("train")]
    items = [ClipWindows(cache, clips)[i] for i in range(len(clips))]
    out = E2ECollator(trainable.tokenizer, 64)(items)
    out.pop("references")
    return out


def test_stages_chain_and_save_safetensors_only(asr_run, summary_run):
    info = json.loads((summary_run / "run.json").read_text())
    assert info["system"] == "qformer-e2e" and info["task"] == "summarization"
    assert info["extra"]["stages"] == [TRANSCRIBE_TASK, SUMMARY_TASK]
    assert info["rank"] == 2 and info["trainable_params"] < info["total_params"] / 5
    saved = json.loads((summary_run / "e2e" / "e2e.json").read_text())
    assert saved["trained_steps"] == 2 and saved["encoder"] == "tiny.en"
    assert saved["lm"] == "smollm2-135m" and saved["num_queries"] == NUM_QUERIES
    # The frozen parts it expects, checked when it loads (the LM's read under its LoRA wrapper).
    assert sorted(saved["base_fingerprint"]) == ["encoder", "lm"]
    files = {p.relative_to(summary_run / "e2e").as_posix()
             for p in (summary_run / "e2e").rglob("*") if p.is_file()}  # fmt: skip
    assert {"e2e.json", "e2e.safetensors", "adapter/adapter_model.safetensors"} <= files
    assert not [f for f in files if f.endswith((".bin", ".pt", ".pkl"))]
    asr_lines = [json.loads(x) for x in (asr_run / "metrics.jsonl").read_text().splitlines()]
    sum_lines = [json.loads(x) for x in (summary_run / "metrics.jsonl").read_text().splitlines()]
    assert "wer" in asr_lines[-1] and "cer" in asr_lines[-1]
    assert {"rouge1", "rouge2", "rougeL", "embedding_similarity"} <= set(sum_lines[-1])


def test_windows_are_30_s_and_a_short_tail_is_dropped():
    from training.e2e_data import window_spans

    second = SAMPLE_RATE
    assert [len(w) for w in audio_windows(np.zeros(65 * second))] == [30 * second] * 2 + [
        5 * second
    ]
    assert [len(w) for w in audio_windows(np.zeros(int(30.5 * second)))] == [30 * second]
    assert window_spans(65.0) == [(0.0, 30.0), (30.0, 60.0), (60.0, 65.0)]
    assert window_spans(30.5) == [(0.0, 30.0)] and window_spans(4.0) == [(0.0, 4.0)]


def test_prefix_shapes_and_answer_masks(trainable, batch):
    model = trainable.eval()  # no dropout: the same window gives the same queries
    windows = torch.tensor([2, 1, 1])  # the first "clip" has two windows, in order
    features, mask = batch["features"][:4], batch["feature_mask"][:4]
    prefixes = model.prefixes(features, mask, windows)
    shapes = [tuple(p.shape) for p in prefixes]
    assert shapes == [(2 * NUM_QUERIES, 576), (NUM_QUERIES, 576), (NUM_QUERIES, 576)]
    # The two windows' queries come in order: the first window's, then the second's.
    alone = model.prefixes(features[1:2], mask[1:2], [1])[0]
    assert torch.allclose(prefixes[0][NUM_QUERIES:], alone, atol=1e-5)
    with pytest.raises(ValueError, match="windows add up"):
        model.prefixes(features, mask, [1, 1])
    targets = batch["targets"][:3]
    labels = model.full_labels(windows, targets)
    prompt = model.prompt()
    for i, w in enumerate(windows.tolist()):
        start = len(prompt.before) + w * NUM_QUERIES + len(prompt.after)
        answer = targets[i][targets[i] != -100]
        assert labels[i, :start].eq(-100).all()
        assert labels[i, start : start + len(answer)].tolist() == answer.tolist()
        assert labels[i, start + len(answer) :].eq(-100).all()
    with torch.no_grad():
        out = model(features, mask, windows, targets, labels)
    assert out.logits.shape[:2] == labels.shape and torch.isfinite(out.loss)


def test_loss_decreases_on_cached_features(trainable, batch):
    import copy

    model = copy.deepcopy(trainable).train()
    two = {"features": batch["features"][:2], "feature_mask": batch["feature_mask"][:2],
           "windows": batch["windows"][:2], "targets": batch["targets"][:2]}  # fmt: skip
    labels = model.full_labels(two["windows"], two["targets"])
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    losses = []
    for _ in range(3):
        loss = model(**two, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(float(loss))
    assert losses[-1] < losses[0] - 0.1, losses


def test_trained_model_saves_and_reloads_with_identical_outputs(trainable, batch, tmp_path):
    trainable.eval()
    save_e2e(trainable, tmp_path / "copy")
    again = load_e2e(tmp_path / "copy", trainable=True, with_encoder=False).eval()
    args = (batch["features"], batch["feature_mask"], batch["windows"], batch["targets"])
    with torch.no_grad():
        assert torch.equal(trainable(*args).logits, again(*args).logits)
    merged = load_e2e(tmp_path / "copy", with_encoder=False)  # adapter merged for serving
    first = args[0][:1], args[1][:1], [1]
    assert trainable.generate(*first, max_new_tokens=6) == merged.generate(*first, max_new_tokens=6)


def test_fp16_copy_is_half_the_size_and_refuses_other_frozen_weights(trainable, batch, tmp_path):
    trainable.eval()
    whole, half = (
        save_e2e(trainable, tmp_path / "fp32"),
        save_e2e(trainable, tmp_path / "fp16", fp16=True),
    )
    size = {f: (f / "e2e.safetensors").stat().st_size for f in (whole, half)}
    assert size[half] < 0.55 * size[whole]
    again = load_e2e(half, trainable=True, with_encoder=False).eval()
    args = (batch["features"], batch["feature_mask"], batch["windows"], batch["targets"])
    with torch.no_grad():
        a, b = trainable(*args).logits, again(*args).logits
    assert (a - b).abs().max() < 0.05 * a.abs().max()  # fp16 rounding, not another model
    saved = json.loads((half / "e2e.json").read_text())
    saved["base_fingerprint"]["lm"] = "0" * 16
    (half / "e2e.json").write_text(json.dumps(saved))
    with pytest.raises(E2EError, match="other smollm2-135m weights"):
        load_e2e(half, with_encoder=False)


def test_model_for_another_encoder_or_lm_is_refused_in_one_sentence(summary_run, corpus):
    from training.train_e2e import E2ETask, E2ETrainConfig

    for kwargs, said in (({"encoder": "base"}, "tiny.en encoder"), ({"lm": "smollm2-360m"}, "LM")):
        with pytest.raises(E2EError, match=said) as raised:
            load_e2e(summary_run / "e2e", **kwargs)
        message = str(raised.value)
        assert message.endswith(".") and ". " not in message and "\n" not in message
    config = E2ETrainConfig(train=str(corpus), model="base", stage=SUMMARY_TASK,
                            init_e2e=str(summary_run / "e2e"), num_queries=NUM_QUERIES)  # fmt: skip
    with pytest.raises(DemoError, match="can't read base"):
        E2ETask().build(config, "cpu")


def test_pipeline_runs_end_to_end_on_jfk(summary_run, checkpoints, jfk_path, jfk_text, monkeypatch):
    from demo.pipeline import default_cache
    from demo.pipelines.e2e import NO_TRANSCRIPT, UNCHECKED
    from demo.summarize.llm import clean_summary

    monkeypatch.setenv("DEMO_CHECKPOINTS", str(checkpoints))
    options = PipelineOptions(pipeline="e2e", summary_sentences=2)  # the newest summarizing one
    assert Path(options.e2e_spec().name) == summary_run / "e2e"
    refs = References(transcript=jfk_text, summary="Ask what you can do for your country.")
    result = run_pipeline(str(jfk_path), options, references=refs)
    assert result.transcript == "" and NO_TRANSCRIPT in result.notes
    assert UNCHECKED in result.notes  # the app marks a summary nothing can check
    assert "wer" not in result.scores and "rouge1" in result.scores  # no transcript to score
    assert all(result.timings[s] > 0 for s in ("load", "asr", "summarize", "total"))
    assert "E2E e2e-sum" in result.memory["asr"].label
    assert "LoRA r2" in result.memory["summarizer"].label
    assert result.memory["summarizer"].weights_mb > 4 * result.memory["asr"].weights_mb
    # The pipeline's summary is the model's own, cut to the length asked for.
    model = default_cache().get(options.e2e_spec())[0].model
    features, mask, windows = model.encode_audio(load_audio(str(jfk_path)))
    raw = model.generate(features, mask, windows, task=SUMMARY_TASK, max_new_tokens=96)[0]
    assert result.summary == clean_summary(raw, 2, None)


def test_a_transcribe_only_model_shows_its_transcript_and_says_so(asr_run, jfk_path):
    from demo.pipeline import default_cache

    options = PipelineOptions(pipeline="e2e", e2e_model=str(asr_run))
    result = run_pipeline(str(jfk_path), options)
    assert any("trained only to transcribe" in note for note in result.notes)
    model = default_cache().get(options.e2e_spec())[0].model
    features, mask, windows = model.encode_audio(load_audio(str(jfk_path)))
    own = model.generate(features, mask, windows, task=TRANSCRIBE_TASK, max_new_tokens=224)[0]
    assert result.transcript == own


def test_app_handlers_offer_it_in_try_it_and_compare(summary_run, checkpoints, jfk_path,
                                                     monkeypatch):  # fmt: skip
    from dashboard import handlers as h

    monkeypatch.setenv("DEMO_CHECKPOINTS", str(checkpoints))
    labels = h.e2e_choices()
    assert labels[0] == h.NEWEST_E2E
    summary_label = next(label for label in labels if label.startswith("e2e-sum ("))
    assert ("end-to-end (Q-Former → SmolLM2)", "e2e") in h.pipeline_choices()
    values = {"audio": str(jfk_path), "pipeline": "e2e", "e2e_model": summary_label}
    out = h.transcribe_and_summarize({**values, "summary_sentences": 2})
    assert out["transcript"].startswith("(The end-to-end model")
    assert [row[0] for row in out["latency"]][:3] == [
        "load model", "encode speech (encoder + Q-Former)", "generate summary (LM)"
    ]  # fmt: skip
    assert out["memory"][0][0].startswith("E2E ")
    configs = h.add_config([], {"asr": "tiny.en", "quant": "full", "summarizer": "extractive"})
    configs = h.add_config(configs, {"pipeline": "e2e", "e2e_model": h.NEWEST_E2E})
    rows = h.config_rows(configs)
    assert rows[0][-2:] == ["cascade", h.NEWEST_E2E] and rows[1][-2] == "e2e"
    done = h.run_compare({"audio": str(jfk_path), "configs": configs, "summary_sentences": 2})
    assert done["status"] == "Ran 2 configurations."
    assert list(done["table"]["configuration"]) == [
        "tiny.en/full → extractive",
        "end-to-end newest",
    ]


def test_cli_runs_the_e2e_choice_and_explains_a_missing_model(summary_run, checkpoints,
                                                              jfk_path, tmp_path):  # fmt: skip
    def cli(root):
        env = dict(os.environ, HF_HUB_OFFLINE="1", DEMO_CHECKPOINTS=str(root))
        return subprocess.run(
            [sys.executable, "-m", "demo", "run", str(jfk_path), "--pipeline", "e2e", "--json"],
            capture_output=True, text=True, timeout=300, cwd=ROOT, env=env,
        )  # fmt: skip

    proc = cli(checkpoints)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["options"]["pipeline"] == "e2e" and result["transcript"] == ""
    assert result["timings"]["summarize"] > 0 and result["memory"]["asr"]["label"]
    proc = cli(tmp_path / "empty")
    assert proc.returncode == 2
    assert "No trained end-to-end model" in proc.stderr
    assert "training/grids/e2e-v2.yaml" in proc.stderr
