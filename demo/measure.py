"""Measurement helpers shared by the app, the CLI, training and benchmarks.

Wall time with ``time.perf_counter``, peak process RSS sampled by a thread during a stage,
CUDA peak allocated, the weights footprint of a model (quantized tensors included), the
minimum of repeated timings, a measurement run in a forked process so that its memory is
its own, and freed memory handed back to the system.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import psutil

MB = 1024 * 1024
SAMPLE_INTERVAL_S = 0.005


@dataclass
class StageStats:
    seconds: float = 0.0  # wall time of the stage
    peak_rss_mb: float = 0.0  # highest resident set size of this process during the stage
    cuda_peak_mb: float | None = None  # torch.cuda.max_memory_allocated during the stage


@dataclass
class Measurements:
    """Stage name -> stats, in the order the stages ran."""

    stages: dict[str, StageStats] = field(default_factory=dict)

    def seconds(self) -> dict[str, float]:
        return {name: s.seconds for name, s in self.stages.items()}

    def peak_rss_mb(self) -> float:
        return max((s.peak_rss_mb for s in self.stages.values()), default=0.0)

    def cuda_peak_mb(self) -> float | None:
        peaks = [s.cuda_peak_mb for s in self.stages.values() if s.cuda_peak_mb is not None]
        return max(peaks) if peaks else None


class _RssSampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self._process = psutil.Process()
        self._done = threading.Event()
        self.peak = self._process.memory_info().rss

    def run(self) -> None:
        while not self._done.wait(SAMPLE_INTERVAL_S):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def stop(self) -> int:
        self._done.set()
        self.join()
        return max(self.peak, self._process.memory_info().rss)


def _cuda_available() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


@contextmanager
def measure(name: str, into: Measurements | None = None) -> Iterator[StageStats]:
    """Time a stage and record its peak RSS (and CUDA peak); stats are filled in on exit."""
    stats = StageStats()
    cuda = _cuda_available()
    if cuda:
        import torch

        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    sampler = _RssSampler()
    sampler.start()
    start = time.perf_counter()
    try:
        yield stats
    finally:
        if cuda:
            torch.cuda.synchronize()
            stats.cuda_peak_mb = torch.cuda.max_memory_allocated() / MB
        stats.seconds = time.perf_counter() - start
        stats.peak_rss_mb = sampler.stop() / MB
        if into is not None:
            into.stages[name] = stats


def _tensor_bytes(value) -> int:
    import torch

    if isinstance(value, torch.Tensor):
        if value.is_quantized:
            return value.int_repr().numel() * 1 + 8  # int8 payload + scale/zero point
        return value.numel() * value.element_size()
    if isinstance(value, (tuple, list)):
        return sum(_tensor_bytes(v) for v in value)
    return 0


def weights_footprint_mb(model) -> float:
    """Bytes held by a model's weights and buffers, in MiB.

    Walks the state dict rather than ``parameters()`` so that torch dynamic-int8 packed weights
    (stored there as ``(qweight, bias)`` tuples) and bitsandbytes' quantized storage and scales
    are counted at their real size.
    """
    import torch

    total = 0
    seen: set[int] = set()
    for value in model.state_dict(keep_vars=True).values():
        if isinstance(value, torch.Tensor):
            if value.data_ptr() in seen and value.numel() > 0:
                continue  # tied weights (Whisper's output projection) count once
            seen.add(value.data_ptr())
        total += _tensor_bytes(value)
    return total / MB


@lru_cache(maxsize=1)
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none (macOS, musl)."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def release_freed_memory(collect: bool = True) -> None:
    """Hand memory freed by dropped models and finished requests back to the system.

    Python frees the tensors, but glibc keeps the freed pages in its arenas (one per thread
    that allocated), so a server that loads, evicts and reloads models grows in resident size
    although nothing leaks. ``malloc_trim`` returns those pages (well under a millisecond);
    ``collect`` first runs the cycle collector (a few hundred ms with models loaded), for
    dropped models whose modules refer to each other.
    """
    if collect:
        gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def process_rss_mb() -> float:
    """Current resident set size of this process in MiB."""
    return psutil.Process().memory_info().rss / MB


@contextmanager
def at_most_threads(count: int | None) -> Iterator[None]:
    """torch's intra-op threads capped at ``count`` inside the block (None or 0: unchanged),
    restored after it."""
    import torch

    before = torch.get_num_threads()
    if not count or count >= before:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def spare_cores() -> int | None:
    """Cores of this process's CPU set not taken by other processes' runnable threads right
    now (Linux ``/proc``: the runnable count of ``/proc/loadavg`` less this process's own
    running threads); None where the system doesn't tell."""
    try:
        with open("/proc/loadavg") as f:
            runnable = int(f.read().split()[3].split("/")[0])
        ours = 0
        for task in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{task}/stat") as f:
                stat = f.read()
            ours += stat[stat.rindex(")") + 2] == "R"
    except (OSError, ValueError, IndexError):
        return None
    return len(os.sched_getaffinity(0)) - max(0, runnable - ours)


def free_threads() -> int:
    """Intra-op threads for a parallel pass right now (0: all of torch's, as at_most_threads
    takes it): all where other processes leave every core free or where the system doesn't
    tell, else as many as are free, at least one. A parallel region ends with its slowest
    thread, and a thread that shares its core with another process stalls every region."""
    import torch

    spare = spare_cores()
    if spare is None or spare >= torch.get_num_threads():
        return 0
    return max(1, spare)


def best_time(function: Callable[[], Any], repeats: int, sync: Callable[[], None] | None = None):
    """(minimum seconds over ``repeats`` calls, last result), after one untimed warm-up call.

    ``sync`` (e.g. ``torch.cuda.synchronize``) runs around each call so that asynchronous
    work is inside the timing.
    """
    if repeats < 1:
        raise ValueError("repeats must be at least 1.")
    sync = sync or (lambda: None)
    result = function()
    sync()
    best = float("inf")
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        result = function()
        sync()
        best = min(best, time.perf_counter() - start)
    return best, result


def run_in_fork(function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)`` in a forked copy of this process, so its memory peak is its own.

    Fork only from a process whose thread pools have not run yet (a fresh benchmark process):
    a child forked from a process with a live OpenMP pool can deadlock. Without ``fork`` (not
    Linux) it runs here. An exception in the child is raised here as ``RuntimeError``.
    """
    import multiprocessing

    if "fork" not in multiprocessing.get_all_start_methods():
        return function(*args)
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)

    def target():
        try:
            send.send((True, function(*args)))
        except Exception as exc:  # reported by the parent
            send.send((False, f"{type(exc).__name__}: {exc}"))
        finally:
            send.close()

    child = context.Process(target=target)
    child.start()
    send.close()
    try:
        ok, result = receive.recv()
    except EOFError:
        ok, result = False, "the measuring process died (out of memory?)"
    child.join()
    if not ok:
        raise RuntimeError(result)
    return result
