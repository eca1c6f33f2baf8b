"""``run.json``: what one training run trained and how, as one frozen dataclass.

Training writes it (``training.runs.RunWriter``), the dashboard reads it (``results.runs``),
tests build run folders through the same writer. Reading is tolerant: a field of the wrong
type becomes its default with a warning, unknown keys are kept in ``extra``, so a run written
by an older or newer version still shows.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any

RUN_FILE = "run.json"
METRICS_FILE = "metrics.jsonl"
PREDICTIONS_DIR = "predictions"  # <split>.jsonl: each held-out example's reference and output
VALIDATION_SPLIT = "validation"
TEST_SPLIT = "test"
STATUSES = ("running", "completed", "failed", "interrupted")
QUANTIZED_PRECISIONS = ("int8", "nf4")
_INT64 = 2**63  # a larger count can't sit in a table's integer column


@dataclass(frozen=True)
class RunInfo:
    run_id: str  # the run folder's name
    task: str  # "asr" or "summarization" (what is scored: WER/CER or ROUGE)
    model: str  # registry name, hub id or folder of the base model
    method: str  # full, lora, adalora (or a research system's own, e.g. "qformer")
    precision: str  # base weights: fp32, fp16, bf16, int8, nf4
    status: str = "running"  # a STATUSES value
    size: str | None = None  # Whisper size family (tiny ... large)
    family: str | None = None  # summarizer family (t5, bart, mbart, llama)
    rank: int | None = None  # LoRA/AdaLoRA rank r; None for full fine-tuning
    dataset: str | None = None  # what it trained on, as charts name it
    system: str | None = None  # research system: None (the cascade), lowrank, latent, qformer
    started_at: str | None = None  # ISO times
    ended_at: str | None = None
    trainable_params: int | None = None
    total_params: int | None = None
    trainable_pct: float | None = None
    weights_footprint_mb: float | None = None  # the model as trained (adapter included)
    device: str | None = None
    total_steps: int | None = None
    train_examples: int | None = None
    validation_examples: int | None = None
    error: str | None = None  # why it failed
    command: str | None = None  # the command that reproduces it
    config: dict[str, Any] = field(default_factory=dict)  # every training option
    adalora_schedule: dict[str, Any] | None = None
    data: dict[str, Any] = field(default_factory=dict)  # per split: rows read, kept, dropped
    versions: dict[str, Any] = field(default_factory=dict)
    hardware: dict[str, Any] = field(default_factory=dict)
    resumed_at: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # system-specific facts

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {self.status!r}.")

    @property
    def mode(self) -> str | None:
        """Training mode label: "full", "lora", "int8", "int8+adalora", "nf4+lora" ..."""
        return mode_label(self.method, self.precision, self.system)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict, the layout of run.json."""
        return dataclasses.asdict(self)

    def updated(self, **changes: Any) -> RunInfo:
        """A copy with ``changes`` applied (the dataclass is frozen)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], run_id: str, warnings: list[str] | None = None
    ) -> RunInfo:
        """Read run.json's object; wrong-typed fields fall back to defaults with a warning."""
        warnings = warnings if warnings is not None else []
        hints = typing.get_type_hints(cls)
        values: dict[str, Any] = {}
        extra = dict(data.get("extra") or {}) if isinstance(data.get("extra"), dict) else {}
        names = {f.name: f for f in dataclasses.fields(cls)}
        for key, value in data.items():
            if key == "extra":
                continue
            if key not in names:
                extra[key] = value
                continue
            if value is None or _fits(value, hints[key]):
                values[key] = _coerce(value, hints[key])
            else:
                warnings.append(f"run.json field {key!r} has an unexpected value; ignored.")
        values.setdefault("run_id", run_id)
        for required in ("task", "model", "method", "precision"):
            if not isinstance(values.get(required), str):
                values[required] = ""
        if values.get("status") not in STATUSES:
            if "status" in values:
                warnings.append(f"run.json status {values['status']!r} is unknown; ignored.")
            values["status"] = "running"
        for name, f in names.items():
            if values.get(name) is None and f.default_factory is not dataclasses.MISSING:
                values[name] = f.default_factory()
        values["extra"] = extra
        return cls(**values)


def mode_label(method: str | None, precision: str | None, system: str | None = None) -> str | None:
    """Name a training mode the way the thesis does: quantization first, then the adapter;
    a research system's runs are prefixed with it ("lowrank:full"), so they never share a
    chart cell with the cascade's runs of the same method."""
    if not method:
        return None
    quantized = precision if precision in QUANTIZED_PRECISIONS else None
    if method == "full":
        label = quantized or "full"
    else:
        label = f"{quantized}+{method}" if quantized else method
    return f"{system}:{label}" if system and system != method else label


def _fits(value: Any, hint: Any) -> bool:
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    for option in options:
        origin = typing.get_origin(option) or option
        if option is type(None):
            continue
        if origin is float and isinstance(value, int | float) and not isinstance(value, bool):
            return True
        if origin is int and isinstance(value, int) and not isinstance(value, bool):
            return abs(value) < _INT64
        if origin is int and isinstance(value, float) and value.is_integer():
            return abs(value) < _INT64
        if origin in (str, dict, list) and isinstance(value, origin):
            return True
    return False


def _coerce(value: Any, hint: Any) -> Any:
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if int in options and isinstance(value, float) and float not in options:
        return int(value)
    return value
