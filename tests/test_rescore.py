"""bench.rescore: a finished run (or the untrained model) scored again on a manifest's test
split and on real speech with training's own evaluation, written after every model and
resumable; a run whose weights are not here is skipped and said so. Real tiny.en weights."""

from __future__ import annotations

import json
import shutil

import pytest

from bench import rescore
from bench.env import read_results


@pytest.fixture()
def manifest(tmp_path, jfk_path, jfk_text):
    shutil.copy(jfk_path, tmp_path / "jfk.flac")
    rows = [{"audio": "jfk.flac", "text": jfk_text, "split": split}
            for split in ("train", "validation", "test")]  # fmt: skip
    path = tmp_path / "manifest.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_untrained_rows_per_split_then_resume_and_a_run_without_weights(
    tmp_path, manifest, capsys, jfk_text
):
    no_weights = tmp_path / "asr-tiny.en-full-sci"
    no_weights.mkdir()
    (no_weights / "run.json").write_text(json.dumps({"model": "tiny.en", "config": {}}))
    argv = ["--untrained", "--base", "tiny.en", "--train", str(manifest), "--max-test-samples",
            "1", "--real-speech-clips", "1", "--sample-seed", "0", "--out", str(tmp_path / "b"),
            "--name", "r"]  # fmt: skip
    rescore.main([*argv])
    rows = read_results(tmp_path / "b" / "r.json")["rows"]
    assert {r["split"] for r in rows} == {"test", "real-speech"}
    test = next(r for r in rows if r["split"] == "test")
    assert test["run"] == "tiny.en (untrained)" and test["kind"] == "rescore"
    assert test["eval_samples"] == 1 and test["wer"] < 0.2  # jfk: tiny.en gets it nearly right
    assert len(test["predictions"]) == 1 and test["references"] == [jfk_text]
    assert test["manifest"] == str(manifest)  # so results.paired pairs it with its own runs
    # Resumed: the untrained rows are kept, not scored again; the weightless run is skipped.
    rescore.main([str(no_weights), *argv, "--resume"])
    assert read_results(tmp_path / "b" / "r.json")["rows"] == rows
    assert "no adapter/ or checkpoint-final/ here, skipped" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # the same name again without --resume/--overwrite
        rescore.main([*argv])


def test_splits_scores_the_test_split_alone(tmp_path, manifest):
    """The espeak grid's findings need only its test split: real speech is not even loaded."""
    argv = ["--untrained", "--train", str(manifest), "--splits", "test", "--out", str(tmp_path),
            "--name", "t"]  # fmt: skip
    rescore.main(argv)
    rows = read_results(tmp_path / "t.json")["rows"]
    assert [r["split"] for r in rows] == ["test"] and rows[0]["eval_samples"] == 1


def test_a_trained_runs_held_out_outputs_are_kept_beside_its_metrics(tmp_path):
    from training.runs import RunWriter

    writer = RunWriter(tmp_path / "run")
    writer.run_dir.mkdir()
    writer.write_predictions("real-speech", 100, ["a b", "c"], ["a b", "see"])
    lines = [json.loads(x) for x in (writer.run_dir / "predictions" / "real-speech.jsonl")
             .read_text().splitlines()]  # fmt: skip
    assert lines == [{"step": 100, "reference": "a b", "prediction": "a b"},
                     {"step": 100, "reference": "c", "prediction": "see"}]  # fmt: skip


def test_a_full_fine_tune_of_an_english_only_model_is_scored_as_english_only(tmp_path, manifest):
    """A full fine-tune's folder (checkpoints/<run>/checkpoint-final) carries no ".en" in its
    name: its config's vocabulary says it is English-only, so no language is forced on it
    (transformers refuses one). Here the bundled tiny.en checkpoint stands in for the
    fine-tune."""
    from demo.asr.registry import bundled_checkpoint, get_whisper_model

    run = tmp_path / "asr-tiny.en-full-v2"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"model": "tiny.en", "config": {
        "method": "full", "quant": "fp32"}}))  # fmt: skip
    (run / "checkpoint-final").symlink_to(bundled_checkpoint(get_whisper_model("tiny.en")))
    assert get_whisper_model(str(run / "checkpoint-final")).multilingual is False
    rescore.main([str(run), "--train", str(manifest), "--splits", "test", "--out",
                  str(tmp_path / "b"), "--name", "f"])  # fmt: skip
    row = read_results(tmp_path / "b" / "f.json")["rows"][0]
    assert row["run"] == "asr-tiny.en-full-v2" and row["wer"] < 0.2
