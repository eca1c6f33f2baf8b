"""results.findings with uncertainty: a comparison of two grid cells carries the 95% paired
interval of their WER gap where both runs kept each test clip's output (their own
predictions/test.jsonl or a bench.rescore row on the same manifest), says "not distinguishable"
when that interval holds 0, and otherwise says it has none, with the clips it rests on and the
command that would give it one."""

from __future__ import annotations

import json

from bench.env import ROOT
from demo.metrics import word_errors
from results.findings import findings, findings_markdown
from results.runs import list_runs

MANIFEST = "data/sci/manifest.jsonl"
REFS = [f"please enter your account number {n}" for n in range(40)]


def _outputs(errors_on: set[int]) -> list[str]:
    return [r.replace("enter", "center") if n in errors_on else r for n, r in enumerate(REFS)]


def _wer(outputs: list[str]) -> float:
    pairs = word_errors(REFS, outputs)
    return sum(e for e, _ in pairs) / sum(w for _, w in pairs)


def _run(root, write_run, run_id, method, precision, outputs, keep=True, wer=None):
    wer = _wer(outputs) if wer is None else wer
    lines = [{"step": 100, "epoch": 4.0, "split": split, "wer": wer, "eval_samples": len(REFS)}
             for split in ("validation", "test")]  # fmt: skip
    info = {"dataset": "sci", "size": "tiny", "method": method, "precision": precision,
            "status": "completed", "config": {"lr": 1e-3, "train": MANIFEST},
            "trainable_pct": 100.0 if method == "full" else 0.4}  # fmt: skip
    folder = write_run(root, run_id, info, lines)
    if keep:
        from training.runs import RunWriter

        RunWriter(folder).write_predictions("test", 100, REFS, outputs)
    return folder


def test_paired_intervals_decide_ties_and_runs_without_outputs_say_so(tmp_path, write_run):
    every, half, other_half = set(range(40)), set(range(0, 40, 2)), set(range(1, 40, 2))
    _run(tmp_path, write_run, "int8-lora", "lora", "int8", _outputs(half))
    _run(tmp_path, write_run, "int8-adalora", "adalora", "int8", _outputs(every))  # worse on all
    _run(tmp_path, write_run, "nf4-lora", "lora", "nf4", _outputs(other_half))  # same count
    _run(tmp_path, write_run, "full", "full", "fp32", [], keep=False, wer=0.05)
    close, adalora, int8, _, _ = findings(list_runs(tmp_path))

    # AdaLoRA: one more error on half the clips (6 words each): +8.3 points, 0 left out
    assert adalora.verdict == "does not hold"
    assert "tiny int8: AdaLoRA 16.7% vs LoRA 8.3% (Δ +8.3 points, 95% [+5.8, +10.8])" in (
        adalora.evidence
    )
    # int8 vs NF4 LoRA: as many errors, on other clips: the gap is 0 and its interval holds 0
    assert int8.verdict == "not distinguishable" and "(not distinguishable)" in int8.evidence
    # The full fine-tune kept no outputs: its comparison says so and the note says why.
    assert close.evidence.endswith("vs full 5.0% (no interval)")
    text = findings_markdown(list_runs(tmp_path))
    assert "test split, 40 clips" in text and "1 of the 4 runs compared" in text
    assert "full: weights not in git, so their run.json command trains them again" in text


def test_a_rescore_on_the_runs_own_manifest_supplies_the_outputs(tmp_path, write_run):
    half = set(range(0, 40, 2))
    _run(tmp_path, write_run, "int8-lora", "lora", "int8", _outputs(half))
    _run(tmp_path, write_run, "int8-adalora", "adalora", "int8", [], keep=False, wer=0.3)
    (tmp_path / "int8-adalora" / "adapter").mkdir()  # weights in git: bench.rescore can score it

    def rescore(manifest: str) -> None:
        (tmp_path / "bench").mkdir(exist_ok=True)
        row = {"kind": "rescore", "run": "int8-adalora", "split": "test", "manifest": manifest,
               "references": REFS, "predictions": _outputs(set(range(40)))}  # fmt: skip
        results = json.dumps({"meta": {}, "rows": [row]})
        (tmp_path / "bench" / "grid-rescore.json").write_text(results)

    text = findings_markdown(list_runs(tmp_path))  # no rescore yet: the command to run
    assert "(no interval)" in text and (
        f"`python -m bench.rescore {tmp_path.name}/int8-adalora --train {MANIFEST} "
        "--splits test --name grid-rescore`" in text
    )
    rescore("data/other/manifest.jsonl")  # another corpus's test split: not these clips
    assert "(no interval)" in findings_markdown(list_runs(tmp_path))
    rescore(MANIFEST)
    _, adalora, *_ = findings(list_runs(tmp_path))
    assert "AdaLoRA 30.0% vs LoRA 8.3% (Δ +8.3 points, 95% [+5.8, +10.8])" in adalora.evidence
    assert "No interval" not in findings_markdown(list_runs(tmp_path))


def test_the_committed_grid_states_its_clips_and_each_comparisons_interval_or_its_absence():
    text = findings_markdown(list_runs(ROOT / "checkpoints"))
    assert "Each WER above is on the runs' test split, 60 clips." in text
    comparisons = [item for line in text.splitlines()
                   if line.startswith("- **") and "small share" not in line
                   for item in line.split("; ")]  # fmt: skip
    assert comparisons and all("(no interval)" in c or "95% [" in c for c in comparisons)
    if "(no interval)" in text:  # how the older runs would get one: rescored, or trained again
        assert (
            "--train data/aclsum-asr/manifest.jsonl --splits test --name grid-rescore`" in text
            or "weights not in git, so their run.json command trains" in text
        )
