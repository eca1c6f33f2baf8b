"""CPU speech-recognition benchmark: every quantization mode beside faster-whisper (and
whisper.cpp, a bench-only peer: ``make bench-peers``).

    python -m bench.asr --quick      # tiny.en, jfk, greedy: a few minutes
    python -m bench.asr              # tiny.en + base, jfk / 30 s / 5 min, greedy + beam 5
    python -m bench.asr --models tiny.en --modes full fast-int8 --beams 1 --repeats 5
    python -m bench.asr --peers fw-int8 wcpp-f16 wcpp-q8_0 wcpp-q5_0   # + whisper.cpp
    python -m bench.asr --clips jfk real-5min-a --threads 1 --co-load    # a busy laptop

Short clips (one 30 s window) run every CPU mode; clips over 30 s (long-form) run the modes in
``long_modes`` (the default mode, its sequential long-form, full precision) and, beside
faster-whisper int8, its ``BatchedInferencePipeline`` (``fw-batched8``), a long-form peer only.

Every engine is loaded once, each in a process of its own as its users run it
(``bench.engines.Isolated``), and the runs are interleaved (one run of each engine per round),
so that a busy moment of the machine slows them alike; each latency is the minimum over the
rounds, and each engine is reported as a ratio to faster-whisper int8 measured in the same
rounds, on the same clip, with the same thread count. ``--co-load`` times them all beside a
CPU-bound background process (``bench.coload``: a busy laptop). Clips are ``bench.clips``'
and ``bench.programmes``' (natural-rate programmes of 5 and 10 minutes). Load time, weights
footprint and peak RSS come from a first pass that loads and runs each engine alone in a
forked copy of the process (same baseline for all; ``--no-rss`` skips it and keeps the load
times of the timing pass). Results go to ``checkpoints/bench/<name>.json`` and ``.csv``
(``--quick``: ``checkpoints/bench/quick/``).
"""

from __future__ import annotations

import gc
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.clips import QUICK_CLIPS, Clip
from bench.coload import co_load
from bench.engines import (
    ABLATIONS,
    FW_BASELINE,
    FW_BATCHED,
    FW_COMPUTE_TYPES,
    LONG_FORM_ABLATIONS,
    PEERS,
    WINDOW_SAMPLES,
    EngineSpec,
    EngineStopped,
    Isolated,
    check_bench_only,
    measure_memory,
    timed_transcribe,
)
from bench.env import (
    DEFAULT_OUT,
    bench_main,
    bench_parser,
    decoding_label,
    meta,
    set_threads,
    write_results,
)
from bench.markdown import text_table
from bench.programmes import ALL_CLIPS, any_clip

MODULE = "bench.asr"
DEFAULT_MODELS = ("tiny.en", "base")
QUICK_MODELS = ("tiny.en",)
DEFAULT_BEAMS = (1, 5)
DEFAULT_CLIPS = ("jfk", "mit-en", "long-5min")  # one short, one full window, one long-form
# Long-form clips: only these demo modes (bitsandbytes int8 with beam 5 on 5 minutes would
# take an hour and says nothing the short clips don't). fast-int8~sequential is the default
# mode with the exact long-form algorithm instead of chunks.
LONG_MODES = ("fast-int8", "fast-int8~sequential", "full")
REPEATS = 5
# A (engine, clip, decoding) stops repeating once its runs have taken this long, after at least
# MIN_REPEATS runs: bitsandbytes int8 with beam 5 on the long clip would otherwise take an hour.
BUDGET_S = 30.0
MIN_REPEATS = 2
# A peer's run is stopped after CAP_X times faster-whisper int8's first run on the same cell (at
# least CAP_MIN_S): whisper.cpp's two threads beside a busy process ran for many minutes on 5.
CAP_X = 10.0
CAP_MIN_S = 30.0


@dataclass(frozen=True)
class BenchOptions:
    models: tuple[str, ...] = DEFAULT_MODELS  # bundled Whisper models
    modes: tuple[str, ...] = ()  # demo quantization modes; empty: every distinct CPU mode
    peers: tuple[str, ...] = tuple(FW_COMPUTE_TYPES)  # other engines (PEERS); wcpp-*: bench-only
    clips: tuple[str, ...] = DEFAULT_CLIPS  # bench.clips or bench.programmes names
    long_modes: tuple[str, ...] = LONG_MODES  # demo modes also timed on clips over 30 s
    beams: tuple[int, ...] = DEFAULT_BEAMS  # 1 = greedy
    repeats: int = REPEATS  # runs per engine; the minimum is reported
    budget_s: float = BUDGET_S  # stop repeating after this long (at least MIN_REPEATS runs)
    cap_x: float = CAP_X  # stop a run after this many times the baseline's (CAP_MIN_S at least)
    threads: int = 0  # intra-op threads for every engine; 0 = torch's default (the cores)
    rss: bool = True  # load, weights and peak RSS, one engine at a time in a forked process
    ablation: bool = False  # also fast-int8 with one of its choices undone (ABLATIONS)
    co_load: bool = False  # time beside a CPU-bound background process (bench.coload)
    out: str = str(DEFAULT_OUT)  # folder for the result files
    name: str = "asr-cpu"  # result file name (without suffix)

    def __post_init__(self) -> None:
        if self.repeats < 1:
            raise ValueError("repeats must be at least 1.")
        if self.cap_x <= 1:
            raise ValueError("cap-x must be above 1 (times faster-whisper int8's run).")
        if any(b < 1 for b in self.beams):
            raise ValueError("beams must be at least 1.")
        unknown = [c for c in self.clips if c not in ALL_CLIPS]
        if unknown:
            raise ValueError(f"Unknown clips {unknown}; pick from {', '.join(ALL_CLIPS)}.")
        if unknown := [p for p in self.peers if p not in PEERS]:
            raise ValueError(f"Unknown peers {unknown}; pick from {', '.join(PEERS)}.")
        if FW_BASELINE not in self.peers:
            raise ValueError(f"{FW_BASELINE} is the baseline every ratio uses; keep it in peers.")


QUICK = {
    "models": QUICK_MODELS,
    "clips": QUICK_CLIPS,
    "beams": (1,),
    "out": str(DEFAULT_OUT / "quick"),
}


@dataclass
class Row:
    config: str  # "<model> <mode> <decoding> · <clip>": what the dashboard labels it
    kind: str  # always "asr" (memory rows say "memory")
    engine: str  # demo or faster-whisper
    model: str
    size: str
    quant: str  # demo mode, or fw-int8 / fw-fp32
    decoding: str  # greedy or beam5
    load: str  # what else ran: "idle" or "co-load" (bench.coload)
    beams: int
    clip: str
    audio_s: float
    threads: int
    latency_s: float = 0.0  # minimum over the runs
    runs: int = 0
    latencies_s: list[float] = field(default_factory=list)
    ratio_to_fw_int8: float | None = None  # our time / faster-whisper int8's (below 1: faster)
    speedup_vs_fw_int8: float | None = None  # the inverse
    ratio_to_fw_batched8: float | None = None  # our time / faster-whisper batched's (long-form)
    rtfx: float = 0.0  # audio seconds per second of processing
    wer: float | None = 0.0  # normalized (demo.metrics.wer); None: no run finished
    text: str = ""
    load_s: float | None = None
    weights_mb: float | None = None  # None for CTranslate2, which doesn't expose it
    peak_rss_mb: float | None = None  # whole process during load + one run per clip
    rss_before_mb: float | None = None  # the process before loading (interpreter, libraries)
    rss_load_delta_mb: float | None = None  # process RSS added by loading the model
    cap_s: float | None = None  # a run still going after this long was stopped (CAP_X)
    capped: bool = False  # no timed run finished under cap_s: latency_s is cap_s, a lower bound


def cpu_modes() -> list[str]:
    """Every quantization mode that runs on the CPU, without modes identical there
    (``fp32`` is ``full`` on a CPU)."""
    from demo.quant import QUANT_MODES

    seen, names = set(), []
    for name, mode in QUANT_MODES.items():
        if "cpu" not in mode.devices or "asr" not in mode.kinds:
            continue
        key = (mode.cpu_dtype, mode.bnb, mode.double_quant, mode.dynamic_int8, mode.fast)
        if key not in seen:
            seen.add(key)
            names.append(name)
    return names


def engine_specs(options: BenchOptions, clips: list[Clip]) -> list[EngineSpec]:
    modes = list(options.modes) or cpu_modes()
    if options.ablation:
        modes += [name for name in ABLATIONS if name not in modes]
    if any(len(clip.audio) > WINDOW_SAMPLES for clip in clips):
        modes += [name for name in options.long_modes if name not in modes]
    return [EngineSpec(m, q) for m in options.models for q in [*modes, *options.peers]]


def runs_on(spec: EngineSpec, clip: Clip, options: BenchOptions) -> bool:
    """Whether an engine is timed on a clip: on clips over 30 s only ``long_modes`` and the
    peers; the long-form-only peer and ablation only there."""
    long_form = len(clip.audio) > WINDOW_SAMPLES
    if spec.quant in FW_BATCHED or spec.quant in LONG_FORM_ABLATIONS:
        return long_form
    if spec.peer or not long_form:
        return True
    return spec.quant in options.long_modes


# --------------------------------------------------------------------------- timing


def _time_round(loaded, clip: Clip, beams: int, rows: dict, options: BenchOptions) -> None:
    for key, engine in loaded.items():
        row = rows[key]
        if row.runs >= options.repeats or row.capped:
            continue
        if row.runs >= MIN_REPEATS and sum(row.latencies_s) >= options.budget_s:
            continue
        try:
            row.latencies_s.append(timed_transcribe(engine, clip.audio, beams, row.cap_s)[1])
            row.runs += 1
        except EngineStopped:
            row.capped = True  # stopped repeating it; earlier runs under the cap still count


def bench_clip(loaded: dict, clip: Clip, beams: int, threads: int, options) -> list[Row]:
    """Warm up every engine on the clip (its text gives the WER), then time interleaved."""
    from demo.asr.registry import get_whisper_model
    from demo.metrics import wer

    if beams > 1:  # ablations explain the greedy speed; beam search adds nothing to that
        loaded = {
            k: e
            for k, e in loaded.items()
            if e.spec.engine != "demo-ablation" or e.spec.quant in LONG_FORM_ABLATIONS
        }
    loaded = {k: e for k, e in loaded.items() if runs_on(e.spec, clip, options)}
    rows, cap_s = {}, None
    loaded_label = " · co-load" if options.co_load else ""
    # faster-whisper int8 first: the other engines' runs are capped at CAP_X times its run.
    for key, engine in sorted(loaded.items(), key=lambda item: item[0][1] != FW_BASELINE):
        spec = engine.spec
        try:
            text, seconds = timed_transcribe(engine, clip.audio, beams, cap_s)
        except EngineStopped:
            text = None
        if spec.quant == FW_BASELINE:
            cap_s = max(CAP_MIN_S, options.cap_x * seconds)
        rows[key] = Row(
            config=f"{spec.label} {decoding_label(beams)} · {clip.name}" + loaded_label,
            kind="asr",
            engine=spec.engine,
            model=spec.model,
            size=get_whisper_model(spec.model).size,
            quant=spec.quant,
            decoding=decoding_label(beams),
            load="co-load" if options.co_load else "idle",
            beams=beams,
            clip=clip.name,
            audio_s=round(clip.seconds, 3),
            threads=threads,
            wer=None if text is None else wer(clip.reference, text),
            text=text or "",
            load_s=engine.load_s,
            weights_mb=engine.weights_mb,
            cap_s=None if spec.quant == FW_BASELINE else cap_s,
            capped=text is None,
        )
    rows = {key: rows[key] for key in loaded}  # the engines' order
    for _ in range(options.repeats):
        _time_round(loaded, clip, beams, rows, options)
    for row in rows.values():
        row.capped = not row.latencies_s
        row.latency_s = min(row.latencies_s) if row.latencies_s else row.cap_s
        row.rtfx = row.audio_s / row.latency_s
    for row in rows.values():
        base = rows.get((row.model, FW_BASELINE))
        if base is not None:
            row.ratio_to_fw_int8 = row.latency_s / base.latency_s
            row.speedup_vs_fw_int8 = base.latency_s / row.latency_s
        batched = rows.get((row.model, "fw-batched8"))
        if batched is not None:
            row.ratio_to_fw_batched8 = row.latency_s / batched.latency_s
    return list(rows.values())


def _bench_model(model, specs, clips, memory, threads, options) -> list[Row]:
    """Every engine of ``model`` in its own process, timed on every clip and decoding."""
    from tqdm.auto import tqdm

    loaded = {}
    rows: list[Row] = []
    try:
        for spec in [s for s in specs if s.model == model]:
            engine = Isolated(spec, threads)
            if spec in memory:
                engine.load_s = memory[spec]["load_s"]
            loaded[(spec.model, spec.quant)] = engine
        for clip in clips:
            for beams in options.beams:
                desc = f"{model} {clip.name} {decoding_label(beams)}"
                for row in tqdm(bench_clip(loaded, clip, beams, threads, options), desc=desc):
                    if (spec := EngineSpec(row.model, row.quant)) in memory:
                        row.peak_rss_mb = memory[spec]["peak_rss_mb"]
                        row.rss_before_mb = memory[spec]["rss_before_mb"]
                        row.rss_load_delta_mb = memory[spec]["rss_load_delta_mb"]
                    rows.append(row)
    finally:
        for engine in loaded.values():
            engine.close()
        gc.collect()
    return rows


def run(options: BenchOptions, argv: list[str] | None = None) -> tuple[Path, list[dict]]:
    """Run the benchmark, write its result files, and return (json path, rows)."""
    from tqdm.auto import tqdm

    threads = set_threads(options.threads)
    meta_ = meta(MODULE, argv, threads=threads, options=asdict(options), notes=NOTES)
    clips = [any_clip(name) for name in options.clips]
    specs = engine_specs(options, clips)
    check_bench_only(specs)
    memory = {}
    if options.rss:
        for spec in tqdm(specs, desc="load + memory, one engine at a time", unit="engine"):
            greedy = spec.engine == "demo-ablation" and spec.quant not in LONG_FORM_ABLATIONS
            beams = (1,) if greedy else options.beams
            own = [c for c in clips if runs_on(spec, c, options)]
            memory[spec] = measure_memory(spec, own, beams, threads)
    rows: list[Row] = []
    with co_load() if options.co_load else nullcontext(None) as load_:
        for model in options.models:
            rows += _bench_model(model, specs, clips, memory, threads, options)
    meta_["co_load"] = load_
    meta_["clips"] = {c.name: {"seconds": round(c.seconds, 2), "source": c.source} for c in clips}
    data = [asdict(r) for r in rows]
    path = write_results(Path(options.out), options.name, meta_, data)
    return path, data


NOTES = [
    "Latency is the minimum over the runs of one engine; the machine is shared and noisy, so "
    "compare the ratios (measured in the same interleaved rounds), not absolute times.",
    "faster-whisper: same CTranslate2 weights the converter reads, temperature 0 without "
    "fallback, no conditioning on previous text, no VAD, timestamps only for long-form.",
    "fast-int8 decodes one token at a time on one thread and encodes on all threads; no "
    "engine uses more threads than the 'threads' value.",
    "Every engine runs in a process of its own (bench.engines.Isolated), timed there, as its "
    "users run it: once CTranslate2 has run in a process, torch's two-thread parallel regions "
    "in it stay ~4x slower, which no user of one engine pays.",
]


# --------------------------------------------------------------------------- output


# Terminal table columns: (title, width).
COLUMNS = [("configuration", 44), ("min s", 7), ("vs fw-int8", 10), ("RTFx", 6), ("WER", 6),
           ("load s", 6), ("weights", 8), ("peak RSS", 9), ("runs", 4)]  # fmt: skip


def format_table(rows: list[dict]) -> str:
    """A plain-text table of the rows for the terminal."""

    def cells(r: dict) -> list[str]:
        ratio, over = r.get("ratio_to_fw_int8"), ">" if r.get("capped") else ""  # stopped
        return [r["config"], f"{over}{r['latency_s']:.3f}", f"{ratio:.2f}x" if ratio else "-",
                f"{r['rtfx']:.1f}", _num(r["wer"], ".3f"), _num(r.get("load_s"), ".2f"),
                _num(r.get("weights_mb"), ".0f", " MB"), _num(r.get("peak_rss_mb"), ".0f", " MB"),
                f"{r['runs']:d}"]  # fmt: skip

    return text_table(COLUMNS, (cells(r) for r in rows))


def _num(value, spec: str, unit: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{unit}"


def parse_args(argv: list[str] | None = None) -> BenchOptions:
    p = bench_parser(MODULE, __doc__)
    p.add_argument("--quick", action="store_true", help="tiny.en, jfk, greedy only")
    p.add_argument("--models", nargs="+", help="bundled Whisper models")
    p.add_argument("--modes", nargs="+", help="demo quantization modes (default: every CPU one)")
    p.add_argument("--peers", nargs="+", choices=list(PEERS))
    p.add_argument("--clips", nargs="+", choices=list(ALL_CLIPS))
    p.add_argument("--long-modes", nargs="+", dest="long_modes", help="modes on long clips")
    p.add_argument("--beams", nargs="+", type=int)
    p.add_argument("--repeats", type=int)
    p.add_argument("--budget-s", type=float, dest="budget_s")
    p.add_argument(
        "--cap-x",
        type=float,
        dest="cap_x",
        help="stop a run after this many times "
        f"faster-whisper int8's (default {CAP_X:g}, {CAP_MIN_S:g} s at least)",
    )
    p.add_argument("--threads", type=int)
    p.add_argument(
        "--no-rss", action="store_false", dest="rss", default=None, help="skip the memory pass"
    )
    p.add_argument(
        "--ablation", action="store_true", default=None, help="add fast-int8's ablations"
    )
    p.add_argument(
        "--co-load", action="store_true", default=None, dest="co_load",
        help="time beside a CPU-bound background process (a busy laptop)",
    )  # fmt: skip
    p.add_argument("--out")
    p.add_argument("--name")
    args = p.parse_args(argv)
    fields = dict(QUICK) if args.quick else {}
    for key in (
        "models",
        "modes",
        "peers",
        "clips",
        "long_modes",
        "beams",
        "repeats",
        "budget_s",
        "cap_x",
        "threads",
        "rss",
        "ablation",
        "co_load",
        "out",
        "name",
    ):
        value = getattr(args, key)
        if value is not None:
            fields[key] = tuple(value) if isinstance(value, list) else value
    try:
        return BenchOptions(**fields)
    except ValueError as exc:  # a value the options refuse: argparse's one-line error, exit 2
        p.error(str(exc))


main = bench_main(parse_args, run, format_table)


if __name__ == "__main__":
    main()
