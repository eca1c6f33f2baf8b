"""The Whisper fine-tuning grid's section of ``assets/benchmarks.md`` (written by results.report).

From the completed runs in checkpoints/ (``training/grids/asr.yaml``): per Whisper size and
training mode, the trainable share, WER before and after on the corpus test split and on real
speech, WER relative to the untrained model and to the same size's full fine-tuning, minutes
per epoch and peak RSS; the grid's cells not run yet; then the findings (``results.findings``:
which of the thesis's claims hold here).
"""

from __future__ import annotations

from pathlib import Path

from bench.env import ROOT
from bench.markdown import fmt, table
from results.charts.cost import minutes_per_epoch_of
from results.charts.reported import final_score, grid_runs, wer_cells
from results.charts.style import MODE_ORDER, SIZE_ORDER, num
from results.findings import findings_markdown
from results.runs import Run, list_runs

GRID_SIZES = ("tiny", "base")  # the sizes the grid trains here (CPU)
GRID_MODES = ("full", "int8+lora", "int8+adalora", "nf4+lora", "nf4+adalora")  # the thesis's


def _order(run: Run) -> tuple:
    mode = MODE_ORDER.index(run.mode) if run.mode in MODE_ORDER else len(MODE_ORDER)
    lr = run.config.get("lr")
    return SIZE_ORDER.index(run.size) if run.size in SIZE_ORDER else 99, mode, -(lr or 0)


def _at_step0(run: Run, split: str) -> float | None:
    lines = [m for m in run.metrics if m.get("split") == split and m.get("step") == 0]
    return num(lines[0].get("wer")) if lines else None


def _pct(value: float | None) -> str:
    return fmt(None if value is None else 100 * value, ".1f")


def grid_rows(runs: list[Run]) -> list[list[str]]:
    """One row per completed grid run; a run that is not its cell's pick (another learning
    rate did better on validation) is marked so."""
    cells = wer_cells(runs)
    rows = []
    for run in sorted(grid_runs(runs), key=_order):
        full = cells.get((run.size, "full"))
        test, untrained = final_score(run, "wer"), _at_step0(run, "test")
        real = num(run.split("real-speech").get("wer"))
        full_test = final_score(full, "wer") if full is not None else None
        lr = run.config.get("lr")
        picked = cells.get((run.size, run.mode)) is run
        peak = num(run.final.get("peak_memory_mb"))
        gc = " (gc)" if run.checkpointed else ""
        rows.append([
            run.size, run.mode + ("" if picked else " (not the cell's pick)"),
            fmt(lr, "g"), fmt(run.info.trainable_pct if run.info else None, ".2f"),
            _pct(num(run.final.get("wer"))), f"{_pct(untrained)} → {_pct(test)}",
            f"{_pct(_at_step0(run, 'real-speech'))} → {_pct(real)}",
            fmt(test / untrained if test is not None and untrained else None),
            fmt(test / full_test if test is not None and full_test else None),
            fmt(minutes_per_epoch_of(run), ".1f") + gc,
            fmt(None if peak is None else peak / 1024, ".1f") + gc,
            run.run_id,
        ])  # fmt: skip
    return rows


def grid_section(runs_root: Path | None = None) -> list[str]:
    """The grid table, the cells still to run, and the findings, from the runs in
    ``runs_root`` (default: the repository's checkpoints/); [] without grid runs."""
    runs = list_runs(runs_root or ROOT / "checkpoints")
    rows = grid_rows(runs)
    if not rows:
        return []
    dataset = grid_runs(runs)[0].dataset
    out = ["## The Whisper fine-tuning grid: size × mode, from the checked-in runs", ""]
    out += ["`python -m training.grid training/grids/asr.yaml` (each run's command is in its "
            f"run.json) on "
            f"{dataset} (ours; the thesis trained on How2, so compare the ratios, not the WER). "
            "WER before → after training on the corpus test split and on the real-speech clips "
            "(jfk and the English part of multilingual.mp3); *÷ untrained* and *÷ full*: test "
            "WER over the untrained model's and over the same size's full fine-tuning. Each "
            "cell's pick is its run with the best validation WER. Minutes per epoch and peak RSS "
            "on a shared 2-core CPU; *(gc)*: trained with gradient checkpointing (two runs at once "
            "would not fit in 23 GB without it), which costs time and saves activation memory, "
            "so those two columns do not compare with the other rows.", ""]  # fmt: skip
    header = ["size", "mode", "lr", "trainable %", "val WER %", "test WER %",
              "real-speech WER %", "÷ untrained", "÷ full", "min / epoch", "peak RSS GB",
              "run"]  # fmt: skip
    out += table(header, rows) + [""]
    cells = wer_cells(runs)
    missing = [f"{s} {m}" for s in GRID_SIZES for m in GRID_MODES if (s, m) not in cells]
    if missing:
        out += [f"Not run yet: {', '.join(missing)}.", ""]
    out += ["### Which of the thesis's claims hold at our scale (measured)", ""]
    return out + [findings_markdown(runs), ""]
