"""The thesis's reported numbers, looked up for a chart: by size and mode, or by summarizer.

Every value comes from ``assets/reference`` through ``demo.reference``; charts draw them as
"(reported)" traces.
"""

from __future__ import annotations

from collections.abc import Mapping

from demo.reference import load_reference
from results.charts.style import METHOD_ORDER, num

REPORTED_WER_EPOCH = 6  # Table 4.4 is WER after 6 epochs on How2
# Our mode label -> thesis_whisper_wer.csv column. The thesis says int4 for NF4, and its
# "int4"/"int8" columns are LoRA on a quantized base (QLoRA), our "nf4+lora"/"int8+lora".
WER_REPORTED_COLUMNS = {
    "full": "full",
    "nf4+lora": "int4",
    "int8+lora": "int8",
    "nf4+adalora": "int4_adalora",
    "int8+adalora": "int8_adalora",
}
# Precision -> thesis_whisper_memory.csv column; the thesis' "full precision" sizes are fp16.
MEMORY_REPORTED_COLUMNS = {
    "fp16": "memory_fp_mb",
    "int8": "memory_int8_mb",
    "nf4": "memory_int4_mb",
}
# Quantization of a mode ("full" when none) -> thesis_whisper_train_time.csv column.
TRAIN_TIME_REPORTED_COLUMNS = {
    "full": "minutes_per_epoch_full",
    "int8": "minutes_per_epoch_int8",
    "nf4": "minutes_per_epoch_int4",
}


def reported_wer() -> dict[tuple[str, str], float]:
    """(size, mode) -> thesis WER %, from Table 4.4."""
    return reported_by_size("whisper_wer", WER_REPORTED_COLUMNS)


def reported_by_size(table: str, columns: Mapping[str, str]) -> dict[tuple[str, str], float]:
    frame = load_reference(table)
    values = {}
    for record in frame.to_dict("records"):
        for key, column in columns.items():
            value = num(record.get(column))
            if value is not None:
                values[(str(record["size"]), key)] = value
    return values


def reported_rouge_columns() -> list[str]:
    return [c for c in load_reference("rouge").columns if c.startswith("rouge")]


def reported_rouge(dataset: str, family: str, mode: str, metric: str) -> float | None:
    """Thesis ROUGE x100 for a run's dataset/family/mode; dataset names match by substring."""
    if mode not in METHOD_ORDER:
        return None  # the thesis summarizers were not quantized
    frame = load_reference("rouge")
    if metric not in frame.columns:
        return None
    data, family = dataset.lower(), family.lower()
    for record in frame.to_dict("records"):
        if record["dataset"] in data and record["model"] == family and record["method"] == mode:
            return num(record[metric])
    return None
