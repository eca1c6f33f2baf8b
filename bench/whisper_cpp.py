"""whisper.cpp as a benchmark peer, through ``pywhispercpp`` (its wheel has whisper.cpp
compiled in; bench-only, never a runtime dependency: ``make bench-peers`` installs it).

The model file is our bundled weights converted by ``bench.ggml``. Settings follow the other
engines of the bench: temperature 0 without fallback, no conditioning on the previous window,
no VAD, timestamps (segments) on; greedy, or beam search of a given width.
"""

from __future__ import annotations

import importlib
import os

import numpy as np

from demo.errors import ModelUnavailableError

PACKAGE = "pywhispercpp"
INSTALL_HINT = "run `make bench-peers` (it installs pywhispercpp==1.5.1)"


def require() -> object:
    """The ``pywhispercpp.model`` module; missing, one sentence that says how to get it."""
    try:
        return importlib.import_module(f"{PACKAGE}.model")
    except ImportError:
        raise ModelUnavailableError(f"whisper.cpp is a bench-only peer: {INSTALL_HINT}.") from None


def load(model: str, fmt: str, threads: int) -> tuple[object, float]:
    """A pywhispercpp ``Model`` on the ggml file of a bundled model in format ``fmt``, with
    ``threads`` threads (0: every core), and the file's size in MB (its weights)."""
    from bench.ggml import ggml_model
    from demo.asr.registry import get_whisper_model

    module = require()
    path = ggml_model(model, fmt)
    handle = module.Model(
        str(path),
        redirect_whispercpp_logs_to=None,  # the loader's log lines
        n_threads=threads or os.cpu_count() or 1,
        print_progress=False,
        print_realtime=False,
        no_context=True,  # no conditioning on the previous window
        temperature=0.0,
        temperature_inc=0.0,  # no fallback to higher temperatures
        language="auto" if get_whisper_model(model).multilingual else "en",
    )
    return handle, path.stat().st_size / 2**20  # the tensors, plus ~0.5 MB of vocabulary


def segments(handle, audio: np.ndarray, beams: int) -> list[tuple[float, float, str]]:
    """Segments ``(start s, end s, text)`` of one clip, greedy (``beams=1``) or beam search."""
    import _pywhispercpp as pw

    kind = pw.whisper_sampling_strategy
    found = handle.transcribe(
        np.ascontiguousarray(audio, dtype=np.float32),
        # transcribe's keywords set whisper_full_params fields, these two included
        strategy=kind.WHISPER_SAMPLING_GREEDY if beams == 1 else kind.WHISPER_SAMPLING_BEAM_SEARCH,
        beam_search={"beam_size": beams, "patience": -1.0},
    )
    # whisper.cpp's times are in centiseconds
    return [(s.t0 / 100, s.t1 / 100, s.text.strip()) for s in found if s.text.strip()]
