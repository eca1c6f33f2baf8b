"""The Reported vs measured view: our numbers beside published ones, compared like with like.

Absolute WER and ROUGE are not comparable across datasets (ours: synthetic speech of ACL
papers, ACLSum; the thesis's: How2, Gazeta, WikiHow), so the view shows ratios and rankings
(``results.charts.reported``), absolute numbers only where the quantity is the same
(weights of the same architecture), and the findings: which claims hold at our scale.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from dashboard.training_view import memory_rows
from demo.reference import load_reference
from results.charts import cost
from results.charts import reported as reported_charts
from results.findings import findings_markdown
from results.runs import Run

# The figures the view shows, in order (keys of reported_figures).
REPORTED_FIGURES = (
    "wer_relative_to_full",
    "rouge_relative_to_full",
    "memory_relative_to_fp16",
    "memory_measured_vs_reported",
    "minutes_relative_to_full",
    "trainable_share",
)
REFERENCE_TITLES = {
    "whisper_wer": "WER (%) after 6 epochs on How2, Table 4.4",
    "whisper_memory": "Model size (MB) per precision, Table 4.2",
    "whisper_train_time": "Minutes per epoch (40 h of audio), Table 4.3",
    "whisper_hparams": "Learning rates and batch sizes, Table 4.1",
    "rouge": "ROUGE (x100) of the summarizers on Gazeta and WikiHow, Tables 3.3/3.4",
}


def reported_figures(
    runs: Sequence[Run],
    bench_rows: Sequence[Mapping[str, Any]] = (),
    *,
    template: str = "plotly_white",
    metric: str = "rouge1",
) -> dict[str, go.Figure]:
    """Measured beside reported (hatched, "(reported)" in legends), as ratios where the data
    differ."""
    memory = memory_rows(runs, bench_rows)
    return {
        "wer_relative_to_full": reported_charts.relative_wer(runs, template=template),
        "rouge_relative_to_full": reported_charts.relative_rouge(
            runs, metric=metric, template=template
        ),
        "memory_relative_to_fp16": reported_charts.memory_ratios(memory, template=template),
        "memory_measured_vs_reported": cost.memory_per_precision(
            memory, show_reported=True, template=template
        ),
        "minutes_relative_to_full": reported_charts.time_ratios(runs, template=template),
        "trainable_share": reported_charts.trainable_share(runs, template=template),
    }


def findings_text(runs: Sequence[Run]) -> str:
    """The findings section: which of the thesis's claims hold in our runs."""
    return "### Which claims hold at our scale (measured)\n\n" + findings_markdown(runs)


def reference_tables() -> dict[str, pd.DataFrame]:
    """The thesis tables shown as reported numbers, keyed by a title naming the table."""
    return {title: load_reference(name) for name, title in REFERENCE_TITLES.items()}
