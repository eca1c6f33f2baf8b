"""What one training run holds while it trains, and what a task must provide.

``Task`` is the protocol every task implements (ASR, summarization, the research systems);
``TaskData`` its datasets; ``Session`` the live state the loop, the evaluation and the
resume code share.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Protocol

from demo.errors import DemoError
from training.config import TrainConfig
from training.data import DataReport
from training.modeling import TrainableModel
from training.objective import Objective
from training.runs import RunWriter


class TrainingError(DemoError):
    """Training stopped for a reason the user can act on (out of memory, bad data...)."""


@dataclass
class TaskData:
    train: Any  # map-style dataset
    validation: Any  # map-style dataset
    collate: Any  # collator turning items into a batch dict (with "references")
    reports: dict[str, DataReport]
    name: str  # dataset name for run.json
    # More splits scored before training and once at the end (not every epoch): the corpus's
    # test split, real speech. Split name -> map-style dataset.
    evals: dict[str, Any] = field(default_factory=dict)
    # The training targets as token ids (prompt and end tokens included), for a compression
    # that calibrates on them (a token-weighted low-rank start counts them).
    train_token_ids: list[list[int]] = field(default_factory=list)
    # The tokenizer those ids come from (a general-English token source tokenizes words with it).
    tokenizer: Any = None


class Task(Protocol):
    """What differs between ASR and summarization; the loop does the rest.

    A research system plugs in through optional methods: ``build(config, device) ->
    TrainableModel`` replaces ``load_base`` + ``make_trainable`` (the Q-Former bridge,
    ``train_bridge``); ``make_trainable(model, processor, entry, config, total_steps)``
    replaces only ``training.modeling.make_trainable`` (a rebuilt base: ``train_latent``);
    ``save_outputs(model, run_dir, final)`` replaces saving an adapter or full checkpoint;
    ``objective(config, trainable, device) -> Objective | None`` replaces the model's own loss
    in training (distillation: ``training.distill``). A model whose output has a ``metrics``
    dict (floats per batch) gets them averaged over the validation set into each metrics line.
    """

    name: str  # "asr" or "summarization" (run.json's task)
    config_cls: type  # the config dataclass, to rebuild a run's config on --resume

    def data(self, config, processor, entry) -> TaskData: ...

    def default_hparams(self, config, entry) -> tuple[float, int]:
        """(learning rate, batch size) when the config leaves them out."""
        ...

    def prepare_batch(self, model, batch: dict) -> dict: ...

    def generate(self, model, processor, entry, config, batch: dict) -> list[str]: ...

    def score(self, config, references: list[str], predictions: list[str]) -> dict: ...

    def run_fields(self, entry) -> dict[str, Any]:
        """``size`` and ``family`` for run.json."""
        ...


class EpochSampler:
    """Same order on every process and every restart: a permutation seeded by (seed, epoch),
    started ``skip`` samples in when resuming mid-epoch.

    It has no ``set_epoch`` on purpose: accelerate calls that with its own epoch counter,
    which starts again at 0 in a resumed process.
    """

    def __init__(self, size: int, seed: int, shuffle: bool) -> None:
        self.size, self.seed, self.shuffle = size, seed, shuffle
        self.epoch, self.skip = 0, 0

    def start(self, epoch: int, skip: int = 0) -> None:
        self.epoch, self.skip = epoch, skip

    def _order(self) -> list[int]:
        order = list(range(self.size))
        if self.shuffle:
            random.Random(self.seed * 1_000_003 + self.epoch).shuffle(order)
        return order[self.skip :]

    def __iter__(self):
        return iter(self._order())

    def __len__(self) -> int:
        return max(0, self.size - self.skip)


@dataclass
class Progress:
    """Counters that a resume state carries."""

    global_step: int = 0
    epoch: int = 0  # the epoch being trained (0-based)
    batches_done: int = 0  # micro-batches of this epoch already trained
    metrics_lines: int = 0
    train_seconds: float = 0.0  # training time, evaluation excluded, over all restarts
    epoch_seconds: float = 0.0  # training time spent in the current epoch
    interval_loss: float = 0.0  # train loss summed since the last evaluation (per micro-batch)
    interval_batches: int = 0
    interval_samples: int = 0
    interval_seconds: float = 0.0
    # --keep-best: the best validation value so far and the step whose weights scored it
    best_value: float | None = None
    best_step: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Session:
    """Everything one run holds while it trains."""

    config: TrainConfig
    task: Task
    accelerator: Any
    writer: RunWriter
    trainable: TrainableModel
    model: Any  # prepared (possibly DDP-wrapped)
    optimizer: Any
    scheduler: Any
    train_loader: Any
    val_loader: Any
    eval_loaders: dict[str, Any]  # split name -> loader, scored at step 0 and at the end
    sampler: EpochSampler
    batches_per_epoch: int
    steps_per_epoch: int
    total_steps: int
    progress: Progress = field(default_factory=Progress)
    objective: Objective | None = None  # the task's training loss (None: the model's own)
    pending_rng: dict[str, Any] | None = None  # RNG state to restore at the next batch
    weights_step: int | None = None  # set when --keep-best restored an earlier step's weights

    def training_loss(self, batch: dict):
        """The loss one training batch backpropagates: the objective's, else the model's."""
        if self.objective is not None:
            return self.objective.loss(self.model, batch)
        return self.model(**batch).loss

    @property
    def unwrapped(self):
        return self.accelerator.unwrap_model(self.model)

    @property
    def main(self) -> bool:
        return self.accelerator.is_main_process
