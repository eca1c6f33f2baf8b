"""The one training loop behind every training script.

A task (ASR or summarization) says how to load its base, build its datasets, generate and
score; everything else lives here: accelerate (one process or DDP under ``accelerate
launch``), the optimizer and schedule, gradient accumulation, AdaLoRA's
``update_and_allocate(global_step)`` before ``zero_grad()``, evaluation with generation at
epoch 0, every epoch and optionally every N steps, crash-safe resume, progress bars and the
run folder. Only the main process writes files. The task protocol and the session live in
``training.session``, evaluation in ``training.evaluate``, resume state and saved outputs in
``training.state``.
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from pathlib import Path

from tqdm.auto import tqdm

from demo.measure import weights_footprint_mb
from demo.options import from_dict, to_dict
from demo.provenance import command_line, machine, now_iso, output_folder, versions
from demo.runinfo import RunInfo, mode_label
from training.best import note_validation, restore_best
from training.config import TrainConfig
from training.evaluate import evaluate, evaluate_more
from training.modeling import (
    TrainableModel,
    load_base,
    make_trainable,
    precision_label,
)
from training.runs import RunWriter, make_run_id, resolve_run_dir
from training.session import EpochSampler, Session, Task, TaskData, TrainingError
from training.state import restore_rng, resume, save_outputs, save_state

__all__ = ["RunInterrupted", "Task", "TaskData", "TrainingError", "run_training"]


def run_training(config: TrainConfig, task: Task, accelerator=None) -> Path:
    """Train one run (or continue it with ``config.resume``); returns the run folder."""
    import torch
    from accelerate import Accelerator

    if accelerator is None:
        from demo.quant import resolve_device

        cpu = resolve_device(config.device) == "cpu"
        accelerator = Accelerator(mixed_precision=config.mixed_precision, cpu=cpu)
    output_folder(Path(config.output_dir), "--output-dir")  # before any model loads
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
    check_files = getattr(config, "check_files", None)  # e.g. a distillation teacher's folder
    if check_files is not None:
        check_files()
    try:
        session = _prepare(config, task, accelerator, resumed_from)
    except torch.cuda.OutOfMemoryError as exc:
        raise TrainingError(_oom_message(config, "loading the model")) from exc
    writer = session.writer
    try:
        with terminate_as_interrupt():
            if resumed_from is not None:
                resume(session)
            _train(session)
    except torch.cuda.OutOfMemoryError as exc:
        writer.write_info(status="failed", ended_at=now_iso(), error="CUDA out of memory")
        raise TrainingError(_oom_message(session.config, "training")) from exc
    except KeyboardInterrupt as exc:
        writer.write_info(status="interrupted", ended_at=now_iso())
        raise RunInterrupted(writer.run_dir) from exc
    except BaseException as exc:
        writer.write_info(status="failed", ended_at=now_iso(), error=f"{type(exc).__name__}: {exc}")
        raise
    return writer.run_dir


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped a run; ``run_dir`` resumes it (``--resume``)."""

    def __init__(self, run_dir: Path) -> None:
        super().__init__(str(run_dir))
        self.run_dir = run_dir


@contextmanager
def terminate_as_interrupt():
    """SIGTERM (``kill``, a job scheduler) stops a run as Ctrl-C does, so its run.json says
    "interrupted" instead of "running" forever; it resumes from its last saved state either
    way. Only where signals can be set (the main thread); the old handler comes back after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _prepare(config: TrainConfig, task: Task, accelerator, resumed_from: RunWriter | None):
    """Load the base, build the data, wrap with the adapter, and open (or reopen) the run."""
    import torch
    from accelerate.utils import set_seed
    from transformers import get_linear_schedule_with_warmup

    set_seed(config.seed)
    device = accelerator.device.type
    build = getattr(task, "build", None)
    if build is not None:
        built = build(config, device)
        model, processor, entry = built.model, built.processor, built.entry
    else:
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
    eval_loaders = {
        split: _loader(data_set, config.eval_batch_size, data.collate, config, None)
        for split, data_set in data.evals.items()
        if len(data_set)
    }
    train_loader, val_loader = accelerator.prepare(train_loader, val_loader)
    eval_loaders = {k: accelerator.prepare(v) for k, v in eval_loaders.items()}
    batches_per_epoch = len(train_loader)  # per process
    steps_per_epoch = math.ceil(batches_per_epoch / config.grad_accum)
    total_steps = config.max_steps or config.epochs * steps_per_epoch

    wrap = getattr(task, "make_trainable", None)
    if build is not None:
        trainable = built
    elif wrap is not None:
        trainable = wrap(model, processor, entry, config, total_steps)
    else:
        trainable = make_trainable(model, processor, entry, config, task.name, total_steps, data)
    optimizer = torch.optim.AdamW(
        param_groups(trainable.model, config.lr, trainable.hooks.lr_scale),
        lr=config.lr,
        weight_decay=config.weight_decay,
    )
    # Stepped by the loop once per optimizer step: accelerate's wrapper would step it once per
    # process, which only fits schedules sized for the unsharded data.
    scheduler = get_linear_schedule_with_warmup(optimizer, config.warmup_steps, total_steps)
    prepared_model, optimizer = accelerator.prepare(trainable.model, optimizer)
    make_objective = getattr(task, "objective", None)
    objective = make_objective(config, trainable, accelerator.device) if make_objective else None
    if resumed_from is not None:
        writer = resumed_from
        _same_objective(resumed_from.read_info().extra, objective)
    else:
        writer = _new_run(config, task, accelerator, trainable, data, total_steps, objective)
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
        eval_loaders=eval_loaders,
        sampler=sampler,
        batches_per_epoch=batches_per_epoch,
        steps_per_epoch=steps_per_epoch,
        total_steps=total_steps,
        objective=objective,
    )


def _same_objective(extra: dict, objective) -> None:
    """A resumed run's objective must be the one it started with (the same teacher weights)."""
    for key, value in (objective.run_extra if objective else {}).items():
        if key in extra and extra[key] != value:
            raise TrainingError(
                f"This run started with another {key} setup ({extra[key]}); resume it with the "
                "same one, or start a new run."
            )


def param_groups(model, lr: float, lr_scale) -> list[dict]:
    """The optimizer's parameter groups: one per learning rate, ``lr`` times the compression's
    ``lr_scale`` of each trainable parameter (one group when it has none)."""
    groups: dict[float, list] = {}
    for param in model.parameters():
        if param.requires_grad:
            scale = lr_scale(param) if lr_scale is not None else 1.0
            groups.setdefault(scale, []).append(param)
    return [{"params": params, "lr": lr * scale} for scale, params in groups.items()]


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


def _new_run(config, task, accelerator, trainable: TrainableModel, data: TaskData, total_steps,
             objective=None):  # fmt: skip
    from accelerate.utils import broadcast_object_list

    precision = precision_label(config.quant, accelerator.device.type)
    mode = mode_label(config.method, precision) or config.method
    fields = {**task.run_fields(trainable.entry), **trainable.hooks.run_fields}
    if objective is not None and objective.run_extra:  # e.g. the distillation teacher
        fields["extra"] = {**fields.get("extra", {}), **objective.run_extra}
    if fields.get("system"):  # asr-tiny.en-lowrank-full-...
        mode = f"{fields['system']}+{mode}"
    root = Path(config.output_dir)
    run_id, error = config.run_id, None
    if accelerator.is_main_process:
        if run_id is None:
            run_id = make_run_id(task.name, config.model, mode, config.rank, root)
        elif (root / run_id / "run.json").exists():
            error = f"Run {run_id} already exists in {root}; pick another --run-id or --resume it."
        elif (root / run_id).exists():  # not a run: never written into, nor replaced
            error = f"{root / run_id} already exists and is not a run; pick another --run-id."
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
            **fields,
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


def _train(session: Session) -> None:
    config, accelerator, progress = session.config, session.accelerator, session.progress
    if progress.global_step == 0 and progress.metrics_lines == 0:
        note_validation(session, evaluate(session, epoch_end=False))  # the untrained model
        if config.eval_more_at_start:
            evaluate_more(session)
        save_state(session)
    bar = tqdm(
        total=session.total_steps,
        initial=progress.global_step,
        desc="training",
        unit="step",
        disable=not session.main,
        dynamic_ncols=True,
    )
    adalora = config.method == "adalora"
    hooks = session.trainable.hooks
    done = progress.global_step >= session.total_steps
    while not done and progress.epoch < math.ceil(session.total_steps / session.steps_per_epoch):
        session.model.train()
        bar.set_description(f"epoch {progress.epoch + 1}")
        processes = accelerator.num_processes
        session.sampler.start(progress.epoch, progress.batches_done * config.batch_size * processes)
        started = time.perf_counter()
        for batch in session.train_loader:
            if session.pending_rng is not None:
                restore_rng(session.pending_rng, session)
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
                loss = session.training_loss(batch)
                accelerator.backward(loss / group_size)
            progress.interval_loss += float(loss.detach())
            progress.interval_batches += 1
            progress.interval_samples += len(batch["labels"]) * processes
            if not sync:
                continue
            if config.max_grad_norm > 0:
                accelerator.clip_grad_norm_(session.model.parameters(), config.max_grad_norm)
            session.optimizer.step()
            if hooks.after_optimizer_step is not None:  # e.g. the low-rank constraint
                hooks.after_optimizer_step(progress.global_step + 1)
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
                note_validation(session, evaluate(session, epoch_end=False))
                session.model.train()
                save_state(session)
                started = time.perf_counter()  # evaluation time is not training time
            elif progress.global_step % config.save_steps == 0 and not (epoch_over or finished):
                save_state(session)
                started = time.perf_counter()
            if finished:
                break
        # A run cut short by --max-steps ends mid-epoch: its last line is not an epoch's.
        epoch_end = progress.batches_done >= session.batches_per_epoch
        note_validation(session, evaluate(session, epoch_end=epoch_end))
        progress.epoch += 1
        progress.batches_done = 0
        progress.epoch_seconds = 0.0
        done = progress.global_step >= session.total_steps
        if not done:  # the last epoch's outputs are saved once, below
            save_outputs(session, final=False)
        # Every step trained too: a stop in the final scoring (test split, real speech: the
        # longest part of a run on a CPU) resumes at that scoring, not an epoch back.
        save_state(session)
    bar.close()
    restore_best(session)
    evaluate_more(session)  # the trained model on the test split and real speech
    save_outputs(session, final=True)
    session.writer.write_info(status="completed", ended_at=now_iso())
    session.writer.clear_resume()
    accelerator.wait_for_everyone()


def _oom_message(config: TrainConfig, stage: str) -> str:
    batch = config.batch_size or 0
    smaller = max(1, batch // 2)
    hints = [
        f"--batch-size {smaller} --grad-accum {config.grad_accum * 2}" if batch > 1 else None,
        "--gradient-checkpointing" if not config.gradient_checkpointing else None,
        "--quant nf4 --method lora" if config.quant not in ("nf4", "nf4-dq") else None,
        "a smaller --model",
    ]
    tips = " or ".join(h for h in hints if h)
    return f"The GPU ran out of memory while {stage}; try {tips}."
