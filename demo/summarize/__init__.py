"""Summarize a transcript with a loaded summarizer: the module is chosen by the model's kind.

``extractive`` ranks sentences with MiniLM (offline); ``seq2seq`` runs T5/BART/mBART;
``llm`` prompts a decoder-only chat model (SmolLM2-135M-Instruct ships offline).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class SummaryOptions:
    max_sentences: int = 3  # summary length in sentences
    max_words: int | None = None  # word budget (None = no budget)
    method: str = "textrank"  # extractive ranking method (demo.summarize.extractive)
    num_beams: int = 4  # abstractive beam search width
    max_new_tokens: int = 128  # seq2seq summary length per chunk (an LLM's follows the request)
    min_new_tokens: int = 8  # abstractive: avoid empty summaries
    context_tokens: int | None = None  # llm: transcript tokens per prompt (None = the model's)

    def __post_init__(self) -> None:
        if self.max_sentences < 1:
            raise ValueError("max_sentences must be at least 1.")
        if self.max_words is not None and self.max_words < 1:
            raise ValueError("max_words must be at least 1 (or None for no limit).")
        if self.num_beams < 1 or self.max_new_tokens < 1:
            raise ValueError("num_beams and max_new_tokens must be at least 1.")
        if self.context_tokens is not None and self.context_tokens < 16:
            raise ValueError("context_tokens must be at least 16 (or None for the model's).")


def _extractive(loaded, text: str, options: SummaryOptions) -> str:
    from demo.summarize.extractive import summarize_extractive

    return summarize_extractive(
        text, max_sentences=options.max_sentences, max_words=options.max_words,
        method=options.method,
    )  # fmt: skip


def _seq2seq(loaded, text: str, options: SummaryOptions) -> str:
    from demo.summarize.seq2seq import summarize_seq2seq

    return summarize_seq2seq(loaded, text, options)


def _llm(loaded, text: str, options: SummaryOptions) -> str:
    from demo.summarize.llm import summarize_llm

    return summarize_llm(loaded, text, options)


# Summarizer kind (demo.summarize.registry) -> the function that summarizes with it.
SUMMARIZE_BY_KIND: dict[str, Callable[..., str]] = {
    "extractive": _extractive,
    "seq2seq": _seq2seq,
    "llm": _llm,
}


def summarize(loaded, text: str, options: SummaryOptions | None = None) -> str:
    """Summarize ``text`` with a loaded summarizer (``demo.models.load_model``)."""
    options = options or SummaryOptions()
    if not text.strip() and loaded.entry.kind != "llm":  # an LLM refuses it in one sentence
        return ""
    return SUMMARIZE_BY_KIND[loaded.entry.kind](loaded, text, options)
