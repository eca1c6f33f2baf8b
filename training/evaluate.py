"""Evaluation: loss and generated outputs scored by the task, one metrics.jsonl line a split.

Validation runs at epoch 0, after every epoch and optionally every N steps; the extra splits
(``TaskData.evals``: the test split, real speech) before training and at the end.
"""

from __future__ import annotations

import resource
import sys
import time
from typing import Any

from tqdm.auto import tqdm

from demo.runinfo import VALIDATION_SPLIT
from training.data import IGNORE_INDEX
from training.session import Session

MB = 1024 * 1024


def peak_memory_mb(device: str) -> float:
    import torch

    if device == "cuda":
        return torch.cuda.max_memory_allocated() / MB
    # ru_maxrss is the process's peak resident set in KiB on Linux (bytes on macOS).
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / MB if sys.platform == "darwin" else peak / 1024


def evaluate_more(session: Session) -> None:
    """Score the extra splits (``TaskData.evals``), each one metrics.jsonl line."""
    for split, loader in session.eval_loaders.items():
        evaluate(session, epoch_end=False, split=split, loader=loader)


def label_losses(logits, labels):
    """Per example: the summed cross-entropy of its labelled tokens (``IGNORE_INDEX`` left
    out) and how many there are, as float tensors (the loss of a split is their ratio)."""
    import torch.nn.functional as F

    per_token = F.cross_entropy(
        logits.transpose(1, 2), labels, ignore_index=IGNORE_INDEX, reduction="none"
    )
    return per_token.sum(dim=1), (labels != IGNORE_INDEX).sum(dim=1).float()


def evaluate(
    session: Session, *, epoch_end: bool, split: str = VALIDATION_SPLIT, loader: Any = None
) -> dict[str, Any]:
    """Loss and generated outputs scored by the task on one split; one metrics.jsonl line.

    Only validation lines carry the training interval's figures (train loss, speed), which
    they reset."""
    import torch

    accelerator, task, config = session.accelerator, session.task, session.config
    progress = session.progress
    model = session.unwrapped
    model.eval()
    started = time.perf_counter()
    loss_sum, tokens = 0.0, 0
    metric_sums: dict[str, list[float]] = {}  # name -> [sum weighted by batch size, examples]
    references: list[str] = []
    predictions: list[str] = []
    processor, entry = session.trainable.processor, session.trainable.entry
    loader = session.val_loader if loader is None else loader
    validation = split == VALIDATION_SPLIT
    bar = tqdm(loader, desc=f"evaluating ({split})", leave=False, disable=not session.main)
    for batch in bar:
        refs = batch.pop("references")
        batch = task.prepare_batch(model, batch)
        with torch.no_grad(), accelerator.autocast():
            output = model(**batch)
            logits = output.logits.float()
            labels = batch["labels"]
            if not _encoder_decoder(model):  # a causal LM's logit t predicts token t + 1
                logits, labels = logits[:, :-1], labels[:, 1:]
            for name, value in (getattr(output, "metrics", None) or {}).items():
                sums = metric_sums.setdefault(name, [0.0, 0.0])
                sums[0] += float(value) * len(labels)
                sums[1] += len(labels)
            sums, counts = label_losses(logits, labels)
            preds = task.generate(model, processor, entry, config, batch)
        sums, counts = accelerator.gather_for_metrics((sums, counts))
        loss_sum += float(sums.sum())
        tokens += int(counts.sum())
        predictions += accelerator.gather_for_metrics(preds, use_gather_object=True)
        references += accelerator.gather_for_metrics(refs, use_gather_object=True)
    scores = task.score(config, references, predictions) if accelerator.is_main_process else {}
    scores = {**_average_metrics(accelerator, metric_sums), **scores}
    eval_seconds = time.perf_counter() - started
    device = accelerator.device.type
    interval = progress.interval_seconds
    line = {
        "step": progress.global_step,
        "epoch": _epoch_value(session, epoch_end),
        "split": split,
        "loss": loss_sum / tokens if tokens else None,
        "train_loss": progress.interval_loss / progress.interval_batches
        if progress.interval_batches and validation
        else None,
        "lr": session.scheduler.get_last_lr()[0],
        "seconds": round(progress.train_seconds, 3),
        "epoch_seconds": round(progress.epoch_seconds, 3) if epoch_end else None,
        "eval_seconds": round(eval_seconds, 3),
        "samples_per_second": (
            round(progress.interval_samples / interval, 3) if interval and validation else None
        ),
        "eval_samples": len(references),
        "peak_memory_mb": round(peak_memory_mb(device), 1),
        # --keep-best: the weights scored are an earlier step's
        **({"weights_step": session.weights_step} if session.weights_step is not None else {}),
        **scores,
        **(session.trainable.hooks.metrics() if session.trainable.hooks.metrics else {}),
        **(_objective_metrics(session) if validation else {}),
        "example_prediction": predictions[0] if predictions else None,
        "example_reference": references[0] if references else None,
    }
    session.writer.append_metrics(line)
    if not validation and session.main:  # held-out splits: each example, for paired intervals
        session.writer.write_predictions(split, progress.global_step, references, predictions)
    progress.metrics_lines += 1
    if validation:
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
        tqdm.write(f"[eval {split}] {text}", file=sys.stderr)
    accelerator.wait_for_everyone()
    return line


_SHOWN = (
    *("step", "epoch", "loss", "wer", "cer", "rouge1", "rougeL", "embedding_similarity"),
    *("loss_stcl", "loss_stm", "loss_stg", "r_at_1", "stm_accuracy", "minilm_similarity"),
)


def _average_metrics(accelerator, metric_sums: dict[str, list[float]]) -> dict[str, float]:
    """The model's per-batch metrics averaged over every process's validation examples."""
    import torch

    if not metric_sums:
        return {}
    names = sorted(metric_sums)
    totals = torch.tensor([metric_sums[n] for n in names], device=accelerator.device)
    totals = accelerator.reduce(totals, reduction="sum")
    return {n: float(s / c) for n, (s, c) in zip(names, totals.tolist(), strict=True) if c}


def _objective_metrics(session: Session) -> dict[str, float]:
    """The training objective's parts over the interval (distillation: CE and KL)."""
    objective = session.objective
    return objective.metrics() if objective is not None and objective.metrics else {}


def _epoch_value(session: Session, epoch_end: bool) -> float:
    progress = session.progress
    if epoch_end:
        return float(progress.epoch + 1)
    return round(progress.epoch + progress.batches_done / session.batches_per_epoch, 4)


def _encoder_decoder(model) -> bool:
    # Whisper, T5 and BART score each label at its own position; decoder-only LMs shift.
    return bool(getattr(getattr(model, "config", None), "is_encoder_decoder", True))
