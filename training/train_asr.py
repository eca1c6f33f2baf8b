"""Fine-tune Whisper (full, LoRA or AdaLoRA; fp32, int8 or NF4 base) and score WER/CER.

    python -m training.make_speech_corpus --out data/espeak --num-utterances 300
    python -m training.train_asr --train data/espeak/manifest.jsonl --method lora --epochs 3
    python -m training.train_asr --train data/espeak/manifest.jsonl --quant int8 \\
        --method adalora
    python -m training.train_asr --model base --quant nf4 --method lora \\
        --gradient-checkpointing --dataset mozilla-foundation/common_voice_11_0 \\
        --dataset-config en --text-column sentence
    python -m training.train_asr --train data/corpus-v2/manifest.jsonl --compress lowrank \\
        --compress-targets proj_out --lowrank-rank 272 --lowrank-init activation-aware \\
        --lowrank-token-source train+wordfreq --method full --factor-lr-scale 0.1 \\
        --distill-from checkpoints/asr-tiny.en-full-v2/checkpoint-final
    python -m training.train_asr --resume checkpoints/asr-tiny.en-lora-r8-20240501-120000
    accelerate launch --num_processes 2 -m training.train_asr --train data/espeak/manifest.jsonl

Each run writes ``checkpoints/<run-id>/``: ``run.json``, ``metrics.jsonl`` (validation WER,
CER, loss... at epoch 0 and after every epoch), ``adapter/`` (or ``checkpoint-final/`` for full
fine-tuning) and resume state until it completes. Learning rate and batch size default to the
thesis's per-size values (assets/reference/thesis_whisper_hparams.csv).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from training.cli import run_cli
from training.config import ASR_ADAPTER_LR, AsrConfig
from training.data import IGNORE_INDEX
from training.loop import TaskData

PROG = "python -m training.train_asr"

DEFAULT_LANGUAGE = "en"
# Sizes the thesis table lacks borrow a row: turbo is large-v3 with a smaller decoder.
FALLBACK_SIZE = {"turbo": "large"}


class AsrTask:
    name = "asr"
    config_cls = AsrConfig

    def default_hparams(self, config: AsrConfig, entry) -> tuple[float, int]:
        """Full fine-tuning: the thesis's per-size rate (Table 4.1, 40x below Whisper's
        pre-training rate); adapters: ``ASR_ADAPTER_LR``, since at a few hundred steps the
        thesis's rate barely moves a LoRA matrix that starts at zero. Batch size: Table 4.1."""
        from demo.reference import load_reference

        table = load_reference("whisper_hparams").set_index("size")
        size = entry.size if entry.size in table.index else FALLBACK_SIZE.get(entry.size, "tiny")
        row = table.loc[size]
        lr = float(row["lr_proposed"]) if config.method == "full" else ASR_ADAPTER_LR
        return lr, int(row["batch_size"])

    def data(self, config: AsrConfig, processor, entry) -> TaskData:
        from training.data import (
            TEST,
            TRAIN,
            VALIDATION,
            DataReport,
            load_splits,
            speech_columns,
            speech_examples,
        )
        from training.datasets import SpeechCollator, SpeechDataset

        if entry.multilingual:
            processor.tokenizer.set_prefix_tokens(
                language=config.language or DEFAULT_LANGUAGE, task="transcribe"
            )
        splits = load_splits(config)
        kwargs = speech_columns(config, splits)
        train = speech_examples(splits.train, splits.reports[TRAIN], **kwargs)
        validation = speech_examples(splits.validation, splits.reports[VALIDATION], **kwargs)
        _require(train, validation, splits.reports)
        evals = {}
        if splits.test:
            splits.reports[TEST] = splits.test_report
            evals[TEST] = speech_examples(splits.test, splits.test_report, **kwargs)
        if config.eval_real_speech:
            from training.corpora.real_speech import real_speech_sets

            # Not strict: the set's three prompts over 30 s are dropped, not fatal, and counted.
            real_kwargs = {**kwargs, "audio_column": "audio", "text_column": "text",
                           "strict": False}  # fmt: skip
            sets = real_speech_sets(
                Path(config.real_speech_manifest), config.real_speech_clips, config.sample_seed
            )
            for split, (source, rows) in sets.items():
                report = splits.reports[split] = DataReport(source)
                report.rows = len(rows)  # the summary said "kept 2 of 0 rows"
                evals[split] = speech_examples(rows, report, **real_kwargs)
        start = _decoder_start(processor)

        def dataset(examples):
            return SpeechDataset(examples, processor, config.max_label_tokens)

        return TaskData(
            dataset(train),
            dataset(validation),
            SpeechCollator(processor, start),
            splits.reports,
            splits.name,
            {split: dataset(examples) for split, examples in evals.items()},
            _token_ids(processor, train) if config.lowrank_init != "svd" else [],
            processor.tokenizer,
        )

    def prepare_batch(self, model, batch: dict) -> dict:
        # Features are fp32; a base held in fp16/bf16 on a GPU wants its own dtype.
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        dtype = base.model.encoder.conv1.weight.dtype
        batch["input_features"] = batch["input_features"].to(dtype=dtype)
        return batch

    def generate(self, model, processor, entry, config: AsrConfig, batch: dict) -> list[str]:
        # The cap stops runaway repetition, but must leave room for a long reference (a 30 s
        # clip of real speech holds ~100 words): 1.5x the longest one in the batch at least.
        longest = int((batch["labels"] != IGNORE_INDEX).sum(dim=1).max())
        kwargs: dict[str, Any] = {
            "max_new_tokens": max(config.max_new_tokens, longest + longest // 2 + 8),
            "num_beams": config.num_beams,
        }
        if entry.multilingual:
            kwargs.update(language=config.language or DEFAULT_LANGUAGE, task="transcribe")
        ids = model.generate(input_features=batch["input_features"], **kwargs)
        return [text.strip() for text in processor.batch_decode(ids, skip_special_tokens=True)]

    def score(self, config: AsrConfig, references: list[str], predictions: list[str]) -> dict:
        from demo.metrics import asr_scores

        return asr_scores(references, predictions, language=config.language or DEFAULT_LANGUAGE)

    def run_fields(self, entry) -> dict[str, Any]:
        return {"size": entry.size, "family": None}

    def objective(self, config: AsrConfig, trainable, device):
        """Distillation from ``--distill-from`` while training (``training.distill``), or
        None: the model's own cross-entropy."""
        from training.distill import distill_objective

        return distill_objective(config, trainable, device)


def _token_ids(processor, examples) -> list[list[int]]:
    """The training transcripts as the model's labels (prompt and end tokens included)."""
    return [processor.tokenizer(example.text).input_ids for example in examples]


def _decoder_start(processor) -> int:
    return processor.tokenizer.convert_tokens_to_ids("<|startoftranscript|>")


def _require(train, validation, reports) -> None:
    from demo.errors import DemoError

    for examples, split in ((train, "train"), (validation, "validation")):
        if not examples:
            raise DemoError(f"No usable {split} rows: {reports[split].summary()}.")


def main(argv: list[str] | None = None) -> int:
    return run_cli(AsrConfig, AsrTask(), argv, prog=PROG, doc=__doc__)


if __name__ == "__main__":
    sys.exit(main())
