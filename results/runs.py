"""Training runs on disk, read for the dashboard.

A run is a folder ``checkpoints/<run-id>/`` holding ``run.json`` (a ``demo.runinfo.RunInfo``)
and ``metrics.jsonl`` (one JSON object per evaluation, appended while training). Reading never
raises on a bad run: what can be read is kept and the rest becomes a warning string, because a
run killed mid-write is normal. Only files that resolve inside the runs root are read.
"""

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import pandas as pd

from demo.asr.registry import SIZES as WHISPER_SIZES
from demo.errors import DemoError, unknown_choice
from demo.jsonfiles import read_json, read_jsonl
from demo.runinfo import (
    METRICS_FILE,
    RUN_FILE,
    TEST_SPLIT,
    VALIDATION_SPLIT,
    RunInfo,
    mode_label,
)

# A metrics file larger than this is read only up to here (a real one is a few hundred KB).
MAX_METRICS_BYTES = 64 * 1024 * 1024
MAX_RUN_FILE_BYTES = 4 * 1024 * 1024
# Metric-line keys that hold text; every other value must be a number (or null) to be drawn.
TEXT_KEYS = ("split", "example_prediction", "example_reference", "note", "notes")
_FLOAT_INT = 2**53
MAX_WARNINGS = 10  # per run  # larger integers don't survive the float a chart turns them into

# Run fields copied onto every row of runs_frame / final_metrics, in this order.
RUN_COLUMNS = (
    "run_id",
    "task",
    "model",
    "size",
    "family",
    "method",
    "precision",
    "mode",
    "rank",
    "dataset",
    "system",
    "status",
    "started_at",
    "ended_at",
    "trainable_params",
    "total_params",
    "trainable_pct",
    "weights_footprint_mb",
    "device",
)
# Names filter_runs accepts (task ... status); each is a Run property.
FILTER_FIELDS = RUN_COLUMNS[RUN_COLUMNS.index("task") : RUN_COLUMNS.index("status") + 1]

_SIZE_PATTERN = re.compile(r"(?<![a-z])(" + "|".join(WHISPER_SIZES) + r")(?![a-z])")


def _info_field(name: str, doc: str) -> property:
    """A ``Run`` property that reads one RunInfo field (None when run.json is unreadable)."""
    return property(lambda run: run._field(name), doc=doc)


@dataclass(frozen=True)
class Run:
    """One training run as read from disk: run.json, evaluation lines, and what went wrong."""

    run_id: str  # run.json's run_id, or the folder name when run.json is unreadable
    path: Path  # the run folder, resolved
    # The containers are left out of the hash so runs can sit in sets and cache keys.
    info: RunInfo | None = field(default=None, hash=False)  # None when run.json is unreadable
    metrics: list[dict[str, Any]] = field(default_factory=list, hash=False)  # file order
    warnings: list[str] = field(default_factory=list, hash=False)  # one sentence per problem

    def _field(self, name: str) -> Any:
        value = getattr(self.info, name, None) if self.info is not None else None
        return value if value != "" else None

    task = _info_field("task", '``"asr"`` or ``"summarization"``.')
    model = _info_field("model", "Registry name or hub id of the base model.")
    method = _info_field(
        "method", '``"full"``, ``"lora"`` or ``"adalora"`` (or a research system\'s own).'
    )
    precision = _info_field("precision", "Weights precision: fp32, fp16, bf16, int8 or nf4.")
    rank = _info_field("rank", "LoRA/AdaLoRA rank r, None for full fine-tuning.")
    dataset = _info_field("dataset", "Dataset name as the training script recorded it.")
    system = _info_field(
        "system", "Research system (lowrank, latent, qformer...), None for the thesis's cascade."
    )
    status = _info_field("status", "running, completed, failed or interrupted.")

    @property
    def size(self) -> str | None:
        """Whisper size family (tiny ... large), from run.json or else the model name."""
        size = self._field("size")
        if size:
            return size.lower()
        if self.task == "asr" and self.model:
            found = _SIZE_PATTERN.search(self.model.lower())
            return found.group(1) if found else None
        return None

    @property
    def family(self) -> str | None:
        """Summarizer family (t5, bart, mbart, llama); None for Whisper."""
        family = self._field("family")
        return family.lower() if family else None

    @property
    def started_at(self) -> str:
        """ISO start time, "" when unknown (sorts first)."""
        return self._field("started_at") or ""

    @property
    def mode(self) -> str | None:
        """Training mode label: "full", "lora", "int8", "int8+adalora", "nf4+lora" ..."""
        return mode_label(self.method, self.precision, self.system)

    @property
    def label(self) -> str:
        """Short display name, e.g. "tiny int8+adalora" or "t5 lora r=8"."""
        head = self.size if self.task == "asr" else self.family
        parts = [head or self.model or self.run_id, self.mode or "?"]
        if self.rank is not None and self.method in ("lora", "adalora"):
            parts.append(f"r={self.rank}")
        return " ".join(parts)

    @property
    def config(self) -> dict[str, Any]:
        """The training config run.json recorded ({} when unreadable or absent)."""
        return (self.info.config or {}) if self.info else {}

    @property
    def checkpointed(self) -> bool:
        """Trained with gradient checkpointing: less activation memory, more time per step, so
        its peak memory and minutes per epoch do not compare with runs trained without."""
        return bool(self.config.get("gradient_checkpointing"))

    @property
    def validation(self) -> list[dict[str, Any]]:
        """Evaluation lines on the validation split (lines without a split count as validation)."""
        return [m for m in self.metrics if m.get("split", VALIDATION_SPLIT) == VALIDATION_SPLIT]

    @property
    def final(self) -> dict[str, Any]:
        """The last validation line, or {} when there is none yet."""
        lines = self.validation
        return lines[-1] if lines else {}

    def split(self, name: str = TEST_SPLIT) -> dict[str, Any]:
        """The last evaluation line of another split (``test``, ``real-speech``...), or {}."""
        lines = [m for m in self.metrics if m.get("split") == name]
        return lines[-1] if lines else {}


def lowrank_extra(run: Run) -> dict[str, Any]:
    """What a low-rank run (``system`` "lowrank") recorded of its factorization, or {}."""
    extra = (run.info.extra or {}) if run.info else {}
    return extra.get("lowrank") or {}


def lowrank_factorization(run: Run) -> str:
    """What a low-rank run factorized, at which rank, from which start: "fc1/fc2 at d/4",
    "vocab projection + embedding at 2/3 d, token-weighted SVD"."""
    extra = lowrank_extra(run)
    own = extra.get("target_ranks") or {}  # targets with a rank of their own
    targets = [t for t in extra.get("targets") or ["fc1", "fc2"] if t not in own]
    start = "" if extra.get("init", "svd") == "svd" else f", {extra['init']} SVD"
    groups: dict[str, list[str]] = {}  # "at rank 64" -> its targets, in the order given
    if targets:
        if extra.get("rank"):
            at = f"rank {extra['rank']}"
        else:
            share = Fraction(extra.get("rank_fraction") or 0.25).limit_denominator(12)
            whole = share.numerator == 1
            at = "d" if share == 1 else f"d/{share.denominator}" if whole else f"{share} d"
        groups[at] = targets
    for target, rank in own.items():
        groups.setdefault(f"rank {rank}", []).append(target)
    parts = [
        "/".join("vocab projection + embedding" if t == "proj_out" else t for t in names)
        + f" at {at}"
        for at, names in groups.items()
    ]
    return ", ".join(parts) + start


def recipe(run: Run) -> tuple:
    """What "fine-tuned the same way" compares: epochs, and which best epoch was kept."""
    return run.config.get("epochs"), run.config.get("keep_best")


def usual_epochs(runs: Iterable[Run]) -> int | None:
    """The epochs most of these runs trained for (``arm_name`` leaves that recipe unnamed)."""
    counts: dict = {}
    for run in runs:
        epochs = recipe(run)[0]
        counts[epochs] = counts.get(epochs, 0) + 1
    return max(counts, key=counts.get) if counts else None


def seed_of(run: Run) -> int:
    """The training seed a run used (0 where its config predates the flag)."""
    return int(run.config.get("seed") or 0)


def arm_name(run: Run, usual: int | None = None, seed: bool = True) -> str:
    """A low-rank study arm as tables and charts name it: "original, full fine-tuning",
    "low-rank fc1/fc2 at d/4, semi-orthogonal, factors at 0.1x the rate, 6 epochs, best
    validation WER kept" (epochs named when they are not ``usual``; the seed where not 0,
    unless ``seed`` is False: the arm over all its seeds)."""
    epochs, keep_best = recipe(run)
    how = f", {epochs} epochs" if epochs is not None and epochs != usual else ""
    how += f", best validation {keep_best.upper()} kept" if keep_best else ""
    how += _v2_options(run, seed)
    if run.system != "lowrank":
        return f"original, {'full fine-tuning' if run.method == 'full' else run.method}{how}"
    where = lowrank_factorization(run)
    if run.method != "full":
        return f"low-rank {where}, factors frozen, + {run.method}{how}"
    kind = (
        "semi-orthogonal"
        if lowrank_extra(run).get("orthogonal", True)
        else "no constraint (the ablation)"
    )
    scale = run.config.get("factor_lr_scale")
    rate = f", factors at {scale:g}x the rate" if scale not in (None, 1) else ""
    return f"low-rank {where}, {kind}{rate}{how}"


def _v2_options(run: Run, seed: bool = True) -> str:
    """The low-rank v2 options a run used, named when not the default (issue 34): the token
    weights' source, the distillation teacher's share, the seed (unless ``seed`` is False)."""
    extra = (run.info.extra or {}) if run.info else {}
    source = (lowrank_extra(run).get("token_source") or {}).get("source", "train")
    text = f", {source} token weights" if source != "train" else ""
    distill = extra.get("distill") or {}
    if distill:
        text += f", distilled ({distill.get('weight', 0.5):g} of the loss)"
    return text + (f", seed {seed_of(run)}" if seed and seed_of(run) else "")


def main_dataset(runs: Iterable[Run]) -> str | None:
    """The dataset most runs used (the latest started wins a tie), or None without runs."""
    counts: dict[str | None, tuple[int, str]] = {}
    for run in runs:
        count, latest = counts.get(run.dataset, (0, ""))
        counts[run.dataset] = (count + 1, max(latest, run.started_at or ""))
    return max(counts, key=lambda d: counts[d]) if counts else None


def held_out_split(run: Run) -> str:
    """The split a run's final score comes from: its test split once scored, else validation."""
    return TEST_SPLIT if run.split(TEST_SPLIT) else VALIDATION_SPLIT


def held_out_score(run: Run, metric: str) -> float | None:
    """A run's final ``metric`` on the test split when it was scored there, else the last
    validation value (a run still training, or data without a test split)."""
    value = (run.split(TEST_SPLIT) or run.final).get(metric)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def load_run(path: str | Path, *, root: str | Path | None = None) -> Run:
    """Read one run folder; problems become ``Run.warnings`` instead of exceptions.

    Files are read only if they resolve inside ``root`` (default: the run folder itself), so a
    symlinked ``run.json`` pointing elsewhere is ignored. Raises ``DemoError`` only when
    ``path`` is not a folder inside ``root``.
    """
    run_dir = Path(path)
    try:
        resolved = run_dir.resolve()
    except (OSError, RuntimeError) as exc:
        raise DemoError(f"Can't read run folder {run_dir}: {exc}.") from exc
    base = Path(root).resolve() if root is not None else resolved
    if not _inside(resolved, base) or not resolved.is_dir():
        raise DemoError(f"{run_dir} is not a run folder inside {base}.")

    warnings: list[str] = []
    data = _read_info(run_dir, base, warnings)
    info = RunInfo.from_dict(data, run_dir.name, warnings) if data else None
    metrics = _read_metrics(run_dir, base, warnings)
    run_id = info.run_id if info is not None and info.run_id else run_dir.name
    if len(warnings) > MAX_WARNINGS:  # a file of bad lines: a few say what, the count the rest
        more = len(warnings) - MAX_WARNINGS
        warnings[MAX_WARNINGS:] = [f"... and {more} more problems of this kind."]
    return Run(run_id=run_id, path=resolved, info=info, metrics=metrics, warnings=warnings)


def list_runs(root: str | Path) -> list[Run]:
    """Every run folder directly under ``root``, sorted by run id; [] if ``root`` is missing.

    Sub-folders without run.json or metrics.jsonl are not runs and are skipped, as are hidden
    folders and symlinks that lead outside ``root``.
    """
    try:
        base = Path(root).resolve()
    except (OSError, RuntimeError):
        return []
    if not base.is_dir():
        return []
    runs: list[Run] = []
    seen: set[Path] = set()
    for child in sorted(base.iterdir()):
        if child.name.startswith("."):
            continue
        try:
            target = child.resolve()
        except (OSError, RuntimeError):
            continue
        if target in seen or not _inside(target, base) or not target.is_dir():
            continue
        if not any(_exists(child / name) for name in (RUN_FILE, METRICS_FILE)):
            continue
        seen.add(target)
        runs.append(load_run(child, root=base))
    return sorted(runs, key=lambda run: run.run_id)


def filter_runs(runs: Iterable[Run], **criteria: Any) -> list[Run]:
    """Keep runs whose fields match every criterion, e.g. ``filter_runs(runs, method="lora")``.

    A criterion value may be one value or a list/tuple/set of accepted values; None means any.
    Field names are those in ``FILTER_FIELDS``.
    """
    for name in criteria:
        if name not in FILTER_FIELDS:
            raise unknown_choice("run field", name, list(FILTER_FIELDS))
    wanted = {
        name: set(value) if isinstance(value, list | tuple | set | frozenset) else {value}
        for name, value in criteria.items()
        if value is not None
    }
    return [
        run for run in runs if all(getattr(run, name) in values for name, values in wanted.items())
    ]


def field_values(runs: Iterable[Run], name: str) -> list[Any]:
    """Distinct non-empty values of one run field, sorted; handy for dropdown choices."""
    if name not in FILTER_FIELDS:
        raise unknown_choice("run field", name, list(FILTER_FIELDS))
    values = {getattr(run, name) for run in runs} - {None, ""}
    return sorted(values, key=str)


def run_fields(run: Run) -> dict[str, Any]:
    """The run-level columns (``RUN_COLUMNS``) of one run as a flat dict."""
    row = {name: getattr(run.info, name, None) for name in RUN_COLUMNS}
    for name in ("run_id", "task", "model", "size", "family", "method", "precision", "mode"):
        row[name] = getattr(run, name)
    row["rank"] = run.rank
    return row


def runs_frame(runs: Iterable[Run]) -> pd.DataFrame:
    """One row per metrics line, with the run's fields (``RUN_COLUMNS``) in front."""
    rows = []
    for run in runs:
        fields = run_fields(run)
        for line in run.metrics:
            rows.append({**fields, **{k: v for k, v in line.items() if k not in fields}})
    return _frame(rows)


def final_metrics(runs: Iterable[Run]) -> pd.DataFrame:
    """One row per run: its last validation line; runs without one are left out."""
    rows = []
    for run in runs:
        last = run.final
        if last:
            fields = run_fields(run)
            rows.append({**fields, **{k: v for k, v in last.items() if k not in fields}})
    return _frame(rows)


def _read_info(run_dir: Path, base: Path, warnings: list[str]) -> dict[str, Any]:
    info = read_json(run_dir / RUN_FILE, limit=MAX_RUN_FILE_BYTES, warnings=warnings, base=base)
    if info is not None and not isinstance(info, dict):
        warnings.append(f"{RUN_FILE} does not hold a JSON object; ignored.")
    return info if isinstance(info, dict) else {}


def _read_metrics(run_dir: Path, base: Path, warnings: list[str]) -> list[dict[str, Any]]:
    lines = read_jsonl(
        run_dir / METRICS_FILE, limit=MAX_METRICS_BYTES, warnings=warnings, base=base
    )
    return [_usable_line(line, warnings) for line in lines if _has_split(line, warnings)]


def _has_split(line: dict[str, Any], warnings: list[str]) -> bool:
    if isinstance(line.get("split", VALIDATION_SPLIT), str):
        return True
    warnings.append(f"A line of {METRICS_FILE} names no split a chart knows; skipped.")
    return False


def _usable_line(line: dict[str, Any], warnings: list[str]) -> dict[str, Any]:
    """The line with each number the charts can't draw (text where a number belongs, a value
    beyond float range) left out, one warning per value."""
    kept = {}
    for key, value in line.items():
        if value is None or key in TEXT_KEYS:
            kept[key] = value
        elif isinstance(value, bool) or not isinstance(value, int | float):
            if isinstance(value, str | bool):
                warnings.append(f"{METRICS_FILE}: {key!r} = {str(value)[:40]!r} is not a number.")
            else:
                warnings.append(f"{METRICS_FILE}: {key!r} holds a {type(value).__name__}.")
        elif isinstance(value, int) and abs(value) > _FLOAT_INT:
            warnings.append(f"{METRICS_FILE}: {key!r} is a number too large to draw; ignored.")
        else:
            kept[key] = value
    return kept


def _exists(path: Path) -> bool:
    # lexists: a dangling symlink still counts as "present" so it gets a warning, not silence.
    return path.is_symlink() or path.exists()


def _inside(path: Path, base: Path) -> bool:
    return path == base or path.is_relative_to(base)


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame(columns=list(RUN_COLUMNS))
    return pd.DataFrame(rows)
