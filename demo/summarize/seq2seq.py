"""Abstractive summaries with a seq2seq model (T5, BART, mBART), chunk by chunk.

A transcript longer than the model's input is summarized chunk by chunk and the partial
summaries joined, so nothing past the first 512/1024 tokens is silently dropped.
"""

from __future__ import annotations

from tqdm.auto import tqdm

from demo.cancel import check

DEFAULT_MAX_INPUT_TOKENS = 1024


def _max_input_tokens(model, tokenizer) -> int:
    config = model.config
    limits = [
        getattr(config, "max_position_embeddings", None),
        getattr(config, "n_positions", None),
        tokenizer.model_max_length if tokenizer.model_max_length < 100_000 else None,
    ]
    known = [x for x in limits if x]
    return min(known) if known else DEFAULT_MAX_INPUT_TOKENS


def _chunks(tokenizer, text: str, size: int) -> list[str]:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return [tokenizer.decode(ids[i : i + size]) for i in range(0, len(ids), size)] or [text]


def summarize_seq2seq(loaded, text: str, options) -> str:
    """Summarize ``text`` with a loaded seq2seq summarizer (``SummaryOptions`` in ``options``)."""
    import torch

    model, tokenizer, entry = loaded.model, loaded.processor, loaded.entry
    budget = _max_input_tokens(model, tokenizer) - 8  # room for prefix and special tokens
    gen_kwargs: dict = {
        "num_beams": options.num_beams,
        "max_new_tokens": options.max_new_tokens,
        "min_new_tokens": min(options.min_new_tokens, options.max_new_tokens),
    }
    if entry.family == "mbart" and entry.language and hasattr(tokenizer, "lang_code_to_id"):
        tokenizer.src_lang = entry.language
        gen_kwargs["forced_bos_token_id"] = tokenizer.convert_tokens_to_ids(entry.language)
    device = next(model.parameters()).device
    parts = []
    chunks = _chunks(tokenizer, text, budget)
    for chunk in tqdm(chunks, desc="summarizing", disable=len(chunks) == 1):
        check()
        inputs = tokenizer(
            entry.prefix + chunk, return_tensors="pt", truncation=True, max_length=budget + 8
        ).to(device)
        with torch.inference_mode():
            output = model.generate(**inputs, **gen_kwargs)
        parts.append(tokenizer.decode(output[0], skip_special_tokens=True).strip())
    return " ".join(p for p in parts if p)
