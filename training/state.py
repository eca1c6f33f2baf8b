"""Crash-safe resume and the run's saved outputs.

A resume state (trainable weights, optimizer, schedule, AdaLoRA's allocator, RNG, counters)
is written every ``save_steps`` and at each epoch's end; ``resume`` drops the metric lines
written after it, so a run killed with ``kill -9`` loses and repeats none. ``save_outputs``
writes the adapter after every epoch and a full fine-tune's weights once at the end.
"""

from __future__ import annotations

import random
import sys
import warnings
from typing import Any

from tqdm.auto import tqdm

from demo.adapters import halve_adapter
from demo.errors import DemoError
from demo.provenance import now_iso
from training.modeling import (
    adalora_allocator_state,
    load_adalora_allocator_state,
    load_trainable_state,
    trainable_state,
)
from training.runs import ADAPTER_DIR, FULL_MODEL_DIR, RunWriter
from training.session import Progress, Session


def resume(session: Session) -> None:
    """Load the latest resume state; drop metric lines written after it (they'll be redone)."""
    writer, accelerator = session.writer, session.accelerator
    state = RunWriter(writer.run_dir, enabled=False).load_resume()
    progress = None if state is None else saved_progress(state["progress"], writer.run_dir.name)
    keep = 0 if progress is None else progress.metrics_lines
    # Only the main process touches files; the others wait so they read a settled folder.
    dropped = writer.truncate_metrics(keep)
    accelerator.wait_for_everyone()
    resumed = list(writer.info.resumed_at)
    resumed.append({"at": now_iso(), "step": 0 if progress is None else progress.global_step})
    writer.write_info(status="running", ended_at=None, resumed_at=resumed)
    if state is None:
        say(accelerator, f"{writer.run_dir.name} has no resume state yet; starting it over.")
        return
    unwrapped = session.unwrapped
    try:
        load_trainable_state(unwrapped, state["model"])
        session.optimizer.load_state_dict(state["optimizer"])
        session.scheduler.load_state_dict(state["scheduler"])
        if state.get("adalora") is not None:
            load_adalora_allocator_state(unwrapped, state["adalora"])
    except (TypeError, ValueError, KeyError, RuntimeError, AttributeError) as exc:
        raise DemoError(
            f"The resume state of {writer.run_dir.name} doesn't fit this run "
            f"({type(exc).__name__}); delete its resume/ folder to start it over."
        ) from None
    session.progress = progress
    # Restored at the first batch: creating the data iterator draws from the RNG, and the
    # state was saved after that draw, so restoring now would shift every dropout mask.
    session.pending_rng = state["rng"]
    say(
        accelerator,
        f"Resuming {writer.run_dir.name} at step {session.progress.global_step} "
        f"(epoch {session.progress.epoch + 1}, {session.progress.batches_done} batches in); "
        f"{dropped} metric line(s) after that state will be measured again.",
    )


def saved_progress(saved, run: str) -> Progress:
    """The counters a resume state carries, checked before anything is changed on disk."""
    try:
        progress = Progress(**saved)
        if not all(isinstance(v, int | float | None) for v in progress.to_dict().values()):
            raise TypeError("a counter is not a number")
        return progress
    except TypeError as exc:
        raise DemoError(
            f"The resume state of {run} has damaged counters ({exc}); delete its resume/ "
            "folder to start it over."
        ) from None


def say(accelerator, message: str) -> None:
    """A status line on stderr (stdout stays for results), from the main process only."""
    if accelerator.is_main_process:
        tqdm.write(message, file=sys.stderr)


def save_state(session: Session) -> None:
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


def restore_rng(rng: dict[str, Any], session: Session) -> None:
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


def save_outputs(session: Session, *, final: bool) -> None:
    """The adapter after every epoch; a full fine-tune's weights once, at the end."""
    accelerator = session.accelerator
    accelerator.wait_for_everyone()
    model = session.unwrapped
    run_dir = session.writer.run_dir
    task_save = getattr(session.task, "save_outputs", None)  # e.g. the Q-Former bridge
    hook_save = session.trainable.hooks.save_outputs  # e.g. a low-rank model's factors
    if task_save is not None:
        if session.main:
            task_save(model, run_dir, final)
    elif session.main and hook_save is not None and hook_save(run_dir, final):
        pass  # the compression method saved the whole model; adapters still save below
    elif session.config.method == "full":
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
        if session.config.save_fp16:
            halve_adapter(run_dir / ADAPTER_DIR)
    accelerator.wait_for_everyone()
