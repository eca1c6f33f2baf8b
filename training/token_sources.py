"""Where a low-rank start's token counts come from (``--lowrank-token-source``).

A token-weighted or activation-aware start weights the tied vocabulary rows of Whisper's
``proj_out`` by how often each token is used (``demo.compress.lowrank_init``). Each source is a
function ``(train_token_ids, tokenizer, vocab_size, options) -> (counts, record)`` registered
in ``TOKEN_SOURCES``: ``counts`` one float64 or int64 number per vocabulary row, ``record`` the
JSON facts kept in run.json and in the saved ``lowrank/`` folder (whose counts rebuild the
factors without the source, so a reload needs neither the corpus nor wordfreq).

- ``train``: the training transcripts' tokens, prompt and end tokens included (int counts).
- ``train+wordfreq``: those counts plus general English: the ``--lowrank-wordfreq-words`` most
  frequent English words of ``wordfreq`` (its "best" list), each tokenized with a leading space
  as it follows another word in a transcript; every token of a word gets the word's frequency.
  That mass is scaled to ``--lowrank-wordfreq-share`` of the combined total and rounded to
  ``DECIMALS`` places, so the saved counts are exactly the ones the factors were fitted to.
  The words are wordfreq's lower-case forms ("i", "american"), while Whisper writes " I" and
  " Americans" (one token; " american" is two), so
- ``train+wordfreq-cased`` splits each word's frequency evenly between its lower-case and
  capitalized forms (" the"/" The", " american"/" American").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

WORDFREQ_PACKAGE = "wordfreq==3.1.1"  # requirements-corpus.txt
WORDFREQ_LANGUAGE = "en"
WORDFREQ_LIST = "best"
WORDFREQ_WORDS = 20_000  # default top-N; the share decides how much they weigh
MAX_WORDFREQ_WORDS = 100_000
WORDFREQ_SHARE = 0.5  # default share of the combined token mass from general English
DECIMALS = 4  # the added counts' precision (the floor under every row is 0.01)


def _train(token_ids, tokenizer, vocab_size: int, options) -> tuple[Any, dict[str, Any]]:
    from demo.compress.lowrank import count_tokens

    counts = count_tokens(token_ids, vocab_size)
    return counts, {"source": "train", "train_mass": int(counts.sum())}


def wordfreq_mass(tokenizer, vocab_size: int, words: int, cased: bool = False):
    """One float64 per vocabulary row, summing to 1: how much of general English text (the
    ``words`` most frequent English words, by wordfreq frequency) each token carries; ``cased``
    splits each word's frequency evenly between its lower-case and capitalized forms."""
    import torch

    try:
        import wordfreq
    except ImportError:
        raise ValueError(
            "--lowrank-token-source train+wordfreq needs the wordfreq package: "
            f"pip install {WORDFREQ_PACKAGE} (requirements-corpus.txt)."
        ) from None
    top = wordfreq.top_n_list(WORDFREQ_LANGUAGE, words, wordlist=WORDFREQ_LIST)
    forms = [[word, word[:1].upper() + word[1:]] if cased else [word] for word in top]
    ids = tokenizer([" " + form for pair in forms for form in pair], add_special_tokens=False)
    ids = iter(ids.input_ids)
    rows, values = [], []
    for word, pair in zip(top, forms, strict=True):
        frequency = wordfreq.word_frequency(word, WORDFREQ_LANGUAGE, wordlist=WORDFREQ_LIST)
        for tokens in (next(ids) for _ in pair):
            rows += tokens
            values += [frequency / len(pair)] * len(tokens)
    if not rows or max(rows) >= vocab_size:
        raise ValueError(f"The tokenizer's ids do not fit a {vocab_size}-token vocabulary.")
    mass = torch.zeros(vocab_size, dtype=torch.float64)
    mass.index_add_(0, torch.tensor(rows), torch.tensor(values, dtype=torch.float64))
    return mass / mass.sum()


def _train_and_wordfreq(token_ids, tokenizer, vocab_size: int, options, cased: bool = False):
    from importlib.metadata import version

    import torch

    counts, record = _train(token_ids, tokenizer, vocab_size, options)
    if tokenizer is None:
        raise ValueError(
            f"--lowrank-token-source {options.lowrank_token_source} needs a tokenizer."
        )
    share = options.lowrank_wordfreq_share
    train_mass = float(counts.sum())
    added = wordfreq_mass(tokenizer, vocab_size, options.lowrank_wordfreq_words, cased)
    added = torch.round(added * train_mass * share / (1 - share), decimals=DECIMALS)
    record.update(
        source=options.lowrank_token_source,
        wordfreq_words=options.lowrank_wordfreq_words,
        wordfreq_share=share,
        wordfreq_mass=round(float(added.sum()), DECIMALS),
        wordfreq_tokens=int((added > 0).sum()),
        wordfreq_list=f"{WORDFREQ_LANGUAGE}/{WORDFREQ_LIST}",
        wordfreq_version=version("wordfreq"),
    )
    return counts.to(torch.float64) + added, record


def _train_and_wordfreq_cased(token_ids, tokenizer, vocab_size: int, options):
    return _train_and_wordfreq(token_ids, tokenizer, vocab_size, options, cased=True)


# --lowrank-token-source value -> (train token ids, tokenizer, vocab size, options) ->
# (counts, record)
TOKEN_SOURCES: dict[str, Callable] = {
    "train": _train,
    "train+wordfreq": _train_and_wordfreq,
    "train+wordfreq-cased": _train_and_wordfreq_cased,
}


def check_token_source(options) -> None:
    """Refuse, in one sentence, token-source flags that cannot describe a run."""
    source = options.lowrank_token_source
    if source not in TOKEN_SOURCES:
        raise ValueError(
            f"--lowrank-token-source must be one of {', '.join(TOKEN_SOURCES)}, not {source!r}."
        )
    if not 1 <= options.lowrank_wordfreq_words <= MAX_WORDFREQ_WORDS:
        raise ValueError(f"--lowrank-wordfreq-words must be between 1 and {MAX_WORDFREQ_WORDS:,}.")
    if not 0 < options.lowrank_wordfreq_share < 1:
        raise ValueError(
            "--lowrank-wordfreq-share must be above 0 and below 1 (0.5: as much general "
            "English as training transcripts)."
        )


def token_counts(options, token_ids, tokenizer, vocab_size: int):
    """``(counts, record)`` of the options' ``lowrank_token_source``; one sentence when the
    training transcripts are missing."""
    if not token_ids:
        raise ValueError(
            f"--lowrank-init {options.lowrank_init} needs training transcripts to count tokens."
        )
    return TOKEN_SOURCES[options.lowrank_token_source](token_ids, tokenizer, vocab_size, options)
