"""The real-speech chart: every Whisper run's WER on the real-speech set, grouped by the corpus
it was trained on; a run's own real-set line, else a bench.rescore row; never the 2-clip
sample that older runs scored under the same split name."""

from __future__ import annotations

from dashboard.training_view import load_run_set, training_figures
from results.charts.corpus import real_speech_points, real_speech_wer
from results.runs import list_runs

INFO = {"task": "asr", "model": "tiny.en", "size": "tiny", "status": "completed",
        "trainable_params": 1, "total_params": 1, "trainable_pct": 100.0}  # fmt: skip


def _line(split: str, wer: float, clips: int) -> dict:
    return {"step": 100, "epoch": 2.0, "split": split, "loss": 0.5, "wer": wer,
            "eval_samples": clips}  # fmt: skip


def _runs(tmp_path, write_run):
    validation = _line("validation", 0.2, 24)
    write_run(tmp_path, "asr-tiny.en-full-v2", {**INFO, "method": "full", "precision": "fp32",
              "dataset": "corpus-v2"}, [validation, _line("real-speech", 0.061, 200)])  # fmt: skip
    # An espeak-grid run: its real-speech line is the 2-clip sample; a rescore row stands in.
    write_run(tmp_path, "asr-tiny.en-nf4-lora-sci", {**INFO, "method": "lora", "precision": "nf4",
              "dataset": "aclsum-asr"}, [validation, _line("real-speech", 0.01, 2)])  # fmt: skip
    write_run(tmp_path, "asr-tiny.en-int8-lora-sci", {**INFO, "method": "lora",
              "precision": "int8", "dataset": "aclsum-asr"}, [validation])  # fmt: skip
    return list_runs(tmp_path)


RESCORED = [
    {"kind": "rescore", "config": "asr-tiny.en-nf4-lora-sci", "run": "asr-tiny.en-nf4-lora-sci",
     "split": "real-speech", "wer": 0.083, "eval_samples": 200},
    {"kind": "rescore", "config": "tiny.en (untrained)", "run": "tiny.en (untrained)",
     "model": "tiny.en", "split": "real-speech", "wer": 0.055, "eval_samples": 200},
    {"kind": "rescore", "config": "asr-tiny.en-nf4-lora-sci", "run": "asr-tiny.en-nf4-lora-sci",
     "split": "test", "wer": 0.4, "eval_samples": 80},
]  # fmt: skip


def test_points_take_the_runs_own_real_set_line_else_the_rescore_never_the_sample(
    tmp_path, write_run
):
    points = {p["run"]: p for p in real_speech_points(_runs(tmp_path, write_run), RESCORED)}
    assert round(points["asr-tiny.en-full-v2"]["wer"], 1) == 6.1
    assert points["asr-tiny.en-full-v2"]["corpus"] == "corpus-v2"
    assert round(points["asr-tiny.en-nf4-lora-sci"]["wer"], 1) == 8.3  # not the sample's 1.0
    assert points["asr-tiny.en-nf4-lora-sci"]["corpus"] == "aclsum-asr"
    assert "asr-tiny.en-int8-lora-sci" not in points  # no real-set score anywhere
    assert points["tiny.en (untrained)"]["corpus"] == "untrained"


def test_chart_has_a_bar_group_per_corpus_named_with_the_clip_count(tmp_path, write_run):
    fig = real_speech_wer(_runs(tmp_path, write_run), RESCORED)
    names = [trace.name for trace in fig.data]
    assert names[0] == "untrained" and set(names) == {"untrained", "aclsum-asr", "corpus-v2"}
    assert "200 clips" in fig.layout.title.text
    bars = {trace.name: dict(zip(trace.x, trace.y, strict=True)) for trace in fig.data}
    assert round(bars["corpus-v2"]["tiny full"], 1) == 6.1
    assert real_speech_wer([], []).data == ()  # empty: the "No runs yet" figure


def test_the_training_view_offers_it(tmp_path, write_run):
    _runs(tmp_path, write_run)
    run_set = load_run_set(tmp_path)
    figures = training_figures(run_set.runs, RESCORED)
    assert "real_speech_wer" in figures and len(figures["real_speech_wer"].data) == 3


def test_the_report_section_sets_each_v2_cell_beside_its_espeak_twin(tmp_path, write_run):
    from bench.env import write_results
    from results.report_grid_v2 import grid_v2_section

    runs = tmp_path / "runs"
    _runs(runs, write_run)
    write_run(runs, "asr-tiny.en-nf4-lora-v2", {**INFO, "method": "lora", "precision": "nf4",
              "dataset": "corpus-v2"}, [_line("validation", 0.2, 24), _line("test", 0.30, 80),
              _line("real-speech", 0.070, 200)])  # fmt: skip
    write_results(tmp_path / "bench", "grid-v2-rescore-tiny.en", {}, RESCORED)
    text = "\n".join(grid_v2_section(runs, tmp_path / "bench"))
    row = next(line for line in text.splitlines() if "asr-tiny.en-nf4-lora-v2" in line)
    # untrained real 5.5; espeak twin: v2 test 40.0, real 8.3; v2: test 30.0, real 7.0; Δ -1.3
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[3] == "5.5" and cells[5:10] == ["40.0", "8.3", "30.0", "7.0", "-1.3"]
    assert "asr-tiny.en-full-v2" in text  # its twin has no weights: dashes, still a row
    assert grid_v2_section(tmp_path / "none", tmp_path / "bench") == []


def test_the_real_change_gets_a_paired_interval_when_both_outputs_are_kept(tmp_path, write_run):
    from results.report_grid_v2 import real_change_interval

    refs = [f"please enter your number {n}" for n in range(30)]
    espeak = (refs, [r.replace("enter", "center") for r in refs])  # one error a clip
    assert real_change_interval(espeak, (refs, list(refs))).startswith("[-20.0, -20.0]")
    mixed = (refs, [r if n % 2 else r.replace("enter", "center") for n, r in enumerate(refs)])
    noisy = (refs, [r.replace("enter", "center") if n % 2 else r for n, r in enumerate(refs)])
    assert real_change_interval(mixed, noisy).endswith("(not distinguishable)")
    assert real_change_interval(espeak, None) == "–"
    assert real_change_interval(espeak, (refs[:3], refs[:3])) == "–"  # other clips
