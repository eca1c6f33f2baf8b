"""Where the LLM summarizer's decode step spends its time: the profile behind issue 37's gap to
llama.cpp (``make bench-peers`` measures the gap itself).

    python -m bench.llm_profile                       # int4 (auto on a CPU), 3 ACLSum papers
    python -m bench.llm_profile --threads 1 --name llm-profile-t1

The summarizer is loaded as the app loads it, in a mode whose new tokens go through the int4
decoder (``demo.summarize.int4``). Each paper is summarized once to warm up, once plainly (the
decode time per step, no profiler) and once under ``torch.profiler`` with every decode step
marked: each op's own time inside the steps goes to one part (``PARTS``, by op name), and what
no op accounts for (Python between the ops, dispatch, the profiler's own cost) to "outside
ops". The weights a step reads (packed codes, scales, the embedding row) over the plain step
time give the bandwidth the step reaches. Result: ``checkpoints/bench/<name>.json``; the
report's "Speed goals" section prints it beside llama.cpp's time per token.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.env import DEFAULT_OUT, bench_main, parse_options, recorded, set_threads
from bench.markdown import text_table
from demo.options import option

MODULE = "bench.llm_profile"
STEP = "decode step"  # the profiler's label of one int4 decoder step
# Parts of a step, by the op names that make them up (the first match wins; the rest: "other ops")
PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("int4 matmuls (weights)", ("_weight_int4pack_mm",)),
    ("fp32 head recheck", ("topk", "aten::mv", "aten::mm", "aten::matmul", "aten::dot")),
    ("attention", ("scaled_dot_product",)),
    ("norms", ("rms_norm",)),
    ("activation splits and casts", ("aten::copy_", "aten::to", "aten::_to_copy", "aten::sub")),
    ("rotary, residual and SiLU", ("aten::mul", "aten::add", "aten::silu", "aten::flip")),
)
OTHER = "other ops"
OUTSIDE = "outside ops (Python, dispatch, profiler)"


@dataclass(frozen=True)
class ProfileOptions:
    model: str = option("smollm2-135m", "LLM summarizer registry name")
    mode: str = option("int4", "quantization mode with the int4 decoder (int4, int4-bf16)")
    papers: int = option(3, "ACLSum validation papers (the first ones)")
    threads: int = option(0, "intra-op threads (0 = torch's default)")
    out: str = option(str(DEFAULT_OUT), "folder for the result files")
    name: str = option("llm-profile", "result file name (without suffix)")

    def __post_init__(self) -> None:
        if not self.mode.startswith("int4"):
            raise ValueError("--mode must be int4 or int4-bf16: the int4 decoder is profiled.")
        if not 1 <= self.papers <= 20:
            raise ValueError("--papers must be 1 to 20.")


@dataclass
class ProfileRow:
    model: str
    mode: str
    threads: int
    papers: int
    steps: int  # decode steps timed (each run)
    ms_per_step: float  # plain run, no profiler
    ms_per_step_profiled: float
    weights_mb_per_step: float  # bytes the int4 decoder reads per step
    gb_per_s: float  # weights_mb_per_step over ms_per_step
    parts_ms: dict[str, float] = field(default_factory=dict)  # per step, profiled


def part_of(op: str) -> str:
    """The part of a step (``PARTS``) an op's name belongs to."""
    return next((part for part, names in PARTS if any(n in op for n in names)), OTHER)


def _under_step(event) -> bool:
    parent = event.cpu_parent
    while parent is not None:
        if parent.name == STEP:
            return True
        parent = parent.cpu_parent
    return False


def split_profile(events) -> tuple[int, float, dict[str, float]]:
    """(steps, total step time, own time per part) in microseconds from profiler events."""
    steps = [e for e in events if e.name == STEP]
    total = sum(e.cpu_time_total for e in steps)
    parts: dict[str, float] = {}
    for event in events:
        if event.name != STEP and _under_step(event):
            part = part_of(event.name)
            parts[part] = parts.get(part, 0.0) + event.self_cpu_time_total
    parts[OUTSIDE] = total - sum(parts.values())
    return len(steps), total, parts


def weights_bytes(decoder) -> int:
    """What one step of an ``Int4Decoder`` reads: every packed weight and its scales, one
    embedding row, the norms."""
    buffers = [b for name, b in decoder.named_buffers() if name not in ("embed", "head.exact")]
    row = decoder.embed[0]
    return sum(b.numel() * b.element_size() for b in buffers) + row.numel() * row.element_size()


def _marked(decoder):
    """The decoder's ``step`` inside a profiler label (an instance attribute over the method)."""
    from torch.profiler import record_function

    step = decoder.step

    def marked(*args, **kwargs):
        with record_function(STEP):
            return step(*args, **kwargs)

    return marked


def measure(options: ProfileOptions) -> list[ProfileRow]:
    from torch.profiler import ProfilerActivity, profile

    from bench.summarize import aclsum_documents
    from demo.models import ModelSpec, load_model
    from demo.summarize import SummaryOptions
    from demo.summarize.llm import summarize_once

    threads = set_threads(options.threads)
    loaded = load_model(ModelSpec("summarizer", options.model, options.mode, None, "cpu"))
    model = loaded.model
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    decoder = base.int4_decoder
    docs = aclsum_documents("val", options.papers)
    summary_options = SummaryOptions()

    def decode_all() -> tuple[int, float]:
        steps, seconds = 0, 0.0
        for doc in docs:
            _, decoded = summarize_once(loaded, doc.text, summary_options)
            steps += decoded.steps
            seconds += decoded.decode_seconds
        return steps, seconds

    decode_all()  # warm-up
    steps, seconds = decode_all()
    decoder.step = _marked(decoder)
    try:
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            decode_all()
    finally:
        del decoder.step  # the method again
    marked, total_us, parts = split_profile(prof.events())
    mb = weights_bytes(decoder) / 1e6
    ms = 1000 * seconds / max(steps, 1)
    return [
        ProfileRow(
            options.model,
            options.mode,
            threads,
            len(docs),
            steps,
            ms,
            total_us / 1000 / max(marked, 1),
            mb,
            mb / ms,
            {part: us / 1000 / max(marked, 1) for part, us in parts.items()},
        )  # fmt: skip
    ]


def format_table(rows: list[dict] | list[ProfileRow]) -> str:
    lines = []
    for row in rows:
        row = row if isinstance(row, dict) else row.__dict__
        lines.append(
            f"{row['model']} {row['mode']}, {row['threads']} thread(s): "
            f"{row['ms_per_step']:.2f} ms a step ({row['steps']} steps), "
            f"{row['weights_mb_per_step']:.0f} MB of weights a step = {row['gb_per_s']:.1f} GB/s; "
            f"profiled {row['ms_per_step_profiled']:.2f} ms:"
        )
        parts = sorted(row["parts_ms"].items(), key=lambda kv: -kv[1])
        body = [[part, f"{ms:.2f}"] for part, ms in parts]
        lines.append(text_table([("part", 42), ("ms a step", 10)], body))
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> ProfileOptions:
    return parse_options(ProfileOptions, MODULE, __doc__, argv, ("1 paper", {"papers": 1}))


main = bench_main(parse_args, recorded(MODULE, measure), format_table)


if __name__ == "__main__":
    main()
