"""llama.cpp as a summarizer peer, through ``llama-cpp-python`` on the bundled SmolLM2 GGUF
as shipped (Q4_1): what a user who picks llama.cpp on a CPU runs.

Bench-only, never a runtime dependency: it has no binary wheel and builds from source with
cmake (``make bench-peers``). The prompt is our engines' token for token (the same tokenizer,
chat template, instruction and length budget, ``demo.summarize.llm``), and the decoding is
the same rule: greedy, stop at any special token, no repeated 4-gram of the generated text,
the same clean-up of the text. What differs is the engine: llama.cpp's own Q4_1 kernels,
where our engines dequantize the file to fp32 first (and quantize again per mode).
"""

from __future__ import annotations

import importlib
import os
import time
from dataclasses import dataclass

import numpy as np

from demo.errors import ModelUnavailableError

PACKAGE = "llama_cpp"
INSTALL_HINT = "run `make bench-peers` (it builds llama-cpp-python from source with cmake)"
QUANT = "Q4_1"  # the bundled file's weights, as shipped
PROMPT_BATCH = 512  # prompt tokens per llama_decode call


def require():
    """The ``llama_cpp`` module; missing, one sentence that says how to get it."""
    try:
        return importlib.import_module(PACKAGE)
    except ImportError:
        raise ModelUnavailableError(f"llama.cpp is a bench-only peer: {INSTALL_HINT}.") from None


@dataclass
class LlamaCppModel:
    llm: object  # llama_cpp.Llama
    processor: object  # our tokenizer: the prompt ids of our engines
    entry: object  # demo.summarize.registry.SummarizerModel
    weights_mb: float  # the GGUF file's size


def load(model: str, threads: int) -> LlamaCppModel:
    """llama.cpp on a bundled summarizer's GGUF file, ``threads`` threads (0: every core)."""
    from transformers import AutoTokenizer

    from demo.summarize.registry import bundled_checkpoint, bundled_gguf_file, get_summarizer

    llama_cpp = require()
    entry = get_summarizer(model)
    if entry.bundled is None:
        raise ModelUnavailableError(f"{model} has no bundled GGUF file for llama.cpp to run.")
    path = bundled_gguf_file(entry.bundled)
    tokenizer = AutoTokenizer.from_pretrained(bundled_checkpoint(entry))
    threads = threads or os.cpu_count() or 1
    llm = llama_cpp.Llama(
        model_path=str(path),
        n_ctx=entry.context_tokens + 512,  # the prompt budget plus room for the summary
        n_batch=PROMPT_BATCH,
        n_threads=threads,
        n_threads_batch=threads,
        verbose=False,
    )
    return LlamaCppModel(llm, tokenizer, entry, path.stat().st_size / 2**20)


def summarize(loaded: LlamaCppModel, text: str, options) -> dict:
    """One summary of ``text`` (``SummaryOptions``) with the bench's timings: prefill (prompt
    to first token), decode, token counts."""
    import torch

    from demo.summarize.decoding import generated_ngram_processor, greedy_loop
    from demo.summarize.llm import NO_REPEAT_NGRAM, clean_summary, max_new_tokens, prompt_ids
    from demo.summarize.llm import stop_ids as summary_stop_ids

    llama_cpp = require()
    llm, tokenizer = loaded.llm, loaded.processor
    ids = prompt_ids(tokenizer, loaded.entry, text, options.max_sentences, options.max_words)
    stops, budget = set(summary_stop_ids(tokenizer)), max_new_tokens(options)
    ban = generated_ngram_processor(len(ids), NO_REPEAT_NGRAM)
    n_vocab = llm.n_vocab()

    def next_token(sequence: list[int]) -> int:
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), (n_vocab,))
        scores = torch.from_numpy(logits.copy())[None]
        return int(torch.argmax(ban(torch.tensor([sequence]), scores)[0]))

    started = time.perf_counter()
    llm.reset()  # no prompt prefix cached from an earlier call: every run pays its prefill
    llm.eval(ids)
    sequence = list(ids)
    token = next_token(sequence)
    first = time.perf_counter()

    def step(token: int, tokens: list[int]) -> int:
        sequence.append(token)
        llm.eval([token])
        return next_token(sequence)

    tokens, stopped = greedy_loop(token, step, stops, budget)
    ended = time.perf_counter()
    raw = tokenizer.decode(tokens, skip_special_tokens=True)
    return {
        "summary": clean_summary(raw, options.max_sentences, options.max_words),
        "latency": ended - started,
        "prefill": first - started,
        "decode": ended - first,
        "prompt_tokens": len(ids),
        "tokens": len(tokens),
        "steps": len(tokens) + (stopped == "eos") - 1,
    }
