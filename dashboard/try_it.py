"""The Try it view: a pipeline result as the tables beside the transcript and summary."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any

from demo.metrics import ASR_METRICS, FAITHFULNESS_METRICS, METRICS, SUMMARY_METRICS
from demo.pipeline import PIPELINES, PipelineResult
from demo.summarize.registry import AUTO_SUMMARIZER, AUTO_SUMMARIZER_NAME

LATENCY_HEADERS = ["stage", "s"]

MEMORY_HEADERS = ["weights / process", "MB", "cached"]

SCORE_HEADERS = ["score", "value"]


def latency_table(result: PipelineResult) -> list[list[Any]]:
    """Rows ``[stage, seconds]`` for load, ASR, summary, total, then the real-time factor
    (stages named as the chosen pipeline calls them)."""
    t = result.timings
    names = PIPELINES[result.options.pipeline].stage_labels
    rows = [[names.get(s, s), round(t[s], 2)] for s in ("load", "asr", "summarize", "total")]
    rows.append(["RTFx", round(result.rtfx, 1)])  # audio seconds per transcription second
    return rows


def memory_table(result: PipelineResult) -> list[list[Any]]:
    """Rows ``[what, MB, cached]``: weights of each model, then the process peaks."""
    o, mem = result.options, result.memory
    asr_name = mem["asr"].label or (
        f"Whisper {o.asr} ({mem['asr'].quant}{' + adapter' if o.asr_adapter else ''})"
    )
    summarizer = o.summarizer
    if summarizer == AUTO_SUMMARIZER_NAME:
        summarizer = f"{summarizer} = {AUTO_SUMMARIZER}"
    summ_name = mem["summarizer"].label or (
        f"Summarizer {summarizer}{' + adapter' if o.summarizer_adapter else ''}"
    )
    rows = [
        [asr_name, round(mem["asr"].weights_mb, 1), _yes(mem["asr"].cached)],
        [summ_name, round(mem["summarizer"].weights_mb, 1), _yes(mem["summarizer"].cached)],
        ["Process peak RSS", round(result.peak_rss_mb, 1), ""],
    ]
    if result.cuda_peak_mb is not None:
        rows.append(["CUDA peak allocated", round(result.cuda_peak_mb, 1), ""])
    return rows


def info_markdown(result: PipelineResult) -> str:
    """Language, device and the pipeline's notes (e.g. "bnb int8 is slow on CPU")."""
    text = f"Language: **{result.language_name or result.language}** · device: {result.device}"
    return text + "".join(f"\n\n⚠️ {note}" for note in result.notes)


def score_table(scores: Mapping[str, float]) -> list[list[Any]]:
    """Rows ``[score, value]`` with fractions shown x100; [] when nothing was scored."""
    return [
        [METRICS[key].title, METRICS[key].shown(scores[key])]
        for key in (*ASR_METRICS, *SUMMARY_METRICS, *FAITHFULNESS_METRICS)
        if key in scores
    ]


ORIGIN_LABELS = {
    "extracted": "said in the recording",
    "rewritten": "a shortened sentence of the recording",
    "generated": "written by the model",
    "replaced": "the model's sentence stated details the recording lacks; its source instead",
}


def _marked(text: str, details: list[str]) -> str:
    # Escape, then wrap each unsupported detail (as the summary writes it) in a <mark>.
    out = html.escape(text)
    for detail in sorted(set(details), key=len, reverse=True):
        pattern = re.compile(rf"(?<![\w>]){re.escape(html.escape(detail))}(?!\w)")
        out = pattern.sub(
            f'<mark class="unsupported" title="not in the transcript">{html.escape(detail)}</mark>',
            out,
        )
    return out


def grounded_html(grounding: Mapping[str, Any], audio_seconds: float | None = None) -> str:
    """The summary with each sentence's transcript sources (hover: the source text; click the
    number: the source is highlighted in the transcript below) and every detail the
    transcript lacks marked; the transcript as numbered sentences. "" for no summary."""
    sentences = grounding.get("sentences") or []
    sources = grounding.get("source_sentences") or []
    if not sentences:
        return ""
    bullets = grounding.get("style") == "key-points"
    items = []
    for sentence in sentences:
        details = [d for found in sentence["unsupported"].values() for d in found]
        cited = [i for i in sentence["sources"] if 0 <= i < len(sources)]
        tip = " / ".join(f"{i + 1}: {sources[i]}" for i in cited) or "no single source"
        links = "".join(f'<a class="src-link" href="#src-{i + 1}">{i + 1}</a>' for i in cited)
        origin = ORIGIN_LABELS.get(sentence["origin"], sentence["origin"])
        body = _marked(sentence["text"], details)
        items.append(
            f'<span class="summary-sentence" title="{html.escape(origin)}. From {html.escape(tip)}"'
            f">{body}<sup>{links}</sup></span>"
        )
    summary = (
        "<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>" if bullets else " ".join(items)
    )
    transcript = " ".join(
        f'<span id="src-{n}" class="src"><sup>{n}</sup>{html.escape(text)}</span>'
        for n, text in enumerate(sources, start=1)
    )
    count = grounding.get("unsupported_count", 0)
    legend = (
        f"{count} detail{'s' if count != 1 else ''} not in the transcript (marked)"
        if count
        else "every number, name and date is in the transcript"
    )
    return (
        f'<div class="grounded"><p class="grounded-summary">{summary}</p>'
        f'<p class="grounded-legend">Numbers: the transcript sentences each summary sentence '
        f"rests on (hover to read, click to find). {legend[0].upper()}{legend[1:]}.</p>"
        f'<div class="grounded-transcript">{transcript}</div></div>'
    )


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


# Clicking a time in the transcript seeks the clip's player (#try-audio): one listener on the
# page, installed at load, so the transcript's HTML carries only data attributes.
SEEK_JS = """() => {
  if (window.__transcriptSeek) return;
  window.__transcriptSeek = true;
  const player = () => {
    const box = document.getElementById("try-audio");
    if (!box) return null;
    const direct = box.querySelector("audio, video");
    if (direct) return direct;
    for (const el of box.querySelectorAll("*")) {
      const inner = el.shadowRoot && el.shadowRoot.querySelector("audio, video");
      if (inner) return inner;
    }
    return null;
  };
  document.addEventListener("click", (event) => {
    const link = event.target.closest && event.target.closest("a.seek");
    if (!link) return;
    event.preventDefault();
    const media = player();
    if (media) { media.currentTime = parseFloat(link.dataset.t); media.play(); }
  }, true);
}"""


def _clock(seconds: float) -> str:
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes:02d}:{rest:02d}"


def segments_html(segments: list[dict]) -> str:
    """The transcript a segment a line, each led by its start time: a link that seeks the
    clip's player there (``SEEK_JS``)."""
    if not segments:
        return ""
    rows = [
        f'<div class="segment"><a class="seek" href="#" data-t="{s["start"]:.2f}" '
        f'title="Play from {s["start"]:.2f} s">[{_clock(s["start"])}]</a> '
        f"{html.escape(s['text'])}</div>"
        for s in segments
    ]
    return '<div id="transcript-segments">' + "".join(rows) + "</div>"
