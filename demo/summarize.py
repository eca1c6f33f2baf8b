"""Summarize a transcript: the offline extractive ranker or an abstractive seq2seq model.

A transcript longer than the model's input is summarized chunk by chunk and the partial
summaries joined, so nothing past the first 512/1024 tokens is silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from tqdm.auto import tqdm

DEFAULT_MAX_INPUT_TOKENS = 1024


@dataclass(frozen=True)
class SummaryOptions:
    max_sentences: int = 3  # extractive: sentences kept
    max_words: int | None = None  # extractive: word budget (None = no budget)
    method: str = "textrank"  # extractive ranking method (demo.extractive)
    num_beams: int = 4  # abstractive beam search width
    max_new_tokens: int = 128  # abstractive summary length per chunk
    min_new_tokens: int = 8  # abstractive: avoid empty summaries

    def __post_init__(self) -> None:
        if self.max_sentences < 1:
            raise ValueError("max_sentences must be at least 1.")
        if self.max_words is not None and self.max_words < 1:
            raise ValueError("max_words must be at least 1 (or None for no limit).")
        if self.num_beams < 1 or self.max_new_tokens < 1:
            raise ValueError("num_beams and max_new_tokens must be at least 1.")


def summarize(loaded, text: str, options: SummaryOptions | None = None) -> str:
    """Summarize ``text`` with a loaded summarizer (``demo.models.load_model``)."""
    options = options or SummaryOptions()
    if not text.strip():
        return ""
    if loaded.entry.kind == "extractive":
        from demo.extractive import summarize_extractive

        return summarize_extractive(
            text,
            max_sentences=options.max_sentences,
            max_words=options.max_words,
            method=options.method,
        )
    return _summarize_seq2seq(loaded, text, options)


def _max_input_tokens(model, tokenizer) -> int:
    config = model.config
    limits = [
        getattr(config, "max_position_embeddings", None),
        getattr(config, "n_positions", None),
        tokenizer.model_max_length if tokenizer.model_max_length < 100_000 else None,
    ]
    known = [x for x in limits if x]
    return min(known) if known else DEFAULT_MAX_INPUT_TOKENS


def _chunks(tokenizer, text: str, size: int) -> list[str]:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return [tokenizer.decode(ids[i : i + size]) for i in range(0, len(ids), size)] or [text]


def _summarize_seq2seq(loaded, text: str, options: SummaryOptions) -> str:
    import torch

    model, tokenizer, entry = loaded.model, loaded.processor, loaded.entry
    budget = _max_input_tokens(model, tokenizer) - 8  # room for prefix and special tokens
    gen_kwargs: dict = {
        "num_beams": options.num_beams,
        "max_new_tokens": options.max_new_tokens,
        "min_new_tokens": min(options.min_new_tokens, options.max_new_tokens),
    }
    if entry.family == "mbart" and entry.language and hasattr(tokenizer, "lang_code_to_id"):
        tokenizer.src_lang = entry.language
        gen_kwargs["forced_bos_token_id"] = tokenizer.convert_tokens_to_ids(entry.language)
    device = next(model.parameters()).device
    parts = []
    chunks = _chunks(tokenizer, text, budget)
    for chunk in tqdm(chunks, desc="summarizing", disable=len(chunks) == 1):
        inputs = tokenizer(
            entry.prefix + chunk, return_tensors="pt", truncation=True, max_length=budget + 8
        ).to(device)
        with torch.inference_mode():
            output = model.generate(**inputs, **gen_kwargs)
        parts.append(tokenizer.decode(output[0], skip_special_tokens=True).strip())
    return " ".join(p for p in parts if p)
