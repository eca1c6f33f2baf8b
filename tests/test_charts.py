"""Figure builders: expected traces and values, reported traces kept apart, empty input, export."""

import re

import plotly.io as pio
import pytest

from dashboard.charts import compare as compare_charts
from dashboard.charts import export, style, training
from dashboard.charts import reported as reported_charts
from dashboard.runs import list_runs
from demo.errors import DemoError, UnknownChoiceError

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
    assert "nf4+LoRA (reported)" not in names  # the thesis has no NF4+LoRA column
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


def test_final_metrics_table(runs):
    table = training.final_metrics_table(runs)
    assert len(table) == 12
    row = table.set_index("Run").loc["asr-tiny-int8-adalora"]
    assert row["WER (%)"] == pytest.approx(31.0) and row["Mode"] == "int8+adalora"
    assert row["Minutes/epoch"] == pytest.approx(1.0)
    t5 = table.set_index("Run").loc["sum-t5-adalora-r16"]
    assert t5["ROUGE-1 (x100)"] == pytest.approx(32.0) and t5["Rank"] == 16
    assert training.final_metrics_table([]).empty


def test_reported_vs_measured_bars_are_separate_and_hatched(runs):
    fig = reported_charts.reported_vs_measured_wer(runs)
    by_name = traces(fig)
    assert list(by_name["int8+AdaLoRA"].x) == ["tiny", "base"]
    assert list(by_name["int8+AdaLoRA"].y) == pytest.approx([31.0, 26.0])
    reported = by_name["int8+AdaLoRA (reported)"]
    assert list(reported.y) == [32.1, 36.5]
    assert reported.marker.pattern.shape == "/"
    assert by_name["int8+AdaLoRA"].marker.pattern.shape is None
    assert fig.layout.barmode == "group"

    rouge = reported_charts.reported_vs_measured_rouge(runs, metric="rouge1")
    by_name = traces(rouge)
    assert list(by_name["LoRA"].y) == pytest.approx([30.0])  # best rank, as the thesis reports
    assert list(by_name["LoRA (reported)"].y) == [28.5]
    assert list(by_name["AdaLoRA (reported)"].y) == [36.1]


def test_memory_per_precision_log_axis_with_reported(runs):
    rows = [
        {"size": "tiny", "precision": "fp16", "weights_mb": 72.0},
        {"size": "tiny", "precision": "int8", "weights_mb": 41.0},
        {"size": "base", "precision": "fp16", "weights_mb": 139.0},
    ]
    fig = training.memory_per_precision(rows)
    by_name = traces(fig)
    assert list(by_name["fp16"].y) == [72.0, 139.0]
    assert list(by_name["fp16 (reported)"].y) == [75, 142]
    assert list(by_name["nf4 (reported)"].y) == [22, 42]
    assert "nf4" not in by_name
    assert fig.layout.yaxis.type == "log"
    assert not any(
        "reported" in t.name for t in training.memory_per_precision(rows, show_reported=False).data
    )


def test_minutes_per_epoch(runs):
    fig = training.minutes_per_epoch(runs)
    by_name = traces(fig)
    assert list(by_name["full"].x) == ["tiny", "base"]
    assert list(by_name["full"].y) == pytest.approx([1.0, 2.0])
    assert list(by_name["full (reported)"].y) == [126, 250]
    assert list(by_name["int8 (reported)"].y) == [53, 133]


def test_benchmark_and_compare_bars():
    latency = compare_charts.bench_latency(BENCH_ROWS)
    assert list(latency.data[0].x) == ["tiny fp32", "tiny int8"]
    assert list(latency.data[0].y) == [1.5, 2.5]
    memory = compare_charts.bench_memory(BENCH_ROWS)
    assert {t.name for t in memory.data} == {"Weights", "Peak RSS"}

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
        reported_charts.reported_vs_measured_wer([]),
        reported_charts.reported_vs_measured_rouge([]),
        training.memory_per_precision([]),
        training.minutes_per_epoch([]),
        compare_charts.bench_latency([]),
        compare_charts.bench_memory([]),
        compare_charts.compare_bars([], "latency"),
    ]
    assert all(is_empty(fig) and len(fig.data) == 0 for fig in figures)


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
