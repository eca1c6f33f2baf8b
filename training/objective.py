"""A training loss other than the model's own, which a task may give the loop
(``Task.objective``: distillation, ``training.distill``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Objective:
    """What the loop backpropagates instead of ``model(**batch).loss``; validation keeps the
    model's cross-entropy."""

    loss: Any  # (prepared model, batch) -> scalar loss tensor to backpropagate
    run_extra: dict[str, Any] = field(default_factory=dict)  # merged into run.json's extra
    metrics: Any = None  # () -> floats for each validation line (the interval's parts)
