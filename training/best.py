"""``--keep-best METRIC``: the run ends on the weights of its best validation evaluation.

After every validation evaluation (the untrained model's included) whose METRIC beats the
best so far, the trainable weights go to ``resume/best-step<N>.safetensors`` (the newest and
the one before it are kept, so a resume state written before a crash still finds its own);
before the test split is scored, the best step's weights are loaded back if training went on
past it, and run.json's ``extra["kept_best"]`` names the step, the metric and its value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from demo.metrics import METRICS
from demo.provenance import save_safetensors_atomic
from training.modeling import load_trainable_state, trainable_state
from training.session import Session, TrainingError
from training.state import say

BEST_PREFIX = "best-step"


def _path(session: Session, step: int) -> Path:
    return session.writer.resume_dir / f"{BEST_PREFIX}{step}.safetensors"


def note_validation(session: Session, line: dict[str, Any]) -> None:
    """Remember this validation evaluation's weights if they are the best so far."""
    metric = session.config.keep_best
    if not metric:
        return
    value = line.get(metric)
    if not isinstance(value, int | float):
        raise TrainingError(
            f"--keep-best {metric}: the validation evaluation has no {metric} "
            f"(it has {', '.join(k for k, v in line.items() if isinstance(v, float))})."
        )
    progress = session.progress
    best = progress.best_value
    higher = METRICS[metric].higher_is_better
    if best is not None and not (value > best if higher else value < best):
        return
    previous, progress.best_value, progress.best_step = (
        progress.best_step,
        value,
        progress.global_step,
    )
    if session.main:
        folder = session.writer.resume_dir
        folder.mkdir(parents=True, exist_ok=True)
        target = _path(session, progress.global_step)
        weights = {k: v.contiguous() for k, v in trainable_state(session.unwrapped).items()}
        save_safetensors_atomic(target, weights, metadata={})
        keep = {target.name} | ({_path(session, previous).name} if previous is not None else set())
        for stale in folder.glob(f"{BEST_PREFIX}*.safetensors"):
            if stale.name not in keep:
                stale.unlink()
    session.accelerator.wait_for_everyone()


def restore_best(session: Session) -> None:
    """Load the best evaluation's weights back (if training went past it) and say so in
    run.json."""
    from safetensors.torch import load_file

    metric, progress = session.config.keep_best, session.progress
    if not metric or progress.best_step is None:
        return
    if progress.best_step != progress.global_step:
        path = _path(session, progress.best_step)
        if not path.is_file():
            raise TrainingError(
                f"--keep-best: the weights of step {progress.best_step} are gone ({path}); "
                "resume from an earlier state or run again."
            )
        load_trainable_state(session.unwrapped, load_file(str(path)))
        say(
            session.accelerator,
            f"--keep-best {metric}: back to the weights of step {progress.best_step} "
            f"({metric} {progress.best_value:.4g}) for the test split.",
        )
        session.weights_step = progress.best_step  # the later lines say whose weights they score
    extra = dict(session.writer.info.extra or {})
    extra["kept_best"] = {
        "metric": metric,
        "step": progress.best_step,
        "value": progress.best_value,
    }
    session.writer.write_info(extra=extra)
