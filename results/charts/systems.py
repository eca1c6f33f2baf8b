"""Charts of the research systems beside the cascade: latent-space compression, low-rank
Whisper, the Q-Former bridge and the end-to-end speech -> summary model.

Rows come from ``checkpoints/bench/*.json`` (``kind`` says which benchmark wrote them) and runs
from ``checkpoints/<run>/``. Efficiency rows measured on random weights say so in the title:
time and memory do not depend on the weights' values, quality does, so no quality number
ever comes from them.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from results.charts.reported import final_score
from results.charts.style import (
    FIGURE_HEIGHT,
    REPORTED_EXTRA,
    REPORTED_SUFFIX,
    check_template,
    cycle_colors,
    empty_figure,
    num,
    reported_marker,
    style_figure,
)
from results.runs import Run, arm_name, lowrank_extra, usual_epochs

LATENT_RATIOS = {  # row key -> subplot title
    "decoder_params_ratio": "Decoder parameters",
    "generate_ratio": "Generation time (64 tokens)",
    "train_ratio": "Fine-tuning memory (one step)",
}
# Alam Falaki & Gras (ICMLA 2022) on bart-base at latent 384: decoder 96M -> 40M, -54% time,
# -57% GPU memory in fine-tuning (bench.latent's "reported" block carries the same).
LATENT_REPORTED = {"decoder_params_ratio": 40 / 96, "generate_ratio": 0.46, "train_ratio": 0.43}
# Prasad et al. (Interspeech 2024), their own Whisper data: the relative effect to compare.
LOWRANK_REPORTED = "Prasad et al. 2024 (reported, their data): −24% parameters, no WER drop"
# The Q-Former bridge's seed (SparQLe, thesis defense): its own encoder, LM side and data.
BRIDGE_REPORTED = {
    "name": "SparQLe: HuBERT-large, LibriSpeech dev-clean",
    "num_queries": 100,
    "wer": 34.47,
    "bertscore_f1": 94.6,
}


def latent_savings(rows: Iterable[Mapping[str, Any]], *, template: str = "plotly_white"):
    """Each model's ratio to its plain self, per latent size (bench.latent, random weights)."""
    check_template(template)
    title = "Latent-space compression: ratio to the plain model (random weights, bench.latent)"
    rows = [r for r in rows if r.get("kind") == "latent" and r.get("variant") == "latent"]
    if not rows:
        return empty_figure(title, template)
    fig = make_subplots(
        rows=1, cols=len(LATENT_RATIOS), subplot_titles=list(LATENT_RATIOS.values())
    )
    models = sorted({str(r["model"]) for r in rows})
    colors = dict(zip(models, cycle_colors(len(models)), strict=True))
    for col, key in enumerate(LATENT_RATIOS, start=1):
        for model in models:
            points = sorted((r["latent"], num(r.get(key))) for r in rows if r["model"] == model)
            fig.add_trace(
                go.Scatter(
                    x=[p[0] for p in points], y=[p[1] for p in points], mode="lines+markers",
                    name=model, legendgroup=model, showlegend=col == 1,
                    line={"color": colors[model], "width": 3},
                    hovertemplate=f"{model}<br>latent %{{x}}<br>%{{y:.2f}}x<extra></extra>",
                ),
                row=1, col=col,
            )  # fmt: skip
        fig.add_trace(
            go.Scatter(
                x=[384], y=[LATENT_REPORTED[key]], mode="markers",
                name="bart-base" + REPORTED_SUFFIX, legendgroup="reported", showlegend=col == 1,
                marker=reported_marker(colors.get("bart-base", "#999999")),
                hovertemplate="paper, bart-base, latent 384<br>%{y:.2f}x<extra>reported</extra>",
            ),
            row=1, col=col,
        )  # fmt: skip
    style_figure(fig, title, template, "", "")
    fig.update_xaxes(title_text="latent size", type="category")
    fig.update_yaxes(title_text="ratio to plain", rangemode="tozero", col=1)
    return fig


def latent_wer(rows: Iterable[Mapping[str, Any]], *, template: str = "plotly_white"):
    """WER of the frozen Whisper reading the autoencoder's reconstruction, per latent size,
    with the reconstruction's unexplained variance, the PCA reference and any decoder rebuilt
    at a latent width and trained (bench.latent_whisper, real weights)."""
    check_template(template)
    title = "How much of Whisper's encoder space carries the words (real weights)"
    rows = [r for r in rows if r.get("kind") == "latent-asr"]
    recon = [
        r for r in rows if r.get("variant") == "reconstruction" and num(r.get("wer")) is not None
    ]
    if not recon:
        return empty_figure(title, template)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    models = sorted({str(r["model"]) for r in recon})
    colors = dict(zip(models, cycle_colors(len(models)), strict=True))
    for model in models:
        points = sorted((r["latent"], 100 * r["wer"], num(r.get("reconstruction_fvu")))
                        for r in recon if r["model"] == model)  # fmt: skip
        fig.add_trace(go.Scatter(
            x=[p[0] for p in points], y=[p[1] for p in points], mode="lines+markers",
            name=f"{model} WER", line={"color": colors[model], "width": 3},
            hovertemplate=f"{model}<br>latent %{{x}}<br>WER %{{y:.1f}}%<extra></extra>",
        ), secondary_y=False)  # fmt: skip
        fig.add_trace(go.Scatter(
            x=[p[0] for p in points], y=[p[2] for p in points], mode="lines+markers",
            name=f"{model} reconstruction FVU", line={"color": colors[model], "dash": "dot"},
            hovertemplate=f"{model}<br>latent %{{x}}<br>FVU %{{y:.3f}}<extra></extra>",
        ), secondary_y=True)  # fmt: skip
        pca = _wer_points(rows, model, "pca")
        if pca:
            fig.add_trace(go.Scatter(
                x=[p[0] for p in pca], y=[p[1] for p in pca], mode="lines+markers",
                name=f"{model} WER, PCA (linear reference)",
                line={"color": colors[model], "dash": "dash", "width": 2},
                hovertemplate=f"{model} PCA<br>latent %{{x}}<br>WER %{{y:.1f}}%<extra></extra>",
            ), secondary_y=False)  # fmt: skip
        narrow = _wer_points(rows, model, "latent")
        if narrow:  # stage (2b): a decoder rebuilt at the latent width and trained on it
            fig.add_trace(go.Scatter(
                x=[p[0] for p in narrow], y=[p[1] for p in narrow], mode="markers",
                name=f"{model} WER, decoder rebuilt at the latent (trained)",
                marker={"color": colors[model], "symbol": "diamond", "size": 13},
                hovertemplate=f"{model} narrow decoder<br>latent %{{x}}<br>WER %{{y:.1f}}%"
                "<extra></extra>",
            ), secondary_y=False)  # fmt: skip
        original = [r for r in rows if r["model"] == model and r.get("variant") == "original"]
        if original and num(original[-1].get("wer")) is not None:
            fig.add_hline(y=100 * original[-1]["wer"], line_dash="dash", line_color=colors[model],
                          annotation_text=f"{model} original")  # fmt: skip
    style_figure(fig, title, template, "latent size", "WER (%)")
    fig.update_yaxes(title_text="unexplained variance (FVU)", secondary_y=True)
    return fig


def _wer_points(rows, model: str, variant: str) -> list[tuple[int, float]]:
    """(latent, WER %) of ``model``'s ``variant`` rows, by latent."""
    return sorted((r["latent"], 100 * r["wer"]) for r in rows if r["model"] == model
                  and r.get("variant") == variant and num(r.get("wer")) is not None)  # fmt: skip


def lowrank_arms(runs: Iterable[Run], *, template: str = "plotly_white") -> go.Figure:
    """Final WER (test split where measured) of every low-rank arm beside the originals
    fine-tuned on the same corpus, one horizontal bar per arm and model (arms named as the
    report names them, ``arm_name``, with the corpus where runs used several: each scores on
    its own corpus's test set), with each arm's parameter reduction in the hover."""
    check_template(template)
    title = "Low-rank Whisper: final WER, original vs factorized (ours)"
    asr = [  # finished runs: a run still training has only its step-0 test line
        r for r in runs if r.task == "asr" and r.size and final_score(r, "wer") is not None
        and r.split("test").get("step") != 0
    ]  # fmt: skip
    lowrank = [r for r in asr if r.system == "lowrank"]
    if not lowrank:
        return empty_figure(title, template)
    sizes = sorted({r.model for r in lowrank})
    datasets = {r.dataset for r in lowrank}
    originals = [r for r in asr if not r.system and r.model in sizes and r.precision == "fp32"
                 and r.dataset in datasets]  # fmt: skip
    arms: dict[str, dict[str, tuple[float, str]]] = {}
    usual = usual_epochs(originals + lowrank)
    for run in sorted(originals + lowrank, key=lambda r: (r.started_at, r.run_id)):
        if run.system == "lowrank":
            note = f"{lowrank_extra(run).get('reduction_pct', 0):.1f}% fewer parameters"
        else:
            note = "original size"
        corpus = f" (on {run.dataset})" if len(datasets) > 1 and run.dataset else ""  # own test set
        arms.setdefault(arm_name(run, usual) + corpus, {})[run.model] = (
            100 * final_score(run, "wer"), note)  # fmt: skip
    names = list(arms)[::-1]  # the first arm at the top
    labels = ["<br>".join(textwrap.wrap(name, 56, break_on_hyphens=False)) for name in names]
    fig = go.Figure()
    for model, color in zip(sizes, cycle_colors(len(sizes)), strict=True):
        cells = [arms[arm].get(model) for arm in names]
        fig.add_trace(go.Bar(
            y=labels, x=[c[0] if c else None for c in cells], name=model, orientation="h",
            marker={"color": color}, customdata=[c[1] if c else "" for c in cells],
            text=[f"{c[0]:.1f}" if c else "" for c in cells], textposition="outside",
            hovertemplate="%{y}<br>WER %{x:.1f}%<br>%{customdata}<extra>" + model + "</extra>",
        ))  # fmt: skip
    style_figure(fig, title, template, "WER (%)", "", barmode="group")
    rows = sum(label.count("<br>") + 1 for label in labels)  # lines of the arms' labels
    fig.update_layout(height=max(FIGURE_HEIGHT, 160 + (24 * rows + 16 * len(labels)) * len(sizes)),
                      margin={"l": 20})  # fmt: skip
    fig.update_yaxes(automargin=True)
    fig.add_annotation(text=LOWRANK_REPORTED, xref="paper", yref="paper",
                       x=1, y=1.02, showarrow=False, xanchor="right", yanchor="bottom")  # fmt: skip
    return fig


# The WER-vs-Nq table's corpus (bridge.yaml); rows scored on others (the shipped bridge's, on
# corpus v2 and real speech) are the report's, not this chart's. Rows from before eval_bridge
# wrote "manifest" are this corpus's.
BRIDGE_TABLE_DATA = "aclsum-asr-2k"


def bridge_wer_vs_queries(rows: Iterable[Mapping[str, Any]], *, template: str = "plotly_white"):
    """ASR through the Q-Former bottleneck: WER and MiniLM similarity against the number of
    queries, beside the frozen decoder reading the frames mean-pooled to as many (nothing
    trained), with the unmodified Whisper as a dashed line (training.eval_bridge)."""
    check_template(template)
    title = "Q-Former bridge: WER vs queries (ours: spoken ACLSum sentences, espeak-ng)"
    rows = [
        r for r in rows
        if "num_queries" in r and num(r.get("wer")) is not None
        and BRIDGE_TABLE_DATA in str(r.get("manifest", BRIDGE_TABLE_DATA))
    ]  # fmt: skip

    def kind(row) -> str:  # rows written before "kind" existed: a bridge or the Whisper
        return row.get("kind") or ("whisper" if row["num_queries"] is None else "bridge")

    bridges = sorted((r for r in rows if kind(r) == "bridge"), key=lambda r: r["num_queries"])
    if not bridges:
        return empty_figure(title, template)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    pooled = sorted((r for r in rows if kind(r) == "pooled"), key=lambda r: r["num_queries"])
    for name, group, line in (
        ("WER", bridges, {}),
        ("WER, pooled frames, untrained", pooled, {"dash": "dash"}),
    ):
        if group:
            fig.add_trace(go.Scatter(
                x=[r["num_queries"] for r in group], y=[100 * r["wer"] for r in group],
                mode="lines+markers", name=name, line=line,
                customdata=[_bridge_cost(r) for r in group],
                hovertemplate=f"{name}<br>Nq %{{x}}<br>WER %{{y:.1f}}%"
                              "%{customdata}<extra></extra>",
            ), secondary_y=False)  # fmt: skip
    if all(num(r.get("minilm_similarity")) is not None for r in bridges):
        fig.add_trace(go.Scatter(
            x=[r["num_queries"] for r in bridges],
            y=[100 * r["minilm_similarity"] for r in bridges], mode="lines+markers",
            name="MiniLM similarity (not BERTScore)", line={"dash": "dot"},
        ), secondary_y=True)  # fmt: skip
    upper = [r for r in rows if kind(r) == "whisper"]
    if upper:
        fig.add_hline(y=100 * upper[-1]["wer"], line_dash="dash", annotation_text="Whisper")
    seed = BRIDGE_REPORTED
    fig.add_trace(go.Scatter(
        x=[seed["num_queries"]], y=[seed["wer"]], mode="markers",
        marker=reported_marker(cycle_colors(3)[2]), name=seed["name"] + REPORTED_SUFFIX,
        hovertemplate=f"{seed['name']}<br>Nq %{{x}}<br>WER %{{y:.2f}}%<br>BERTScore F1 "
                      f"{seed['bertscore_f1']}" + REPORTED_EXTRA,
    ), secondary_y=False)  # fmt: skip
    style_figure(fig, title, template, "queries (Nq)", "WER (%)")
    fig.update_xaxes(type="log")
    fig.update_yaxes(title_text="similarity (x100)", secondary_y=True)
    return fig


def _bridge_cost(row: Mapping[str, Any]) -> str:
    """A bridge row's hover: parameters trained and seconds per clip, where it records them."""
    parts = []
    if num(row.get("params")) is not None:
        trained = row["params"] / 1e6
        parts.append(f"{trained:.1f} M parameters trained" if trained else "nothing trained")
    if num(row.get("s_per_clip")) is not None:
        parts.append(f"{row['s_per_clip']:.2f} s per clip (from encoder features)")
    return "".join("<br>" + p for p in parts)


E2E_SYSTEMS = {  # bench.e2e system -> what the bar says it is
    "oracle": "oracle (gold transcript -> SmolLM2)",
    "cascade": "cascade (Whisper -> SmolLM2)",
    "e2e": "end-to-end (Q-Former -> SmolLM2)",
}
E2E_SCORES = {"rouge1": "ROUGE-1", "rouge2": "ROUGE-2", "rougeL": "ROUGE-L"}


def e2e_vs_cascade(rows: Iterable[Mapping[str, Any]], *, template: str = "plotly_white"):
    """Speech -> summary three ways on the same abstract clips (bench.e2e): ROUGE per system,
    the oracle - cascade gap (error propagation) and where the E2E model sits; seconds per
    audio minute and parameters trained in the hover. Of several bench.e2e files, the one over
    the most clips."""
    check_template(template)
    rows = [r for r in rows if r.get("kind") == "e2e" and r.get("system")]
    most = max((num(r.get("clips")) or 0 for r in rows), default=0)  # the whole test split
    rows = {r["system"]: r for r in rows if (num(r.get("clips")) or 0) == most}
    clips = next(iter(rows.values()), {}).get("clips")
    title = f"Speech -> summary on {clips or 'the'} spoken ACLSum abstracts (bench.e2e)"
    if not rows:
        return empty_figure(title, template)
    fig = go.Figure()
    systems = [s for s in E2E_SYSTEMS if s in rows]
    for metric, label in E2E_SCORES.items():
        fig.add_trace(go.Bar(
            x=[E2E_SYSTEMS[s] for s in systems], y=[100 * num(rows[s][metric]) for s in systems],
            name=label,
            customdata=[[rows[s].get("s_per_audio_minute"), rows[s].get("trained_params")]
                        for s in systems],
            hovertemplate=f"{label} %{{y:.1f}}<br>%{{customdata[0]}} s per audio minute"
                          "<br>%{customdata[1]:,} parameters trained<extra></extra>",
        ))  # fmt: skip
    if "oracle" in rows and "cascade" in rows:
        gap = 100 * (num(rows["oracle"]["rouge1"]) - num(rows["cascade"]["rouge1"]))
        fig.add_annotation(
            text=f"error propagation (oracle - cascade): {gap:+.1f} ROUGE-1",
            xref="paper",
            yref="paper",
            x=0,
            y=1.08,
            showarrow=False,
        )
    style_figure(fig, title, template, "system", "score (x100)")
    fig.update_layout(barmode="group")
    return fig
