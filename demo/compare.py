"""Run several configurations on one clip, side by side, scored against the same references.

    from demo.compare import compare
    from demo.pipeline import PipelineOptions, References
    rows = compare("clip.flac", [PipelineOptions(quant="full"), PipelineOptions(quant="nf4")],
                   References(transcript="ask not what your country can do for you"))

Configurations run one after another through the shared, bounded model cache, so memory stays
within the cache bound however many are compared; a configuration that fails (a hub model not
downloaded, a mode the device lacks, an adapter for another base) becomes a row with its
error, the others still run. The work one call may take is bounded: at most ``MAX_CONFIGS``
configurations and ``max_compare_seconds`` of audio x configurations (``demo.settings``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from demo.audio import SAMPLE_RATE
from demo.cancel import check
from demo.errors import DemoError
from demo.metrics import ASR_METRICS, FAITHFULNESS_METRICS, SUMMARY_METRICS
from demo.models import ModelCache
from demo.pipeline import PipelineOptions, PipelineResult, References, decode_clip, run_pipeline

MAX_CONFIGS = 6
# Flat record columns: what the table, the charts and the CSV use, in that order.
RECORD_COLUMNS = (
    "config", "status", "pipeline", "e2e_model", "asr", "quant", "asr_quant", "asr_adapter",
    "compression", "summarizer",
    "summarizer_quant", "summarizer_adapter", "device", "language", "audio_s", "load_s",
    "asr_s", "summarize_s", "total_s", "rtfx", "asr_weights_mb", "summarizer_weights_mb",
    "weights_mb", "peak_rss_mb", "cuda_peak_mb", "models_cached", *ASR_METRICS,
    *SUMMARY_METRICS, *FAITHFULNESS_METRICS, "transcript", "summary", "notes",
)  # fmt: skip


@dataclass
class CompareRow:
    """One configuration's outcome: the pipeline result or the error it gave."""

    config: str  # unique display label
    options: PipelineOptions
    result: PipelineResult | None = None  # None when the configuration failed
    error: str | None = None  # the one-sentence message when it failed

    @property
    def ok(self) -> bool:
        return self.result is not None

    @property
    def scores(self) -> dict[str, float]:
        return self.result.scores if self.result is not None else {}

    def record(self) -> dict[str, Any]:
        """Flat dict with every ``RECORD_COLUMNS`` key (None where not measured)."""
        o, r = self.options, self.result
        row: dict[str, Any] = dict.fromkeys(RECORD_COLUMNS)
        row.update(
            config=self.config,
            status="ok" if r else f"error: {self.error}",
            pipeline=o.pipeline,
            e2e_model=adapter_name(o.e2e_model),
            asr=o.asr,
            quant=o.quant,
            asr_adapter=adapter_name(o.asr_adapter),
            compression=adapter_name(o.compression),
            summarizer=o.summarizer,
            summarizer_quant=o.summarizer_quant,
            summarizer_adapter=adapter_name(o.summarizer_adapter),
        )
        if r is not None:
            asr_mb, summ_mb = r.memory["asr"].weights_mb, r.memory["summarizer"].weights_mb
            cached = [k for k in ("asr", "summarizer") if r.memory[k].cached]
            row.update(
                asr_quant=r.memory["asr"].quant,
                summarizer_quant=r.memory["summarizer"].quant,
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
            row.update({k: v for k, v in r.scores.items() if k in row})
        return row


def config_label(options: PipelineOptions) -> str:
    """Short, readable name such as ``tiny.en/nf4+run-3 → extractive``."""
    if options.pipeline != "cascade":
        return f"end-to-end {adapter_name(options.e2e_model) or 'newest'}"
    asr = f"{options.asr}/{options.quant}"
    if options.compression:
        asr += f"+{adapter_name(options.compression)}"
    if options.asr_adapter:
        asr += f"+{adapter_name(options.asr_adapter)}"
    summ = options.summarizer
    if options.summarizer_quant != "auto":
        summ += f"/{options.summarizer_quant}"
    if options.summarizer_adapter:
        summ += f"+{adapter_name(options.summarizer_adapter)}"
    return f"{asr} → {summ}"


def check_workload(configs: Sequence[PipelineOptions], seconds: float, limit: float) -> None:
    """Refuse a comparison whose audio seconds x configurations exceed ``limit``."""
    total = seconds * len(configs)
    if total > limit:
        raise DemoError(
            f"This comparison would transcribe {total:.0f} s of audio ({len(configs)} "
            f"configurations x {seconds:.0f} s), over the {limit:.0f} s limit; use a shorter "
            "clip or fewer configurations."
        )


def compare(
    audio: str | os.PathLike | bytes | np.ndarray,
    configs: Sequence[PipelineOptions],
    references: References | None = None,
    *,
    cache: ModelCache | None = None,
    max_configs: int = MAX_CONFIGS,
    max_total_seconds: float | None = None,
) -> list[CompareRow]:
    """Run each configuration on the same clip, in order, and score it against ``references``.

    The audio is decoded once (with the strictest ``max_seconds`` of the configurations).
    Progress is one tqdm step per configuration. A configuration that raises ``DemoError``
    gives a row with ``error`` set; bad input (no configurations, too many, too much audio in
    all, unusable audio) raises.
    """
    from demo.settings import settings

    configs = list(configs)
    if not configs:
        raise DemoError("Add at least one configuration to compare.")
    if len(configs) > max_configs:
        raise DemoError(
            f"Compare at most {max_configs} configurations at a time; got {len(configs)}."
        )
    notes: list[str] = []
    samples = decode_clip(audio, min(c.max_seconds for c in configs), notes)
    limit = max_total_seconds if max_total_seconds is not None else settings().max_compare_seconds
    check_workload(configs, len(samples) / SAMPLE_RATE, limit)
    labels = unique_labels([config_label(c) for c in configs])
    rows = []
    with tqdm(total=len(configs), unit="config", desc="comparing") as bar:
        for label, options in zip(labels, configs, strict=True):
            check()  # a stopped comparison ends between configurations, not after all of them
            bar.set_description(label)
            try:
                result = run_pipeline(samples, options, cache, references)
                result.notes[:0] = [n for n in notes if n not in result.notes]
                rows.append(CompareRow(label, options, result=result))
            except DemoError as exc:
                rows.append(CompareRow(label, options, error=str(exc)))
            bar.update(1)
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


def adapter_name(adapter: str | None) -> str | None:
    """checkpoints/<run>/adapter (or /lowrank, /e2e) -> <run>: the run id says which training
    made it."""
    if not adapter:
        return None
    path = Path(adapter)
    return path.parent.name if path.name in ("adapter", "lowrank", "e2e") else path.name
