"""CPU summarizer benchmark: the LLM summarizer per quantization mode beside plain ``generate``
and the extractive summarizer, on ACLSum abstracts or on the bundled meeting transcripts.

    python -m bench.summarize --quick                 # 10 ACLSum val abstracts, 3 modes
    python -m bench.summarize                         # + bnb int8/nf4, 3 rounds
    python -m bench.summarize --set meetings          # faithfulness on 5 transcripts
    python -m bench.summarize --split test --limit 100 --repeats 1 --modes full --no-baseline \\
        --adapters checkpoints/sum-smollm2-135m-lora-r8-*/adapter --name summarize-aclsum-test
    python -m bench.summarize --peers llama.cpp       # + llama.cpp (make bench-peers)

Each engine summarizes every document once per round, the engines taking turns document by
document, so a busy moment of the shared machine slows them alike; per document the minimum
over the rounds is kept. Quality needs each document once, so rounds after the first re-time
only the first ``--timing-docs`` documents (3; plain ``generate`` on two threads of a busy
2-core machine decodes ~1 token/s). ``fp32-generate`` is the baseline: fp32 weights decoded by
transformers' ``generate`` with the same prompt and token rule; every other LLM engine decodes
with the project's loop (``demo.summarize.decoding``), and its decode speed is reported as a
ratio to that baseline from the same rounds. ROUGE-1/2/L/Lsum/S and the MiniLM similarity
score against the ACLSum reference (the three aspect sentences joined); the faithfulness
columns count numbers and capitalised names in a summary that its source lacks
(``demo.metrics.unsupported_details``). Load time, weights and peak RSS come from a first
pass that loads each engine alone in a forked process. Results go to
``checkpoints/bench/<name>.json`` and ``.csv`` (``--quick``: ``checkpoints/bench/quick/``).
"""

from __future__ import annotations

import gc
import json
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from bench import llamacpp
from bench.env import DEFAULT_OUT, bench_main, meta, parse_options, set_threads, write_results
from bench.markdown import text_table
from demo.measure import at_most_threads, run_in_fork
from demo.options import option
from demo.provenance import ROOT

MODULE = "bench.summarize"
BASELINE = "fp32-generate"
QUALITY_REFERENCE = "full"  # ROUGE deltas are against fp32 weights decoded by the loop
DEFAULT_MODES = ("full", "bf16", "dynamic-int8", "int8", "nf4")
QUICK_MODES = ("full", "bf16", "dynamic-int8")
SETS = ("aclsum", "meetings")
ASPECTS = ("challenge", "approach", "outcome")
MEETINGS = ROOT / "assets" / "transcripts" / "meetings.jsonl"
# Other projects' engines on the bundled weights, bench-only (make bench-peers): engine kind ->
# its module (load(model, threads), summarize(loaded, text, options), require(), QUANT).
PEERS = {"llama.cpp": llamacpp}


@dataclass(frozen=True)
class BenchOptions:
    model: str = option("smollm2-135m", "LLM summarizer registry name")
    modes: tuple[str, ...] = option(DEFAULT_MODES, "demo quantization modes, each with the loop")
    adapters: tuple[str, ...] = option((), "adapter folders, each run at the default (auto) mode")
    set: str = option("aclsum", "aclsum (ROUGE against references) or meetings (faithfulness only)")
    split: str = option("val", "ACLSum split: train, val, test")
    limit: int = option(10, "documents (the first ones of the split)")
    repeats: int = option(3, "rounds; each latency is the minimum over them")
    timing_docs: int | None = option(3, "rounds after the first re-time only these first documents")
    max_sentences: int = option(3, "the app's length control")
    baseline: bool = option(True, "also fp32 weights decoded by transformers' generate")
    peers: tuple[str, ...] = option((), "other engines (bench-only, make bench-peers): llama.cpp")
    extractive: bool = option(True, "also the extractive summarizer")
    rss: bool = option(True, "load, weights and peak RSS, one engine at a time in a forked process")
    threads: int = option(0, "intra-op threads (0 = torch's default), prompt and decoding alike")
    out: str = option(str(DEFAULT_OUT), "folder for the result files")
    name: str = option("summarize-cpu", "result file name (without suffix)")

    def __post_init__(self) -> None:
        if self.set not in SETS:
            raise ValueError(f"set must be one of {', '.join(SETS)}.")
        if self.repeats < 1 or self.limit < 1:
            raise ValueError("repeats and limit must be at least 1.")
        if unknown := [p for p in self.peers if p not in PEERS]:
            raise ValueError(f"Unknown peers {unknown}; pick from {', '.join(PEERS)}.")
        if self.timing_docs is not None and self.timing_docs < 1:
            raise ValueError("timing_docs must be at least 1 (or left out: every document).")


QUICK = {"modes": QUICK_MODES, "out": str(DEFAULT_OUT / "quick")}


@dataclass(frozen=True)
class Document:
    id: str
    text: str
    reference: str | None  # None for the meeting transcripts


@dataclass(frozen=True)
class Engine:
    label: str  # what the row's config says
    kind: str  # "llm", "extractive", "lead", or a peer (PEERS: "llama.cpp")
    quant: str  # demo mode ("-" for extractive; a peer: the weights it runs, e.g. Q4_1)
    decode: str  # "fast", "generate", a peer's name, or "-"
    adapter: str | None = None
    threads: int | None = None  # run on this many threads (None: the benchmark's)


@dataclass
class Row:
    config: str
    kind: str  # always "summarizer"
    engine: str
    model: str
    quant: str
    decode: str
    adapter: str | None
    set: str
    split: str
    docs: int
    threads: int
    runs: int = 0
    latency_s: float = 0.0  # mean over documents of the per-document minimum
    prefill_tokens_per_s: float | None = None
    decode_tokens_per_s: float | None = None
    decode_speedup_vs_fp32_generate: float | None = None
    latency_ratio_to_fp32_generate: float | None = None
    prompt_tokens: float | None = None  # mean per document
    summary_tokens: float | None = None  # mean per document
    summary_words: float = 0.0  # mean per document
    summary_sentences: float = 0.0
    scores: dict = field(default_factory=dict)  # ROUGE + embedding similarity (fractions)
    rougeL_delta_vs_full: float | None = None  # (this - fp32 loop) ROUGE-L, x100 points
    unsupported_numbers: int = 0  # over all documents
    unsupported_names: int = 0
    docs_with_unsupported: int = 0
    unsupported: list = field(default_factory=list)  # per document: {"id", numbers, names}
    summaries: list = field(default_factory=list)  # per document: {"id", "summary", ROUGE}
    load_s: float | None = None
    weights_mb: float | None = None
    peak_rss_mb: float | None = None


def aclsum_documents(split: str, limit: int) -> list[Document]:
    """The first ``limit`` ACLSum papers of ``split``: the training toolkit's demo task
    (``training.corpora.aclsum``: detokenized abstract in, the three aspects joined out)."""
    from training.corpora.aclsum import demo_pairs

    split = {"val": "validation"}.get(split, split)
    return [Document(r["paper"], r["text"], r["summary"]) for r in demo_pairs(split)[:limit]]


def meeting_documents(limit: int) -> list[Document]:
    """The hand-written meeting and lecture transcripts in assets/transcripts/."""
    rows = [json.loads(line) for line in MEETINGS.read_text().splitlines() if line.strip()]
    return [Document(r["id"], r["text"], None) for r in rows[:limit]]


def engines(options: BenchOptions) -> list[Engine]:
    from demo.quant import AUTO, resolve_quant

    found = []
    if options.baseline:
        found.append(Engine(BASELINE, "llm", "full", "generate"))
        # Ablation: the baseline on one thread, which shows what the second thread is worth
        # (on a busy machine it can be worth less than nothing).
        found.append(Engine(f"{BASELINE}-1thread", "llm", "full", "generate", threads=1))
    found += [Engine(mode, "llm", mode, "fast") for mode in options.modes]
    found += [Engine(f"{p} {PEERS[p].QUANT}", p, PEERS[p].QUANT, p) for p in options.peers]
    default = resolve_quant(AUTO, "llm", "cpu", adapter=True).name  # what the app runs
    for adapter in options.adapters:
        run = Path(adapter).resolve().parent.name
        found.append(Engine(f"{run} {default}", "llm", default, "fast", adapter))
    if options.extractive:
        found.append(Engine("extractive", "extractive", "-", "-"))
        found.append(Engine(f"lead-{options.max_sentences}", "lead", "-", "-"))
    return found


def _spec(engine: Engine, model: str):
    """What an engine loads (engines sharing weights share it): a demo ModelSpec, or for a
    peer (engine kind, model)."""
    from demo.models import ModelSpec

    if engine.kind in PEERS:
        return (engine.kind, model)
    if engine.kind in ("extractive", "lead"):  # lead-N splits sentences as extractive does
        return ModelSpec("summarizer", "extractive", "full", device="cpu")
    return ModelSpec("summarizer", model, engine.quant, engine.adapter, "cpu")


def _load(engine: Engine, model: str, threads: int):
    from demo.models import load_model

    if engine.kind in PEERS:
        return PEERS[engine.kind].load(model, threads)
    return load_model(_spec(engine, model))


def _is_llm(engine: Engine) -> bool:
    return engine.kind == "llm" or engine.kind in PEERS


def summarize_doc(loaded, engine: Engine, doc: Document, options: BenchOptions) -> dict:
    """One summary with its latency (and prefill/decode timings for the LLM engines)."""
    from demo.summarize import SummaryOptions, summarize
    from demo.summarize.extractive import split_sentences
    from demo.summarize.llm import summarize_once

    if engine.threads is not None:
        with at_most_threads(engine.threads):
            return summarize_doc(loaded, replace(engine, threads=None), doc, options)
    summary_options = SummaryOptions(max_sentences=options.max_sentences)
    started = time.perf_counter()
    if engine.kind in PEERS:
        return PEERS[engine.kind].summarize(loaded, doc.text, summary_options)
    if engine.kind == "lead":
        summary = " ".join(split_sentences(doc.text, window_words=None)[: options.max_sentences])
        return {"summary": summary, "latency": time.perf_counter() - started}
    if engine.kind == "extractive":
        summary = summarize(loaded, doc.text, summary_options)
        return {"summary": summary, "latency": time.perf_counter() - started}
    summary, decoded = summarize_once(loaded, doc.text, summary_options, engine=engine.decode)
    return {
        "summary": summary,
        "latency": time.perf_counter() - started,
        "prefill": decoded.prefill_seconds,
        "decode": decoded.decode_seconds,
        "prompt_tokens": decoded.prompt_tokens,
        "tokens": len(decoded.tokens),
        "steps": decoded.steps,
    }


def _memory(engine: Engine, model: str, doc: Document, options: BenchOptions) -> dict:
    from demo.measure import Measurements, measure

    threads = set_threads(options.threads)
    m = Measurements()
    with measure("load", m):
        loaded = _load(engine, model, threads)
    with measure("run", m):
        summarize_doc(loaded, engine, doc, options)
    return {
        "load_s": m.stages["load"].seconds,
        "weights_mb": loaded.weights_mb,
        "peak_rss_mb": m.peak_rss_mb(),
    }


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values) if values else 0.0


def _aggregate(row: Row, results: list[dict], docs: list[Document]) -> None:
    from demo.metrics import summary_scores, unsupported_details
    from demo.summarize.extractive import split_sentences

    summaries = [r["summary"] for r in results]
    row.summaries = [{"id": d.id, "summary": s} for d, s in zip(docs, summaries, strict=True)]
    row.latency_s = _mean(r["latency"] for r in results)
    row.summary_words = _mean(len(s.split()) for s in summaries)
    row.summary_sentences = _mean(len(split_sentences(s, window_words=None)) for s in summaries)
    if "decode" in results[0]:
        row.prefill_tokens_per_s = sum(r["prompt_tokens"] for r in results) / sum(
            r["prefill"] for r in results
        )
        decode = sum(r["decode"] for r in results)
        row.decode_tokens_per_s = sum(r["steps"] for r in results) / decode if decode else None
        row.prompt_tokens = _mean(r["prompt_tokens"] for r in results)
        row.summary_tokens = _mean(r["tokens"] for r in results)
    if all(d.reference for d in docs):
        row.scores = summary_scores([d.reference for d in docs], summaries)
        keep_document_scores(row.summaries, [d.reference for d in docs])
    for doc, summary in zip(docs, summaries, strict=True):
        found = unsupported_details(doc.text, summary)
        row.unsupported.append({"id": doc.id, **found})
        row.unsupported_numbers += len(found["numbers"])
        row.unsupported_names += len(found["names"])
        row.docs_with_unsupported += bool(found["numbers"] or found["names"])


DOCUMENT_SCORES = ("rouge1", "rouge2", "rougeL")  # kept per summary: paired intervals


def keep_document_scores(summaries: list[dict], references: list[str]) -> None:
    """Add each summary's ``DOCUMENT_SCORES`` (fractions) to its entry, so two engines compare
    paper by paper (a paired bootstrap, ``results.report_summarize``)."""
    from demo.metrics import rouge_per_document

    found = rouge_per_document(references, [s["summary"] for s in summaries])
    for entry, scores in zip(summaries, found, strict=True):
        entry.update({key: scores[key] for key in DOCUMENT_SCORES})


def run(options: BenchOptions, argv: list[str] | None = None) -> tuple[Path, list[dict]]:
    """Run the benchmark, write its result files, and return (json path, rows)."""
    from tqdm.auto import tqdm

    threads = set_threads(options.threads)
    if options.set == "aclsum":
        docs = aclsum_documents(options.split, options.limit)
    else:
        docs = meeting_documents(options.limit)
    specs = engines(options)
    for peer in options.peers:  # a missing bench-only package: one sentence, nothing measured
        PEERS[peer].require()
    import demo.models  # noqa: F401  (imports are not part of a load)
    import demo.summarize.llm  # noqa: F401

    memory: dict = {}  # per model spec: engines sharing weights share the measurement
    if options.rss:
        measured = [e for e in specs if e.decode != "generate"]
        for engine in tqdm(measured, desc="load + memory, one engine at a time", unit="engine"):
            key = _spec(engine, options.model)
            memory[key] = run_in_fork(_memory, engine, options.model, docs[0], options)
    loaded, load_s = {}, {}
    for engine in specs:
        spec = _spec(engine, options.model)
        if spec not in loaded:
            started = time.perf_counter()
            loaded[spec] = _load(engine, options.model, threads)
            load_s[spec] = time.perf_counter() - started
    warm = Document("warm-up", " ".join(docs[0].text.split()[:60]), None)
    for engine in tqdm(specs, desc="warm-up", unit="engine"):  # first calls are not timed
        summarize_doc(loaded[_spec(engine, options.model)], engine, warm, options)
    best: dict[str, list[dict | None]] = {e.label: [None] * len(docs) for e in specs}
    timed = min(options.timing_docs or len(docs), len(docs))
    total = (len(docs) + (options.repeats - 1) * timed) * len(specs)
    with tqdm(total=total, desc="summarizing, engines interleaved", unit="summary") as bar:
        for round_ in range(options.repeats):
            for i, doc in enumerate(docs if round_ == 0 else docs[:timed]):
                # Rotate the order so no engine always runs first (warm caches, a quiet moment).
                shift = (round_ + i) % len(specs)
                for engine in specs[shift:] + specs[:shift]:
                    result = summarize_doc(
                        loaded[_spec(engine, options.model)], engine, doc, options
                    )
                    kept = best[engine.label][i]
                    if kept is not None:
                        for key in ("latency", "prefill", "decode"):
                            if key in result:
                                result[key] = min(result[key], kept[key])
                    best[engine.label][i] = result
                    bar.update(1)
    rows = []
    for engine in specs:
        spec = _spec(engine, options.model)
        row = Row(
            config=f"{options.model if _is_llm(engine) else engine.kind} {engine.label}",
            kind="summarizer",
            engine=engine.label,
            model=options.model if _is_llm(engine) else engine.kind,
            quant=engine.quant,
            decode=engine.decode,
            adapter=engine.adapter,
            set=options.set,
            split=options.split if options.set == "aclsum" else "-",
            docs=len(docs),
            threads=threads,
            runs=options.repeats,
            load_s=load_s[spec],
        )
        _aggregate(row, [r for r in best[engine.label] if r is not None], docs)
        row.load_s = memory.get(spec, {}).get("load_s", row.load_s)
        row.weights_mb = memory.get(spec, {}).get("weights_mb", loaded[spec].weights_mb)
        row.peak_rss_mb = memory.get(spec, {}).get("peak_rss_mb")
        rows.append(row)
    _ratios(rows)
    del loaded
    gc.collect()
    meta_ = meta(MODULE, argv, threads=threads, options=asdict(options), notes=NOTES)
    meta_["documents"] = [d.id for d in docs]
    data = [asdict(r) for r in rows]
    csv_rows = [{**{k: v for k, v in r.items() if k != "scores"}, **r["scores"]} for r in data]
    path = write_results(Path(options.out), options.name, meta_, data, csv_rows)
    return path, data


def _ratios(rows: list[Row]) -> None:
    base = next((r for r in rows if r.engine == BASELINE), None)
    reference = next((r for r in rows if r.engine == QUALITY_REFERENCE), None)
    for row in rows:
        if base is not None and row.decode_tokens_per_s and base.decode_tokens_per_s:
            row.decode_speedup_vs_fp32_generate = row.decode_tokens_per_s / base.decode_tokens_per_s
        if base is not None:
            row.latency_ratio_to_fp32_generate = row.latency_s / base.latency_s
        if reference is not None and row.scores and reference.scores:
            delta = row.scores["rougeL"] - reference.scores["rougeL"]
            row.rougeL_delta_vs_full = round(100 * delta, 3)


NOTES = [
    "Latency is per document, the minimum over the rounds; the machine is shared and noisy, "
    "so compare the ratios (measured in the same interleaved rounds), not absolute times.",
    "fp32-generate: the same weights, prompt and token rule (greedy, no repeated 4-gram of the "
    "summary) decoded by transformers' generate; its tokens equal the 'full' engine's.",
    "Decode tokens/s counts the tokens after the first (the prefill produces the first); the "
    "project's loop and generate both use every thread the run has ('threads').",
    "ACLSum abstracts are detokenized as the training toolkit reads them "
    "(training.corpora.aclsum).",
    "lead-N: the document's first N sentences (N = the length control's sentence count), "
    "the usual floor for a summarizer.",
    "llama.cpp (bench-only peer, llama-cpp-python): the bundled GGUF as shipped (Q4_1) on "
    "llama.cpp's own kernels, with our prompt ids, greedy n-gram rule, stop tokens and clean-up "
    "(bench.llamacpp); our engines dequantize that file to fp32 first.",
]


# Terminal table columns: (title, width).
COLUMNS = [("engine", 30), ("lat s", 6), ("pre t/s", 8), ("dec t/s", 8), ("vs gen", 7),
           ("R-1", 5), ("R-2", 5), ("R-L", 5), ("dR-L", 6), ("sim", 5), ("words", 5),
           ("nums", 4), ("names", 5), ("MB", 5), ("RSS", 5)]  # fmt: skip


def format_table(rows: list[dict]) -> str:
    """A plain-text table of the rows for the terminal."""

    def cells(r: dict) -> list[str]:
        s = r["scores"]
        return [r["engine"][:30], f"{r['latency_s']:.2f}", _n(r["prefill_tokens_per_s"], 0),
                _n(r["decode_tokens_per_s"], 1), _n(r["decode_speedup_vs_fp32_generate"], 2),
                _n(s.get("rouge1"), 1, 100), _n(s.get("rouge2"), 1, 100),
                _n(s.get("rougeL"), 1, 100), _n(r["rougeL_delta_vs_full"], 2),
                _n(s.get("embedding_similarity"), 1, 100), f"{r['summary_words']:.1f}",
                f"{r['unsupported_numbers']:d}", f"{r['unsupported_names']:d}",
                _n(r["weights_mb"], 0), _n(r["peak_rss_mb"], 0)]  # fmt: skip

    return text_table(COLUMNS, (cells(r) for r in rows))


def _n(value, digits: int, scale: float = 1.0) -> str:
    return "-" if value is None else f"{value * scale:.{digits}f}"


def parse_args(argv: list[str] | None = None) -> BenchOptions:
    return parse_options(BenchOptions, MODULE, __doc__, argv, ("10 val abstracts, 3 modes", QUICK))


main = bench_main(parse_args, run, format_table)


if __name__ == "__main__":
    main()
