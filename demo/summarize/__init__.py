"""Summarize a transcript with a loaded summarizer: the module is chosen by the model's kind,
the way of using it by the strategy (``SUMMARY_STRATEGIES``).

``extractive`` ranks sentences with MiniLM (offline); ``seq2seq`` runs T5/BART/mBART;
``llm`` prompts a decoder-only chat model (SmolLM2-135M-Instruct ships offline). Strategies:
``plain`` (the model's own summary), ``speech`` (extraction that skips greetings, headings and
filler and favours facts), ``checked`` (the model's summary with every sentence that states a
detail the transcript lacks replaced by its source) and ``rewrite`` (speech extraction, each
pick shortened by the LM and kept only if it keeps its facts and adds none).
``summarize_grounded`` returns a ``Summary`` whose sentences name their transcript sources.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from demo.errors import unknown_choice
from demo.summarize.grounded import STYLES, Summary


@dataclass(frozen=True)
class SummaryOptions:
    max_sentences: int = 3  # summary length in sentences
    max_words: int | None = None  # word budget (None = no budget)
    method: str = "textrank"  # extractive ranking method (demo.summarize.extractive)
    num_beams: int = 4  # abstractive beam search width
    max_new_tokens: int = 128  # seq2seq summary length per chunk (an LLM's follows the request)
    min_new_tokens: int = 8  # abstractive: avoid empty summaries
    context_tokens: int | None = None  # llm: transcript tokens per prompt (None = the model's)
    strategy: str = "plain"  # a SUMMARY_STRATEGIES name (registry.split_summarizer)
    style: str = "prose"  # prose, or key-points: one bullet per decision, task or number

    def __post_init__(self) -> None:
        if self.strategy not in SUMMARY_STRATEGIES:
            raise unknown_choice("summary strategy", self.strategy, list(SUMMARY_STRATEGIES))
        if self.style not in STYLES:
            raise unknown_choice("summary style", self.style, list(STYLES))
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


def _plain(loaded, text: str, options: SummaryOptions) -> Summary:
    from demo.summarize import grounded
    from demo.summarize.extractive import split_sentences

    sources = split_sentences(text)
    said = SUMMARIZE_BY_KIND[loaded.entry.kind](loaded, text, options)
    texts = split_sentences(said, window_words=None)
    if loaded.entry.kind == "extractive":  # its sentences are the transcript's own
        where = [[sources.index(t)] if t in sources else None for t in texts]
        if all(w is not None for w in where):
            return grounded.build(text, sources, texts, "extracted", where, options.style)
    return grounded.build(text, sources, texts, "generated", style=options.style)


def _speech(loaded, text: str, options: SummaryOptions) -> Summary:
    from demo.summarize import grounded
    from demo.summarize.speech import summarize_spoken

    facts_only = options.style == "key-points"
    sources, picked, texts = summarize_spoken(
        text, options.max_sentences, options.max_words, facts_only=facts_only
    )
    return grounded.build(text, sources, texts, "extracted", [[i] for i in picked], options.style)


def _checked(loaded, text: str, options: SummaryOptions) -> Summary:
    from demo.summarize.grounded import check

    return check(_plain(loaded, text, options), text)


def _rewrite(loaded, text: str, options: SummaryOptions) -> Summary:
    from demo.summarize.rewrite import extract_then_rewrite

    return extract_then_rewrite(loaded, text, options)


@dataclass(frozen=True)
class Strategy:
    """How a summarizer is used (demo.summarize.registry names it "<model>+<strategy>")."""

    run: Callable[..., Summary]  # (loaded, text, options) -> Summary
    kinds: tuple[str, ...]  # the summarizer kinds it works with
    help: str  # one line for `demo models`


SUMMARY_STRATEGIES: dict[str, Strategy] = {
    "plain": Strategy(_plain, ("extractive", "seq2seq", "llm"), "the summarizer's own summary"),
    "speech": Strategy(
        _speech, ("extractive",),
        "skips greetings, headings and filler; favours decisions, numbers, dates",
    ),
    "checked": Strategy(
        _checked, ("seq2seq", "llm"),
        "sentences stating details the transcript lacks replaced by their source",
    ),
    "rewrite": Strategy(
        _rewrite, ("llm",), "speech-aware picks, each shortened by the LM, kept only if faithful"
    ),
}  # fmt: skip


def check_strategy(strategy: str, kind: str, model: str) -> Strategy:
    """The strategy, refused in one sentence when unknown or unfit for the model's kind."""
    if strategy not in SUMMARY_STRATEGIES:
        raise unknown_choice("summary strategy", strategy, list(SUMMARY_STRATEGIES))
    found = SUMMARY_STRATEGIES[strategy]
    if kind not in found.kinds:
        raise ValueError(
            f"The {strategy} strategy needs a summarizer of kind {' or '.join(found.kinds)}; "
            f"{model} is of kind {kind}."
        )
    return found


def summarize_grounded(loaded, text: str, options: SummaryOptions | None = None) -> Summary:
    """Summarize ``text`` with a loaded summarizer (``demo.models.load_model``): the summary's
    sentences with their transcript sources and the details the transcript lacks (marked)."""
    from demo.summarize import grounded
    from demo.summarize.extractive import split_sentences
    from demo.summarize.speech import sentence_role

    options = options or SummaryOptions()
    strategy = check_strategy(options.strategy, loaded.entry.kind, loaded.entry.name)
    if not text.strip() and loaded.entry.kind != "llm":  # an LLM refuses it in one sentence
        return grounded.Summary([], [], options.style)
    sources = split_sentences(text)
    # Roles only (no fact counts), stopping at the first content sentence.
    if options.strategy != "plain" and not any(sentence_role(s) == "content" for s in sources):
        note = "The transcript holds only greetings, headings or filler: nothing to summarize."
        return grounded.Summary([], sources, options.style, [note])
    summary = strategy.run(loaded, text, options)
    marked = grounded.mark_note(summary)
    if marked:
        summary.notes.append(marked)
    return summary


def summarize(loaded, text: str, options: SummaryOptions | None = None) -> str:
    """Summarize ``text`` with a loaded summarizer (``demo.models.load_model``)."""
    options = options or SummaryOptions()
    if options.strategy == "plain" and options.style == "prose":  # no grounding needed
        if not text.strip() and loaded.entry.kind != "llm":
            return ""
        return SUMMARIZE_BY_KIND[loaded.entry.kind](loaded, text, options)
    return summarize_grounded(loaded, text, options).text
