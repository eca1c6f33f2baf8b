"""A busy laptop for the speed benchmarks (issue 37): one CPU-bound process beside the engines.

A laptop in a talk is never idle: a browser, an indexer, a sync client take a core. ``with
co_load():`` starts one process that multiplies float32 matrices in a loop on one thread at
``nice 10`` (below the engines, as a background job runs), and stops it at the end of the
block; ``bench.asr --co-load`` times every engine under it. The load is the same for every
engine and every round, so the ratios between engines stay comparable; what changes is how
well each engine shares the machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

NICE = 10
# 256x256 float32 products: compute-bound (the operands stay in L2), one thread.
SCRIPT = """
import numpy as np
a = np.random.default_rng(0).random((256, 256), dtype=np.float32)
while True:
    a = a @ a
    a /= np.abs(a).max()
"""
DESCRIPTION = f"one process multiplying 256x256 float32 matrices on 1 thread at nice {NICE}"
ONE_THREAD = {name: "1" for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


@contextmanager
def co_load(nice: int = NICE) -> Iterator[str]:
    """A CPU-bound process running beside the block; yields what it is (for the result
    file). One sentence if it cannot start."""
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT],
        env={**os.environ, **ONE_THREAD},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: os.nice(nice),
        # A session of its own, as a program started from another terminal or the desktop:
        # Linux's autogroup scheduling weighs sessions against each other first, so its nice
        # value counts only against processes of its own session, not against the engines.
        start_new_session=True,
    )
    time.sleep(0.5)  # numpy imported, the loop running
    if process.poll() is not None:
        error = process.stderr.read().decode(errors="replace").strip().splitlines()
        raise RuntimeError(f"The co-load process ended at once: {error[-1] if error else '?'}")
    try:
        yield DESCRIPTION
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stderr.close()
