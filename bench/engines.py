"""What the benchmark runs: our pipeline in one quantization mode, faster-whisper, or
whisper.cpp.

Every engine reads the same bundled weights (``demo.registry``): ours through the converted
transformers checkpoint, faster-whisper through the original CTranslate2 folder, whisper.cpp
(``pywhispercpp``, bench-only: ``make bench-peers``) through a ggml file converted from that
checkpoint (``bench.ggml``), so the comparison is between inference engines on identical
weights (whisper.cpp's q8_0 / q5_0 re-quantize them, as its users do).
"""

from __future__ import annotations

import gc
import importlib
import multiprocessing
import shutil
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from demo.asr.registry import bundled_source, get_whisper_model
from demo.audio import SAMPLE_RATE
from demo.measure import run_in_fork
from demo.settings import settings

FW_COMPUTE_TYPES = {"fw-int8": "int8", "fw-fp32": "float32", "fw-batched8": "int8"}
FW_BASELINE = "fw-int8"
# whisper.cpp through pywhispercpp (its wheel has the library compiled in): bench.ggml format.
WCPP_FORMATS = {"wcpp-f16": "f16", "wcpp-q8_0": "q8_0", "wcpp-q5_0": "q5_0"}
# Engines of other projects, each run in a process of its own (Isolated): peer name -> engine.
PEERS = {**dict.fromkeys(FW_COMPUTE_TYPES, "faster-whisper"),
         **dict.fromkeys(WCPP_FORMATS, "whisper.cpp")}  # fmt: skip
# faster-whisper's BatchedInferencePipeline: Silero VAD cuts, chunks decoded 8 at a time.
# A long-form peer only: on one window it is the plain model with a VAD pass in front.
FW_BATCHED = {"fw-batched8": 8}
# What fast-int8 is made of, one choice undone at a time: to_fast arguments and decode threads
# (0 = all). "fast-int8~enc-int8" is also what fast-int8 becomes on a CPU without native bf16.
ABLATIONS: dict[str, dict] = {
    "fast-int8~enc-int8": {"encoder": "int8"},
    "fast-int8~enc-fp32": {"encoder": "fp32"},
    "fast-int8~dec-fp32": {"decoder": "fp32"},
    "fast-int8~all-threads": {"threads": 0},
    "fast-int8~one-thread": {"threads": 1},
    "fast-int8~sequential": {"long_form": "sequential"},
}
LONG_FORM_ABLATIONS = ("fast-int8~sequential",)  # they change nothing on one window
WINDOW_SAMPLES = 30 * SAMPLE_RATE


@dataclass(frozen=True)
class EngineSpec:
    model: str  # Whisper registry name with bundled weights (tiny.en, base)
    quant: str  # a demo.quant mode, or a peer (PEERS): fw-int8, wcpp-q8_0...

    @property
    def engine(self) -> str:
        if self.quant in PEERS:
            return PEERS[self.quant]
        return "demo-ablation" if self.quant in ABLATIONS else "demo"

    @property
    def peer(self) -> bool:
        """Another project's engine: timed in a process of its own (``Isolated``)."""
        return self.quant in PEERS

    @property
    def label(self) -> str:
        return f"{self.model} {self.quant}"


@dataclass
class Loaded:
    spec: EngineSpec
    handle: object  # demo LoadedModel, faster_whisper.WhisperModel, pywhispercpp Model
    weights_mb: float | None  # None where the engine hides it (CTranslate2)
    load_s: float | None = None  # set by the caller that timed the load


def ct2_dir(model: str) -> Path:
    """A CTranslate2 folder for a bundled model; split ``model.bin`` parts are joined once."""
    entry = get_whisper_model(model)
    if entry.bundled is None:
        raise ValueError(f"{model} has no bundled weights; faster-whisper needs them offline.")
    source, parts = bundled_source(entry.bundled)
    if len(parts) == 1 and parts[0].name == "model.bin":
        return source
    target = settings().cache_dir / f"ct2-{model}"
    marker = target / "joined.txt"
    expected = str(sum(p.stat().st_size for p in parts))
    if marker.is_file() and marker.read_text() == expected:
        return target
    target.mkdir(parents=True, exist_ok=True)
    tmp = target / "model.bin.tmp"
    with open(tmp, "wb") as out:
        for part in parts:
            with open(part, "rb") as f:
                shutil.copyfileobj(f, out, 1 << 24)
    tmp.replace(target / "model.bin")
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copyfile(source / name, target / name)
    marker.write_text(expected)
    return target


def _load_faster_whisper(spec: EngineSpec, threads: int) -> Loaded:
    from faster_whisper import WhisperModel

    model = WhisperModel(
        str(ct2_dir(spec.model)),
        device="cpu",
        compute_type=FW_COMPUTE_TYPES[spec.quant],
        cpu_threads=threads,
        num_workers=1,
    )
    if spec.quant in FW_BATCHED:
        from faster_whisper import BatchedInferencePipeline

        model = BatchedInferencePipeline(model)
    return Loaded(spec, model, None)


def _load_whisper_cpp(spec: EngineSpec, threads: int) -> Loaded:
    from bench import whisper_cpp

    return Loaded(spec, *whisper_cpp.load(spec.model, WCPP_FORMATS[spec.quant], threads))


def _load_demo(spec: EngineSpec, threads: int) -> Loaded:
    from demo.asr.fast import to_fast
    from demo.measure import weights_footprint_mb
    from demo.models import ModelSpec, load_model

    if spec.quant in ABLATIONS:
        options = dict(ABLATIONS[spec.quant])
        decode_threads = options.pop("threads", None)
        long_form = options.pop("long_form", None)
        loaded = load_model(ModelSpec("asr", spec.model, "full", device="cpu"))
        loaded.model = to_fast(loaded.model, **options)
        if long_form is not None:
            loaded.model.long_form = long_form
        if decode_threads is not None:
            loaded.model.decoder_threads = decode_threads or threads
        loaded.spec = ModelSpec("asr", spec.model, "fast-int8", device="cpu").resolved()
        loaded.weights_mb = weights_footprint_mb(loaded.model)
        return Loaded(spec, loaded, loaded.weights_mb)
    loaded = load_model(ModelSpec("asr", spec.model, spec.quant, device="cpu"))
    return Loaded(spec, loaded, loaded.weights_mb)


LOADERS = {"demo": _load_demo, "demo-ablation": _load_demo,
           "faster-whisper": _load_faster_whisper, "whisper.cpp": _load_whisper_cpp}  # fmt: skip


def load(spec: EngineSpec, threads: int) -> Loaded:
    """Load an engine on the CPU with ``threads`` intra-op threads."""
    return LOADERS[spec.engine](spec, threads)


def _import_demo() -> None:
    import torch  # noqa: F401
    from transformers import WhisperForConditionalGeneration, WhisperProcessor  # noqa: F401

    import demo.asr  # noqa: F401
    import demo.asr.fast  # noqa: F401
    import demo.models  # noqa: F401

    try:
        import bitsandbytes  # noqa: F401
    except Exception:  # a broken bnb shows up, clearly, when a bnb mode loads
        pass


def _import_whisper_cpp() -> None:
    from bench import whisper_cpp

    whisper_cpp.require()


IMPORTS = {"demo": _import_demo, "demo-ablation": _import_demo,
           "faster-whisper": lambda: importlib.import_module("faster_whisper"),
           "whisper.cpp": _import_whisper_cpp}  # fmt: skip


def check_bench_only(specs: list[EngineSpec]) -> None:
    """Refuse, in one sentence and before anything is measured, a peer whose bench-only
    package is missing (whisper.cpp: ``make bench-peers``)."""
    for spec in specs:
        if spec.engine == "whisper.cpp":
            _import_whisper_cpp()


def engine_imports(spec: EngineSpec) -> None:
    """Import what loading ``spec`` needs, so that a timed load is not an import."""
    IMPORTS[spec.engine]()


class EngineStopped(RuntimeError):
    """A run stopped at its time cap (``Isolated.run``); ``seconds`` is the cap, a lower bound
    of the run's time."""

    def __init__(self, message: str, seconds: float) -> None:
        super().__init__(message)
        self.seconds = seconds


class Isolated:
    """An engine loaded and run in a process of its own (spawned, so nothing of this one is
    inherited), timed there: ``run`` gives (text, seconds of the transcription alone).

    faster-whisper runs this way beside our engines. In one process, once CTranslate2 has run,
    torch's two-thread parallel regions stay ~4x slower (a 17 us int8 linear took 66 us on the
    2-core EPYC; OMP_WAIT_POLICY=ACTIVE undid it), which doubled our decoding time: a cost of
    sharing a process that no user pays, since each engine runs alone in its own program.
    """

    def __init__(self, spec: EngineSpec, threads: int) -> None:
        self.spec, self.threads = spec, threads
        self.load_s, self.weights_mb = self._start()  # CTranslate2 hides its weights' size

    def _start(self) -> tuple[float, float | None]:
        """Spawn the engine's process; (load seconds, weights MB) once it has loaded."""
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        args = (child, self.spec, self.threads)
        self._process = context.Process(target=_serve, args=args, daemon=True)
        self._process.start()
        child.close()
        return self._receive()

    def run(self, audio: np.ndarray, beams: int, cap_s: float | None = None) -> tuple[str, float]:
        """(text, seconds) of one transcription. A run still going after ``cap_s`` seconds is
        stopped (its process killed, a fresh one loaded for the next run): ``EngineStopped``."""
        self._conn.send((np.asarray(audio, dtype=np.float32), beams))
        if cap_s is not None and not self._conn.poll(cap_s):
            self.close(wait_s=0)
            self._start()  # the engine's load time and size stay its first load's
            raise EngineStopped(f"{self.spec.label}: stopped after {cap_s:.0f} s.", cap_s)
        return self._receive()

    def _receive(self):
        try:
            status, value = self._conn.recv()
        except EOFError:
            raise RuntimeError(f"{self.spec.label}: its process ended without a result.") from None
        if status == "error":
            raise RuntimeError(f"{self.spec.label}: {value}")
        return value

    def close(self, wait_s: float = 30) -> None:
        if self._process.is_alive() and wait_s:
            self._conn.send(None)
            self._process.join(timeout=wait_s)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._conn.close()


def _serve(conn, spec: EngineSpec, threads: int) -> None:
    """An ``Isolated`` engine's process: load, then transcribe each (audio, beams) it gets."""
    try:
        from bench.env import set_threads

        set_threads(threads)
        engine_imports(spec)
        start = time.perf_counter()
        loaded = load(spec, threads)
        conn.send(("ok", (time.perf_counter() - start, loaded.weights_mb)))
        while (request := conn.recv()) is not None:
            start = time.perf_counter()
            text = transcribe(loaded, *request)
            conn.send(("ok", (text, time.perf_counter() - start)))
    except Exception as exc:  # the parent raises it with the engine's name
        conn.send(("error", f"{exc}\n{traceback.format_exc(limit=3)}"))
    finally:
        conn.close()


def timed_transcribe(engine: Loaded | Isolated, audio: np.ndarray, beams: int, cap_s=None):
    """(text, seconds) of one transcription, wherever the engine runs; in a process of its own,
    stopped after ``cap_s`` seconds (``EngineStopped``)."""
    if isinstance(engine, Isolated):
        return engine.run(audio, beams, cap_s)
    start = time.perf_counter()
    text = transcribe(engine, audio, beams)
    return text, time.perf_counter() - start


def transcribe(loaded: Loaded, audio: np.ndarray, beams: int) -> str:
    """Text of one clip, greedy (``beams=1``) or beam search, language detected if needed."""
    return transcribe_segments(loaded, audio, beams)[0]


Segments = list[tuple[float, float, str]]


def _faster_whisper_segments(loaded: Loaded, audio: np.ndarray, beams: int) -> Segments:
    if loaded.spec.quant in FW_BATCHED:
        # Its own defaults otherwise (VAD on, no timestamps): how its README runs it.
        found, _ = loaded.handle.transcribe(
            audio,
            beam_size=beams,
            temperature=0.0,
            condition_on_previous_text=False,
            batch_size=FW_BATCHED[loaded.spec.quant],
        )
    else:
        found, _ = loaded.handle.transcribe(
            audio,
            beam_size=beams,
            temperature=0.0,
            condition_on_previous_text=False,
            without_timestamps=False,
            vad_filter=False,
        )
    return [(float(s.start), float(s.end), s.text.strip()) for s in found]


def _whisper_cpp_segments(loaded: Loaded, audio: np.ndarray, beams: int) -> Segments:
    from bench import whisper_cpp

    return whisper_cpp.segments(loaded.handle, audio, beams)


SEGMENTERS = {"faster-whisper": _faster_whisper_segments, "whisper.cpp": _whisper_cpp_segments}


def transcribe_segments(loaded: Loaded, audio: np.ndarray, beams: int) -> tuple[str, Segments]:
    """Text and segments ``(start, end, text)`` of one clip on any engine.

    The peers run with the settings our path has: temperature 0 without fallback, no
    conditioning on the previous window, no VAD, timestamp tokens (segments) on every clip.
    """
    if loaded.spec.engine not in SEGMENTERS:
        from demo.asr import TranscribeOptions
        from demo.asr import transcribe as demo_transcribe

        out = demo_transcribe(loaded.handle, audio, TranscribeOptions(num_beams=beams))
        return out.text, [(s.start, s.end, s.text) for s in out.segments]
    segments = SEGMENTERS[loaded.spec.engine](loaded, audio, beams)
    return "".join(" " + text for _, _, text in segments).strip(), segments


# --------------------------------------------------------------------------- memory


def _release_memory() -> None:
    """Collect garbage and hand freed heap pages back to the OS, so RSS reflects what's live."""
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def measure_memory(spec: EngineSpec, clips: list, beams, threads: int) -> dict:
    """Load time, weights, RSS added by the load, and peak RSS over load + one run per clip
    (at the widest beam: beams take the most memory).

    Runs in a forked copy of this process made before any model is loaded, so every engine
    starts from the same baseline (``rss_before_mb``: interpreter and imported libraries) and
    its peak is its own.
    """
    try:
        return run_in_fork(_measure_memory, spec, clips, beams, threads)
    except RuntimeError as exc:
        raise RuntimeError(f"{spec.label}: {exc}") from exc


def _measure_memory(spec: EngineSpec, clips: list, beams, threads: int) -> dict:
    from bench.env import set_threads
    from demo.measure import Measurements, measure, process_rss_mb

    set_threads(threads)
    engine_imports(spec)
    _release_memory()
    before = process_rss_mb()
    m = Measurements()
    with measure("load", m):
        loaded = load(spec, threads)
    after_load = process_rss_mb()
    with measure("run", m):
        for clip in clips:
            transcribe(loaded, clip.audio, max(beams))
    return {
        "load_s": m.stages["load"].seconds,
        "weights_mb": loaded.weights_mb,
        "peak_rss_mb": m.peak_rss_mb(),
        "rss_before_mb": before,
        "rss_load_delta_mb": after_load - before,
    }
