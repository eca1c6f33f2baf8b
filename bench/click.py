"""What a click costs a presenter: time to a first result, and a 60 s clip end to end.

    python -m bench.click                                  # tiny.en and base, offline summarizers
    python -m bench.click --models tiny.en --summarizers extractive --repeats 1

- First use: a new user's first load of each bundled model, in a fresh Python process with an
  empty cache folder, so the bundled weights are converted into it (Whisper's CTranslate2
  folder into a transformers checkpoint, SmolLM2's GGUF into safetensors); then the warm load,
  in another fresh process, once the cache holds them. The imports (torch, transformers) are
  timed apart: a new user waits for them once per app start.
- A click: the app's own pipeline (``demo.pipeline.run_pipeline``, auto modes, greedy) on the
  first ``--seconds`` of the 5-minute espeak-ng clip (bench.clips ``long-5min``), for each
  Whisper model x summarizer, in a fresh process: the first run loads the models (from the
  converted cache), the next ``--repeats`` runs find them in memory (load excluded; the
  minimum of each stage).

Results: ``checkpoints/bench/click.json`` / ``.csv``; ``results.report`` writes its section.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.env import DEFAULT_OUT, bench_main, parse_options, recorded
from bench.markdown import fmt
from demo.options import option

MODULE = "bench.click"
CHILD_TIMEOUT_S = 1800  # one fresh process: a load or a clip's runs


@dataclass(frozen=True)
class ClickOptions:
    models: tuple[str, ...] = option(("tiny.en", "base"), "bundled Whisper models")
    summarizers: tuple[str, ...] = option(
        ("extractive", "smollm2-135m"), "summarizers (offline ones: extractive, smollm2-135m)"
    )
    seconds: float = option(60.0, "clip length: the first seconds of the 5-minute clip")
    repeats: int = option(3, "runs with the models in memory after the first (minimum kept)")
    name: str = option("click", "result file name under checkpoints/bench/")
    out: str = option(str(DEFAULT_OUT), "result folder")

    def __post_init__(self) -> None:
        if not 1 <= self.seconds <= 300:
            raise ValueError("seconds must be between 1 and 300 (the clip is about 5 minutes).")
        if not 1 <= self.repeats <= 20:
            raise ValueError("repeats must be between 1 and 20.")


def _child_load(role: str, name: str) -> dict:
    started = time.perf_counter()
    import torch  # noqa: F401  (timed apart: every app start pays for it)
    import transformers  # noqa: F401

    from demo.models import ModelSpec, load_model

    imported = time.perf_counter()
    load_model(ModelSpec(role, name, "auto", device="cpu"))
    return {"import_s": imported - started, "load_s": time.perf_counter() - imported}


def _child_click(asr: str, summarizer: str, samples: str, repeats: int) -> dict:
    import numpy as np

    from demo.models import ModelCache
    from demo.pipeline import PipelineOptions, run_pipeline

    audio = np.load(samples)  # written by the parent: float32 samples, no pickle
    options = PipelineOptions(asr=asr, summarizer=summarizer, device="cpu")
    cache = ModelCache()
    first = run_pipeline(audio, options, cache)
    warm = [run_pipeline(audio, options, cache).timings for _ in range(repeats)]
    return {
        "first": first.timings,
        "warm": {stage: min(t[stage] for t in warm) for stage in warm[0]},
        "quant": first.memory["asr"].quant,
        "peak_rss_mb": first.peak_rss_mb,
    }


CHILDREN = {"load": _child_load, "click": _child_click}


def _fresh(cache_dir: Path, task: str, *args) -> dict:
    """``CHILDREN[task](*args)`` in a new Python process whose model cache is ``cache_dir``."""
    from demo.errors import DemoError

    env = {**os.environ, "DEMO_CACHE_DIR": str(cache_dir)}
    command = [sys.executable, "-m", MODULE, "--child", json.dumps([task, *args])]
    try:
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        raise DemoError(f"{task} {args} took over {CHILD_TIMEOUT_S} s; stopped.") from None
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise DemoError(f"{task} {args} failed: {last}")
    return json.loads(lines[-1])


@dataclass
class Row:
    kind: str  # "first-use" or "click"
    model: str  # the Whisper model (or the summarizer, for a summarizer's first use)
    summarizer: str | None
    import_s: float | None
    first_s: float  # first use: convert + load; click: the first run, loading included
    warm_s: float  # first use: the load once converted; click: a run with models in memory
    asr_s: float | None  # click, models in memory: transcription
    summarize_s: float | None  # and summarization
    audio_s: float | None
    quant: str | None
    peak_rss_mb: float | None
    # What the dashboard's benchmark reader names a row by (it skips rows without one).
    config: str = field(init=False, default="")

    def __post_init__(self) -> None:
        self.config = (
            f"first use: {self.model}"
            if self.kind == "first-use"
            else f"{self.model} ({self.quant}) + {self.summarizer}"
        )


def run(options: ClickOptions) -> list[Row]:
    import numpy as np

    from bench.clips import load_clip
    from demo.audio import SAMPLE_RATE

    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-click-") as tmp:
        cache = Path(tmp) / "cache"
        roles = [("asr", m) for m in options.models]
        roles += [("summarizer", s) for s in options.summarizers]
        for role, name in roles:
            first = _fresh(cache, "load", role, name)
            warm = _fresh(cache, "load", role, name)
            print(f"first use {name}: {first['load_s']:.1f} s, warm {warm['load_s']:.1f} s")
            rows.append(Row("first-use", name, None, round(first["import_s"], 2),
                            round(first["load_s"], 2), round(warm["load_s"], 2),
                            None, None, None, None, None))  # fmt: skip
        audio = load_clip("long-5min").audio[: int(options.seconds * SAMPLE_RATE)]
        samples = Path(tmp) / "clip.npy"
        np.save(samples, audio.astype(np.float32), allow_pickle=False)
        for asr in options.models:
            for summarizer in options.summarizers:
                out = _fresh(cache, "click", asr, summarizer, str(samples), options.repeats)
                first, warm = out["first"], out["warm"]
                print(f"{asr} -> {summarizer}: {first['total']:.1f} s first, "
                      f"{warm['total']:.1f} s warm")  # fmt: skip
                rows.append(Row(
                    "click", asr, summarizer, None, round(first["total"], 2),
                    round(warm["total"], 2), round(warm["asr"], 2), round(warm["summarize"], 2),
                    round(len(audio) / SAMPLE_RATE, 1), out["quant"], round(out["peak_rss_mb"]),
                ))  # fmt: skip
    return rows


def format_table(rows: list[Row]) -> str:
    lines = []
    for r in rows:
        if r.kind == "first-use":
            lines.append(f"first use  {r.model:14} import {fmt(r.import_s, '.1f')} s  "
                         f"convert+load {r.first_s:.1f} s  warm load {r.warm_s:.1f} s")  # fmt: skip
        else:
            lines.append(f"click      {r.model:8} -> {r.summarizer:13} first {r.first_s:.1f} s  "
                         f"warm {r.warm_s:.1f} s (asr {fmt(r.asr_s, '.1f')}, summary "
                         f"{fmt(r.summarize_s, '.1f')})")  # fmt: skip
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> ClickOptions:
    return parse_options(ClickOptions, MODULE, __doc__, argv, ("(no quick set)", {}))


_bench_main = bench_main(parse_args, recorded(MODULE, run), format_table)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:  # a fresh process of _fresh: one JSON line on stdout
        task, *args = json.loads(argv[1])
        print(json.dumps(CHILDREN[task](*args)))
        return 0
    _bench_main(argv)  # bad flags or a child's failure: one line, exit 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
