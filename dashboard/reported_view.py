"""The Reported vs measured view: our final numbers beside the thesis's tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from dashboard.charts import reported as reported_charts
from dashboard.charts import training as charts
from dashboard.runs import Run
from dashboard.training_view import memory_rows
from demo.reference import load_reference

# The figures the view shows, in order (keys of reported_figures).
REPORTED_FIGURES = (
    "wer_measured_vs_reported",
    "rouge_measured_vs_reported",
    "memory_measured_vs_reported",
    "minutes_measured_vs_reported",
)
REFERENCE_TITLES = {
    "whisper_wer": "WER (%) after 6 epochs, Table 4.4",
    "whisper_memory": "Model size (MB) per precision, Table 4.2",
    "whisper_train_time": "Minutes per epoch (40 h of audio), Table 4.3",
    "rouge": "ROUGE (x100) of the summarizers, Tables 3.3/3.4",
}


def reported_figures(
    runs: Sequence[Run],
    bench_rows: Sequence[Mapping[str, Any]] = (),
    *,
    template: str = "plotly_white",
    metric: str = "rouge1",
) -> dict[str, go.Figure]:
    """Measured beside the thesis' reported numbers (hatched/hollow, "(reported)" in legends)."""
    return {
        "wer_measured_vs_reported": reported_charts.reported_vs_measured_wer(
            runs, template=template
        ),
        "rouge_measured_vs_reported": reported_charts.reported_vs_measured_rouge(
            runs, metric=metric, template=template
        ),
        "memory_measured_vs_reported": charts.memory_per_precision(
            memory_rows(runs, bench_rows), show_reported=True, template=template
        ),
        "minutes_measured_vs_reported": charts.minutes_per_epoch(
            runs, show_reported=True, template=template
        ),
    }


def reference_tables() -> dict[str, pd.DataFrame]:
    """The thesis tables shown as reported numbers, keyed by a title naming the table."""
    return {title: load_reference(name) for name, title in REFERENCE_TITLES.items()}
