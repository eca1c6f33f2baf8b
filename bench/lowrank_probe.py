"""Untrained splits of one low-rank cut: which layers to factorize, before a training run.

    python -m bench.lowrank_probe --model base --splits fc1:224,fc2:224 proj_out:296 \\
        fc1:384,fc2:384,proj_out:328 q_proj:96,k_proj:96,fc1:320,fc2:320

Each split (comma-separated ``target:rank``, the ``--compress-targets`` of training.train_asr)
factorizes a fresh copy of the model with the activation-aware start
(``demo.compress.lowrank_init``: every target's input moments from the first
``--calibration-clips`` training clips, read once for all splits; the vocabulary rows weighted
by token counts from each of ``--token-sources``: ``train``, the training transcripts, and
``train+wordfreq``, those plus general English, ``training.token_sources``) and is scored
untrained, beside the original:
teacher-forced loss on the corpus's validation split (what fine-tuning starts from) and greedy
WER on the real-speech set (what the corpus cannot teach back; ``make real-speech`` builds it,
``--real-speech-clips`` takes N of its clips; without it, the two sample recordings). Results:
``checkpoints/bench/lowrank-probe.json``.

    python -m bench.lowrank_probe --model tiny.en --manifest data/corpus-v2/manifest.jsonl \\
        --splits proj_out:272 --token-sources train train+wordfreq train+wordfreq-cased \\
        --max-train-samples 400 --max-val-samples 24 --sample-seed 0 --real-speech-clips 200 \\
        --calibration-clips 256 --name lowrank-probe-tiny.en-v2

(``--max-train-samples``, ``--max-val-samples`` and ``--sample-seed`` pick the rows a training
run with the same flags trains and validates on: corpus v2's manifest is sorted by source.)
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, replace
from itertools import product

from bench.env import DEFAULT_OUT, bench_main, parse_options, recorded
from bench.markdown import fmt
from demo.options import option
from training.token_sources import (
    TOKEN_SOURCES,
    WORDFREQ_SHARE,
    WORDFREQ_WORDS,
    check_token_source,
    token_counts,
)

MODULE = "bench.lowrank_probe"
MAX_SPLITS = 12
GENERATE_BATCH = 16  # real-speech clips decoded at once (the set has ~560)


@dataclass(frozen=True)
class ProbeOptions:
    model: str = option("base", "Whisper model (registry name)")
    manifest: str = option("data/aclsum-asr/manifest.jsonl", "speech corpus manifest")
    splits: tuple[str, ...] = option(("fc1:224,fc2:224",), "splits: target:rank,target:rank")
    calibration_clips: int = option(32, "training clips the input moments are read from")
    real_speech_manifest: str = option(
        "data/real-speech/manifest.jsonl", "the real-speech set (without it: the two samples)"
    )
    real_speech_clips: int | None = option(None, "the real-speech set's first N clips (all)")
    max_train_samples: int | None = option(None, "training rows (token counts, calibration)")
    max_val_samples: int | None = option(None, "validation rows scored")
    sample_seed: int | None = option(
        None, "rows drawn at random with this seed, as training.train_asr draws them"
    )
    token_sources: tuple[str, ...] = option(
        ("train",),
        "where the vocabulary rows' token counts come from (each scored): "
        + ", ".join(TOKEN_SOURCES),
    )
    wordfreq_words: int = option(WORDFREQ_WORDS, "train+wordfreq: the most frequent words")
    wordfreq_share: float = option(WORDFREQ_SHARE, "train+wordfreq: their share of the mass")
    name: str = option("lowrank-probe", "result file name under checkpoints/bench/")
    out: str = option(str(DEFAULT_OUT), "result folder")

    def __post_init__(self) -> None:
        if not 1 <= len(self.splits) <= MAX_SPLITS:
            raise ValueError(f"Give between 1 and {MAX_SPLITS} splits.")
        for split in self.splits:
            parse_split(split)
        if not 1 <= self.calibration_clips <= 1024:
            raise ValueError("calibration_clips must be between 1 and 1024.")
        if not 1 <= len(self.token_sources) <= len(TOKEN_SOURCES):
            raise ValueError(f"Give between 1 and {len(TOKEN_SOURCES)} token sources.")
        for source in self.token_sources:
            self.source_options(source)  # the training flags' own checks, one sentence

    def source_options(self, source: str):
        """The ``training.token_sources`` options of one source, checked."""
        from types import SimpleNamespace

        options = SimpleNamespace(
            lowrank_token_source=source, lowrank_wordfreq_words=self.wordfreq_words,
            lowrank_wordfreq_share=self.wordfreq_share, lowrank_init="activation-aware",
        )  # fmt: skip
        check_token_source(options)
        return options


def parse_split(split: str) -> tuple[tuple[str, int], ...]:
    """``"fc1:224,fc2:224"`` -> ``(("fc1", 224), ("fc2", 224))`` (``parse_targets``, every
    target with its rank); one sentence if malformed."""
    from demo.compress.lowrank_config import parse_targets

    try:
        targets, ranks = parse_targets(split.split(","))
    except ValueError:  # a malformed item: the same sentence as a bare name
        targets, ranks = (), ()
    if not ranks or len(ranks) != len(targets):
        raise ValueError(f"Split {split!r}: give target:rank pairs, as fc1:224,fc2:224.")
    return ranks


@dataclass
class Row:
    split: str
    config: str  # what the dashboard's benchmark reader names the row by
    params: int
    reduction_pct: float
    validation_loss: float
    real_speech_wer: float
    real_speech_text: str
    seconds: float
    token_source: str | None = None  # the original's row has none


def measure(options: ProbeOptions) -> list[Row]:
    from demo.compress.lowrank import (
        LowRankConfig,
        count_parameters,
        factorize,
        input_moments,
    )
    from training.compress import calibration_batches
    from training.config import AsrConfig
    from training.modeling import load_base
    from training.train_asr import AsrTask

    config = AsrConfig(
        train=options.manifest, model=options.model, max_new_tokens=64, compress="lowrank",
        lowrank_init="activation-aware",  # the task then keeps the transcripts' token ids
        real_speech_manifest=options.real_speech_manifest,
        real_speech_clips=options.real_speech_clips, sample_seed=options.sample_seed,
        max_train_samples=options.max_train_samples, max_val_samples=options.max_val_samples,
    )  # fmt: skip
    model, processor, entry = load_base(config, "asr", "cpu")
    model.eval()
    model.config.use_cache = True  # load_base turns it off for training; greedy wants it
    task = AsrTask()
    data = task.data(config, processor, entry)
    splits = {split: parse_split(split) for split in options.splits}
    targets = tuple(sorted({name for pairs in splits.values() for name, _ in pairs}))
    clips = calibration_batches(model, data, options.calibration_clips)
    moments = input_moments(model, targets, clips)
    vocab = model.config.vocab_size
    sources = {
        source: token_counts(options.source_options(source), data.train_token_ids,
                             processor.tokenizer, vocab)
        for source in options.token_sources
    }  # fmt: skip
    before = count_parameters(model)
    rows = [_score("original", model, before, before, task, config, data, processor, entry)]
    for (split, pairs), (source, (counts, record)) in product(splits.items(), sources.items()):
        names = tuple(n for n, _ in pairs)
        low = LowRankConfig(targets=names, target_ranks=pairs, init="activation-aware")
        factorized, _ = factorize(copy.deepcopy(model), low, counts, moments, record)
        after = count_parameters(factorized)
        label = split if source == "train" else f"{split} ({source} tokens)"
        row = _score(label, factorized, before, after, task, config, data, processor, entry)
        rows.append(replace(row, split=split, token_source=source))
        print(f"{label}: -{row.reduction_pct}%  loss {row.validation_loss:.4f}  "
              f"real speech {row.real_speech_wer:.1f}%", flush=True)  # fmt: skip
        del factorized
    return rows


def _score(label, model, before, after, task, config, data, processor, entry) -> Row:
    import torch

    from training.corpora.real_speech import SPLIT as REAL_SPEECH
    from training.evaluate import label_losses

    started = time.perf_counter()
    loss, tokens = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(data.validation), 8):
            items = [data.validation[i] for i in range(start, min(start + 8, len(data.validation)))]
            batch = data.collate(items)
            batch.pop("references")
            sums, counts = label_losses(model(**batch).logits.float(), batch["labels"])
            loss += float(sums.sum())
            tokens += int(counts.sum())
        real = data.evals[REAL_SPEECH]
        references, predictions = [], []
        for start in range(0, len(real), GENERATE_BATCH):
            batch = data.collate(
                [real[i] for i in range(start, min(start + GENERATE_BATCH, len(real)))]
            )
            references += batch.pop("references")
            predictions += task.generate(model, processor, entry, config, batch)
    wer = task.score(config, references, predictions)["wer"]
    return Row(
        label, f"{config.model} untrained {label}", after, round(100 * (1 - after / before), 2),
        round(loss / tokens, 4), round(100 * wer, 2), " | ".join(predictions)[:400],
        round(time.perf_counter() - started, 1),
    )  # fmt: skip


def format_table(rows: list[Row]) -> str:
    lines = ["| split | token counts | smaller | validation loss | real-speech WER |",
             "|---|---|---|---|---|"]  # fmt: skip
    lines += [f"| {r.split} | {r.token_source or '–'} | {fmt(r.reduction_pct, '.2f')}% | "
              f"{r.validation_loss:.4f} | {r.real_speech_wer:.1f}% |" for r in rows]  # fmt: skip
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> ProbeOptions:
    return parse_options(ProbeOptions, MODULE, __doc__, argv, ("(no quick set)", {}))


main = bench_main(parse_args, recorded(MODULE, measure), format_table)


if __name__ == "__main__":
    main()
