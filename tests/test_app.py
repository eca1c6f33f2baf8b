"""The app: builds without launching, its default configuration is the fastest accurate mode,
the handlers by name on real audio, clear errors, parity of names with the options, and the
dashboard views behind the Training runs / Reported tabs on a fixture run set."""

import json
import re
from dataclasses import fields
from pathlib import Path

import gradio as gr
import pytest

import app
from dashboard import handlers as h
from dashboard import reported_view, training_view
from demo.errors import DemoError
from demo.pipeline import PipelineOptions
from demo.settings import Settings
from results.bench_files import load_bench
from results.charts import export

NOT_OPTIONS = {"audio", "reference_transcript", "reference_summary", "reference_facts"}
SERVER_SIDE = {"max_seconds"}  # set by the server (DEMO_MAX_SECONDS), not by the user
BENCH_ROWS = [{"config": "tiny.en full", "latency_s": 4.1}, {"config": "tiny.en nf4"}]


@pytest.fixture(scope="module")
def demo():
    return app.build_demo()


def _defaults(demo, audio) -> dict:
    """The Try-it widgets' values as a new user finds them, with a clip picked."""
    return {**{name: widget.value for name, widget in demo.try_inputs.items()}, "audio": audio}


def test_build_demo_constructs_without_launching(demo):
    assert isinstance(demo, gr.Blocks)
    api_names = {dep.api_name for dep in demo.fns.values()}
    assert {"transcribe", "compare"} <= api_names
    assert not getattr(demo, "is_running", False)


def test_app_default_is_the_resolved_fastest_mode(demo, jfk_path, jfk_text):
    values = _defaults(demo, str(jfk_path))
    assert values["quant"] == "auto" and values["summarizer"] == "auto"
    out = h.transcribe_and_summarize(values)
    assert "ask not what your country" in out["transcript"].lower()
    whisper_row = out["memory"][0]
    assert whisper_row[0] == "Whisper tiny.en (fast-int8)"  # what auto became on a CPU


def test_try_it_handler_by_name_with_timings_scores_and_diff(demo, jfk_path, jfk_text):
    values = {**_defaults(demo, str(jfk_path)), "quant": "full",
              "reference_transcript": jfk_text, "reference_summary": jfk_text}  # fmt: skip
    out = h.transcribe_and_summarize(values)
    assert out["summary"]
    stages = dict(out["latency"])
    assert {"load models", "transcribe", "summarize", "total"} <= set(stages)
    assert stages["transcribe"] > 0 and stages["total"] >= stages["transcribe"]
    assert out["memory"][0][1] > 10  # Whisper weights in MB
    assert "english" in out["info"].lower()
    by_name = dict(out["scores"])
    assert by_name["WER (%)"] <= 10.0 and by_name["ROUGE-1 (x100)"] > 50
    diff = out["transcript_diff"]
    assert diff.visible is True
    assert len([label for _, label in diff.value if label]) <= 2  # a word or two at most


def test_try_it_handler_without_references_scores_only_unsupported_details(demo, jfk_path):
    out = h.transcribe_and_summarize(_defaults(demo, str(jfk_path)))
    assert out["scores"] == [["Unsupported details", 0.0]]  # checked against the transcript
    assert out["transcript_diff"].visible is False


def test_bad_input_is_one_sentence_in_the_browser(demo, tmp_path, monkeypatch, jfk_path):
    bad = tmp_path / "notes.wav"
    bad.write_text("this is not audio at all, just text renamed to .wav\n" * 20)
    run = app.user_errors(h.transcribe_and_summarize)
    with pytest.raises(gr.Error) as raised:
        run(_defaults(demo, str(bad)))
    assert "audio" in raised.value.message.lower() and "Traceback" not in raised.value.message
    with pytest.raises(gr.Error, match="Record or upload"):
        run(_defaults(demo, None))
    monkeypatch.setenv("DEMO_MAX_SECONDS", "5")
    with pytest.raises(gr.Error) as raised:
        run(_defaults(demo, str(jfk_path)))
    assert "5" in raised.value.message and "long" in raised.value.message.lower()


def test_widget_names_match_pipeline_options_and_cli_flags(demo):
    from demo.cli import build_parser

    names = set(demo.try_inputs) - NOT_OPTIONS
    option_fields = {f.name for f in fields(PipelineOptions)}
    assert names == option_fields - SERVER_SIDE
    run_parser = build_parser()._subparsers._group_actions[0].choices["run"]
    assert names <= {action.dest for action in run_parser._actions}
    assert set(h.CONFIG_KEYS) <= option_fields


def test_settings_from_env_and_bad_values():
    s = Settings.from_env({"DEMO_QUEUE_SIZE": "3", "DEMO_CHECKPOINTS": "/tmp/x",
                           "DEMO_MAX_UPLOAD_MB": "2"})  # fmt: skip
    assert s.queue_size == 3 and s.checkpoints == Path("/tmp/x")
    assert app.launch_kwargs(s)["max_file_size"] == 2 * 1024 * 1024
    assert Settings.from_env({}).checkpoints.name == "checkpoints"
    with pytest.raises(ValueError, match="DEMO_QUEUE_SIZE"):
        Settings.from_env({"DEMO_QUEUE_SIZE": "many"})
    with pytest.raises(ValueError, match="DEMO_QUEUE_SIZE"):
        Settings.from_env({"DEMO_QUEUE_SIZE": "0"})
    with pytest.raises(ValueError, match="DEMO_MAX_SECONDS"):
        Settings.from_env({"DEMO_MAX_SECONDS": "nan"})
    assert Settings.from_env({}).preload is True
    assert Settings.from_env({"DEMO_PRELOAD": "0"}).preload is False
    assert Settings.from_env({"DEMO_PRELOAD": "Yes"}).preload is True
    with pytest.raises(ValueError, match="DEMO_PRELOAD must be 1 or 0"):
        Settings.from_env({"DEMO_PRELOAD": "maybe"})


def test_preload_failure_is_one_line_and_not_raised(monkeypatch, capsys):
    def broken(options=None, cache=None):
        raise FileNotFoundError("bundled weights are missing")

    monkeypatch.setattr(h, "preload", broken)
    line = h.preload_defaults()
    assert line.startswith("preload skipped (FileNotFoundError: bundled weights are missing)")
    assert capsys.readouterr().err.strip() == line


def _runs(**values) -> dict:
    return h.refresh_runs({"metric": "rouge1", "theme": "light", **values})


def test_training_runs_view_reads_fixture_runs_and_shows_warnings(dashboard_root):
    out = _runs()
    assert "**7 runs**" in out["summary"] and "2 benchmark rows" in out["summary"]
    assert "asr-tiny-killed" in out["summary"] and "incomplete" in out["summary"]
    assert "broken.json" in out["summary"]
    by_size = out["wer_per_epoch_by_size"]
    assert {trace.name for trace in by_size.data} == {"tiny", "base"}  # mode: first, full
    tiny = next(t for t in by_size.data if t.name == "tiny")
    assert list(tiny.y) == pytest.approx([30.0, 26.0, 22.0])
    assert list(out["bench_latency"].data[0].y) == [4.1, 5.0]
    assert len(out["final"]) == 7


def test_training_filters_and_reload_see_new_runs(dashboard_root, write_run):
    out = _runs(method="adalora", precision="int8", theme="dark")
    assert "(2 shown" in out["summary"]
    assert out["wer_per_epoch_by_size"].layout.template.layout.paper_bgcolor != "white"
    write_run(dashboard_root, "asr-small-full",
              {"task": "asr", "model": "small", "size": "small", "dataset": "how2"},
              [{"step": 1, "epoch": 1.0, "wer": 0.2}])  # fmt: skip
    again = _runs(method="gone")
    assert "**8 runs**" in again["summary"]
    assert again["method"].value == "all"  # a filter value no longer offered falls back to all


def test_reported_view_compares_like_with_like(dashboard_root):
    out = h.refresh_reported({"metric": "rouge1", "theme": "light"})
    assert set(reported_view.REPORTED_FIGURES) <= set(out)
    wer = out["wer_relative_to_full"]
    names = {trace.name for trace in wer.data}
    assert "int8+AdaLoRA" in names and "int8+AdaLoRA (reported)" in names
    measured = next(t for t in wer.data if t.name == "int8+AdaLoRA")
    assert list(measured.y) == pytest.approx([0.27 / 0.22, 0.22 / 0.17])  # over full, per size
    reported = next(t for t in wer.data if t.name == "int8+AdaLoRA (reported)")
    assert reported.marker.pattern.shape == "/"  # hatched, visibly different
    assert any(t.name == "fp16 (reported)" for t in out["memory_measured_vs_reported"].data)
    assert "Which claims hold" in out["findings"] and "PEFT" in out["findings"]


def test_empty_checkpoints_folder_gives_empty_charts_not_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("DEMO_CHECKPOINTS", str(tmp_path / "nothing-here"))
    out = _runs()
    assert "**0 runs**" in out["summary"] and "No training runs yet" in out["summary"]
    assert any(a.text == "No runs yet" for a in out["wer_per_epoch_by_size"].layout.annotations)


def test_saving_charts_writes_offline_html(dashboard_root):
    figures = reported_view.reported_figures(training_view.load_run_set().runs)
    paths, _ = export.export_figures(figures, dashboard_root / "out", images=False)
    assert len(paths) == len(reported_view.REPORTED_FIGURES)
    page = paths[0].read_text()
    assert "<html>" in page and "Plotly.newPlot" in page
    assert not re.search(r"<script[^>]+src=", page)  # plotly.js inlined: works offline


def test_chart_images_need_kaleido_else_html_only(dashboard_root, monkeypatch):
    runs = training_view.load_run_set().runs
    figures = {"wer": reported_view.reported_figures(runs)["wer_relative_to_full"]}
    monkeypatch.setattr(export, "_has_kaleido", lambda: False)
    paths, note = export.export_figures(figures, dashboard_root / "no-kaleido")
    assert [p.suffix for p in paths] == [".html"] and "kaleido" in note


def test_chart_images_with_kaleido_and_system_chromium(dashboard_root):
    pytest.importorskip("kaleido", reason="kaleido is optional: PNG/SVG export")
    runs = training_view.load_run_set().runs
    figures = {"wer": reported_view.reported_figures(runs)["wer_relative_to_full"]}
    paths, note = export.export_figures(figures, dashboard_root / "images")
    assert note == ""
    by_suffix = {p.suffix: p for p in paths}
    assert by_suffix[".png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in by_suffix[".svg"].read_bytes()[:500]


def test_save_handlers_refuse_nothing_to_save():
    with pytest.raises(DemoError, match="Run a comparison first"):
        h.save_compare_charts({"rows": [], "theme": "light"})


def test_bench_files_in_any_shape_and_bad_rows_warned(tmp_path):
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "a.json").write_text(json.dumps(BENCH_ROWS))  # a bare list
    (bench / "b.json").write_text(json.dumps({"config": "one", "latency_s": 1.0}))  # one row
    (bench / "c.json").write_text(json.dumps({"rows": [{"latency_s": 2.0}, "x"]}))
    (bench / "d.json").write_text(json.dumps({"rows": 3}))
    rows, warnings = load_bench(tmp_path)
    assert [r["config"] for r in rows] == ["tiny.en full", "tiny.en nf4", "one"]
    assert len(warnings) == 2 and "c.json: 2 rows" in warnings[0] and "d.json" in warnings[1]
    assert load_bench(tmp_path / "missing") == ([], [])
