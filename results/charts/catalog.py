"""Every chart of the Training runs and Reported vs measured views: what draws it, what it
reads and the command that makes its data. The one place for these facts: the defense report
(dashboard.report) prints each chart's command from here, and docs/reproduce.md holds the
tables ``markdown`` writes (tests/test_docs.py keeps them equal).

    python -m results.charts.catalog        # the two tables, for docs/reproduce.md
"""

from __future__ import annotations

from dataclasses import dataclass

GRID = "python -m training.grid training/grids/"


@dataclass(frozen=True)
class Chart:
    keys: tuple[str, ...]  # the figures' keys in the views (training_figures, reported_figures)
    title: str
    drawn_by: str  # functions under results/charts/ (markdown)
    reads: str  # (markdown)
    command: str  # what makes the data (plain text)


TRAINING_VIEW = (
    Chart(("wer_per_epoch_by_size", "wer_per_epoch_by_mode"), "WER per epoch, by size / by mode",
          "`charts.training.wer_per_epoch`", "Whisper runs' `metrics.jsonl`",
          f"{GRID}asr.yaml (or any training.train_asr run)"),
    Chart(("real_speech_wer",), "WER on real human speech, by training corpus (tab *Real speech*)",
          "`charts.corpus.real_speech_wer`",
          "each Whisper run's last `real-speech` line when it scored the real-speech set, else "
          "its rows of kind `rescore` (`grid-v2-rescore-*.json`)", f"{GRID}asr-v2.yaml"),
    Chart(("rouge_vs_rank",), "ROUGE vs LoRA rank", "`charts.training.rouge_vs_rank`",
          "summarizer runs", f"{GRID}summarizer.yaml"),
    Chart((), "Final metrics table", "`charts.training.final_metrics_table`",
          "every run's last validation and test scores", "any training run"),
    Chart(("memory_per_precision",), "Memory per precision",
          "`charts.cost.memory_per_precision`",
          "runs' `weights_footprint_mb` and `memory.json` rows",
          "python -m bench.memory (and any training run)"),
    Chart(("minutes_per_epoch",), "Minutes per epoch", "`charts.cost.minutes_per_epoch`",
          "runs' `metrics.jsonl`", f"{GRID}asr.yaml (any training run)"),
    Chart(("bench_latency", "bench_memory", "bench_wer"),
          "Benchmark latency, memory, WER per configuration",
          "`charts.compare.bench_latency`, `bench_memory`, `compare_bars`",
          "rows of kind `asr`: `asr-cpu.json`, `asr-cpu-longform.json`",
          "python -m bench.asr --ablation (and the long-form bench.asr command above)"),
    Chart(("bench_summarizer",), "Summarizer speed and ROUGE-L per engine",
          "`charts.compare.summarizer_bench`", "rows of kind `summarizer`: `summarize-*.json`",
          "python -m bench.summarize (the commands above)"),
    Chart(("bench_faithfulness",), "Key facts kept, details invented",
          "`charts.faithfulness.faithfulness_bench`", "`summarize-spoken-dev.json`",
          "python -m bench.spoken_dev --threads 1"),
    Chart(("latent_savings",), "Latent savings", "`charts.systems.latent_savings`",
          "`latent.json`", "python -m bench.latent"),
    Chart(("latent_wer",), "Latent WER", "`charts.systems.latent_wer`",
          "`latent-whisper-*.json`",
          f"{GRID}latent.yaml (its last steps run bench.latent_whisper)"),
    Chart(("lowrank_arms",), "Low-rank arms", "`charts.systems.lowrank_arms`",
          "`checkpoints/lowrank-*` and the originals' runs", f"{GRID}lowrank.yaml"),
    Chart(("bridge_wer_vs_queries",), "Bridge WER vs queries",
          "`charts.systems.bridge_wer_vs_queries`", "`bridge_wer_vs_queries.json`",
          f"{GRID}bridge.yaml, then python -m training.eval_bridge (the command above)"),
    Chart(("e2e_vs_cascade",), "E2E vs cascade", "`charts.systems.e2e_vs_cascade`",
          "`e2e-v2.json` (the `e2e*.json` over the most clips)",
          f"{GRID}e2e-v2.yaml (its last step runs bench.e2e)"),
)  # fmt: skip

REPORTED_VIEW = (
    Chart(("wer_relative_to_full",), "WER relative to full fine-tuning",
          "`charts.reported.relative_wer`", "Whisper grid runs; `thesis_whisper_wer.csv`",
          f"{GRID}asr.yaml"),
    Chart(("rouge_relative_to_full",), "ROUGE relative to full fine-tuning",
          "`charts.reported.relative_rouge`", "summarizer runs; `thesis_rouge.csv`",
          f"{GRID}summarizer.yaml"),
    Chart(("memory_relative_to_fp16", "memory_measured_vs_reported"),
          "Memory relative to fp16, and measured vs reported",
          "`charts.reported.memory_ratios`, `charts.cost.memory_per_precision`",
          "runs and `memory.json`; `thesis_whisper_memory.csv`", "python -m bench.memory"),
    Chart(("minutes_relative_to_full",), "Minutes per epoch relative to full",
          "`charts.reported.time_ratios`", "Whisper grid runs; `thesis_whisper_train_time.csv`",
          f"{GRID}asr.yaml"),
    Chart(("trainable_share",), "Trainable share", "`charts.reported.trainable_share`",
          "runs; `thesis_whisper_memory.csv`", f"{GRID}asr.yaml and summarizer.yaml"),
)  # fmt: skip

# The command behind each figure key (the defense report prints it under the chart).
FIGURE_COMMANDS: dict[str, str] = {
    key: chart.command for chart in TRAINING_VIEW + REPORTED_VIEW for key in chart.keys
}


def markdown(charts: tuple[Chart, ...]) -> list[str]:
    """The table of ``charts`` as docs/reproduce.md holds it."""
    out = ["| figure | drawn by | reads | made by |", "|---|---|---|---|"]
    out += [f"| {c.title} | {c.drawn_by} | {c.reads} | {_code(c.command)} |" for c in charts]
    return out


def _code(command: str) -> str:
    """A command in backticks, a note after it in parentheses left out of them."""
    if not command.startswith("python"):
        return command
    head, paren, note = command.partition(" (")
    return f"`{head}`" + (f" ({note}" if paren else "")


if __name__ == "__main__":
    print("\n".join(markdown(TRAINING_VIEW)), end="\n\n")
    print("\n".join(markdown(REPORTED_VIEW)))
