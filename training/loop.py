"""The one training loop behind ``train_asr`` and ``train_summarizer``.

A task (ASR or summarization) says how to load its base, build its datasets, generate and
score; everything else lives here: accelerate (one process or DDP under ``accelerate
launch``), the optimizer and schedule, gradient accumulation, AdaLoRA's
``update_and_allocate(global_step)`` before ``zero_grad()``, evaluation with generation at
epoch 0, every epoch and optionally every N steps, crash-safe resume, progress bars and the
run folder. Only the main process writes files.
"""

from __future__ import annotations

import math
import random
import resource
import sys
import time
import warnings
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from tqdm.auto import tqdm

from demo.errors import DemoError
from demo.measure import weights_footprint_mb
from demo.options import from_dict, to_dict
from demo.provenance import command_line, machine, now_iso, versions
from demo.runinfo import VALIDATION_SPLIT, RunInfo, mode_label
from training.config import TrainConfig
from training.data import IGNORE_INDEX, DataReport
from training.modeling import (
    TrainableModel,
    adalora_allocator_state,
    load_adalora_allocator_state,
    load_base,
    load_trainable_state,
    make_trainable,
    precision_label,
    trainable_state,
)
from training.runs import ADAPTER_DIR, FULL_MODEL_DIR, RunWriter, make_run_id, resolve_run_dir

MB = 1024 * 1024


class TrainingError(DemoError):
    """Training stopped for a reason the user can act on (out of memory, bad data...)."""


@dataclass
class TaskData:
    train: Any  # map-style dataset
    validation: Any  # map-style dataset
    collate: Any  # collator turning items into a batch dict (with "references")
    reports: dict[str, DataReport]
    name: str  # dataset name for run.json


class Task(Protocol):
    """What differs between ASR and summarization; the loop does the rest."""

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
    sampler: EpochSampler
    batches_per_epoch: int
    steps_per_epoch: int
    total_steps: int
    progress: Progress = field(default_factory=Progress)
    pending_rng: dict[str, Any] | None = None  # RNG state to restore at the next batch

    @property
    def unwrapped(self):
        return self.accelerator.unwrap_model(self.model)

    @property
    def main(self) -> bool:
        return self.accelerator.is_main_process


# ----------------------------------------------------------------------------- entry point


def run_training(config: TrainConfig, task: Task, accelerator=None) -> Path:
    """Train one run (or continue it with ``config.resume``); returns the run folder."""
    import torch
    from accelerate import Accelerator

    if accelerator is None:
        from demo.quant import resolve_device

        cpu = resolve_device(config.device) == "cpu"
        accelerator = Accelerator(mixed_precision=config.mixed_precision, cpu=cpu)
    resumed_from: RunWriter | None = None
    if config.resume is not None:
        run_dir = resolve_run_dir(config.resume, config.output_dir)
        resumed_from = RunWriter(run_dir, enabled=accelerator.is_main_process)
        info = resumed_from.read_info()
        if info.status == "completed":
            raise TrainingError(f"Run {run_dir.name} already completed; nothing to resume.")
        # The run continues with the config it started with; only the resume flag is new.
        saved = from_dict(task.config_cls, info.config)
        config = replace(saved, resume=config.resume)
    try:
        session = _prepare(config, task, accelerator, resumed_from)
    except torch.cuda.OutOfMemoryError as exc:
        raise TrainingError(_oom_message(config, "loading the model")) from exc
    writer = session.writer
    try:
        if resumed_from is not None:
            _resume(session)
        _train(session)
    except torch.cuda.OutOfMemoryError as exc:
        writer.write_info(status="failed", ended_at=now_iso(), error="CUDA out of memory")
        raise TrainingError(_oom_message(session.config, "training")) from exc
    except KeyboardInterrupt:
        writer.write_info(status="interrupted", ended_at=now_iso())
        raise
    except BaseException as exc:
        writer.write_info(status="failed", ended_at=now_iso(), error=f"{type(exc).__name__}: {exc}")
        raise
    return writer.run_dir


def _prepare(config: TrainConfig, task: Task, accelerator, resumed_from: RunWriter | None):
    """Load the base, build the data, wrap with the adapter, and open (or reopen) the run."""
    import torch
    from accelerate.utils import set_seed
    from transformers import get_linear_schedule_with_warmup

    set_seed(config.seed)
    device = accelerator.device.type
    model, processor, entry = load_base(config, task.name, device, accelerator.device.index)
    lr, batch_size = task.default_hparams(config, entry)
    config = replace(
        config,
        lr=config.lr if config.lr is not None else lr,
        batch_size=config.batch_size or batch_size,
        eval_batch_size=config.eval_batch_size or config.batch_size or batch_size,
    )
    data = task.data(config, processor, entry)
    if accelerator.is_main_process:
        for report in data.reports.values():
            print(report.summary(), file=sys.stderr)
            for example in report.examples:
                print(f"  {example}", file=sys.stderr)
    sampler = EpochSampler(len(data.train), config.seed, shuffle=True)
    train_loader = _loader(data.train, config.batch_size, data.collate, config, sampler)
    val_loader = _loader(data.validation, config.eval_batch_size, data.collate, config, None)
    train_loader, val_loader = accelerator.prepare(train_loader, val_loader)
    batches_per_epoch = len(train_loader)  # per process
    steps_per_epoch = math.ceil(batches_per_epoch / config.grad_accum)
    total_steps = config.max_steps or config.epochs * steps_per_epoch

    trainable = make_trainable(model, processor, entry, config, task.name, total_steps)
    optimizer = torch.optim.AdamW(
        [p for p in trainable.model.parameters() if p.requires_grad],
        lr=config.lr,
        weight_decay=config.weight_decay,
    )
    # Stepped by the loop once per optimizer step: accelerate's wrapper would step it once per
    # process, which only fits schedules sized for the unsharded data.
    scheduler = get_linear_schedule_with_warmup(optimizer, config.warmup_steps, total_steps)
    prepared_model, optimizer = accelerator.prepare(trainable.model, optimizer)
    if resumed_from is not None:
        writer = resumed_from
    else:
        writer = _new_run(config, task, accelerator, trainable, data, total_steps)
    return Session(
        config=config,
        task=task,
        accelerator=accelerator,
        writer=writer,
        trainable=trainable,
        model=prepared_model,
        optimizer=optimizer,
        scheduler=scheduler,
        train_loader=train_loader,
        val_loader=val_loader,
        sampler=sampler,
        batches_per_epoch=batches_per_epoch,
        steps_per_epoch=steps_per_epoch,
        total_steps=total_steps,
    )


def _loader(dataset, batch_size: int, collate, config: TrainConfig, sampler):
    from torch.utils.data import DataLoader

    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        shuffle=False,
        collate_fn=collate,
        num_workers=config.num_workers,
    )


def _new_run(config, task, accelerator, trainable: TrainableModel, data: TaskData, total_steps):
    from accelerate.utils import broadcast_object_list

    precision = precision_label(config.precision, accelerator.device.type)
    mode = mode_label(config.method, precision) or config.method
    root = Path(config.output_dir)
    run_id, error = config.run_id, None
    if accelerator.is_main_process:
        if run_id is None:
            run_id = make_run_id(task.name, config.model, mode, config.rank, root)
        elif (root / run_id / "run.json").exists():
            error = f"Run {run_id} already exists in {root}; pick another --run-id or --resume it."
    # Every process names the same folder (and fails the same way).
    run_id, error = broadcast_object_list([run_id, error])
    if error:
        raise TrainingError(error)
    writer = RunWriter(root / run_id, enabled=accelerator.is_main_process)
    total = trainable.total_params
    writer.start(
        RunInfo(
            run_id=run_id,
            task=task.name,
            model=trainable.entry.name,
            **task.run_fields(trainable.entry),
            method=config.method,
            precision=precision,
            rank=config.rank,
            dataset=data.name,
            started_at=now_iso(),
            trainable_params=trainable.trainable_params,
            total_params=total,
            trainable_pct=round(trainable.trainable_pct, 4),
            weights_footprint_mb=round(weights_footprint_mb(trainable.model), 2),
            device=accelerator.device.type,
            config=to_dict(config),
            adalora_schedule=trainable.schedule or None,
            total_steps=total_steps,
            train_examples=len(data.train),
            validation_examples=len(data.validation),
            data={split: report.to_dict() for split, report in data.reports.items()},
            command=command_line(),
            versions=versions(),
            hardware=machine(accelerator.num_processes),
        )
    )
    if accelerator.is_main_process:
        print(
            f"Run {run_id}: {trainable.trainable_params:,} of {total:,} parameters train "
            f"({trainable.trainable_pct:.2f}%), {total_steps} steps -> {writer.run_dir}",
            file=sys.stderr,
        )
    return writer


# ----------------------------------------------------------------------------- resume


def _resume(session: Session) -> None:
    """Load the latest resume state; drop metric lines written after it (they'll be redone)."""
    writer, accelerator = session.writer, session.accelerator
    state = RunWriter(writer.run_dir, enabled=False).load_resume()
    keep = 0 if state is None else state["progress"]["metrics_lines"]
    # Only the main process touches files; the others wait so they read a settled folder.
    dropped = writer.truncate_metrics(keep)
    accelerator.wait_for_everyone()
    resumed = list(writer.info.resumed_at)
    resumed.append(
        {"at": now_iso(), "step": 0 if state is None else state["progress"]["global_step"]}
    )
    writer.write_info(status="running", ended_at=None, resumed_at=resumed)
    if state is None:
        _say(accelerator, f"{writer.run_dir.name} has no resume state yet; starting it over.")
        return
    unwrapped = session.unwrapped
    load_trainable_state(unwrapped, state["model"])
    session.optimizer.load_state_dict(state["optimizer"])
    session.scheduler.load_state_dict(state["scheduler"])
    if state.get("adalora") is not None:
        load_adalora_allocator_state(unwrapped, state["adalora"])
    session.progress = Progress(**state["progress"])
    # Restored at the first batch: creating the data iterator draws from the RNG, and the
    # state was saved after that draw, so restoring now would shift every dropout mask.
    session.pending_rng = state["rng"]
    _say(
        accelerator,
        f"Resuming {writer.run_dir.name} at step {session.progress.global_step} "
        f"(epoch {session.progress.epoch + 1}, {session.progress.batches_done} batches in); "
        f"{dropped} metric line(s) after that state will be measured again.",
    )


def _say(accelerator, message: str) -> None:
    """A status line on stderr (stdout stays for results), from the main process only."""
    if accelerator.is_main_process:
        tqdm.write(message, file=sys.stderr)


def _save_state(session: Session) -> None:
    import torch

    progress = session.progress
    if not session.main:  # the weights and optimizer state are the same on every process
        session.accelerator.wait_for_everyone()
        return
    state = {
        "progress": progress.to_dict(),
        "model": trainable_state(session.unwrapped),
        "optimizer": session.optimizer.state_dict(),
        "scheduler": session.scheduler.state_dict(),
        "adalora": adalora_allocator_state(session.unwrapped),
        "rng": {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state() if torch.cuda.is_available() else None,
            "python": list(random.getstate()[1]),
            "python_version": random.getstate()[0],
        },
    }
    session.writer.save_resume(state, progress.global_step)
    session.accelerator.wait_for_everyone()


def _restore_rng(rng: dict[str, Any], session: Session) -> None:
    import torch

    if session.accelerator.process_index == 0:
        torch.set_rng_state(rng["torch"])
        if rng.get("cuda") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state(rng["cuda"])
        random.setstate((rng["python_version"], tuple(rng["python"]), None))
    else:  # other processes never saved theirs; reseed them deterministically
        torch.manual_seed(
            session.config.seed + session.progress.global_step + session.accelerator.process_index
        )


# ----------------------------------------------------------------------------- training


def _train(session: Session) -> None:
    config, accelerator, progress = session.config, session.accelerator, session.progress
    if progress.global_step == 0 and progress.metrics_lines == 0:
        _evaluate(session, epoch_end=False)  # the base model, before any training
        _save_state(session)
    bar = tqdm(
        total=session.total_steps,
        initial=progress.global_step,
        desc="training",
        unit="step",
        disable=not session.main,
        dynamic_ncols=True,
    )
    adalora = config.method == "adalora"
    done = progress.global_step >= session.total_steps
    while not done and progress.epoch < math.ceil(session.total_steps / session.steps_per_epoch):
        session.model.train()
        bar.set_description(f"epoch {progress.epoch + 1}")
        processes = accelerator.num_processes
        session.sampler.start(progress.epoch, progress.batches_done * config.batch_size * processes)
        started = time.perf_counter()
        for batch in session.train_loader:
            if session.pending_rng is not None:
                _restore_rng(session.pending_rng, session)
                session.pending_rng = None
            group_start = (progress.batches_done // config.grad_accum) * config.grad_accum
            group_size = min(config.grad_accum, session.batches_per_epoch - group_start)
            progress.batches_done += 1
            sync = (
                progress.batches_done - group_start == group_size
                or progress.batches_done == session.batches_per_epoch
            )
            batch.pop("references")
            batch = session.task.prepare_batch(session.unwrapped, batch)
            context = nullcontext() if sync else accelerator.no_sync(session.model)
            with context:
                loss = session.model(**batch).loss
                accelerator.backward(loss / group_size)
            progress.interval_loss += float(loss.detach())
            progress.interval_batches += 1
            progress.interval_samples += len(batch["labels"]) * processes
            if not sync:
                continue
            if config.max_grad_norm > 0:
                accelerator.clip_grad_norm_(session.model.parameters(), config.max_grad_norm)
            session.optimizer.step()
            if not accelerator.optimizer_step_was_skipped:
                session.scheduler.step()
            if adalora:
                # PEFT: update importance and re-allocate the budget after the optimizer step
                # and before zero_grad, since it reads the gradients.
                session.unwrapped.base_model.update_and_allocate(progress.global_step)
            session.optimizer.zero_grad(set_to_none=True)
            progress.global_step += 1
            elapsed = time.perf_counter() - started
            started = time.perf_counter()
            progress.train_seconds += elapsed
            progress.epoch_seconds += elapsed
            progress.interval_seconds += elapsed
            bar.update(1)
            bar.set_postfix(
                loss=f"{float(loss.detach()):.3f}", lr=f"{session.scheduler.get_last_lr()[0]:.2e}"
            )
            epoch_over = progress.batches_done >= session.batches_per_epoch
            finished = progress.global_step >= session.total_steps
            if (
                config.eval_steps
                and progress.global_step % config.eval_steps == 0
                and not (epoch_over or finished)
            ):
                _evaluate(session, epoch_end=False)
                session.model.train()
                _save_state(session)
                started = time.perf_counter()  # evaluation time is not training time
            elif progress.global_step % config.save_steps == 0 and not (epoch_over or finished):
                _save_state(session)
                started = time.perf_counter()
            if finished:
                break
        # A run cut short by --max-steps ends mid-epoch: its last line is not an epoch's.
        _evaluate(session, epoch_end=progress.batches_done >= session.batches_per_epoch)
        progress.epoch += 1
        progress.batches_done = 0
        progress.epoch_seconds = 0.0
        done = progress.global_step >= session.total_steps
        if not done:  # the last epoch's outputs are saved once, below
            _save_outputs(session, final=False)
            _save_state(session)
    bar.close()
    _save_outputs(session, final=True)
    session.writer.write_info(status="completed", ended_at=now_iso())
    session.writer.clear_resume()
    accelerator.wait_for_everyone()


# ----------------------------------------------------------------------------- evaluation


def _peak_memory_mb(device: str) -> float:
    import torch

    if device == "cuda":
        return torch.cuda.max_memory_allocated() / MB
    # ru_maxrss is the process's peak resident set in KiB on Linux (bytes on macOS).
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / MB if sys.platform == "darwin" else peak / 1024


def _evaluate(session: Session, *, epoch_end: bool) -> dict[str, Any]:
    """Validation loss and generated outputs scored by the task; one metrics.jsonl line."""
    import torch
    import torch.nn.functional as F

    accelerator, task, config = session.accelerator, session.task, session.config
    progress = session.progress
    model = session.unwrapped
    model.eval()
    started = time.perf_counter()
    loss_sum, tokens = 0.0, 0
    references: list[str] = []
    predictions: list[str] = []
    processor, entry = session.trainable.processor, session.trainable.entry
    bar = tqdm(session.val_loader, desc="evaluating", leave=False, disable=not session.main)
    for batch in bar:
        refs = batch.pop("references")
        batch = task.prepare_batch(model, batch)
        with torch.no_grad(), accelerator.autocast():
            logits = model(**batch).logits.float()
            labels = batch["labels"]
            if not _encoder_decoder(model):  # a causal LM's logit t predicts token t + 1
                logits, labels = logits[:, :-1], labels[:, 1:]
            per_token = F.cross_entropy(
                logits.transpose(1, 2), labels, ignore_index=IGNORE_INDEX, reduction="none"
            )
            sums = per_token.sum(dim=1)
            counts = (labels != IGNORE_INDEX).sum(dim=1).float()
            preds = task.generate(model, processor, entry, config, batch)
        sums, counts = accelerator.gather_for_metrics((sums, counts))
        loss_sum += float(sums.sum())
        tokens += int(counts.sum())
        predictions += accelerator.gather_for_metrics(preds, use_gather_object=True)
        references += accelerator.gather_for_metrics(refs, use_gather_object=True)
    scores = task.score(config, references, predictions) if accelerator.is_main_process else {}
    eval_seconds = time.perf_counter() - started
    device = accelerator.device.type
    interval = progress.interval_seconds
    line = {
        "step": progress.global_step,
        "epoch": _epoch_value(session, epoch_end),
        "split": VALIDATION_SPLIT,
        "loss": loss_sum / tokens if tokens else None,
        "train_loss": progress.interval_loss / progress.interval_batches
        if progress.interval_batches
        else None,
        "lr": session.scheduler.get_last_lr()[0],
        "seconds": round(progress.train_seconds, 3),
        "epoch_seconds": round(progress.epoch_seconds, 3) if epoch_end else None,
        "eval_seconds": round(eval_seconds, 3),
        "samples_per_second": round(progress.interval_samples / interval, 3) if interval else None,
        "eval_samples": len(references),
        "peak_memory_mb": round(_peak_memory_mb(device), 1),
        **scores,
        "example_prediction": predictions[0] if predictions else None,
        "example_reference": references[0] if references else None,
    }
    session.writer.append_metrics(line)
    progress.metrics_lines += 1
    progress.interval_loss, progress.interval_batches = 0.0, 0
    progress.interval_samples, progress.interval_seconds = 0, 0.0
    if device == "cuda":
        import torch

        torch.cuda.reset_peak_memory_stats()
    if session.main:
        shown = {k: v for k, v in line.items() if k in _SHOWN and v is not None}
        text = "  ".join(
            f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in shown.items()
        )
        tqdm.write(f"[eval] {text}", file=sys.stderr)
    accelerator.wait_for_everyone()
    return line


def _encoder_decoder(model) -> bool:
    # Whisper, T5 and BART score each label at its own position; decoder-only LMs shift.
    return bool(getattr(getattr(model, "config", None), "is_encoder_decoder", True))


_SHOWN = ("step", "epoch", "loss", "wer", "cer", "rouge1", "rougeL", "embedding_similarity")


def _epoch_value(session: Session, epoch_end: bool) -> float:
    progress = session.progress
    if epoch_end:
        return float(progress.epoch + 1)
    return round(progress.epoch + progress.batches_done / session.batches_per_epoch, 4)


def _save_outputs(session: Session, *, final: bool) -> None:
    """The adapter after every epoch; a full fine-tune's weights once, at the end."""
    accelerator = session.accelerator
    accelerator.wait_for_everyone()
    model = session.unwrapped
    run_dir = session.writer.run_dir
    if session.config.method == "full":
        if final and session.main:
            target = run_dir / FULL_MODEL_DIR
            model.save_pretrained(target, safe_serialization=True)
            session.trainable.processor.save_pretrained(target)
    elif session.main:
        with warnings.catch_warnings():
            # AdaLoRA saves pruned matrices, some of rank 0, which PEFT mistakes for unsaved
            # DeepSpeed shards; they load back fine (demo.models resizes by rank_pattern).
            warnings.filterwarnings("ignore", message=r".*LoRA tensor\(s\) have invalid shape")
            # save_embedding_layers=False: "auto" looks the base model up on the hub (network).
            model.save_pretrained(
                run_dir / ADAPTER_DIR, safe_serialization=True, save_embedding_layers=False
            )
    accelerator.wait_for_everyone()


def _oom_message(config: TrainConfig, stage: str) -> str:
    batch = config.batch_size or 0
    smaller = max(1, batch // 2)
    hints = [
        f"--batch-size {smaller} --grad-accum {config.grad_accum * 2}" if batch > 1 else None,
        "--gradient-checkpointing" if not config.gradient_checkpointing else None,
        "--precision nf4 --method lora" if config.precision not in ("nf4", "nf4-dq") else None,
        "a smaller --model",
    ]
    tips = " or ".join(h for h in hints if h)
    return f"The GPU ran out of memory while {stage}; try {tips}."
