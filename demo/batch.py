"""Transcribe and summarize every audio file of a folder (or a glob), resumably.

    python -m demo batch recordings/ --out results/
    python -m demo batch "calls/**/*.mp3" --out results/ --workers 2 --format json srt
    python -m demo batch recordings/ --out results/ --shard 2/4      # this machine's quarter

``out/results.jsonl`` gets one line per file as it finishes (appended and flushed: Ctrl-C or
a crash loses nothing already written); ``out/results.csv`` is rewritten from it at the end;
``out/files/<path>.<format>`` is each file's export. A rerun skips the files that are ``ok`` in
results.jsonl and retries the others. A file that can't be used (not audio, empty, too long,
too large) becomes one ``error`` row with a sentence saying why, and the run goes on.
"""

from __future__ import annotations

import concurrent.futures as futures
import contextlib
import csv
import glob
import json
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from demo.audio import DEFAULT_MAX_BYTES
from demo.errors import DemoError, unknown_choice
from demo.export import FORMATS, render
from demo.options import option

AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".webm", ".m4a", ".aac")
RESULTS_JSONL, RESULTS_CSV, FILES_DIR = "results.jsonl", "results.csv", "files"
OK, ERROR = "ok", "error"
MAX_FILES = 100_000  # files one run (or one shard) takes
MAX_WORKERS = 64
RESULTS_LIMIT = 1 << 30  # the largest results.jsonl read back on a rerun
CSV_COLUMNS = ("file", "status", "error", "language", "audio_seconds", "seconds", "rtfx",
               "transcript", "summary", "exports", "config", "finished")  # fmt: skip


@dataclass(frozen=True)
class BatchOptions:
    out: str = option("results", "output folder: results.jsonl, results.csv, files/")
    workers: int = option(1, "processes, each with its own models (1 = this process)")
    format: tuple[str, ...] = option(("json",), "per-file exports: " + ", ".join(FORMATS))
    max_files: int = option(10_000, "refuse a folder with more audio files than this")
    max_file_mb: float = option(DEFAULT_MAX_BYTES / 2**20, "skip (as an error) larger files")
    shard: str = option("1/1", "K/N: take every N-th file from the K-th (one machine of N)")

    def __post_init__(self) -> None:
        if not 1 <= self.workers <= MAX_WORKERS:
            raise ValueError(f"workers must be between 1 and {MAX_WORKERS}.")
        for fmt in self.format:
            if fmt not in FORMATS:
                raise unknown_choice("export format", fmt, list(FORMATS))
        if not 1 <= self.max_files <= MAX_FILES:
            raise ValueError(f"max_files must be between 1 and {MAX_FILES:,}.")
        if not 0 < self.max_file_mb <= DEFAULT_MAX_BYTES / 2**20:
            raise ValueError(
                f"max_file_mb must be above 0 and at most {DEFAULT_MAX_BYTES / 2**20:.0f} (MB)."
            )
        self.shard_index()

    def shard_index(self) -> tuple[int, int]:
        """(k, n) of ``shard`` "K/N" with 1 <= K <= N, zero-based k."""
        try:
            k, n = (int(part) for part in self.shard.split("/"))
        except ValueError:
            raise ValueError(f"shard must look like 2/4 (K/N), not {self.shard!r}.") from None
        if not 1 <= k <= n:
            raise ValueError(f"shard {self.shard}: K must be between 1 and N.")
        return k - 1, n


@dataclass(frozen=True)
class BatchSummary:
    done: int  # files processed in this run
    failed: int  # of which errors
    skipped: int  # already ok in results.jsonl
    errors: list[tuple[str, str]]  # (file, sentence) of this run's errors
    interrupted: bool = False


def _glob_root(pattern: str) -> Path:
    """The folder above a glob's first magic part: paths are shown relative to it."""
    parts = Path(pattern).parts
    for i, part in enumerate(parts):
        if glob.has_magic(part):
            return Path(*parts[:i]) if i else Path(".")
    return Path(pattern).parent


def find_audio(source: str, max_files: int, shards: int = 1) -> tuple[Path, list[Path]]:
    """(root, files): the audio files of a folder (recursively, by extension), a glob's
    matches (any file it names) or one file; sorted; refused when one of ``shards`` would get
    more than ``max_files``."""
    path = Path(source).expanduser()
    if path.is_dir():
        root, files = path, [p for p in path.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS]
    elif path.is_file():
        root, files = path.parent, [path]
    elif glob.has_magic(source):
        root = _glob_root(os.path.expanduser(source))
        files = [Path(p) for p in glob.glob(os.path.expanduser(source), recursive=True)]
    else:
        raise DemoError(f"{source} is not a folder, a file or a glob pattern; check the path.")
    files = sorted(p for p in files if p.is_file())
    if not files:
        kinds = ", ".join(AUDIO_EXTENSIONS)
        raise DemoError(f"No audio files in {source} (looked for {kinds}).")
    if -(-len(files) // shards) > max_files:
        share = f" (/{shards} shards)" if shards > 1 else ""
        raise DemoError(
            f"{source} holds {len(files):,} audio files{share}, over the limit of "
            f"{max_files:,} a run; raise --max-files, or split the work with --shard K/N."
        )
    return root, files


def _key(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def read_results(out: Path) -> dict[str, dict[str, Any]]:
    """The last row of each file in ``out/results.jsonl`` (none when it doesn't exist)."""
    from demo.jsonfiles import read_jsonl

    path = out / RESULTS_JSONL
    if not path.exists():
        return {}
    rows = read_jsonl(path, limit=RESULTS_LIMIT, warnings=[])
    return {row["file"]: row for row in rows if isinstance(row.get("file"), str)}


def write_csv(out: Path) -> Path:
    """``out/results.csv`` from results.jsonl: one row per file, its latest outcome."""
    path = out / RESULTS_CSV
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in read_results(out).values():
            writer.writerow({**row, "exports": " ".join(row.get("exports") or [])})
    tmp.replace(path)  # a reader never sees half a table
    return path


def export(result, out: Path, key: str, formats: tuple[str, ...]) -> list[str]:
    """Write ``result`` in each format under ``out/files/``; the paths written, relative to
    ``out``. The one place a batch writes per-file output."""
    written = []
    for fmt in formats:
        path = out / FILES_DIR / f"{key}.{FORMATS[fmt].extension}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(result, fmt), encoding="utf-8")
        written.append(path.relative_to(out).as_posix())
    return written


# --------------------------------------------------------------------------- one file


_WORKER_OPTIONS = None  # PipelineOptions of this worker process


def _setup_worker(options, threads: int, setup: Callable[[], None] | None) -> None:
    """In each worker process, once: quiet its output, set its threads, load its models."""
    global _WORKER_OPTIONS
    # Ctrl-C reaches every process of the terminal's group: the main one stops the workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if setup is not None:
        setup()
    _no_progress_bars()
    if "OMP_NUM_THREADS" not in os.environ:
        import torch

        torch.set_num_threads(threads)
    from demo.pipeline import preload

    _WORKER_OPTIONS = options
    with contextlib.suppress(DemoError):  # a model that can't load: each file says so
        preload(options)


def _no_progress_bars() -> None:
    # A worker's pipeline bars would draw over the batch's one bar.
    from tqdm import std

    original = std.tqdm.__init__

    def silent(self, *args, **kwargs):
        kwargs["disable"] = True
        original(self, *args, **kwargs)

    std.tqdm.__init__ = silent


def process_file(path: Path, key: str, options, max_bytes: int):
    """(row, result): the pipeline on one file; a file that can't be used gives an error row
    (and no result) instead of raising."""
    from demo.pipeline import run_pipeline

    row: dict[str, Any] = {"file": key, "path": str(path), "config": options.label()}
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise DemoError(
                f"The file is {size / 2**20:.1f} MB, over the --max-file-mb limit of "
                f"{max_bytes / 2**20:.3g} MB."
            )
        result = run_pipeline(path, options)
    except (DemoError, ValueError, OSError) as exc:
        return {**row, "status": ERROR, "error": str(exc)}, None
    except Exception as exc:  # a bug or a library failure on this file: reported, run goes on
        return {**row, "status": ERROR, "error": f"{type(exc).__name__}: {exc}"}, None
    row |= {
        "status": OK, "error": "", "language": result.language,
        "audio_seconds": round(result.audio_seconds, 3),
        "seconds": round(result.timings["total"], 3), "rtfx": round(result.rtfx, 2),
        "transcript": result.transcript, "summary": result.summary, "notes": result.notes,
    }  # fmt: skip
    return row, result


def _in_worker(path: Path, key: str, max_bytes: int):
    return process_file(path, key, _WORKER_OPTIONS, max_bytes)


# --------------------------------------------------------------------------- the run


def _outcomes(
    todo: list[tuple[Path, str]], options, batch: BatchOptions,
    setup: Callable[[], None] | None,
) -> Iterator[tuple[dict, Any]]:  # fmt: skip
    """(row, result) of each file as it finishes: in this process, or in worker processes."""
    max_bytes = int(batch.max_file_mb * 2**20)
    workers = min(batch.workers, len(todo))  # a pool's start costs a model load a process
    if not todo:
        return
    if workers == 1:
        from demo.pipeline import preload

        with contextlib.suppress(DemoError), _quiet_bars():
            preload(options)
        for path, key in todo:
            with _quiet_bars():
                outcome = process_file(path, key, options, max_bytes)
            yield outcome
        return
    threads = max(1, (os.cpu_count() or 1) // workers)
    # spawn: a forked copy of a process that already ran torch threads can hang
    pool = futures.ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("spawn"),
        initializer=_setup_worker, initargs=(options, threads, setup),
    )  # fmt: skip
    try:
        running = {pool.submit(_in_worker, path, key, max_bytes): key for path, key in todo}
        for future in futures.as_completed(running):
            try:
                yield future.result()
            except futures.process.BrokenProcessPool as exc:
                raise DemoError(
                    "A worker process died (out of memory?); what finished is saved: rerun "
                    "the same command to go on, with fewer --workers."
                ) from exc
    except BaseException:  # Ctrl-C, or the caller stopped: the files in flight stop too
        # (ProcessPoolExecutor.terminate_workers arrives in Python 3.14)
        for process in list(getattr(pool, "_processes", {}).values()):
            process.terminate()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


@contextlib.contextmanager
def _quiet_bars() -> Iterator[None]:
    from tqdm import std

    original = std.tqdm.__init__
    try:
        _no_progress_bars()
        yield
    finally:
        std.tqdm.__init__ = original


def run_batch(
    source: str, options, batch: BatchOptions, setup: Callable[[], None] | None = None
) -> BatchSummary:
    """Every audio file of ``source`` (this shard's share) through the pipeline with
    ``options``; files already ``ok`` in ``batch.out`` are skipped. ``setup`` runs first in each
    worker process (the CLI's quieting of library output)."""
    k, n = batch.shard_index()
    root, files = find_audio(source, batch.max_files, n)
    files = files[k::n]
    out = Path(batch.out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    previous = read_results(out)
    keyed = [(path, _key(path, root)) for path in files]
    todo = [(p, key) for p, key in keyed if previous.get(key, {}).get("status") != OK]
    skipped = len(keyed) - len(todo)
    errors: list[tuple[str, str]] = []
    done, interrupted = 0, False
    results = out / RESULTS_JSONL
    with results.open("a", encoding="utf-8") as log, tqdm(
        total=len(keyed), initial=skipped, desc="files", unit="file", dynamic_ncols=True
    ) as bar:  # fmt: skip
        if log.tell() and not _ends_with_newline(results):
            log.write("\n")  # the last run was killed mid-line
        try:
            for row, result in _outcomes(todo, options, batch, setup):
                if result is not None:
                    try:
                        row["exports"] = export(result, out, row["file"], batch.format)
                    except OSError as exc:
                        row |= {"status": ERROR, "error": f"Could not write the export: {exc}"}
                row["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
                log.write(json.dumps(row, default=str) + "\n")
                log.flush()
                done += 1
                if row["status"] != OK:
                    errors.append((row["file"], row["error"]))
                bar.set_postfix(errors=len(errors), refresh=False)
                bar.update(1)
        except KeyboardInterrupt:
            interrupted = True
    write_csv(out)
    return BatchSummary(done, len(errors), skipped, errors, interrupted)


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"
