"""Whisper runs on real human speech, by the corpus they were trained on: the espeak-only
ACLSum corpus against corpus v2 (many voices and engines, general and scientific English).

A run's real-speech WER is its own last ``real-speech`` line when it was scored on the
real-speech set (``make real-speech``: 560 clips; runs before it scored a 2-clip sample under
that split name, never drawn here), else a ``bench.rescore`` row for it (the same evaluation,
run afterwards on the run's weights). Pure functions: runs and rows in, a figure out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import plotly.graph_objects as go

from results.charts.style import (
    MODE_ORDER,
    SIZE_ORDER,
    check_template,
    cycle_colors,
    empty_figure,
    num,
    pretty_mode,
    style_figure,
)
from results.runs import Run
from training.corpora.real_speech import SPLIT as REAL_SPLIT

RESCORE_KIND = "rescore"  # bench.rescore's rows
MIN_REAL_CLIPS = 50  # fewer: the 2-clip sample that older runs scored under the same name
UNTRAINED = "untrained"


def real_speech_points(
    runs: Iterable[Run], bench_rows: Iterable[Mapping[str, Any]] = ()
) -> list[dict[str, Any]]:
    """``{"run", "size", "mode", "corpus", "wer", "clips"}`` per Whisper run with a real-speech
    WER (its own line first, else a rescore row), plus ``corpus="untrained"`` base models."""
    rescored = {
        str(r.get("run")): r
        for r in bench_rows
        if r.get("kind") == RESCORE_KIND and r.get("split") == REAL_SPLIT
    }
    points = []
    for run in runs:
        if run.task != "asr" or run.system or not run.size or not run.mode:
            continue
        line = run.split(REAL_SPLIT)
        if (num(line.get("eval_samples")) or 0) < MIN_REAL_CLIPS:
            line = rescored.get(run.run_id, {})
        wer = num(line.get("wer"))
        if wer is not None:
            points.append({"run": run.run_id, "size": run.size, "mode": run.mode,
                           "corpus": run.dataset or "?", "wer": 100 * wer,
                           "clips": line.get("eval_samples")})  # fmt: skip
    for row in rescored.values():
        if str(row.get("run", "")).endswith(f"({UNTRAINED})") and num(row.get("wer")) is not None:
            size = str(row.get("model", "?")).removesuffix(".en")
            points.append({"run": row["run"], "size": size, "mode": UNTRAINED,
                           "corpus": UNTRAINED, "wer": 100 * num(row["wer"]),
                           "clips": row.get("eval_samples")})  # fmt: skip
    return points


def _cell_order(point: Mapping[str, Any]) -> tuple:
    size, mode = point["size"], point["mode"]
    size_key = SIZE_ORDER.index(size) if size in SIZE_ORDER else len(SIZE_ORDER)
    mode_key = -1 if mode == UNTRAINED else (
        MODE_ORDER.index(mode) if mode in MODE_ORDER else len(MODE_ORDER))  # fmt: skip
    return size_key, mode_key


def real_speech_wer(
    runs: Iterable[Run],
    bench_rows: Iterable[Mapping[str, Any]] = (),
    *,
    template: str = "plotly_white",
) -> go.Figure:
    """WER (%) on the real-speech set per size x mode, one bar per training corpus (and the
    untrained model), so "does training on more voices help real speech?" reads off one chart."""
    check_template(template)
    points = real_speech_points(runs, bench_rows)
    clips = sorted({int(p["clips"]) for p in points if p.get("clips")})
    title = "WER on real human speech, by training corpus" + (
        f" (real-speech set, {'/'.join(map(str, clips))} clips)" if clips else ""
    )
    if not points:
        return empty_figure(title, template)
    cells: list[str] = []
    for point in sorted(points, key=_cell_order):
        label = f"{point['size']} {pretty_mode(point['mode'])}"
        point["cell"] = label
        if label not in cells:
            cells.append(label)
    corpora = sorted({p["corpus"] for p in points}, key=lambda c: (c != UNTRAINED, c))
    fig = go.Figure()
    for corpus, color in zip(corpora, cycle_colors(len(corpora)), strict=True):
        chosen = {p["cell"]: p for p in points if p["corpus"] == corpus}  # latest run wins
        fig.add_trace(
            go.Bar(
                x=[c for c in cells if c in chosen],
                y=[chosen[c]["wer"] for c in cells if c in chosen],
                name=corpus,
                marker_color=color,
                text=[f"{chosen[c]['wer']:.1f}" for c in cells if c in chosen],
                customdata=[[chosen[c]["run"], chosen[c]["clips"]] for c in cells if c in chosen],
                hovertemplate="%{customdata[0]}<br>WER %{y:.2f}% on %{customdata[1]} clips"
                "<extra>%{fullData.name}</extra>",
            )
        )
    style_figure(fig, title, template, "Whisper size and training mode", "WER (%)")
    fig.update_layout(barmode="group", legend_title_text="Trained on")
    fig.update_yaxes(rangemode="tozero")
    return fig
