"""Abstractive summaries with a decoder-only chat model (SmolLM2, Qwen2.5, Llama 3.2).

The transcript goes into the model's chat template with an instruction that carries the app's
length control (``SummaryOptions.max_sentences`` / ``max_words``); decoding is greedy with a
no-repeat-n-gram rule over the generated text only (``demo.summarize.decoding``). What comes
back is cleaned of template tokens, role markers and list formatting, and cut to the requested
length if the model overran it. A transcript over the model's context budget is summarized
chunk by chunk and the partial summaries merged by one more prompt (map-reduce), repeated
until the partials fit one prompt. Training builds its prompts with ``prompt_ids`` too, so a
fine-tuned adapter sees exactly the prompt it was trained on.
"""

from __future__ import annotations

import math
import re

from tqdm.auto import tqdm

from demo.errors import SummaryInputError
from demo.summarize.decoding import Decoded, DecodeRules, greedy_decode
from demo.summarize.extractive import split_sentences

MIN_WORDS = 5  # fewer words hold nothing to summarize: a model asked anyway invents content
# Greedy decoding of a 135M model falls into loops ("The sentence is being typed by the user.
# The sentence is being typed..."); banning a repeated 4-gram of its own output stops them
# while leaving it free to copy the source's phrases (README "Summarizer" has the measurement).
NO_REPEAT_NGRAM = 4
TOKENS_PER_SENTENCE = 48  # room for one summary sentence (ACLSum's are ~25 words, ~33 tokens)
TOKENS_PER_WORD = 2.0  # room per word of a max_words budget
REWRITE_TOKENS_PER_WORD = 1.6  # a rewrite is no longer than its source (~1.3 tokens a word)
SYSTEM_PROMPT = (
    "You are a careful assistant that writes short, faithful summaries. "
    "Use only facts stated in the text."
)
MERGE_LABEL = "Summaries of consecutive parts of one transcript"
_ROLE_RE = re.compile(r"^\s*(?:assistant|user|system)\s*:?\s*\n", re.IGNORECASE)
_PREFACE_RE = re.compile(
    r"^\s*(?:(?:here(?:'s| is| are)|sure[,!.]?)[^\n:]{0,80}?summar[^\n:]*|summary)\s*:\s*",
    re.IGNORECASE,
)
_ENDS = ".!?…:;\"'”’)"  # characters a finished sentence (or list item) ends with
_BULLET_RE = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+", re.MULTILINE)


def _length_request(max_sentences: int, max_words: int | None) -> str:
    sentences = "one sentence" if max_sentences == 1 else f"at most {max_sentences} sentences"
    words = f" and at most {max_words} words" if max_words is not None else ""
    return f"{sentences}{words}"


def instruction(
    text: str, max_sentences: int, max_words: int | None, merge: bool, style: str = "prose"
) -> str:
    """The user turn: what to do, how long, and the text."""
    length = _length_request(max_sentences, max_words)
    if style == "key-points":
        items = "one point" if max_sentences == 1 else f"at most {max_sentences} points"
        return (
            f"List the key points of the following text: decisions, tasks with their dates, "
            f"and numbers. Write {items}, one short line each starting with '- '. Use only "
            f"what the text says. Write only the list.\n\n{text}"
        )
    if merge:
        return (
            f"{MERGE_LABEL} follow. Combine them into one summary of the whole transcript "
            f"in {length}. Write only the summary.\n\n{text}"
        )
    return f"Summarize the following text in {length}. Write only the summary.\n\n{text}"


def prompt_text(
    tokenizer, entry, text: str, max_sentences: int = 3, max_words: int | None = None,
    *, merge: bool = False, style: str = "prose",
) -> str:  # fmt: skip
    """The whole prompt as text: the chat template with the instruction, ready to continue."""
    return chat_text(tokenizer, entry, instruction(text, max_sentences, max_words, merge, style))


def chat_text(tokenizer, entry, user: str) -> str:
    """A user turn in the model's chat template (with the system prompt), ready to continue."""
    if entry.chat_template and getattr(tokenizer, "chat_template", None):
        messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return f"{SYSTEM_PROMPT}\n\n{user}\n\nSummary:"


def prompt_ids(
    tokenizer, entry, text: str, max_sentences: int = 3, max_words: int | None = None,
    *, merge: bool = False, style: str = "prose",
) -> list[int]:  # fmt: skip
    """Token ids of ``prompt_text`` (the template already holds the special tokens)."""
    prompt = prompt_text(tokenizer, entry, text, max_sentences, max_words, merge=merge, style=style)
    return tokenizer(prompt, add_special_tokens=False).input_ids


def stop_ids(tokenizer, model=None) -> tuple[int, ...]:
    """Tokens that end a summary: the end of turn and every other special token (a new turn,
    end of text), none of which belongs in a summary."""
    ids = set(tokenizer.all_special_ids)
    generation = getattr(model, "generation_config", None)
    eos = getattr(generation, "eos_token_id", None)
    ids.update(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    unk = tokenizer.unk_token_id
    return tuple(sorted(i for i in ids if i is not None and i != unk))


def max_new_tokens(options) -> int:
    """Tokens to allow for a summary of the requested length: the length request sets the
    budget (``SummaryOptions.max_new_tokens`` is the seq2seq models')."""
    sentences = TOKENS_PER_SENTENCE * options.max_sentences
    if options.max_words is not None:
        return max(16, min(sentences, math.ceil(options.max_words * TOKENS_PER_WORD)))
    return sentences


def clean_summary(text: str, max_sentences: int, max_words: int | None) -> str:
    """Strip role markers, prefaces and list formatting; cut to the requested length.

    An unfinished last sentence (the token budget ran out) is dropped when a finished one
    precedes it.
    """
    text = _ROLE_RE.sub("", text)
    text = _PREFACE_RE.sub("", text)
    text = _BULLET_RE.sub("", text).replace("**", "").replace("__", "")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    # List items and headings become sentences; the last line keeps its own ending, which
    # tells whether the budget cut it off.
    lines = [line if line[-1] in _ENDS else line + "." for line in lines[:-1]] + lines[-1:]
    sentences = split_sentences(" ".join(lines), window_words=None)
    if len(sentences) > 1 and sentences[-1][-1] not in _ENDS:
        sentences = sentences[:-1]
    kept: list[str] = []
    words = 0
    for sentence in sentences[:max_sentences]:
        count = len(sentence.split())
        if max_words is not None and words + count > max_words:
            if not kept:  # always say something: the first sentence, cut to the budget
                kept.append(" ".join(sentence.split()[:max_words]))
            break
        kept.append(sentence)
        words += count
    return " ".join(kept).strip()


def _chunks(tokenizer, text: str, budget: int) -> list[str]:
    """Consecutive pieces of ``text`` of at most ``budget`` tokens, cut between sentences
    (inside a sentence only when one alone is longer than the budget)."""
    pieces: list[str] = []
    for sentence in split_sentences(text):
        ids = tokenizer(sentence, add_special_tokens=False).input_ids
        if len(ids) <= budget:
            pieces.append(sentence)
        else:
            pieces += [tokenizer.decode(ids[i : i + budget]) for i in range(0, len(ids), budget)]
    chunks: list[str] = []
    current: list[str] = []
    used = 0
    for piece in pieces:
        size = len(tokenizer(" " + piece, add_special_tokens=False).input_ids)
        if current and used + size > budget:
            chunks.append(" ".join(current))
            current, used = [], 0
        current.append(piece)
        used += size
    if current:
        chunks.append(" ".join(current))
    return chunks


def _check_input(text: str) -> None:
    count = len(text.split())
    if count < MIN_WORDS:
        said = "no words" if count == 0 else f"only {count} word{'s' if count > 1 else ''}"
        raise SummaryInputError(
            f"The transcript has {said}; the LLM summarizer needs at least {MIN_WORDS} words, "
            "so record a longer clip or pick the extractive summarizer."
        )


def summarize_llm(loaded, text: str, options) -> str:
    """Summarize ``text`` with a loaded LLM summarizer (``SummaryOptions`` in ``options``)."""
    _check_input(text)
    tokenizer = loaded.processor
    budget = options.context_tokens or loaded.entry.context_tokens
    chunks = _chunks(tokenizer, text, budget)
    if len(chunks) == 1:
        return summarize_once(loaded, text, options)[0]
    bar = tqdm(total=len(chunks), desc="summarizing chunks", unit="chunk")
    try:
        parts = []
        for chunk in chunks:
            parts.append(summarize_once(loaded, chunk, options)[0])
            bar.update(1)
        # Reduce: merge partial summaries that fit one prompt, until one summary is left.
        while len(parts) > 1:
            groups = _chunks(tokenizer, "\n".join(parts), budget)
            bar.total += len(groups)
            bar.set_description("merging summaries")
            merged = []
            for group in groups:
                merged.append(summarize_once(loaded, group, options, merge=True)[0])
                bar.update(1)
            if len(merged) >= len(parts):  # partials longer than the budget: stop shrinking
                return clean_summary(" ".join(merged), options.max_sentences, options.max_words)
            parts = merged
    finally:
        bar.close()
    return parts[0]


def summarize_once(
    loaded, text: str, options, *, merge: bool = False, engine: str = "auto"
) -> tuple[str, Decoded]:
    """One prompt, one summary: (cleaned summary, the decoding with its timings).

    No chunking: ``text`` must fit the context budget. ``engine`` as in ``greedy_decode``
    (the benchmark compares the loop with transformers' ``generate``).
    """
    model, tokenizer, entry = loaded.model, loaded.processor, loaded.entry
    rules = DecodeRules(max_new_tokens(options), stop_ids(tokenizer, model), NO_REPEAT_NGRAM)
    style = getattr(options, "style", "prose")
    ids = prompt_ids(
        tokenizer, entry, text, options.max_sentences, options.max_words, merge=merge, style=style
    )
    decoded = greedy_decode(model, ids, rules, engine=engine)
    raw = tokenizer.decode(decoded.tokens, skip_special_tokens=True)
    return clean_summary(raw, options.max_sentences, options.max_words), decoded


def rewrite_sentence(loaded, sentence: str, style: str = "prose") -> str:
    """One transcript sentence rewritten by the LM as a short written sentence (or a key
    point) that keeps its names, numbers and dates; the caller checks what comes back."""
    what = "a short note" if style == "key-points" else "one short, clear written sentence"
    user = (
        f"Rewrite this sentence from a spoken recording as {what}. Keep every name, number, "
        f"date and time exactly. Add nothing. Write only the rewritten text.\n\n{sentence}"
    )
    model, tokenizer, entry = loaded.model, loaded.processor, loaded.entry
    budget = max(16, int(len(sentence.split()) * REWRITE_TOKENS_PER_WORD))
    rules = DecodeRules(budget, stop_ids(tokenizer, model), NO_REPEAT_NGRAM)
    ids = tokenizer(chat_text(tokenizer, entry, user), add_special_tokens=False).input_ids
    decoded = greedy_decode(model, ids, rules)
    raw = tokenizer.decode(decoded.tokens, skip_special_tokens=True)
    return clean_summary(raw, 1, None)
