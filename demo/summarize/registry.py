"""Summarizers: the offline extractive ranker and abstractive seq2seq models, by name.

A plain dict plus ``available_summarizers()`` and ``get_summarizer()``; an unknown name raises
an error listing the valid ones. ``kind`` says which module summarizes with the model.
"""

from __future__ import annotations

from dataclasses import dataclass

from demo.errors import unknown_choice
from demo.hub import is_checkpoint_dir, is_hub_cached, looks_like_hub_id

KINDS = ("extractive", "seq2seq")


@dataclass(frozen=True)
class SummarizerModel:
    name: str  # registry name
    kind: str  # a KINDS value: which summarize module runs it
    hub_id: str | None  # Hugging Face id (None for the extractive ranker)
    family: str | None  # t5 / bart / mbart, for charts and input formatting
    prefix: str = ""  # T5 expects a task prefix
    language: str | None = None  # mBART target language code, e.g. "ru_RU"


SUMMARIZERS: dict[str, SummarizerModel] = {
    m.name: m
    for m in [
        SummarizerModel("extractive", "extractive", None, None),
        SummarizerModel("t5-small", "seq2seq", "google-t5/t5-small", "t5", "summarize: "),
        SummarizerModel("t5-base", "seq2seq", "google-t5/t5-base", "t5", "summarize: "),
        SummarizerModel("flan-t5-small", "seq2seq", "google/flan-t5-small", "t5", "summarize: "),
        SummarizerModel("flan-t5-base", "seq2seq", "google/flan-t5-base", "t5", "summarize: "),
        SummarizerModel("bart-large-cnn", "seq2seq", "facebook/bart-large-cnn", "bart"),
        SummarizerModel("distilbart-cnn", "seq2seq", "sshleifer/distilbart-cnn-12-6", "bart"),
        SummarizerModel(
            "mbart-large-50", "seq2seq", "facebook/mbart-large-50", "mbart", language="en_XX"
        ),  # fmt: skip
        SummarizerModel(
            "mbart-ru-gazeta", "seq2seq", "IlyaGusev/mbart_ru_sum_gazeta", "mbart", language="ru_RU"
        ),  # fmt: skip
    ]
}
DEFAULT_SUMMARIZER = "extractive"


def available_summarizers() -> list[str]:
    """Names of every registered summarizer."""
    return list(SUMMARIZERS)


def get_summarizer(name: str) -> SummarizerModel:
    """Look up a summarizer by registry name, or accept a seq2seq hub id such as ``org/model``."""
    if name in SUMMARIZERS:
        return SUMMARIZERS[name]
    if looks_like_hub_id(name) or is_checkpoint_dir(name):
        lowered = name.lower()
        family = next((f for f in ("mbart", "bart", "t5") if f in lowered), None)
        return SummarizerModel(
            name, "seq2seq", name, family, "summarize: " if family == "t5" else ""
        )
    raise unknown_choice("summarizer", name, available_summarizers() + ["<org>/<hub-id>"])


def offline_status(name: str) -> str:
    """One word for ``python -m demo models``: bundled, cached, or download."""
    entry = get_summarizer(name)
    if entry.hub_id is None:
        return "bundled"
    return "cached" if is_hub_cached(entry.hub_id) else "download"


def describe(entry: SummarizerModel) -> str:
    """What ``demo models`` prints beside a summarizer's name."""
    return entry.hub_id or "MiniLM sentence ranking (offline)"
