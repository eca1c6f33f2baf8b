"""Reading run folders: listing, damaged files, symlinks, frames, filters, reference tables."""

import json
from pathlib import Path

import pytest
from demo.runs import (
    field_values,
    filter_runs,
    final_metrics,
    list_runs,
    load_reference,
    load_run,
    mode_label,
    runs_frame,
)

from demo.errors import DemoError, UnknownChoiceError

ASR_MODES = {
    "int8+adalora": ("adalora", "int8"),
    "nf4+lora": ("lora", "nf4"),
    "full": ("full", "fp32"),
}


def write_run(root: Path, run_id: str, info: dict, metrics: list[dict]) -> Path:
    """A run folder as the training scripts write it."""
    folder = root / run_id
    (folder / "adapter").mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"run_id": run_id, **info}))
    (folder / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metrics))
    return folder


def make_runs(root: Path) -> Path:
    """tiny/base x int8+adalora/nf4+lora/full, 3 epochs of WER; T5 LoRA/AdaLoRA at r=4/8/16."""
    for size_index, size in enumerate(("tiny", "base")):
        for mode_index, (mode, (method, precision)) in enumerate(ASR_MODES.items()):
            start = 0.40 - 0.05 * size_index - 0.02 * mode_index
            metrics = [
                {
                    "step": 100 * epoch,
                    "epoch": float(epoch),
                    "split": "validation",
                    "loss": 1.0 - 0.1 * epoch,
                    "lr": 1e-4,
                    "seconds": 60.0 * epoch,
                    "epoch_seconds": None if epoch == 0 else 60.0 * (size_index + 1),
                    "peak_memory_mb": 900.0,
                    "wer": round(start - 0.03 * epoch, 4),
                    "cer": round((start - 0.03 * epoch) / 2, 4),
                    "wer_raw": round(start - 0.03 * epoch + 0.05, 4),
                }
                for epoch in range(4)
            ]
            info = {
                "task": "asr",
                "model": f"{size}.en" if size == "tiny" else size,
                "size": size,
                "family": None,
                "method": method,
                "precision": precision,
                "rank": None if method == "full" else 8,
                "dataset": "how2",
                "status": "completed",
                "started_at": f"2024-05-0{size_index + 1}T1{mode_index}:00:00",
                "trainable_params": 1000,
                "total_params": 100000,
                "trainable_pct": 1.0,
            }
            write_run(root, f"asr-{size}-{mode.replace('+', '-')}", info, metrics)
    for method_index, method in enumerate(("lora", "adalora")):
        for rank in (4, 8, 16):
            rouge1 = 0.25 + 0.01 * rank.bit_length() + 0.02 * method_index
            metrics = [
                {"step": 0, "epoch": 0.0, "split": "validation", "loss": 3.0, "rouge1": 0.1},
                {"step": 50, "epoch": 1.0, "split": "validation", "loss": 2.0, "rouge1": rouge1},
            ]
            info = {
                "task": "summarization",
                "model": "google-t5/t5-small",
                "size": None,
                "family": "t5",
                "method": method,
                "precision": "fp32",
                "rank": rank,
                "dataset": "wikihow",
                "status": "completed",
                "started_at": f"2024-04-0{rank.bit_length()}T0{method_index}:00:00",
            }
            write_run(root, f"sum-t5-{method}-r{rank}", info, metrics)
    return root


def test_list_runs_finds_every_run_sorted_without_warnings(tmp_path):
    runs = list_runs(make_runs(tmp_path))
    assert len(runs) == 12
    assert [r.run_id for r in runs] == sorted(r.run_id for r in runs)
    assert all(r.warnings == [] for r in runs)
    tiny = next(r for r in runs if r.run_id == "asr-tiny-int8-adalora")
    assert (tiny.size, tiny.mode, tiny.rank, len(tiny.metrics)) == ("tiny", "int8+adalora", 8, 4)
    assert tiny.final["epoch"] == 3.0
    assert tiny.label == "tiny int8+adalora r=8"


def test_mode_labels_follow_the_thesis():
    assert mode_label("full", "fp32") == "full"
    assert mode_label("full", "int8") == "int8"
    assert mode_label("lora", "nf4") == "nf4+lora"
    assert mode_label("adalora", "int8") == "int8+adalora"
    assert mode_label("lora", "bf16") == "lora"
    assert mode_label(None, "fp16") is None


def test_half_written_last_line_keeps_readable_part(tmp_path):
    make_runs(tmp_path)
    metrics = tmp_path / "asr-tiny-full" / "metrics.jsonl"
    lines = metrics.read_text().splitlines()
    metrics.write_text(lines[0] + "\n" + lines[1] + "\n" + lines[2] + "\n" + lines[3][:20])
    run = load_run(tmp_path / "asr-tiny-full")
    assert [m["epoch"] for m in run.metrics] == [0.0, 1.0, 2.0]
    assert len(run.warnings) == 1
    assert "last line" in run.warnings[0]


def test_malformed_middle_line_is_skipped_with_its_number(tmp_path):
    make_runs(tmp_path)
    metrics = tmp_path / "asr-tiny-full" / "metrics.jsonl"
    lines = metrics.read_text().splitlines()
    metrics.write_text("\n".join([lines[0], "{oops", "[1, 2]", *lines[1:]]) + "\n")
    run = load_run(tmp_path / "asr-tiny-full")
    assert len(run.metrics) == 4
    assert any("Line 2" in w for w in run.warnings)
    assert any("Line 3" in w and "object" in w for w in run.warnings)


def test_missing_or_corrupt_run_json_gives_warning(tmp_path):
    make_runs(tmp_path)
    (tmp_path / "asr-tiny-full" / "run.json").unlink()
    (tmp_path / "asr-base-full" / "run.json").write_text('{"run_id": "asr-base-full", "task"')
    runs = {r.run_id: r for r in list_runs(tmp_path)}
    missing, corrupt = runs["asr-tiny-full"], runs["asr-base-full"]
    assert missing.info == {} and len(missing.metrics) == 4
    assert any("run.json is missing" in w for w in missing.warnings)
    assert corrupt.info == {} and len(corrupt.metrics) == 4
    assert any("not valid JSON" in w for w in corrupt.warnings)
    assert missing.mode is None


def test_missing_metrics_gives_warning(tmp_path):
    make_runs(tmp_path)
    (tmp_path / "asr-tiny-full" / "metrics.jsonl").unlink()
    run = load_run(tmp_path / "asr-tiny-full")
    assert run.metrics == [] and run.final == {}
    assert run.info["task"] == "asr"
    assert any("metrics.jsonl is missing" in w for w in run.warnings)


def test_folders_that_are_not_runs_are_skipped(tmp_path):
    make_runs(tmp_path)
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "run.json").write_text("{}")
    assert len(list_runs(tmp_path)) == 12
    assert list_runs(tmp_path / "does-not-exist") == []


def test_symlinks_escaping_root_are_ignored(tmp_path):
    root = make_runs(tmp_path / "checkpoints")
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
    assert linked.info == {}
    assert any("outside" in w for w in linked.warnings)
    with pytest.raises(DemoError):
        load_run(root / "escape", root=root)


def test_load_run_rejects_a_missing_folder(tmp_path):
    with pytest.raises(DemoError):
        load_run(tmp_path / "nope")


def test_runs_frame_and_final_metrics(tmp_path):
    runs = list_runs(make_runs(tmp_path))
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


def test_filter_runs_by_fields(tmp_path):
    runs = list_runs(make_runs(tmp_path))
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
