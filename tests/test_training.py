"""The training toolkit end to end on CPU: every method x precision, bad manifest rows, out of
memory, and adapters the app can load (resume and multi-process runs: test_training_resume).

Whisper runs use the real bundled tiny.en on a few espeak-ng clips made once per session.
Summarizer runs use a tiny random T5 (no real summarizer weights exist offline), so they check
plumbing, never summary quality. Runs are 2 optimizer steps with short generations.
"""

import json
from pathlib import Path

import pytest
from training_helpers import metric_lines, only_run

from demo.options import add_flags
from results.runs import load_run
from training.config import AsrConfig, SummarizerConfig
from training.make_speech_corpus import CorpusConfig, make_sentences

ASR_MATRIX = [
    ("full", "fp32"),
    ("lora", "fp32"),
    ("lora", "int8"),
    ("lora", "nf4"),
    ("adalora", "fp32"),
    ("adalora", "int8"),
    ("adalora", "nf4"),
]
RUN_KEYS = {
    "run_id", "task", "model", "size", "family", "method", "precision", "rank", "dataset",
    "status", "started_at", "ended_at", "trainable_params", "total_params", "trainable_pct",
    "weights_footprint_mb", "device", "config", "versions", "hardware",
}  # fmt: skip
LINE_KEYS = {
    "step", "epoch", "split", "loss", "train_loss", "lr", "seconds", "epoch_seconds",
    "eval_seconds", "samples_per_second", "peak_memory_mb",
}  # fmt: skip
# Real-speech scoring (2 clips, before and after) is tested once, below; the others skip it.
FAST_ASR = ["--max-steps", "2", "--batch-size", "1", "--max-new-tokens", "8", "--device", "cpu",
            "--no-eval-real-speech"]  # fmt: skip


@pytest.fixture(scope="session")
def summary_manifest(tmp_path_factory) -> Path:
    """Lead-1 summaries: the summary is the document's first sentence."""
    sentences = make_sentences(60, seed=1)
    rows = [
        {"text": " ".join(sentences[i : i + 3]), "summary": sentences[i]} for i in range(0, 60, 3)
    ]
    path = tmp_path_factory.mktemp("sums") / "summaries.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def _asr(argv: list[str]) -> int:
    from training.train_asr import main

    return main(argv)


def _summarize(argv: list[str]) -> int:
    from training.train_summarizer import main

    return main(argv)


# ----------------------------------------------------------------------------- corpus, config


def test_corpus_has_exact_transcripts_and_held_out_sentences(speech_corpus):
    rows = [json.loads(line) for line in speech_corpus.read_text().splitlines()]
    assert len(rows) == 8
    assert all((speech_corpus.parent / row["audio"]).stat().st_size > 1000 for row in rows)
    train = {row["text"] for row in rows if row["split"] == "train"}
    validation = {row["text"] for row in rows if row["split"] == "validation"}
    assert len(validation) == 2 and len(train) == 6
    assert not train & validation
    assert {row["voice"] for row in rows} <= {"en-us", "en-gb"}


@pytest.mark.parametrize("config_cls", [AsrConfig, SummarizerConfig, CorpusConfig])
def test_cli_flags_are_the_config_fields(config_cls):
    import argparse
    import dataclasses

    parser = argparse.ArgumentParser()
    add_flags(parser, config_cls)
    fields = {f.name: f.default for f in dataclasses.fields(config_cls)}
    defaults = vars(parser.parse_args([]))
    assert defaults == fields
    flags = {s for action in parser._actions for s in action.option_strings}
    for name in fields:
        assert "--" + name.replace("_", "-") in flags


def test_quant_keeps_precision_as_its_older_flag_and_saved_key():
    import argparse

    from demo.options import from_args, from_dict

    parser = argparse.ArgumentParser()
    add_flags(parser, AsrConfig)
    for flag in ("--quant", "--precision"):
        args = parser.parse_args(["--train", "x.jsonl", "--method", "lora", flag, "nf4"])
        assert from_args(AsrConfig, args).quant == "nf4"
    # A run.json written before the rename resumes with the mode it trained in.
    saved = {"train": "x.jsonl", "method": "lora", "precision": "int8"}
    assert from_dict(AsrConfig, saved).quant == "int8"


def test_config_refuses_full_fine_tuning_of_a_quantized_base():
    with pytest.raises(ValueError, match="unquantized"):
        AsrConfig(train="x.jsonl", method="full", quant="int8")
    with pytest.raises(ValueError, match="sweep-r"):
        SummarizerConfig(train="x.jsonl", sweep_r="4,eight")
    with pytest.raises(ValueError, match="lr must be above 0"):
        AsrConfig(train="x.jsonl", lr=-1e-4)
    with pytest.raises(ValueError, match="warmup_steps must be 0 or more"):
        AsrConfig(train="x.jsonl", warmup_steps=-5)


# ----------------------------------------------------------------------------- ASR matrix


@pytest.mark.parametrize(("method", "precision"), ASR_MATRIX)
def test_asr_two_steps_each_method_and_precision(
    speech_corpus, tmp_path, jfk_path, jfk_text, method, precision
):
    extra = ["--deltaT", "1"] if method == "adalora" else []  # re-allocate at step 1 already
    code = _asr(
        ["--train", str(speech_corpus), "--method", method, "--precision", precision,
         "--output-dir", str(tmp_path), "--max-val-samples", "1", "--lr", "1e-3", *FAST_ASR,
         *extra]
    )  # fmt: skip
    assert code == 0
    run_dir = only_run(tmp_path)
    info = json.loads((run_dir / "run.json").read_text())
    assert RUN_KEYS <= set(info)
    assert info["model"] == "tiny.en" and info["size"] == "tiny" and info["task"] == "asr"
    assert (info["method"], info["precision"], info["status"]) == (method, precision, "completed")
    assert info["rank"] == (None if method == "full" else 8)
    assert 0 < info["trainable_params"] <= info["total_params"]
    lines = metric_lines(run_dir)
    assert [line["step"] for line in lines] == [0, 2]
    assert lines[0]["train_loss"] is None and lines[1]["train_loss"] > 0
    for line in lines:
        assert LINE_KEYS | {"wer", "cer", "wer_raw", "cer_raw"} <= set(line)
        assert 0 <= line["cer"] <= 1.5 and line["loss"] > 0 and line["peak_memory_mb"] > 0
    run = load_run(run_dir)
    assert run.warnings == [] and run.mode == {"full": "full"}.get(
        method, f"{precision}+{method}" if precision != "fp32" else method
    )
    assert not (run_dir / "resume").exists()
    if method == "full":
        assert (run_dir / "checkpoint-final" / "model.safetensors").is_file()
        assert not (run_dir / "adapter").exists()
        return
    adapter_config = json.loads((run_dir / "adapter" / "adapter_config.json").read_text())
    assert adapter_config["base_model_name_or_path"] == "tiny.en"
    assert adapter_config["peft_type"] == method.upper()
    if method == "adalora":
        # update_and_allocate ran: the budget was re-allocated into a rank pattern.
        assert adapter_config["rank_pattern"]
        assert info["adalora_schedule"]["total_step"] == 2
    if (method, precision) == ("adalora", "int8"):  # pruned AdaLoRA on a quantized base
        _assert_app_transcribes(run_dir / "adapter", "int8", jfk_path, jfk_text)
    from safetensors.torch import load_file

    weights = load_file(str(run_dir / "adapter" / "adapter_model.safetensors"))
    # LoRA's B and AdaLoRA's E start at zero; gradients must have reached them through the
    # (quantized) layers above them, in every adapted layer for LoRA.
    zero_at_init = "lora_E" if method == "adalora" else "lora_B"
    # (AdaLoRA saves pruned matrices, some of them down to rank 0.)
    moved = [bool(v.abs().max() > 0) for k, v in weights.items() if zero_at_init in k and v.numel()]
    assert moved and (any(moved) if method == "adalora" else all(moved))


def test_keep_best_ends_on_the_best_validation_weights_not_the_last(speech_corpus, tmp_path):
    """At lr 0.9 two LoRA steps wreck tiny.en, so the untrained model (step 0) is the best by
    validation loss: the run ends on it, its saved adapter is the untrained one (LoRA's B is
    zero at the start), and run.json says which step it kept."""
    code = _asr(
        ["--train", str(speech_corpus), "--method", "lora", "--output-dir", str(tmp_path),
         "--max-val-samples", "1", "--lr", "0.9", "--keep-best", "loss", *FAST_ASR]
    )  # fmt: skip
    assert code == 0
    run_dir = only_run(tmp_path)
    lines = metric_lines(run_dir)
    assert [line["step"] for line in lines] == [0, 2] and lines[1]["loss"] > lines[0]["loss"]
    info = json.loads((run_dir / "run.json").read_text())
    assert info["extra"]["kept_best"] == {"metric": "loss", "step": 0, "value": lines[0]["loss"]}
    assert info["config"]["keep_best"] == "loss" and info["status"] == "completed"
    from safetensors.torch import load_file

    weights = load_file(str(run_dir / "adapter" / "adapter_model.safetensors"))
    assert all(float(v.abs().max()) == 0 for k, v in weights.items() if "lora_B" in k)
    assert not (run_dir / "resume").exists()  # the kept weights went with the resume state


def test_keep_best_refuses_an_unknown_metric_and_adalora():
    with pytest.raises(ValueError, match="keep_best must be a metric"):
        AsrConfig(train="x.jsonl", keep_best="accuracy")
    with pytest.raises(ValueError, match="rank pattern"):
        AsrConfig(train="x.jsonl", method="adalora", keep_best="wer")
    assert AsrConfig(train="x.jsonl", keep_best="wer").keep_best == "wer"


def _assert_app_transcribes(adapter: Path, quant: str, jfk_path: Path, jfk_text: str) -> None:
    from demo.asr import transcribe
    from demo.audio import load_audio
    from demo.metrics import wer
    from demo.models import ModelSpec, load_model

    loaded = load_model(ModelSpec("asr", "tiny.en", quant, str(adapter), "cpu"))
    assert wer(jfk_text, transcribe(loaded, load_audio(jfk_path)).text) < 0.2


def test_trained_adapter_loads_in_the_app_and_transcribes(
    speech_corpus, tmp_path, jfk_path, jfk_text
):
    from demo.adapters import list_adapters

    rows = [json.loads(line) for line in speech_corpus.read_text().splitlines()]
    rows[-1]["split"] = "test"  # one held-out clip as the corpus's test split
    for row in rows:
        row["audio"] = str(speech_corpus.parent / row["audio"])
    manifest = tmp_path / "with-test.jsonl"
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))
    # A real-speech set of one clip (jfk), in the manifest schema make_real_speech writes.
    real_manifest = tmp_path / "real-speech.jsonl"
    real_manifest.write_text(json.dumps({"audio": str(jfk_path), "text": jfk_text,
                                         "split": "test", "voice": "jfk"}) + "\n")  # fmt: skip
    flags = [f for f in FAST_ASR if f != "--no-eval-real-speech"]
    argv = ["--train", str(manifest), "--output-dir", str(tmp_path), *flags,
            "--real-speech-manifest", str(real_manifest)]  # fmt: skip
    assert _asr(argv) == 0
    run_dir = only_run(tmp_path)
    # The test split, the real-speech set and the sample recordings are scored before
    # training and at the end.
    for split in ("test", "real-speech", "real-speech-sample"):
        assert [line["step"] for line in metric_lines(run_dir, split)] == [0, 2]
    real = metric_lines(run_dir, "real-speech")[0]
    assert real["eval_samples"] == 1 and real["wer"] == 0  # jfk, untrained
    sample = metric_lines(run_dir, "real-speech-sample")[0]
    assert sample["eval_samples"] == 2 and sample["wer"] < 0.05  # jfk + the MIT licence
    adapters = list_adapters(tmp_path, base="tiny.en")
    assert len(adapters) == 1 and "lora" in adapters[0].label
    assert list_adapters(tmp_path, base="base") == []
    _assert_app_transcribes(adapters[0].path, "full", jfk_path, jfk_text)
    _assert_app_transcribes(adapters[0].path, "auto", jfk_path, jfk_text)  # merged, then fast


# ----------------------------------------------------------------------------- bad rows


def _bad_manifest(speech_corpus: Path, tmp_path: Path) -> Path:
    rows = [json.loads(line) for line in speech_corpus.read_text().splitlines()]
    for row in rows:
        row["audio"] = str(speech_corpus.parent / row["audio"])
    not_audio = tmp_path / "not_audio.wav"
    not_audio.write_text("this is text, not a wav file")
    bad = [
        {"audio": str(tmp_path / "missing.wav"), "text": "gone", "split": "train"},
        {"audio": rows[0]["audio"], "text": "  ", "split": "train"},
        {"audio": str(not_audio), "text": "broken", "split": "train"},
    ]
    lines = [json.dumps(row) for row in rows[:1] + bad + rows[1:]]
    lines.insert(2, "{not json")
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_bad_rows_are_counted_and_reported_not_silently_dropped(speech_corpus, tmp_path):
    from training.data import TRAIN, VALIDATION, load_splits, speech_examples

    config = AsrConfig(train=str(_bad_manifest(speech_corpus, tmp_path)))
    splits = load_splits(config)
    kwargs = {"audio_column": "audio", "text_column": "text", "base_dir": None, "strict": False}
    train = speech_examples(splits.train, splits.reports[TRAIN], **kwargs)
    validation = speech_examples(splits.validation, splits.reports[VALIDATION], **kwargs)
    report = splits.reports[TRAIN]
    assert (len(train), len(validation)) == (6, 2)
    assert dict(report.bad) == {
        "invalid JSON": 1, "missing file": 1, "empty text": 1, "undecodable audio": 1,
    }  # fmt: skip
    assert report.rows == 10 and report.kept == 6
    assert "dropped 4" in report.summary() and "missing.wav" in " ".join(report.examples)


def test_strict_fails_on_the_first_bad_row(speech_corpus, tmp_path, capsys):
    manifest = _bad_manifest(speech_corpus, tmp_path)
    code = _asr(["--train", str(manifest), "--strict", "--output-dir", str(tmp_path / "runs")])
    assert code == 2
    err = capsys.readouterr().err
    assert "row 3: invalid JSON" in err and "--strict" in err
    assert not (tmp_path / "runs").exists()


def test_hugging_face_dataset_with_audio_column(speech_corpus, tmp_path):
    datasets = pytest.importorskip("datasets")
    from training.data import TRAIN, load_splits, speech_examples

    rows = [json.loads(line) for line in speech_corpus.read_text().splitlines()]
    columns = {
        "audio": [str(speech_corpus.parent / r["audio"]) for r in rows],
        "sentence": [r["text"] for r in rows],
    }
    dataset = datasets.Dataset.from_dict(columns).cast_column("audio", datasets.Audio())
    dataset.save_to_disk(str(tmp_path / "ds"))
    config = AsrConfig(dataset=str(tmp_path / "ds"), text_column="sentence", val_fraction=0.25)
    splits = load_splits(config)
    assert (len(splits.train), len(splits.validation)) == (6, 2)
    train = speech_examples(
        splits.train, splits.reports[TRAIN], audio_column="audio", text_column="sentence",
        base_dir=splits.base_dir, strict=True,
    )  # fmt: skip
    # save_to_disk embeds the clips, so they come back as encoded bytes, decoded with FFmpeg.
    assert len(train) == 6 and all(isinstance(e.audio, bytes) for e in train)


# ----------------------------------------------------------------------------- summarizer


@pytest.mark.parametrize(("method", "precision"), ASR_MATRIX)
def test_summarizer_two_steps_each_method_and_precision(
    tiny_seq2seq, summary_manifest, tmp_path, method, precision
):
    code = _summarize(
        ["--model", str(tiny_seq2seq["t5"]), "--train", str(summary_manifest), "--method", method,
         "--precision", precision, "--max-steps", "2", "--batch-size", "2", "--max-new-tokens",
         "8", "--max-val-samples", "3", "--output-dir", str(tmp_path), "--device", "cpu"]
    )  # fmt: skip
    assert code == 0
    run_dir = only_run(tmp_path)
    info = json.loads((run_dir / "run.json").read_text())
    assert (info["task"], info["family"], info["size"]) == ("summarization", "t5", None)
    assert (info["method"], info["precision"], info["status"]) == (method, precision, "completed")
    lines = metric_lines(run_dir)
    assert [line["step"] for line in lines] == [0, 2]
    for line in lines:
        keys = {"rouge1", "rouge2", "rougeL", "rougeLsum", "rougeS", "embedding_similarity"}
        assert LINE_KEYS | keys <= set(line)
        assert all(0 <= line[k] <= 1 for k in keys - {"embedding_similarity"})
    assert (run_dir / ("checkpoint-final" if method == "full" else "adapter")).is_dir()


def test_sweep_r_writes_one_run_per_rank_for_the_rank_chart(
    tiny_seq2seq, summary_manifest, tmp_path
):
    from results.charts.training import rouge_vs_rank
    from results.runs import list_runs

    code = _summarize(
        ["--model", str(tiny_seq2seq["t5"]), "--train", str(summary_manifest), "--sweep-r",
         "2,4,8", "--max-steps", "2", "--batch-size", "4", "--max-new-tokens", "8",
         "--max-val-samples", "2", "--output-dir", str(tmp_path), "--device", "cpu"]
    )  # fmt: skip
    assert code == 0
    runs = list_runs(tmp_path)
    assert sorted(run.rank for run in runs) == [2, 4, 8]
    assert all(run.task == "summarization" and run.final for run in runs)
    figure = rouge_vs_rank(runs, show_reported=False)
    assert sum(len(trace.x) for trace in figure.data) == 3


def test_out_of_memory_becomes_a_message_with_a_suggestion(
    tiny_seq2seq, summary_manifest, tmp_path, capsys, monkeypatch
):
    import torch

    import training.loop

    def fail(session):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(training.loop, "_train", fail)
    code = _summarize(
        ["--model", str(tiny_seq2seq["t5"]), "--train", str(summary_manifest), "--batch-size",
         "8", "--output-dir", str(tmp_path), "--device", "cpu"]
    )  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "ran out of memory" in err and "--batch-size 4 --grad-accum 2" in err
    info = json.loads((only_run(tmp_path) / "run.json").read_text())
    assert info["status"] == "failed"
