"""Training runs on disk and the thesis reference tables.

A run is a folder ``checkpoints/<run-id>/`` holding ``run.json`` (what was trained, how) and
``metrics.jsonl`` (one JSON object per evaluation, appended while training). Reading never
raises on a bad run: what can be read is kept and the rest becomes a warning string, because a
run killed mid-write is normal. Only files that resolve inside the runs root are read.
"""

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from demo.errors import DemoError, unknown_choice

RUN_FILE = "run.json"
METRICS_FILE = "metrics.jsonl"
VALIDATION_SPLIT = "validation"
# A metrics file larger than this is read only up to here (a real one is a few hundred KB).
MAX_METRICS_BYTES = 64 * 1024 * 1024
MAX_RUN_FILE_BYTES = 4 * 1024 * 1024

REFERENCE_DIR = Path(__file__).resolve().parent.parent / "assets" / "reference"
REFERENCE_TABLES = {
    "rouge": "thesis_rouge.csv",  # Tables 3.3/3.4: ROUGE x100 per dataset, model, method
    "whisper_wer": "thesis_whisper_wer.csv",  # Table 4.4: WER % after 6 epochs, size x mode
    "whisper_memory": "thesis_whisper_memory.csv",  # Table 4.2: stored size (MB) per precision
    "whisper_train_time": "thesis_whisper_train_time.csv",  # Table 4.3: minutes per epoch
    "whisper_hparams": "thesis_whisper_hparams.csv",  # Table 4.1: learning rates, batch sizes
}

WHISPER_SIZES = ("tiny", "base", "small", "medium", "large")
QUANTIZED_PRECISIONS = ("int8", "nf4")
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
    "status",
    "started_at",
    "ended_at",
    "trainable_params",
    "total_params",
    "trainable_pct",
    "weights_footprint_mb",
    "device",
)
# Names filter_runs accepts; each is a Run property.
FILTER_FIELDS = (
    "task",
    "model",
    "size",
    "family",
    "method",
    "precision",
    "mode",
    "rank",
    "dataset",
    "status",
)

_SIZE_PATTERN = re.compile(r"(?<![a-z])(" + "|".join(WHISPER_SIZES) + r")(?![a-z])")


@dataclass(frozen=True)
class Run:
    """One training run as read from disk: run.json, evaluation lines, and what went wrong."""

    run_id: str  # run.json's run_id, or the folder name when run.json is unreadable
    path: Path  # the run folder, resolved
    # The containers are left out of the hash so runs can sit in sets and cache keys.
    info: dict[str, Any] = field(default_factory=dict, hash=False)  # run.json ({} if unreadable)
    metrics: list[dict[str, Any]] = field(default_factory=list, hash=False)  # file order
    warnings: list[str] = field(default_factory=list, hash=False)  # one sentence per problem

    @property
    def task(self) -> str | None:
        """``"asr"`` or ``"summarization"``."""
        return _text(self.info.get("task"))

    @property
    def model(self) -> str | None:
        """Registry name or hub id of the base model."""
        return _text(self.info.get("model"))

    @property
    def size(self) -> str | None:
        """Whisper size family (tiny ... large), from run.json or else the model name."""
        size = _text(self.info.get("size"))
        if size:
            return size.lower()
        if self.task == "asr" and self.model:
            found = _SIZE_PATTERN.search(self.model.lower())
            return found.group(1) if found else None
        return None

    @property
    def family(self) -> str | None:
        """Summarizer family (t5, bart, mbart); None for Whisper."""
        family = _text(self.info.get("family"))
        return family.lower() if family else None

    @property
    def method(self) -> str | None:
        """``"full"``, ``"lora"`` or ``"adalora"``."""
        return _text(self.info.get("method"))

    @property
    def precision(self) -> str | None:
        """Weights precision: fp32, fp16, bf16, int8 or nf4."""
        return _text(self.info.get("precision"))

    @property
    def rank(self) -> int | None:
        """LoRA/AdaLoRA rank r, None for full fine-tuning."""
        return _integer(self.info.get("rank"))

    @property
    def dataset(self) -> str | None:
        """Dataset name as the training script recorded it."""
        return _text(self.info.get("dataset"))

    @property
    def status(self) -> str | None:
        """running, completed, failed or interrupted."""
        return _text(self.info.get("status"))

    @property
    def started_at(self) -> str:
        """ISO start time, "" when unknown (sorts first)."""
        return _text(self.info.get("started_at")) or ""

    @property
    def mode(self) -> str | None:
        """Training mode label: "full", "lora", "int8", "int8+adalora", "nf4+lora" ..."""
        return mode_label(self.method, self.precision)

    @property
    def label(self) -> str:
        """Short display name, e.g. "tiny int8+adalora" or "t5 lora r=8"."""
        head = self.size if self.task == "asr" else self.family
        parts = [head or self.model or self.run_id, self.mode or "?"]
        if self.rank is not None and self.method in ("lora", "adalora"):
            parts.append(f"r={self.rank}")
        return " ".join(parts)

    @property
    def validation(self) -> list[dict[str, Any]]:
        """Evaluation lines on the validation split (lines without a split count as validation)."""
        return [m for m in self.metrics if m.get("split", VALIDATION_SPLIT) == VALIDATION_SPLIT]

    @property
    def final(self) -> dict[str, Any]:
        """The last validation line, or {} when there is none yet."""
        lines = self.validation
        return lines[-1] if lines else {}


def mode_label(method: str | None, precision: str | None) -> str | None:
    """Name a training mode the way the thesis does: quantization first, then the adapter."""
    if method is None:
        return None
    quantized = precision if precision in QUANTIZED_PRECISIONS else None
    if method == "full":
        return quantized or "full"
    return f"{quantized}+{method}" if quantized else method


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
    info = _read_info(run_dir, base, warnings)
    metrics = _read_metrics(run_dir, base, warnings)
    run_id = _text(info.get("run_id")) or run_dir.name
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
    row = {name: run.info.get(name) for name in RUN_COLUMNS}
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


def available_references() -> list[str]:
    """Names accepted by ``load_reference``."""
    return list(REFERENCE_TABLES)


def load_reference(name: str) -> pd.DataFrame:
    """A thesis table from ``assets/reference`` (a fresh copy); blank cells are NaN.

    ``name`` is a ``REFERENCE_TABLES`` key such as ``"whisper_wer"``; the file stem
    (``"thesis_whisper_wer"``) works too.
    """
    key = name.removesuffix(".csv").removeprefix("thesis_")
    if key not in REFERENCE_TABLES:
        raise unknown_choice("reference table", name, available_references())
    return _read_reference(key).copy()


@lru_cache(maxsize=len(REFERENCE_TABLES))
def _read_reference(key: str) -> pd.DataFrame:
    path = REFERENCE_DIR / REFERENCE_TABLES[key]
    if not path.is_file():
        raise DemoError(f"Reference table {path.name} is missing from {REFERENCE_DIR}.")
    return pd.read_csv(path)


def _read_info(run_dir: Path, base: Path, warnings: list[str]) -> dict[str, Any]:
    text = _read_text(run_dir / RUN_FILE, base, MAX_RUN_FILE_BYTES, warnings)
    if text is None:
        return {}
    try:
        info = json.loads(text)
    except json.JSONDecodeError as exc:
        warnings.append(f"{RUN_FILE} is not valid JSON ({exc.msg}, line {exc.lineno}); ignored.")
        return {}
    if not isinstance(info, dict):
        warnings.append(f"{RUN_FILE} does not hold a JSON object; ignored.")
        return {}
    return info


def _read_metrics(run_dir: Path, base: Path, warnings: list[str]) -> list[dict[str, Any]]:
    text = _read_text(run_dir / METRICS_FILE, base, MAX_METRICS_BYTES, warnings)
    if text is None:
        return []
    lines = text.splitlines()
    last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    metrics = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if number - 1 == last:
                warnings.append(
                    f"The last line of {METRICS_FILE} is incomplete (run killed or still "
                    "writing); it was skipped."
                )
            else:
                warnings.append(f"Line {number} of {METRICS_FILE} is not valid JSON; skipped.")
            continue
        if not isinstance(record, dict):
            warnings.append(f"Line {number} of {METRICS_FILE} is not a JSON object; skipped.")
            continue
        metrics.append(record)
    return metrics


def _read_text(path: Path, base: Path, limit: int, warnings: list[str]) -> str | None:
    """The file's text, or None with a warning when it is missing, escapes base or can't be read."""
    if not _exists(path):
        warnings.append(f"{path.name} is missing.")
        return None
    try:
        target = path.resolve()
    except (OSError, RuntimeError):
        warnings.append(f"{path.name} can't be resolved; ignored.")
        return None
    if not _inside(target, base):
        warnings.append(f"{path.name} points outside the runs folder; ignored.")
        return None
    if not target.is_file():
        warnings.append(f"{path.name} is not a regular file; ignored.")
        return None
    try:
        with target.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        warnings.append(f"{path.name} can't be read ({exc.strerror or exc}).")
        return None
    if len(data) > limit:
        warnings.append(f"{path.name} is larger than {limit // (1024 * 1024)} MB; read in part.")
        data = data[:limit]
    return data.decode("utf-8", errors="replace")


def _exists(path: Path) -> bool:
    # lexists: a dangling symlink still counts as "present" so it gets a warning, not silence.
    return path.is_symlink() or path.exists()


def _inside(path: Path, base: Path) -> bool:
    return path == base or path.is_relative_to(base)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame(columns=list(RUN_COLUMNS))
    return pd.DataFrame(rows)
