"""Training data: manifests or datasets (built-in, Hugging Face) in, checked batches out.

A manifest is JSONL (one object per line) or CSV with a header. ASR rows name an audio file
(relative paths are read from the manifest's folder) and its transcript; summarizer rows hold
a document and its summary. Every row is checked before training starts: a missing or
undecodable audio file, an empty transcript or summary, or a malformed line is counted under
its reason and reported, never silently dropped; ``strict`` turns the first one into an error.
Features (log-mel spectrograms, token ids) are computed on the fly, batch by batch, by the
map-style datasets and collators of ``training.datasets``.
"""

from __future__ import annotations

import csv
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from demo.errors import AudioError, DemoError
from demo.jsonfiles import JsonProblem, drop_oversized, parse_json
from training.corpora.subsample import subsample

TRAIN, VALIDATION, TEST = "train", "validation", "test"
SPLIT_COLUMN = "split"
MAX_AUDIO_SECONDS = 30.0  # one Whisper window; longer clips can't be trained on as one example
MAX_EXAMPLES_SHOWN = 5  # bad rows quoted in the report, per split
IGNORE_INDEX = -100  # label positions the loss skips (padding)


class BadRowError(DemoError):
    """A row of the training data can't be used and ``strict`` asked to stop."""


@dataclass
class DataReport:
    """What happened to the rows of one split: how many were read, kept, and dropped why."""

    source: str  # manifest path or dataset name and split
    rows: int = 0  # rows read
    kept: int = 0  # rows turned into examples
    bad: Counter = field(default_factory=Counter)  # reason -> rows dropped for it
    examples: list[str] = field(default_factory=list)  # the first few, "row 7: audio missing"

    def drop(self, row: int, reason: str, detail: str, strict: bool) -> None:
        message = f"{self.source} row {row}: {reason} ({detail})"
        if strict:
            raise BadRowError(f"{message}; fix the row, or leave out --strict to skip bad rows.")
        self.bad[reason] += 1
        if len(self.examples) < MAX_EXAMPLES_SHOWN:
            self.examples.append(message)

    @property
    def dropped(self) -> int:
        return sum(self.bad.values())

    def summary(self) -> str:
        """One line for the console: kept/read and the reasons rows were dropped."""
        line = f"{self.source}: kept {self.kept} of {self.rows} rows"
        if self.bad:
            reasons = ", ".join(f"{count} {reason}" for reason, count in sorted(self.bad.items()))
            line += f"; dropped {self.dropped} ({reasons})"
        return line

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "rows": self.rows,
            "kept": self.kept,
            "dropped": dict(self.bad),
            "examples": list(self.examples),
        }


@dataclass(frozen=True)
class SpeechExample:
    audio: str | bytes  # file path or encoded audio bytes (Hugging Face datasets)
    text: str  # exact transcript


@dataclass(frozen=True)
class TextPair:
    text: str  # document
    summary: str  # reference summary


# ----------------------------------------------------------------------------- reading rows


def read_manifest(path: str | Path, report: DataReport, strict: bool) -> list[tuple[int, dict]]:
    """``(row number, row)`` pairs of a JSONL or CSV manifest; malformed lines are reported."""
    path = Path(path)
    if path.is_dir():
        raise DemoError(f"Manifest {path} is a folder; give the .jsonl or .csv file inside it.")
    if not path.is_file():
        raise DemoError(f"Manifest {path} doesn't exist; check the path.")
    try:
        rows = _manifest_rows(path, report, strict)
    except UnicodeDecodeError:
        raise DemoError(
            f"Manifest {path} is not UTF-8 text (a binary file?); give a .jsonl or .csv manifest."
        ) from None
    except csv.Error as exc:
        raise DemoError(f"Manifest {path} is not a readable CSV file ({exc}).") from None
    if not rows and report.rows:  # every line refused: the file is not what it claims to be
        raise DemoError(
            f"Manifest {path} has no usable row: none of its {report.rows} lines is a JSON "
            'object such as {"audio": "clip.wav", "text": "..."} (a .jsonl manifest holds one '
            "per line)."
        )
    return rows


def _manifest_rows(path: Path, report: DataReport, strict: bool) -> list[tuple[int, dict]]:
    suffix = path.suffix.lower()
    rows: list[tuple[int, dict]] = []
    if suffix == ".csv":
        # utf-8-sig: a spreadsheet's byte-order mark must not end up in the first column name.
        with path.open(newline="", encoding="utf-8-sig") as handle:
            # Row numbers count the header as row 1, as a spreadsheet shows them.
            for number, row in enumerate(csv.DictReader(handle), start=2):
                report.rows += 1
                rows.append((number, {k: v for k, v in row.items() if k is not None}))
        return rows
    if suffix not in (".jsonl", ".json", ".ndjson"):
        raise DemoError(f"Manifest {path.name} must be .jsonl or .csv.")
    with path.open(encoding="utf-8-sig") as handle:  # a byte-order mark would spoil row 1
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            report.rows += 1
            try:
                row = drop_oversized(parse_json(line), [], "")
            except JsonProblem as exc:
                report.drop(number, "invalid JSON", str(exc), strict)
                continue
            if not isinstance(row, dict):
                report.drop(number, "invalid JSON", "not an object", strict)
                continue
            rows.append((number, row))
    return rows


def row_text(row: dict, column: str) -> str:
    """The column's text, stripped; "" when it is missing or holds no letter or digit (a
    punctuation-only transcript or summary gives a model nothing to learn)."""
    value = row.get(column)
    if not isinstance(value, str) or not any(ch.isalnum() for ch in value):
        return ""
    return value.strip()


def check_columns(rows: list[tuple[int, dict]], columns: list[str], source: str) -> None:
    if not rows:
        return
    present = set().union(*(row.keys() for _, row in rows))
    missing = [c for c in columns if c not in present]
    if missing:
        raise DemoError(
            f"{source} has no column {', '.join(missing)} (it has: {', '.join(sorted(present))}); "
            "name the right ones with --audio-column/--text-column/--summary-column."
        )


def speech_examples(
    rows: list[tuple[int, dict]],
    report: DataReport,
    *,
    audio_column: str,
    text_column: str,
    base_dir: Path | None,
    strict: bool,
) -> list[SpeechExample]:
    """Check ASR rows: transcript present, audio found and decodable, at most 30 s."""
    from demo.audio import duration_seconds, load_audio

    check_columns(rows, [audio_column, text_column], report.source)
    examples = []
    for number, row in rows:
        text = row_text(row, text_column)
        if not text:
            report.drop(number, "empty text", f"column {text_column!r} has no words", strict)
            continue
        audio = audio_source(row.get(audio_column), base_dir)
        if audio is None:
            report.drop(number, "missing audio", f"column {audio_column!r} is empty", strict)
            continue
        if isinstance(audio, Path) and not audio.is_file():
            report.drop(number, "missing file", str(audio), strict)
            continue
        try:
            waveform = load_audio(audio if isinstance(audio, bytes) else str(audio))
        except AudioError as exc:
            reason = "silent audio" if "silent" in str(exc) else "undecodable audio"
            report.drop(number, reason, str(exc).rstrip("."), strict)
            continue
        seconds = duration_seconds(waveform)
        if seconds > MAX_AUDIO_SECONDS:
            report.drop(number, "audio over 30 s", f"{seconds:.1f} s", strict)
            continue
        examples.append(SpeechExample(audio if isinstance(audio, bytes) else str(audio), text))
    report.kept = len(examples)
    return examples


def speech_columns(config, splits: Splits) -> dict[str, Any]:
    """The ``speech_examples`` keyword arguments an ASR config and its splits give."""
    return {
        "audio_column": config.audio_column,
        "text_column": config.text_column,
        "base_dir": splits.base_dir,
        "strict": config.strict,
    }


def audio_source(value: Any, base_dir: Path | None) -> Path | bytes | None:
    # A manifest gives a path; a Hugging Face Audio column (decode=False) gives {path, bytes}.
    if isinstance(value, dict):
        if value.get("bytes"):
            return bytes(value["bytes"])
        value = value.get("path")
    if not isinstance(value, str) or not value.strip():
        return None
    path = Path(value.strip()).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    return path


def text_pairs(
    rows: list[tuple[int, dict]],
    report: DataReport,
    *,
    text_column: str,
    summary_column: str,
    strict: bool,
) -> list[TextPair]:
    """Check summarizer rows: document and summary both present."""
    check_columns(rows, [text_column, summary_column], report.source)
    pairs = []
    for number, row in rows:
        text, summary = row_text(row, text_column), row_text(row, summary_column)
        if not text:
            report.drop(number, "empty text", f"column {text_column!r}", strict)
        elif not summary:
            report.drop(number, "empty summary", f"column {summary_column!r}", strict)
        else:
            pairs.append(TextPair(text, summary))
    report.kept = len(pairs)
    return pairs


# ----------------------------------------------------------------------------- splits


@dataclass
class Splits:
    """Rows of each split before checking, with the reports that will count them."""

    train: list[tuple[int, dict]]
    validation: list[tuple[int, dict]]
    reports: dict[str, DataReport]
    base_dir: Path | None  # where relative audio paths start
    name: str  # dataset name for run.json
    # Held out for one final evaluation, never for choosing a checkpoint: a manifest's
    # split=test rows or a built-in dataset's test split (limited by max_test_samples only).
    # Its report joins ``reports`` only once a task checks these rows, so run.json never
    # shows a test split that was not used.
    test: list[tuple[int, dict]] = field(default_factory=list)
    test_report: DataReport | None = None


def load_splits(config) -> Splits:
    """Read the rows named by a config (manifest(s), a built-in dataset of ``training.corpora``
    or a Hugging Face dataset, in that order) and split train/validation (and test)."""
    from training.corpora import is_builtin

    if config.train is not None:
        splits = _manifest_splits(config)
    elif is_builtin(config.dataset):
        splits = _builtin_splits(config)
    else:
        splits = _dataset_splits(config)
    seed = getattr(config, "sample_seed", None)
    for split, limit in ((TRAIN, config.max_train_samples), (VALIDATION, config.max_val_samples)):
        rows = subsample(getattr(splits, split), limit, seed)
        setattr(splits, split, rows)
        # Rows left out by the limit were not read for this run: they are not "dropped".
        splits.reports[split].rows = len(rows) + splits.reports[split].dropped
    if config.max_test_samples is not None and splits.test:
        splits.test = subsample(splits.test, config.max_test_samples, seed)
        splits.test_report.rows = len(splits.test) + splits.test_report.dropped
    if not splits.train:
        raise DemoError(f"No training rows in {splits.reports[TRAIN].source}.")
    if not splits.validation:
        raise DemoError(
            "No validation rows: give --validation, a split column, or a --val-fraction above 0."
        )
    return splits


def _manifest_splits(config) -> Splits:
    train_path = Path(config.train)
    report = DataReport(str(train_path))
    rows = read_manifest(train_path, report, config.strict)
    test: list[tuple[int, dict]] = []
    if config.validation is not None:
        val_report = DataReport(str(config.validation))
        validation = read_manifest(config.validation, val_report, config.strict)
        train, reports = rows, {TRAIN: report, VALIDATION: val_report}
    else:
        if any(SPLIT_COLUMN in row for _, row in rows):
            # A split column (make_speech_corpus writes one) decides; other values are left out.
            train = [(n, r) for n, r in rows if r.get(SPLIT_COLUMN) == TRAIN]
            validation = [(n, r) for n, r in rows if r.get(SPLIT_COLUMN) == VALIDATION]
            test = [(n, r) for n, r in rows if r.get(SPLIT_COLUMN) == TEST]
            sources = (f"{train_path} (split={TRAIN})", f"{train_path} (split={VALIDATION})")
        else:
            train, validation = _random_split(rows, config.val_fraction, config.seed)
            sources = (str(train_path), f"{train_path} (held out)")
        # Lines that are not even JSON can't be given a split; they count against training.
        reports = {
            TRAIN: DataReport(sources[0], bad=report.bad, examples=report.examples),
            VALIDATION: DataReport(sources[1]),
        }
    test_report = DataReport(f"{train_path} (split={TEST})", rows=len(test)) if test else None
    name = train_path.parent.name if train_path.stem == "manifest" else train_path.stem
    return Splits(train, validation, reports, train_path.parent, name, test, test_report)


def _random_split(rows: list, fraction: float, seed: int) -> tuple[list, list]:
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    held = set(order[: round(len(rows) * fraction)])
    train = [row for i, row in enumerate(rows) if i not in held]
    return train, [row for i, row in enumerate(rows) if i in held]


def _builtin_splits(config) -> Splits:
    """A dataset that ships with the toolkit (``training.corpora``): its own three splits."""
    from training.corpora import BUILTIN_DATASETS, builtin_rows

    name = config.dataset
    if hasattr(config, "audio_column"):  # an ASR config: these rows have no audio
        raise DemoError(
            f"{name} is a {BUILTIN_DATASETS[name].kind} dataset without audio; for speech, "
            "build a corpus with `python -m training.make_speech_corpus --source aclsum`."
        )

    def rows(split: str) -> list[tuple[int, dict]]:
        return list(enumerate(builtin_rows(name, split), start=1))

    used = (config.train_split, config.validation_split)
    test = rows(TEST) if TEST not in used else []
    reports = {
        TRAIN: DataReport(f"{name}[{used[0]}]"),
        VALIDATION: DataReport(f"{name}[{used[1]}]"),
    }
    test_report = DataReport(f"{name}[{TEST}]", rows=len(test)) if test else None
    return Splits(rows(used[0]), rows(used[1]), reports, None, name, test, test_report)


def _dataset_splits(config) -> Splits:
    try:
        import datasets
    except ImportError as exc:
        raise DemoError(
            "Training from a Hugging Face dataset needs the datasets package; "
            "`pip install datasets`, or give a manifest with --train."
        ) from exc
    name = config.dataset
    local = Path(name).expanduser()
    try:
        if (local / "dataset_dict.json").is_file() or (local / "state.json").is_file():
            loaded = datasets.load_from_disk(str(local))
        else:
            loaded = datasets.load_dataset(name, config.dataset_config)
    except Exception as exc:  # network, missing dataset, bad config: many types
        raise DemoError(
            f"Can't load the dataset {name}: {exc}; check its name, or download it first."
        ) from exc
    if isinstance(loaded, datasets.Dataset):
        loaded = datasets.DatasetDict({config.train_split: loaded})
    if config.train_split not in loaded:
        raise DemoError(
            f"Dataset {name} has no split {config.train_split!r} (it has: {', '.join(loaded)})."
        )
    audio_column = getattr(config, "audio_column", None)
    train_set = loaded[config.train_split]
    source = f"{name}[{config.train_split}]"
    if config.validation_split in loaded and config.validation_split != config.train_split:
        val_set = loaded[config.validation_split]
        sources = (source, f"{name}[{config.validation_split}]")
    else:
        train_idx, val_idx = _random_split(
            list(range(len(train_set))), config.val_fraction, config.seed
        )
        train_set, val_set = train_set.select(train_idx), train_set.select(val_idx)
        sources = (source, f"{source} (held out)")
    # Only the rows this run uses are turned into Python objects.
    train = _dataset_rows(train_set, audio_column, config.max_train_samples)
    validation = _dataset_rows(val_set, audio_column, config.max_val_samples)
    reports = {TRAIN: DataReport(sources[0]), VALIDATION: DataReport(sources[1])}
    base = local if local.is_dir() else None
    return Splits(train, validation, reports, base, name.rstrip("/").split("/")[-1])


def _dataset_rows(dataset, audio_column: str | None, limit: int | None) -> list[tuple[int, dict]]:
    if limit is not None:
        dataset = dataset.select(range(min(limit, len(dataset))))
    if audio_column and audio_column in dataset.column_names:
        from datasets import Audio

        # Keep the encoded audio and decode it with FFmpeg like every other clip (no
        # soundfile/torchcodec needed, and undecodable rows are counted, not raised).
        if isinstance(dataset.features[audio_column], Audio):
            dataset = dataset.cast_column(audio_column, Audio(decode=False))
    return [(i + 1, dict(row)) for i, row in enumerate(dataset)]
