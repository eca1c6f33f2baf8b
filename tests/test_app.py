"""The gradio app: builds without launching, real Try-it call, clear errors, parity of names,
and the dashboard helpers behind the Training runs / Reported views on a fixture run set."""

import inspect
import json
import re
from dataclasses import fields
from pathlib import Path

import gradio as gr
import pytest

import app
from demo import dashboard as dash
from demo.cli import build_parser
from demo.pipeline import PipelineOptions

# Handler parameters that are not configuration: the clip, references, gradio's progress.
NOT_OPTIONS = {"audio", "reference_transcript", "reference_summary", "progress"}
SERVER_SIDE = {"max_seconds"}  # set by the server (DEMO_MAX_SECONDS), not by the user
BENCH_ROWS = [
    {"config": "tiny.en full", "latency_s": 4.1, "peak_rss_mb": 650.0, "weights_mb": 144.0,
     "wer": 0.0},
    {"config": "tiny.en nf4", "latency_s": 5.0, "peak_rss_mb": 700.0, "weights_mb": 90.0,
     "wer": 0.05},
]  # fmt: skip


def _write_run(root: Path, run_id: str, info: dict, metrics: list[dict]) -> Path:
    folder = root / run_id
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"run_id": run_id, **info}))
    (folder / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metrics))
    return folder


def make_fixture_runs(root: Path) -> Path:
    """A tiny run set as the training scripts write it: Whisper tiny/base in two modes with
    3 epochs of WER, T5 LoRA at r=4 and 16, one run killed mid-write, a benchmark file."""
    for size, weights in (("tiny", 150.0), ("base", 290.0)):
        for method, precision in (("full", "fp32"), ("adalora", "int8")):
            start = (0.30 if size == "tiny" else 0.25) + (0.05 if precision == "int8" else 0.0)
            metrics = [
                {"step": 10 * e, "epoch": float(e), "split": "validation",
                 "wer": round(start - 0.04 * e, 4), "cer": round(start / 2, 4),
                 "epoch_seconds": 90.0 if e else None}
                for e in range(3)
            ]  # fmt: skip
            _write_run(
                root,
                f"asr-{size}-{method}-{precision}",
                {"task": "asr", "model": f"{size}.en" if size == "tiny" else size,
                 "size": size, "method": method, "precision": precision,
                 "rank": 8 if method == "adalora" else None, "dataset": "how2",
                 "status": "completed", "weights_footprint_mb": weights,
                 "started_at": f"2024-05-01T0{len(size)}:00:00"},
                metrics,
            )  # fmt: skip
    for rank in (4, 16):
        _write_run(
            root,
            f"sum-t5-lora-r{rank}",
            {"task": "summarization", "model": "google-t5/t5-small", "family": "t5",
             "method": "lora", "precision": "fp32", "rank": rank, "dataset": "wikihow",
             "status": "completed"},
            [{"step": 5, "epoch": 1.0, "split": "validation", "rouge1": 0.2 + rank / 100}],
        )  # fmt: skip
    killed = _write_run(
        root,
        "asr-tiny-killed",
        {"task": "asr", "model": "tiny.en", "size": "tiny", "method": "lora",
         "precision": "nf4", "rank": 8, "dataset": "how2", "status": "running"},
        [{"step": 10, "epoch": 1.0, "split": "validation", "wer": 0.4}],
    )  # fmt: skip
    with (killed / "metrics.jsonl").open("a") as handle:
        handle.write('{"step": 20, "epoch": 2.0, "wer"')  # killed while writing
    (root / "bench").mkdir()
    (root / "bench" / "tiny.json").write_text(json.dumps({"rows": BENCH_ROWS}))
    (root / "bench" / "broken.json").write_text("{not json")
    return root


@pytest.fixture()
def fixture_runs(tmp_path, monkeypatch):
    root = make_fixture_runs(tmp_path / "checkpoints")
    monkeypatch.setenv(dash.CHECKPOINTS_ENV, str(root))
    return root


def test_build_demo_constructs_without_launching():
    demo = app.build_demo()
    assert isinstance(demo, gr.Blocks)
    api_names = {dep.api_name for dep in demo.fns.values()}
    assert {"transcribe", "compare"} <= api_names
    assert not getattr(demo, "is_running", False)


def test_try_it_handler_transcribes_jfk_with_timings_and_scores(jfk_path):
    from conftest import JFK_TEXT

    out = app.transcribe_and_summarize(
        str(jfk_path), "tiny.en", "full", "none", "extractive", "full", "none", "auto", "auto",
        1, 3, 0, JFK_TEXT, JFK_TEXT,
    )  # fmt: skip
    transcript, summary, latency, memory, info, scores, transcript_diff, _ = out
    assert "ask not what your country" in transcript.lower()
    assert summary
    stages = dict(latency)
    assert {"load models", "transcribe", "summarize", "total"} <= set(stages)
    assert stages["transcribe"] > 0 and stages["total"] >= stages["transcribe"]
    assert memory[0][1] > 10  # Whisper weights in MB
    assert "english" in info.lower()
    by_name = dict(scores)
    assert by_name["WER (%)"] <= 10.0
    assert by_name["ROUGE-1 (x100)"] > 50
    assert transcript_diff["visible"] is True
    marked = [label for _, label in transcript_diff["value"] if label]
    assert len(marked) <= 2  # at most a word or two differ from the reference


def test_try_it_handler_without_references_shows_no_scores(monkeypatch, jfk_path):
    out = app.transcribe_and_summarize(
        str(jfk_path), "tiny.en", "dynamic-int8", "none", "extractive", "full", "none", "auto",
        "auto", 1, 3, 0,
    )  # fmt: skip
    assert "ask not what your country" in out[0].lower()
    assert out[5] == [] and out[6]["visible"] is False


def test_try_it_handler_bad_file_gives_a_clear_error(tmp_path):
    bad = tmp_path / "notes.wav"
    bad.write_text("this is not audio at all, just text renamed to .wav\n" * 20)
    with pytest.raises(gr.Error) as raised:
        app.transcribe_and_summarize(
            str(bad), "tiny.en", "full", "none", "extractive", "full", "none", "auto", "auto",
            1, 3, 0,
        )  # fmt: skip
    message = str(raised.value.message)
    assert "audio" in message.lower() and "Traceback" not in message
    with pytest.raises(gr.Error, match="Record or upload"):
        app.transcribe_and_summarize(
            None, "tiny.en", "full", "none", "extractive", "full", "none", "auto", "auto", 1, 3, 0
        )


def test_try_it_handler_refuses_clip_over_duration_limit(monkeypatch, jfk_path):
    monkeypatch.setenv(dash.MAX_SECONDS_ENV, "5")
    with pytest.raises(gr.Error) as raised:
        app.transcribe_and_summarize(
            str(jfk_path), "tiny.en", "full", "none", "extractive", "full", "none", "auto",
            "auto", 1, 3, 0,
        )  # fmt: skip
    assert "5" in raised.value.message and "long" in raised.value.message.lower()


def test_handler_parameters_match_pipeline_options_and_cli_flags():
    params = set(inspect.signature(app.transcribe_and_summarize).parameters) - NOT_OPTIONS
    option_fields = {f.name for f in fields(PipelineOptions)}
    assert params == option_fields - SERVER_SIDE
    run_parser = build_parser()._subparsers._group_actions[0].choices["run"]
    cli_dests = {action.dest for action in run_parser._actions}
    assert params <= cli_dests
    assert set(inspect.signature(app._options).parameters) == option_fields - SERVER_SIDE
    assert set(app.CONFIG_KEYS) <= option_fields


def test_settings_from_env_and_bad_values():
    settings = dash.AppSettings.from_env(
        {dash.QUEUE_SIZE_ENV: "3", dash.CHECKPOINTS_ENV: "/tmp/x", dash.MAX_UPLOAD_MB_ENV: "2"}
    )
    assert settings.queue_size == 3 and settings.checkpoints == Path("/tmp/x")
    assert app.launch_kwargs(settings)["max_file_size"] == 2 * 1024 * 1024
    assert dash.AppSettings.from_env({}).checkpoints.name == "checkpoints"
    with pytest.raises(ValueError, match="DEMO_QUEUE_SIZE"):
        dash.AppSettings.from_env({dash.QUEUE_SIZE_ENV: "many"})
    with pytest.raises(ValueError, match="queue_size"):
        dash.AppSettings.from_env({dash.QUEUE_SIZE_ENV: "0"})


def test_training_runs_view_reads_fixture_runs_and_shows_warnings(fixture_runs):
    out = app.refresh_runs("all", "all", "all", "all", None, None, "rouge1", False, "light")
    summary = out[0]
    assert "**7 runs**" in summary and "2 benchmark rows" in summary
    assert "asr-tiny-killed" in summary and "incomplete" in summary  # warned, not raised
    assert "broken.json" in summary
    wer_by_size = out[7]
    names = {trace.name for trace in wer_by_size.data}
    assert names == {"tiny", "base"}  # mode defaults to the first present: full
    tiny = next(t for t in wer_by_size.data if t.name == "tiny")
    assert list(tiny.y) == pytest.approx([30.0, 26.0, 22.0])
    bench_latency = out[12]
    assert list(bench_latency.data[0].y) == [4.1, 5.0]
    table = out[-1]
    assert len(table) == 7


def test_training_filters_and_reload_see_new_runs(fixture_runs):
    out = app.refresh_runs("all", "all", "adalora", "int8", None, None, "rouge1", False, "dark")
    assert "4 shown" not in out[0] and "(2 shown" in out[0]
    assert out[7].layout.template.layout.paper_bgcolor != "white"  # dark template
    _write_run(
        fixture_runs,
        "asr-small-full",
        {"task": "asr", "model": "small", "size": "small", "method": "full",
         "precision": "fp32", "dataset": "how2"},
        [{"step": 1, "epoch": 1.0, "wer": 0.2}],
    )  # fmt: skip
    again = app.refresh_runs("all", "all", "gone", "all", None, None, "rouge1", False, "light")
    assert "**8 runs**" in again[0]
    assert again[3]["value"] == "all"  # a filter value no longer offered falls back to all


def test_reported_view_keeps_reported_apart(fixture_runs):
    wer, rouge, memory, minutes, final = app.refresh_reported("rouge1", "light")
    names = {trace.name for trace in wer.data}
    assert "full" in names and "full (reported)" in names
    reported = next(t for t in wer.data if t.name == "full (reported)")
    assert list(reported.y)[:2] == [22.9, 19.0]  # thesis Table 4.4, tiny and base full
    assert reported.marker.pattern.shape == "/"  # hatched, visibly different
    assert any(t.name == "fp16 (reported)" for t in memory.data)
    killed = next(t for t in wer.data if t.name == "nf4+LoRA")  # only tiny has such a run
    assert list(killed.y) == [40.0, None]
    assert list(killed.texttemplate) == ["%{y:.1f}", ""]  # no "0.0" printed under no bar


def test_empty_checkpoints_folder_gives_empty_charts_not_errors(tmp_path, monkeypatch):
    monkeypatch.setenv(dash.CHECKPOINTS_ENV, str(tmp_path / "nothing-here"))
    out = app.refresh_runs("all", "all", "all", "all", None, None, "rouge1", False, "light")
    assert "**0 runs**" in out[0] and "No training runs yet" in out[0]
    assert any(a.text == "No runs yet" for a in out[7].layout.annotations)


def test_saving_charts_writes_offline_html(fixture_runs):
    figures = dash.reported_figures(dash.load_run_set().runs)
    paths, _ = dash.export_figures(figures, fixture_runs / "out", images=False)
    assert len(paths) == 4
    page = paths[0].read_text()
    assert "<html>" in page and "Plotly.newPlot" in page
    assert not re.search(r"<script[^>]+src=", page)  # plotly.js inlined: works offline


def test_chart_images_need_kaleido_else_html_only(fixture_runs, monkeypatch):
    from demo import charts

    figures = {"wer": dash.reported_figures(dash.load_run_set().runs)["wer_measured_vs_reported"]}
    monkeypatch.setattr(charts, "_has_kaleido", lambda: False)
    paths, note = dash.export_figures(figures, fixture_runs / "no-kaleido")
    assert [p.suffix for p in paths] == [".html"] and "kaleido" in note


def test_chart_images_with_kaleido_and_system_chromium(fixture_runs):
    pytest.importorskip("kaleido", reason="kaleido is optional: PNG/SVG export")
    figures = {"wer": dash.reported_figures(dash.load_run_set().runs)["wer_measured_vs_reported"]}
    paths, note = dash.export_figures(figures, fixture_runs / "images")
    assert note == ""
    by_suffix = {p.suffix: p for p in paths}
    assert by_suffix[".png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in by_suffix[".svg"].read_bytes()[:500]


def test_bench_files_in_any_shape_and_bad_rows_warned(tmp_path):
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "a.json").write_text(json.dumps(BENCH_ROWS))  # a bare list
    (bench / "b.json").write_text(json.dumps({"config": "one", "latency_s": 1.0}))  # one row
    (bench / "c.json").write_text(json.dumps({"rows": [{"latency_s": 2.0}, "x"]}))
    (bench / "d.json").write_text(json.dumps({"rows": 3}))
    rows, warnings = dash.load_bench(tmp_path)
    assert [r["config"] for r in rows] == ["tiny.en full", "tiny.en nf4", "one"]
    assert len(warnings) == 2 and "c.json: 2 rows" in warnings[0] and "d.json" in warnings[1]
    assert dash.load_bench(tmp_path / "missing") == ([], [])
