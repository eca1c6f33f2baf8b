"""Fine-tune a summarizer (T5, BART, mBART or a chat LM; full, LoRA or AdaLoRA), score ROUGE.

    python -m training.train_summarizer --model t5-small --train data/wikihow.jsonl --method lora
    python -m training.train_summarizer --model t5-small --train data/wikihow.jsonl \\
        --sweep-r 4,8,16,32,64,128
    python -m training.train_summarizer --model mbart-ru-gazeta --dataset IlyaGusev/gazeta \\
        --language ru --method adalora --r 16
    python -m training.train_summarizer --model google-t5/t5-base --dataset wikihow \\
        --dataset-config all --summary-column headline --method lora
    python -m training.train_summarizer --resume checkpoints/sum-t5-small-lora-r8-20240501-120000
    python -m training.train_summarizer --model smollm2-135m --train data.jsonl --method lora
    python -m training.train_summarizer --model smollm2-135m --train data.jsonl \\
        --method lora --quant nf4 --r 16

A manifest is JSONL or CSV with ``text`` and ``summary`` columns (other names with
``--text-column``/``--summary-column``). Validation scores each epoch: ROUGE-1/2/L/Lsum/S
(fractions, Unicode-aware tokens, so Cyrillic scores too) and the MiniLM embedding similarity.
``--sweep-r`` trains one run per rank, which the dashboard's ROUGE-vs-rank chart reads.
A chat LM (kind ``llm``, e.g. the bundled smollm2-135m) trains on the app's own prompt
(``demo.summarize.llm``) followed by the summary and the end-of-turn token, loss on the
summary only, LoRA on every attention and MLP projection; evaluation generates from the
prompt alone and scores the cleaned summary the app would show.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import Any

from training.cli import run_cli
from training.config import (
    SUMMARIZER_ADAPTER_LR,
    SUMMARIZER_BATCH_SIZE,
    SUMMARIZER_FULL_LR,
    SummarizerConfig,
    sweep_ranks,
)
from training.loop import TaskData

PROG = "python -m training.train_summarizer"


class SummarizerTask:
    name = "summarization"
    config_cls = SummarizerConfig

    def default_hparams(self, config: SummarizerConfig, entry) -> tuple[float, int]:
        lr = SUMMARIZER_FULL_LR if config.method == "full" else SUMMARIZER_ADAPTER_LR
        return lr, SUMMARIZER_BATCH_SIZE

    def data(self, config: SummarizerConfig, tokenizer, entry) -> TaskData:
        from demo.errors import DemoError
        from training.data import (
            TEST,
            TRAIN,
            VALIDATION,
            load_splits,
            text_pairs,
        )
        from training.datasets import PromptSummaryDataset, SummaryCollator, SummaryDataset

        if entry.family == "mbart" and entry.language and hasattr(tokenizer, "src_lang"):
            tokenizer.src_lang = tokenizer.tgt_lang = entry.language
        splits = load_splits(config)
        kwargs = {
            "text_column": config.text_column,
            "summary_column": config.summary_column,
            "strict": config.strict,
        }
        train = text_pairs(splits.train, splits.reports[TRAIN], **kwargs)
        validation = text_pairs(splits.validation, splits.reports[VALIDATION], **kwargs)
        for pairs, split in ((train, TRAIN), (validation, VALIDATION)):
            if not pairs:
                raise DemoError(f"No usable {split} rows: {splits.reports[split].summary()}.")
        if tokenizer.pad_token_id is None:
            raise DemoError(f"The tokenizer of {entry.name} has no padding token.")

        def dataset(pairs):
            lengths = (config.max_source_tokens, config.max_target_tokens)
            if entry.kind == "llm":
                return PromptSummaryDataset(pairs, tokenizer, entry, *lengths)
            return SummaryDataset(pairs, tokenizer, entry.prefix, *lengths)

        evals = {}
        if splits.test:  # ACLSum's test split, a manifest's split=test rows
            splits.reports[TEST] = splits.test_report
            evals[TEST] = dataset(text_pairs(splits.test, splits.test_report, **kwargs))
        return TaskData(
            dataset(train),
            dataset(validation),
            SummaryCollator(tokenizer.pad_token_id),
            splits.reports,
            splits.name,
            evals,
        )

    def prepare_batch(self, model, batch: dict) -> dict:
        return batch

    def generate(self, model, tokenizer, entry, config: SummarizerConfig, batch: dict) -> list[str]:
        if entry.kind == "llm":
            return _generate_llm(model, tokenizer, config, batch)
        kwargs: dict[str, Any] = {
            "max_new_tokens": config.max_new_tokens,
            "num_beams": config.num_beams,
        }
        if entry.family == "mbart" and entry.language:
            kwargs["forced_bos_token_id"] = tokenizer.convert_tokens_to_ids(entry.language)
        ids = model.generate(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], **kwargs
        )
        return [text.strip() for text in tokenizer.batch_decode(ids, skip_special_tokens=True)]

    def score(
        self, config: SummarizerConfig, references: list[str], predictions: list[str]
    ) -> dict:
        from demo.metrics import summary_scores

        return summary_scores(references, predictions, language=config.language)

    def run_fields(self, entry) -> dict[str, Any]:
        return {"size": None, "family": entry.family}


def _generate_llm(model, tokenizer, config: SummarizerConfig, batch: dict) -> list[str]:
    """Continue each example's prompt (its positions before the first label) and decode only
    the new tokens, cleaned as the app does.

    On a CPU, greedy, each prompt goes through the app's own decoding loop (one sequence at a
    time, ~8x faster there than batched ``generate`` on a busy machine, and the very tokens
    the app would show); elsewhere the prompts are left-padded so they end together and
    decoded by ``generate`` as one batch, with the same token rule.
    """
    import torch

    from demo.summarize import SummaryOptions
    from demo.summarize.decoding import (
        DecodeRules,
        generated_ngram_processor,
        greedy_decode,
        supports_fast,
    )
    from demo.summarize.llm import NO_REPEAT_NGRAM, clean_summary, stop_ids

    labels, ids = batch["labels"], batch["input_ids"]
    prompts = []
    for row in range(len(ids)):
        answer = (labels[row] != -100).nonzero()
        prompts.append(ids[row, : int(answer[0]) if len(answer) else len(ids[row])])
    stops = stop_ids(tokenizer, model)
    options = SummaryOptions()  # the length the training prompts ask for
    if ids.device.type == "cpu" and config.num_beams == 1 and supports_fast(model):
        rules = DecodeRules(config.max_new_tokens, stops, NO_REPEAT_NGRAM)
        outputs = [greedy_decode(model, p.tolist(), rules).tokens for p in prompts]
        texts = tokenizer.batch_decode(outputs, skip_special_tokens=True)
        return [clean_summary(t, options.max_sentences, options.max_words) for t in texts]
    width = max(len(p) for p in prompts)
    pad = tokenizer.pad_token_id
    input_ids = torch.full((len(prompts), width), pad, dtype=ids.dtype, device=ids.device)
    mask = torch.zeros_like(input_ids)
    for row, prompt in enumerate(prompts):
        input_ids[row, width - len(prompt) :] = prompt
        mask[row, width - len(prompt) :] = 1
    out = model.generate(
        input_ids=input_ids,
        attention_mask=mask,
        max_new_tokens=config.max_new_tokens,
        num_beams=config.num_beams,
        do_sample=False,
        use_cache=True,  # training turns the cache off in the model config
        eos_token_id=list(stops),
        pad_token_id=pad,
        logits_processor=[generated_ngram_processor(width, NO_REPEAT_NGRAM)],
    )
    texts = tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)
    return [clean_summary(t, options.max_sentences, options.max_words) for t in texts]


def sweep(config: SummarizerConfig) -> list[SummarizerConfig]:
    """One config per ``--sweep-r`` rank (or just ``config``)."""
    if config.sweep_r is None or config.resume is not None:
        return [config]
    return [replace(config, r=rank) for rank in sweep_ranks(config.sweep_r)]


def main(argv: list[str] | None = None) -> int:
    return run_cli(SummarizerConfig, SummarizerTask(), argv, prog=PROG, doc=__doc__, expand=sweep)


if __name__ == "__main__":
    sys.exit(main())
