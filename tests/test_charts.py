"""Figure builders: expected traces and values, reported traces kept apart, empty input, export."""

import re

import plotly.io as pio
import pytest

from demo.errors import DemoError, UnknownChoiceError
from results.charts import compare as compare_charts
from results.charts import cost, export, style, training
from results.charts import reported as reported_charts
from results.runs import list_runs

BENCH_ROWS = [
    {
        "config": "tiny fp32",
        "latency_s": 1.5,
        "peak_rss_mb": 600.0,
        "weights_mb": 150.0,
        "wer": 0.1,
    },
    {
        "config": "tiny int8",
        "latency_s": 2.5,
        "peak_rss_mb": 400.0,
        "weights_mb": 45.0,
        "wer": None,
    },
]
COMPARE_ROWS = [
    {"config": "A", "load_s": 1.0, "asr_s": 2.0, "summarize_s": 3.0, "total_s": 6.0, "wer": 0.25},
    {"config": "B", "load_s": 0.5, "asr_s": 1.0, "summarize_s": 1.5, "total_s": 3.0, "wer": 0.5},
]


@pytest.fixture()
def runs(runs_root):
    return list_runs(runs_root)


def traces(fig):
    return {trace.name: trace for trace in fig.data}


def is_empty(fig):
    return any(a.text == style.EMPTY_MESSAGE for a in fig.layout.annotations)


def test_wer_per_epoch_by_size_has_one_line_per_size_in_percent(runs):
    fig = training.wer_per_epoch(runs, group_by="size", mode="int8+adalora")
    by_name = traces(fig)
    assert set(by_name) == {"tiny", "base", "tiny (reported)", "base (reported)"}
    assert list(by_name["tiny"].x) == [0.0, 1.0, 2.0, 3.0]
    assert list(by_name["tiny"].y) == pytest.approx([40.0, 37.0, 34.0, 31.0])
    assert list(by_name["base"].y) == pytest.approx([35.0, 32.0, 29.0, 26.0])
    reported = by_name["tiny (reported)"]
    assert list(reported.x) == [6] and list(reported.y) == [32.1]  # Table 4.4, int8+AdaLoRA
    assert reported.marker.symbol.endswith("-open") and reported.mode == "markers"
    assert by_name["base (reported)"].y[0] == pytest.approx(36.5)
    assert not is_empty(fig)
    assert fig.layout.yaxis.title.text == "WER (%)"


def test_wer_per_epoch_by_mode_and_without_reported(runs):
    fig = training.wer_per_epoch(runs, group_by="mode", size="tiny")
    names = {t.name for t in fig.data}
    assert {"full", "int8+AdaLoRA", "nf4+LoRA"} <= names
    assert traces(fig)["full (reported)"].y[0] == pytest.approx(22.9)
    # The thesis's "int4" column is LoRA on a 4-bit base: our nf4+lora.
    assert traces(fig)["nf4+LoRA (reported)"].y[0] == pytest.approx(39.3)
    measured = [t for t in fig.data if "reported" not in t.name]
    assert all("reported" not in (t.hovertemplate or "") for t in measured)

    bare = training.wer_per_epoch(runs, group_by="mode", size="base", show_reported=False)
    assert {t.name for t in bare.data} == {"full", "int8+AdaLoRA", "nf4+LoRA"}
    assert traces(bare)["full"].y[-1] == pytest.approx(22.0)
    with pytest.raises(UnknownChoiceError):
        training.wer_per_epoch(runs, group_by="colour")


def test_wer_per_epoch_picks_a_mode_when_none_given(runs):
    fig = training.wer_per_epoch(runs, group_by="size", show_reported=False)
    assert "full" in fig.layout.title.text
    assert traces(fig)["tiny"].y[0] == pytest.approx(36.0)


def test_rouge_vs_rank_lines_and_reported_references(runs):
    fig = training.rouge_vs_rank(runs, metric="rouge1", dataset="wikihow")
    by_name = traces(fig)
    assert list(by_name["T5 LoRA"].x) == [4, 8, 16]
    assert list(by_name["T5 LoRA"].y) == pytest.approx([28.0, 29.0, 30.0])
    assert list(by_name["T5 AdaLoRA"].y) == pytest.approx([30.0, 31.0, 32.0])
    reported = by_name["T5 LoRA (reported)"]
    assert list(reported.y) == [28.5, 28.5] and reported.line.dash == "dash"
    assert by_name["T5 AdaLoRA (reported)"].y[0] == pytest.approx(36.1)
    assert by_name["T5 full (reported)"].y[0] == pytest.approx(35.4)
    assert fig.layout.xaxis.type == "log"
    assert list(fig.layout.xaxis.tickvals) == [4, 8, 16]
    assert is_empty(training.rouge_vs_rank(runs, dataset="gazeta"))
    with pytest.raises(UnknownChoiceError):
        training.rouge_vs_rank(runs, metric="bleu")


def test_wer_per_epoch_never_mixes_datasets_on_one_axis(runs_root, write_run):
    info = {"task": "asr", "model": "tiny.en", "size": "tiny", "method": "lora",
            "precision": "fp32", "rank": 8, "dataset": "espeak-hi", "status": "completed",
            "started_at": "2026-12-01T10:00:00"}  # fmt: skip
    lines = [{"step": 0, "epoch": 0.0, "split": "validation", "wer": 0.3},
             {"step": 9, "epoch": 1.0, "split": "validation", "wer": 0.0}]  # fmt: skip
    write_run(runs_root, "asr-tiny-lora-hi", info, lines)
    runs = list_runs(runs_root)
    fig = training.wer_per_epoch(runs, group_by="mode", size="tiny", show_reported=False)
    assert "(how2)" in fig.layout.title.text  # the dataset 6 tiny runs used, named
    assert "LoRA" not in traces(fig)
    other = training.wer_per_epoch(runs, group_by="mode", size="tiny", dataset="espeak-hi")
    assert list(traces(other)["LoRA"].y) == [30.0, 0.0] and "(espeak-hi)" in other.layout.title.text
    # ratios pair runs of one dataset: the espeak-hi LoRA run is not divided by how2's full
    assert "LoRA" not in traces(reported_charts.relative_wer(runs))
    assert "LoRA" not in traces(reported_charts.time_ratios(runs))
    probe = {**info, "method": "full", "system": "latent", "dataset": "how2"}
    write_run(runs_root, "asr-tiny-latent-ae", probe, [dict(lines[0], wer=2.3)])
    fig = training.wer_per_epoch(list_runs(runs_root), group_by="mode", size="tiny")
    assert not any("latent" in name for name in traces(fig))  # systems have their own charts


def test_rouge_vs_rank_prefers_the_test_split_once_scored(runs_root, write_run):
    lines = [
        {"step": 0, "epoch": 0.0, "split": "validation", "loss": 3.0, "rouge1": 0.1},
        {"step": 50, "epoch": 1.0, "split": "validation", "loss": 2.0, "rouge1": 0.30},
        {"step": 50, "epoch": 1.0, "split": "test", "loss": 2.1, "rouge1": 0.26},
    ]  # fmt: skip
    info = {"task": "summarization", "model": "smollm2-135m", "family": "smollm2",
            "method": "lora", "precision": "fp32", "rank": 2, "dataset": "aclsum",
            "status": "completed", "started_at": "2026-12-01T10:00:00"}  # fmt: skip
    write_run(runs_root, "sum-smollm2-lora-r2", info, lines)
    still = dict(info, rank=4, status="running")
    write_run(runs_root, "sum-smollm2-lora-r4", still, lines[:2])
    fig = training.rouge_vs_rank(list_runs(runs_root), dataset="aclsum")
    (line,) = [t for t in fig.data if "(reported)" not in t.name]
    assert line.name == "SmolLM2 LoRA"
    assert list(line.x) == [2, 4] and list(line.y) == pytest.approx([26.0, 30.0])
    assert [c.rsplit(" ", 1)[1] for c in line.customdata] == ["(test)", "(validation)"]
    table = training.final_metrics_table(list_runs(runs_root)).set_index("Run")
    assert table.loc["sum-smollm2-lora-r2", "Test ROUGE-1 (x100)"] == pytest.approx(26.0)
    assert table.loc["sum-smollm2-lora-r2", "ROUGE-1 (x100)"] == pytest.approx(30.0)
    assert table.loc["sum-smollm2-lora-r4", "Test ROUGE-1 (x100)"] != 26.0  # not scored yet
    assert "Test WER (%)" not in table.columns  # no ASR run has a test split here


def test_final_metrics_table(runs):
    table = training.final_metrics_table(runs)
    assert len(table) == 12
    row = table.set_index("Run").loc["asr-tiny-int8-adalora"]
    assert row["WER (%)"] == pytest.approx(31.0) and row["Mode"] == "int8+adalora"
    assert row["Minutes/epoch"] == pytest.approx(1.0)
    t5 = table.set_index("Run").loc["sum-t5-adalora-r16"]
    assert t5["ROUGE-1 (x100)"] == pytest.approx(32.0) and t5["Rank"] == 16
    assert training.final_metrics_table([]).empty


def test_relative_wer_compares_ratios_not_absolute_scores(runs):
    fig = reported_charts.relative_wer(runs)
    by_name = traces(fig)
    assert "how2" in fig.layout.title.text and "How2" in fig.layout.title.text  # both datasets
    measured = by_name["int8+AdaLoRA"]
    assert list(measured.x) == ["tiny", "base"]
    # Final WER over the same size's full fine-tuning: tiny 31/27, base 26/22.
    assert list(measured.y) == pytest.approx([31 / 27, 26 / 22])
    reported = by_name["int8+AdaLoRA (reported)"]
    assert list(reported.y) == pytest.approx([32.1 / 22.9, 36.5 / 19.0])  # Table 4.4 ratios
    assert reported.marker.pattern.shape == "/" and measured.marker.pattern.shape is None
    # The thesis's "int4" column is LoRA on a 4-bit base: our nf4+lora.
    assert list(by_name["nf4+LoRA (reported)"].y) == pytest.approx([39.3 / 22.9, 37.4 / 19.0])
    assert fig.layout.barmode == "group"


def test_relative_rouge_uses_best_rank_over_full_fine_tuning(runs, runs_root, write_run):
    from results.runs import list_runs

    assert is_empty(reported_charts.relative_rouge(runs))  # no full fine-tuning run yet
    write_run(runs_root, "sum-t5-full", {"task": "summarization", "model": "google-t5/t5-small",
              "family": "t5", "method": "full", "dataset": "wikihow"},
              [{"step": 9, "epoch": 1.0, "split": "validation", "rouge1": 0.4}])  # fmt: skip
    fig = reported_charts.relative_rouge(list_runs(runs_root), metric="rouge1")
    by_name = traces(fig)
    ours = list(by_name["LoRA"].x).index("T5 · wikihow")
    assert by_name["LoRA"].y[ours] == pytest.approx(0.30 / 0.4)  # best rank r=16
    assert by_name["AdaLoRA"].y[ours] == pytest.approx(0.32 / 0.4)
    assert all(y is None for i, y in enumerate(by_name["LoRA"].y) if i != ours)
    reported = by_name["AdaLoRA (reported)"]
    assert "T5 · wikihow (thesis)" in list(reported.x)
    at = list(reported.x).index("T5 · wikihow (thesis)")
    assert reported.y[at] == pytest.approx(36.1 / 35.4)  # Table 3.4


def test_memory_time_and_share_ratios(runs):
    rows = [{"size": "tiny", "precision": p, "weights_mb": mb}
            for p, mb in (("fp16", 72.0), ("int8", 52.0), ("nf4", 45.0))]  # fmt: skip
    by_name = traces(reported_charts.memory_ratios(rows))
    assert by_name["int8"].y[list(by_name["int8"].x).index("tiny")] == pytest.approx(52 / 72)
    assert by_name["int8 (reported)"].y[list(by_name["int8 (reported)"].x).index("tiny")] == (
        pytest.approx(40 / 75)
    )
    time = traces(reported_charts.time_ratios(runs))  # 60 s (tiny) per epoch in every mode
    assert list(time["int8+AdaLoRA"].y) == pytest.approx([1.0, 1.0])
    assert list(time["int8+AdaLoRA (reported)"].y) == pytest.approx([53 / 126, 133 / 250])
    share = traces(reported_charts.trainable_share(runs))
    assert list(share["int8+AdaLoRA (reported)"].y) == [1.0, 1.7]


def test_findings_say_what_holds_with_numbers(runs):
    from results.findings import findings

    close, adalora, int8, share, lr = findings(runs)
    peft = close
    assert peft.verdict == "holds" and "tiny: best quantized PEFT nf4+lora 29.0% vs full 27.0%" in (
        peft.evidence
    )
    assert adalora.verdict == "not measured"  # no LoRA run on the same base
    assert share.verdict == "holds" and "tiny nf4+lora: 1.00%" in share.evidence
    assert lr.verdict == "not measured" and int8.verdict == "not measured"
    assert findings([])[0].verdict == "not measured"


def test_findings_cells_pick_the_best_learning_rate_and_skip_unfinished_runs(tmp_path, write_run):
    from results.findings import findings
    from results.runs import list_runs

    def run(run_id, wer, lr, **info):
        fields = {
            "method": "lora",
            "precision": "int8",
            "dataset": "sci",
            "rank": 8,
            "status": "completed",
            "config": {"lr": lr},
            "trainable_pct": 0.4,
            **info,
        }
        lines = [
            {"step": s, "epoch": float(s), "split": split, "wer": w}
            for s, w in ((0, 0.6), (4, wer))
            for split in ("validation", "test")
        ]
        write_run(tmp_path, run_id, fields, lines)  # fmt: skip

    run("lora", 0.20, 1e-3, started_at="2026-01-01T00:00:00")
    run("lora-low-lr", 0.40, 2.5e-5, started_at="2026-01-02T00:00:00")  # newer, worse
    run("adalora", 0.30, 1e-3, method="adalora")
    run("adalora-cut-short", 0.10, 1e-3, method="adalora", status="interrupted")
    run("lowrank-lora", 0.05, 1e-3, system="lowrank", trainable_pct=40.0)
    run("other-corpus", 0.01, 1e-3, method="adalora", dataset="espeak")
    _, adalora, _, share, lr = findings(list_runs(tmp_path))
    assert (
        adalora.evidence == "tiny int8: AdaLoRA 30.0% vs LoRA 20.0% (no interval)"
    )  # the 1e-3 run, not the newest; no run kept its clips' outputs
    assert adalora.verdict == "does not hold"
    assert lr.evidence == "tiny int8+lora: lr 2.5e-05 -> 40.0%, lr 0.001 -> 20.0% (no interval)"
    assert share.evidence == "tiny int8+adalora: 0.40%; tiny int8+lora: 0.40%"  # no system run


def test_memory_per_precision_log_axis_with_reported(runs):
    rows = [
        {"size": "tiny", "precision": "fp16", "weights_mb": 72.0},
        {"size": "tiny", "precision": "int8", "weights_mb": 41.0},
        {"size": "base", "precision": "fp16", "weights_mb": 139.0},
    ]
    fig = cost.memory_per_precision(rows)
    by_name = traces(fig)
    assert list(by_name["fp16"].y) == [72.0, 139.0]
    assert list(by_name["fp16 (reported)"].y) == [75, 142]
    assert list(by_name["nf4 (reported)"].y) == [22, 42]
    assert "nf4" not in by_name
    assert fig.layout.yaxis.type == "log"
    assert not any(
        "reported" in t.name for t in cost.memory_per_precision(rows, show_reported=False).data
    )


def test_minutes_per_epoch(runs):
    fig = cost.minutes_per_epoch(runs)
    by_name = traces(fig)
    assert list(by_name["full"].x) == ["tiny", "base"]
    assert list(by_name["full"].y) == pytest.approx([1.0, 2.0])
    assert list(by_name["full (reported)"].y) == [126, 250]
    assert list(by_name["int8 (reported)"].y) == [53, 133]
    assert all("checkpointing" not in name for name in by_name["full"].customdata)


def test_minutes_per_epoch_says_which_run_trained_with_gradient_checkpointing(tmp_path, write_run):
    line = {"step": 100, "epoch": 1.0, "split": "validation", "wer": 0.2, "epoch_seconds": 90.0}
    info = {"task": "asr", "size": "base", "method": "lora", "precision": "nf4",
            "status": "completed", "config": {"gradient_checkpointing": True}}  # fmt: skip
    write_run(tmp_path, "base-gc", info, [line])
    bars = traces(cost.minutes_per_epoch(list_runs(tmp_path), show_reported=False))
    assert list(bars["nf4+LoRA"].y) == [1.5]
    assert list(bars["nf4+LoRA"].customdata) == ["base-gc (gradient checkpointing: slower steps)"]


def test_benchmark_and_compare_bars():
    latency = compare_charts.bench_latency(BENCH_ROWS)
    assert list(latency.data[0].x) == ["tiny fp32", "tiny int8"]
    assert list(latency.data[0].y) == [1.5, 2.5]
    memory = compare_charts.bench_memory(BENCH_ROWS)
    assert {t.name for t in memory.data} == {"Weights", "Peak RSS"}
    from dashboard.training_view import bench_figures

    stopped = {"config": "tiny wcpp", "latency_s": 30.0, "wer": None, "capped": True}
    figures = bench_figures([*BENCH_ROWS, stopped])  # a run stopped at its cap: no time to chart
    assert list(figures["bench_latency"].data[0].x) == ["tiny fp32", "tiny int8"]

    stages = compare_charts.compare_bars(COMPARE_ROWS, "latency")
    assert [t.name for t in stages.data] == ["Load", "Transcribe", "Summarize"]
    assert stages.layout.barmode == "stack"
    assert list(stages.data[2].y) == [3.0, 1.5]
    wer = compare_charts.compare_bars(COMPARE_ROWS, "wer")
    assert list(wer.data[0].y) == pytest.approx([25.0, 50.0])
    assert is_empty(compare_charts.compare_bars(COMPARE_ROWS, "rouge1"))  # no row has it
    with pytest.raises(UnknownChoiceError):
        compare_charts.compare_bars(COMPARE_ROWS, "speed")


def test_empty_input_gives_placeholder():
    figures = [
        training.wer_per_epoch([]),
        training.wer_per_epoch([], group_by="mode", size="tiny"),
        training.rouge_vs_rank([]),
        reported_charts.relative_wer([]),
        reported_charts.relative_rouge([]),
        reported_charts.memory_ratios([]),
        reported_charts.time_ratios([]),
        reported_charts.trainable_share([]),
        cost.memory_per_precision([]),
        cost.minutes_per_epoch([]),
        compare_charts.bench_latency([]),
        compare_charts.bench_memory([]),
        compare_charts.compare_bars([], "latency"),
        compare_charts.summarizer_bench(BENCH_ROWS),  # ASR rows only: nothing to draw
    ]
    assert all(is_empty(fig) and len(fig.data) == 0 for fig in figures)


def _summary_row(engine, docs, rouge_l, speedup=None):
    return {"config": f"smollm2-135m {engine}", "kind": "summarizer", "engine": engine,
            "docs": docs, "scores": {"rougeL": rouge_l},
            "decode_speedup_vs_fp32_generate": speedup}  # fmt: skip


def test_summarizer_bench_speed_from_speed_runs_rouge_only_from_the_largest_paper_count():
    rows = [
        _summary_row("fp32-generate", 2, 0.23, 1.0),
        _summary_row("int4", 2, 0.21, 2.2),  # a speed run: its 2-paper ROUGE is no measurement
        _summary_row("full", 40, 0.2575),
        _summary_row("int4", 40, 0.2543),
        _summary_row("extractive", 40, 0.2822),
    ]
    fig = compare_charts.summarizer_bench(rows + BENCH_ROWS)
    speed, quality = fig.data
    assert list(speed.x) == ["fp32-generate", "int4"] and list(speed.y) == [1.0, 2.2]
    assert list(quality.x) == ["full", "int4", "extractive"]
    assert list(quality.y) == pytest.approx([25.75, 25.43, 28.22])
    assert "40 ACLSum test papers" in fig.layout.annotations[1].text


def test_presentation_style_and_templates(runs):
    dark = training.wer_per_epoch(runs, template="plotly_dark")
    dark_bg = pio.templates["plotly_dark"].layout.paper_bgcolor
    assert dark.layout.template.layout.paper_bgcolor == dark_bg
    light = compare_charts.bench_latency(BENCH_ROWS)
    assert light.layout.template.layout.paper_bgcolor != dark_bg
    assert light.layout.font.size >= 16 and light.layout.title.font.size >= 16
    assert light.layout.title.text and light.layout.yaxis.title.text == "Latency (s)"
    with pytest.raises(UnknownChoiceError):
        compare_charts.bench_latency(BENCH_ROWS, template="seaborn")


def test_html_export_is_self_contained(tmp_path):
    fig = compare_charts.bench_latency(BENCH_ROWS)
    html = export.figure_to_html(fig)
    assert "plotly.js v" in html and len(html) > 1_000_000
    assert not re.search(r"<script[^>]+src=[\"']?https?:", html)
    path = export.save_figure(fig, tmp_path / "out" / "latency.html")
    assert path.read_text(encoding="utf-8").startswith("<")


def test_image_export_without_kaleido_says_use_html(tmp_path, monkeypatch):
    monkeypatch.setattr(export, "_has_kaleido", lambda: False)
    with pytest.raises(DemoError, match="html"):
        export.save_figure(compare_charts.bench_latency(BENCH_ROWS), tmp_path / "latency.png")
    assert not (tmp_path / "latency.png").exists()
    with pytest.raises(UnknownChoiceError):
        export.save_figure(compare_charts.bench_latency(BENCH_ROWS), tmp_path / "latency.gif")
