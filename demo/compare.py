"""Run several configurations on one clip, side by side, and score them against references.

    from demo.compare import compare
    from demo.pipeline import PipelineOptions
    rows = compare("clip.flac", [PipelineOptions(quant="full"), PipelineOptions(quant="nf4")],
                   reference_transcript="ask not what your country can do for you")
    write_csv(rows, "compare.csv")

Configurations run one after another through the shared, bounded model cache, so memory stays
within the cache bound however many are compared; a configuration that fails (a hub model not
downloaded, an adapter for another base) becomes a row with its error, the others still run.
"""

from __future__ import annotations

import csv
import html
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from demo.audio import load_audio
from demo.errors import DemoError
from demo.metrics import cer, summary_scores, wer
from demo.models import ModelCache
from demo.pipeline import PipelineOptions, PipelineResult, run_pipeline

MAX_CONFIGS = 6
# Summary scores kept per row (F1 for ROUGE), in chart and CSV order.
SUMMARY_KEYS = ("rouge1", "rouge2", "rougeL", "rougeLsum", "rougeS", "embedding_similarity")
ASR_KEYS = ("wer", "cer")
# Flat record columns: what the table, the charts (demo.charts.compare_bars) and the CSV use.
RECORD_COLUMNS = (
    "config",
    "status",
    "asr",
    "quant",
    "asr_adapter",
    "summarizer",
    "summarizer_quant",
    "summarizer_adapter",
    "device",
    "language",
    "audio_s",
    "load_s",
    "asr_s",
    "summarize_s",
    "total_s",
    "rtfx",
    "asr_weights_mb",
    "summarizer_weights_mb",
    "weights_mb",
    "peak_rss_mb",
    "cuda_peak_mb",
    "models_cached",
    *ASR_KEYS,
    *SUMMARY_KEYS,
    "transcript",
    "summary",
    "notes",
)
# Word diff categories (gradio HighlightedText labels / CSS class suffixes).
DIFF_CHANGED = "changed"  # a reference word was replaced by this one
DIFF_EXTRA = "extra"  # a word the reference does not have
DIFF_MISSING = "missing"  # a reference word the text left out (shown struck through)
DIFF_COLORS = {DIFF_CHANGED: "#E69F00", DIFF_EXTRA: "#56B4E9", DIFF_MISSING: "#D55E00"}
# A spreadsheet runs a cell that starts with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class CompareRow:
    """One configuration's outcome: the pipeline result or the error it gave, and its scores."""

    config: str  # unique display label
    options: PipelineOptions
    result: PipelineResult | None = None  # None when the configuration failed
    error: str | None = None  # the one-sentence message when it failed
    scores: dict[str, float] = field(default_factory=dict)  # wer, cer, rouge1 ... (fractions)

    @property
    def ok(self) -> bool:
        return self.result is not None

    def record(self) -> dict[str, Any]:
        """Flat dict with every ``RECORD_COLUMNS`` key (None where not measured)."""
        o, r = self.options, self.result
        row: dict[str, Any] = dict.fromkeys(RECORD_COLUMNS)
        row.update(
            config=self.config,
            status="ok" if r else f"error: {self.error}",
            asr=o.asr,
            quant=o.quant,
            asr_adapter=_adapter_name(o.asr_adapter),
            summarizer=o.summarizer,
            summarizer_quant=o.summarizer_quant,
            summarizer_adapter=_adapter_name(o.summarizer_adapter),
        )
        if r is not None:
            asr_mb, summ_mb = r.memory["asr"].weights_mb, r.memory["summarizer"].weights_mb
            cached = [k for k in ("asr", "summarizer") if r.memory[k].cached]
            row.update(
                device=r.device,
                language=r.language,
                audio_s=r.audio_seconds,
                load_s=r.timings["load"],
                asr_s=r.timings["asr"],
                summarize_s=r.timings["summarize"],
                total_s=r.timings["total"],
                rtfx=r.rtfx,
                asr_weights_mb=asr_mb,
                summarizer_weights_mb=summ_mb,
                weights_mb=asr_mb + summ_mb,
                peak_rss_mb=r.peak_rss_mb,
                cuda_peak_mb=r.cuda_peak_mb,
                models_cached=", ".join(cached),
                transcript=r.transcript,
                summary=r.summary,
                notes=" ".join(r.notes),
            )
        row.update({k: v for k, v in self.scores.items() if k in row})
        return row


def config_label(options: PipelineOptions) -> str:
    """Short, readable name such as ``tiny.en/nf4+run-3 → extractive``."""
    asr = f"{options.asr}/{options.quant}"
    if options.asr_adapter:
        asr += f"+{_adapter_name(options.asr_adapter)}"
    summ = options.summarizer
    if options.summarizer_quant != "full":
        summ += f"/{options.summarizer_quant}"
    if options.summarizer_adapter:
        summ += f"+{_adapter_name(options.summarizer_adapter)}"
    return f"{asr} → {summ}"


def reference_scores(
    transcript: str,
    summary: str,
    *,
    reference_transcript: str | None = None,
    reference_summary: str | None = None,
    language: str | None = "en",
) -> dict[str, float]:
    """WER/CER of the transcript and ROUGE F1/embedding similarity of the summary, as fractions.

    Only the references given (non-blank) are scored; ``{}`` when there are none.
    """
    scores: dict[str, float] = {}
    language = language or "en"
    if reference_transcript and reference_transcript.strip():
        scores["wer"] = wer(reference_transcript, transcript, language=language)
        scores["cer"] = cer(reference_transcript, transcript, language=language)
    if reference_summary and reference_summary.strip():
        found = summary_scores([reference_summary], [summary], language=language)
        scores.update({key: found[key] for key in SUMMARY_KEYS})
    return scores


def compare(
    audio: str | os.PathLike | bytes | np.ndarray,
    configs: Sequence[PipelineOptions],
    *,
    reference_transcript: str | None = None,
    reference_summary: str | None = None,
    cache: ModelCache | None = None,
    max_configs: int = MAX_CONFIGS,
) -> list[CompareRow]:
    """Run each configuration on the same clip, in order, and score it against the references.

    The audio is decoded once (with the strictest ``max_seconds`` of the configurations).
    Progress is one tqdm step per configuration. A configuration that raises ``DemoError``
    gives a row with ``error`` set; bad input (no configurations, too many, unusable audio)
    raises.
    """
    configs = list(configs)
    if not configs:
        raise ValueError("Add at least one configuration to compare.")
    if len(configs) > max_configs:
        raise ValueError(
            f"Compare at most {max_configs} configurations at a time; got {len(configs)}."
        )
    if isinstance(audio, np.ndarray):
        samples = audio.astype(np.float32, copy=False)
    else:
        source = os.fspath(audio) if isinstance(audio, os.PathLike) else audio
        samples = load_audio(source, max_seconds=min(c.max_seconds for c in configs))

    labels = unique_labels([config_label(c) for c in configs])
    rows = []
    bar = tqdm(zip(labels, configs, strict=True), total=len(configs), unit="config")
    for label, options in bar:
        bar.set_description(label)
        try:
            result = run_pipeline(samples, options, cache)
        except DemoError as exc:
            rows.append(CompareRow(label, options, error=str(exc)))
            continue
        scores = reference_scores(
            result.transcript,
            result.summary,
            reference_transcript=reference_transcript,
            reference_summary=reference_summary,
            language=result.language,
        )
        rows.append(CompareRow(label, options, result=result, scores=scores))
    bar.close()
    return rows


def unique_labels(labels: Sequence[str]) -> list[str]:
    """Labels made unique by numbering repeats (``a``, ``a #2``), since charts key on them."""
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label} #{seen[label]}")
    return out


def records(rows: Sequence[CompareRow]) -> list[dict[str, Any]]:
    """``CompareRow.record()`` of each row, for charts and tables."""
    return [row.record() for row in rows]


def write_csv(rows: Sequence[CompareRow], path: str | os.PathLike) -> Path:
    """Write every ``RECORD_COLUMNS`` field of each row to a CSV file (UTF-8, header first).

    Text cells that a spreadsheet would run as a formula get a leading apostrophe.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=RECORD_COLUMNS)
        writer.writeheader()
        for record in records(rows):
            writer.writerow({k: _csv_cell(v) for k, v in record.items()})
    return target


# --------------------------------------------------------------------------- word diff


def word_diff(reference: str, text: str) -> list[tuple[str, str | None]]:
    """``text`` split into segments labelled by how its words differ from ``reference``.

    Words compare case- and punctuation-insensitively. Labels: None (same as the reference),
    ``"changed"`` (replaces reference words), ``"extra"`` (not in the reference) and
    ``"missing"`` (reference words the text left out, given as the reference's words). The
    segments joined give the text back, with the missing words added; the shape is what
    gradio's HighlightedText takes.
    """
    from difflib import SequenceMatcher

    ref_words, words = reference.split(), text.split()
    ref_keys = [_key(w) for w in ref_words]
    keys = [_key(w) for w in words]
    # Tokens that are only punctuation take no part in the match (WER ignores them too).
    ref_index = [i for i, k in enumerate(ref_keys) if k]
    index = [i for i, k in enumerate(keys) if k]
    matcher = SequenceMatcher(
        None, [ref_keys[i] for i in ref_index], [keys[i] for i in index], autojunk=False
    )
    labels: list[str | None] = [None] * len(words)
    missing_before: dict[int, list[str]] = {}  # text position -> reference words left out there
    for tag, r1, r2, h1, h2 in matcher.get_opcodes():
        if tag in ("replace", "insert"):
            for j in range(h1, h2):
                labels[index[j]] = DIFF_CHANGED if tag == "replace" else DIFF_EXTRA
        elif tag == "delete":
            at = index[h1] if h1 < len(index) else len(words)
            missing_before.setdefault(at, []).extend(ref_words[ref_index[i]] for i in range(r1, r2))

    segments: list[tuple[str, str | None]] = []
    for position in range(len(words) + 1):
        if position in missing_before:
            _append(segments, " ".join(missing_before[position]) + " ", DIFF_MISSING)
        if position < len(words):
            _append(segments, words[position] + " ", labels[position])
    if segments:
        last_text, last_label = segments[-1]
        segments[-1] = (last_text.rstrip(), last_label)
    return segments


def diff_html(reference: str | None, text: str) -> str:
    """``text`` as escaped HTML with words that differ from ``reference`` highlighted.

    Without a reference the text is returned escaped and unmarked.
    """
    if not reference or not reference.strip():
        return html.escape(text)
    parts = []
    for segment, label in word_diff(reference, text):
        escaped = html.escape(segment)
        if label is None:
            parts.append(escaped)
            continue
        color = DIFF_COLORS[label]
        style = f"background:{color}40;border-bottom:3px solid {color};border-radius:3px"
        if label == DIFF_MISSING:
            style += ";text-decoration:line-through"
        words = escaped.rstrip()
        tail = escaped[len(words) :]
        parts.append(
            f'<span class="diff-{label}" title="{label}" style="{style}">{words}</span>{tail}'
        )
    return "".join(parts)


def diff_legend_html() -> str:
    """A one-line legend for ``diff_html`` colours."""
    items = [
        (DIFF_CHANGED, "changed word"),
        (DIFF_EXTRA, "extra word"),
        (DIFF_MISSING, "missing reference word"),
    ]
    return " · ".join(
        f'<span style="background:{DIFF_COLORS[k]}40;border-bottom:3px solid {DIFF_COLORS[k]};'
        f'padding:0 4px">{text}</span>'
        for k, text in items
    )


def _key(word: str) -> str:
    return "".join(ch for ch in word.lower() if ch.isalnum())


def _append(segments: list[tuple[str, str | None]], text: str, label: str | None) -> None:
    if segments and segments[-1][1] == label:
        segments[-1] = (segments[-1][0] + text, label)
    else:
        segments.append((text, label))


def _adapter_name(adapter: str | None) -> str | None:
    # checkpoints/<run>/adapter -> <run>: the run id says which training made it.
    if not adapter:
        return None
    path = Path(adapter)
    return path.parent.name if path.name == "adapter" else path.name


def _csv_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    if isinstance(value, float):
        return round(value, 6)
    return value
