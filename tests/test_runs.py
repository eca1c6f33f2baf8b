"""Reading run folders (written by the training writer): listing, damaged files, symlinks,
frames, filters, the RunInfo schema, reference tables."""

import json

import pytest

from demo.errors import DemoError, UnknownChoiceError
from demo.reference import load_reference
from demo.runinfo import RunInfo, mode_label
from results.runs import (
    field_values,
    filter_runs,
    final_metrics,
    list_runs,
    load_run,
    runs_frame,
)


def test_list_runs_finds_every_run_sorted_without_warnings(runs_root):
    runs = list_runs(runs_root)
    assert len(runs) == 12
    assert [r.run_id for r in runs] == sorted(r.run_id for r in runs)
    assert all(r.warnings == [] for r in runs)
    tiny = next(r for r in runs if r.run_id == "asr-tiny-int8-adalora")
    assert (tiny.size, tiny.mode, tiny.rank, len(tiny.metrics)) == ("tiny", "int8+adalora", 8, 4)
    assert tiny.final["epoch"] == 3.0
    assert tiny.label == "tiny int8+adalora r=8"


def test_mode_labels_follow_the_thesis():
    assert mode_label("full", "fp32") == "full"
    assert mode_label("full", "fp32", "lowrank") == "lowrank:full"  # never the cascade's cell
    assert mode_label("qformer", "fp32", "qformer") == "qformer"
    assert mode_label("full", "int8") == "int8"
    assert mode_label("lora", "nf4") == "nf4+lora"
    assert mode_label("adalora", "int8") == "int8+adalora"
    assert mode_label("lora", "bf16") == "lora"
    assert mode_label(None, "fp16") is None


def test_half_written_last_line_keeps_readable_part(runs_root):
    root = runs_root
    metrics = root / "asr-tiny-full" / "metrics.jsonl"
    lines = metrics.read_text().splitlines()
    metrics.write_text(lines[0] + "\n" + lines[1] + "\n" + lines[2] + "\n" + lines[3][:20])
    run = load_run(root / "asr-tiny-full")
    assert [m["epoch"] for m in run.metrics] == [0.0, 1.0, 2.0]
    assert len(run.warnings) == 1
    assert "last line" in run.warnings[0]


def test_malformed_middle_line_is_skipped_with_its_number(runs_root):
    root = runs_root
    metrics = root / "asr-tiny-full" / "metrics.jsonl"
    lines = metrics.read_text().splitlines()
    metrics.write_text("\n".join([lines[0], "{oops", "[1, 2]", *lines[1:]]) + "\n")
    run = load_run(root / "asr-tiny-full")
    assert len(run.metrics) == 4
    assert any("Line 2" in w for w in run.warnings)
    assert any("Line 3" in w and "object" in w for w in run.warnings)


def test_missing_or_corrupt_run_json_gives_warning(runs_root):
    root = runs_root
    (root / "asr-tiny-full" / "run.json").unlink()
    (root / "asr-base-full" / "run.json").write_text('{"run_id": "asr-base-full", "task"')
    runs = {r.run_id: r for r in list_runs(root)}
    missing, corrupt = runs["asr-tiny-full"], runs["asr-base-full"]
    assert missing.info is None and len(missing.metrics) == 4
    assert any("run.json is missing" in w for w in missing.warnings)
    assert corrupt.info is None and len(corrupt.metrics) == 4
    assert any("not valid JSON" in w for w in corrupt.warnings)
    assert missing.mode is None


def test_missing_metrics_gives_warning(runs_root):
    root = runs_root
    (root / "asr-tiny-full" / "metrics.jsonl").unlink()
    run = load_run(root / "asr-tiny-full")
    assert run.metrics == [] and run.final == {}
    assert run.info.task == "asr"
    assert any("metrics.jsonl is missing" in w for w in run.warnings)


def test_folders_that_are_not_runs_are_skipped(runs_root):
    root = runs_root
    (root / "empty").mkdir()
    (root / "notes.txt").write_text("hello")
    (root / ".hidden").mkdir()
    (root / ".hidden" / "run.json").write_text("{}")
    assert len(list_runs(root)) == 12
    assert list_runs(root / "does-not-exist") == []


def test_symlinks_escaping_root_are_ignored(runs_root, tmp_path, write_run):
    root = runs_root
    outside = write_run(tmp_path / "elsewhere", "secret-run", {"task": "asr"}, [{"step": 1}])
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"run_id": "stolen", "task": "asr"}))
    (root / "escape").symlink_to(outside, target_is_directory=True)
    (root / "asr-tiny-full" / "run.json").unlink()
    (root / "asr-tiny-full" / "run.json").symlink_to(secret)
    (root / "alias").symlink_to(root / "asr-base-full", target_is_directory=True)

    runs = list_runs(root)
    ids = [r.run_id for r in runs]
    assert "secret-run" not in ids and "stolen" not in ids
    assert len(runs) == 12  # the in-root alias is the same run, listed once
    linked = next(r for r in runs if r.path.name == "asr-tiny-full")
    assert linked.info is None
    assert any("outside" in w for w in linked.warnings)
    with pytest.raises(DemoError):
        load_run(root / "escape", root=root)


def test_load_run_rejects_a_missing_folder(tmp_path):
    with pytest.raises(DemoError):
        load_run(tmp_path / "nope")


def test_runs_frame_and_final_metrics(runs_root):
    runs = list_runs(runs_root)
    frame = runs_frame(runs)
    assert len(frame) == 6 * 4 + 6 * 2
    assert {"run_id", "mode", "size", "epoch", "wer", "rouge1"} <= set(frame.columns)
    tiny = frame[frame["run_id"] == "asr-tiny-nf4-lora"]
    assert list(tiny["epoch"]) == [0.0, 1.0, 2.0, 3.0]
    assert set(tiny["mode"]) == {"nf4+lora"}

    final = final_metrics(runs)
    assert len(final) == 12
    row = final.set_index("run_id").loc["asr-base-full"]
    assert row["epoch"] == 3.0
    assert row["wer"] == pytest.approx(0.40 - 0.05 - 0.04 - 0.09)
    assert runs_frame([]).empty and "run_id" in runs_frame([]).columns
    assert final_metrics([]).empty


def test_filter_runs_by_fields(runs_root):
    runs = list_runs(runs_root)
    assert len(filter_runs(runs, method="lora")) == 2 + 3
    assert len(filter_runs(runs, task="asr", precision=["int8", "nf4"])) == 4
    assert len(filter_runs(runs, dataset="wikihow", model="google-t5/t5-small")) == 6
    assert len(filter_runs(runs, mode="full", size="tiny")) == 1
    assert len(filter_runs(runs, method=None)) == 12
    with pytest.raises(UnknownChoiceError, match="dataset"):
        filter_runs(runs, colour="red")
    assert field_values(runs, "size") == ["base", "tiny"]


def test_load_reference_tables():
    wer = load_reference("whisper_wer")
    assert wer.set_index("size").loc["tiny", "int8_adalora"] == pytest.approx(32.1)
    assert wer["full"].isna().sum() == 3  # blank cells stay blank
    rouge = load_reference("thesis_rouge.csv")
    assert set(rouge["method"]) == {"full", "lora", "adalora"}
    rouge.loc[0, "rouge1"] = -1.0
    assert load_reference("rouge").loc[0, "rouge1"] == pytest.approx(32.1)  # callers get copies
    with pytest.raises(UnknownChoiceError, match="whisper_memory"):
        load_reference("nope")


def test_run_info_round_trips_and_tolerates_bad_fields(runs_root):
    run = load_run(runs_root / "asr-tiny-nf4-lora")
    assert isinstance(run.info, RunInfo) and run.info.mode == "nf4+lora"
    assert RunInfo.from_dict(run.info.to_dict(), "x") == run.info
    warnings: list[str] = []
    odd = RunInfo.from_dict(
        {"task": "asr", "model": "tiny.en", "method": "lora", "precision": "nf4",
         "rank": "eight", "status": "exploded", "future_field": 3},
        "odd-run", warnings,
    )  # fmt: skip
    assert odd.run_id == "odd-run" and odd.rank is None and odd.status == "running"
    assert odd.extra == {"future_field": 3}
    assert any("rank" in w for w in warnings) and any("exploded" in w for w in warnings)
    with pytest.raises(ValueError, match="status"):
        RunInfo("r", "asr", "tiny.en", "full", "fp32", status="done")
