"""What each clip of a corpus says and in which split: the sentence plan of make_speech_corpus.

A plan is a list of ``{"text", "split", "source", "paper"}``, one per clip, drawn from the
build's ``random.Random``. Generated sentences hold out whole sentences for validation; the
text sources (aclsum, news, wordnet) hold out whole documents, so no paper, article or synset
is heard in two splits, and several sources share each split's clips equally.
"""

from __future__ import annotations

import random
import re
import sys
from pathlib import Path
from typing import Any

from demo.errors import DemoError
from training.corpora.generated import make_sentences
from training.corpora.spoken import speakable

# The plans read a make_speech_corpus.CorpusConfig; typed loosely so that this lower module
# does not import the command that uses it.
CorpusConfig = Any

TRAIN, VALIDATION, TEST = "train", "validation", "test"
_HAS_WORD = re.compile(r"[^\W_]")  # a letter or digit: something to say


def read_sentences(path: str) -> list[str]:
    """The lines of a sentences file that hold a word; wordless ones ("...") are reported."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DemoError(f"Can't read the sentences file {path}: {exc.strerror}.") from exc
    sentences, wordless = [], []
    for number, line in enumerate(lines, start=1):
        if _HAS_WORD.search(line):
            sentences.append(line.strip())
        elif line.strip():
            wordless.append(str(number))
    if wordless:  # "...", "!!!": an engine says nothing Whisper could write down
        print(
            f"warning: skipped {len(wordless)} line(s) of {path} with no word to speak "
            f"(line {', '.join(wordless[:10])}).",
            file=sys.stderr,
        )
    if not sentences:
        raise DemoError(f"The sentences file {path} has no line with a word to speak.")
    return sentences


def generated_plan(config: CorpusConfig, rng: random.Random) -> list[dict]:
    """Generated (or --sentences) sentences; whole sentences are held out for validation."""
    if config.sentences:
        pool = read_sentences(config.sentences)
    else:
        pool = make_sentences(config.num_utterances, config.seed)
    # Hold out whole sentences: the validation clips never share a sentence with training.
    order = list(range(len(pool)))
    rng.shuffle(order)
    held_out = set(order[: round(len(pool) * config.val_fraction)])
    plan = []
    for index in range(config.num_utterances):
        i = index % len(pool)
        split = VALIDATION if i in held_out else TRAIN
        plan.append({"text": pool[i], "split": split, "source": "generated", "paper": None})
    return plan


def text_plan(config: CorpusConfig, rng: random.Random) -> list[dict]:
    """Each split's clips shared equally among the sources, each from its own held-out texts."""
    sources = config.source_list
    plan = []
    counts = ((TRAIN, config.num_utterances), (VALIDATION, config.val_clips))
    for split, count in (*counts, (TEST, config.test_clips)):
        for number, source in enumerate(sources):
            share = count // len(sources) + (number < count % len(sources))
            if share == 0:
                continue
            pool = sentence_pool(source, split, config)
            if not pool:
                raise DemoError(
                    f"No {source} {split} sentence passes the filter; raise --max-words."
                )
            rng.shuffle(pool)
            # More clips than sentences: sentences repeat, each time with a fresh voice and noise.
            plan += [pool[i % len(pool)] for i in range(share)]
    return plan


def sentence_pool(source: str, split: str, config: CorpusConfig) -> list[dict]:
    """Every plan item ``source`` offers for ``split`` (its held-out documents, in order)."""
    if source == "aclsum":
        from training.corpora import aclsum

        return [
            {"text": text, "split": split, "source": f"aclsum:{part}", "paper": paper.id}
            for paper in aclsum.load_papers(split)[: config.max_papers]
            for part, text in paper_sentences(paper, config)
        ]
    from training.corpora import general_text

    sentences = general_text.load_split(
        source, split, config.seed, config.min_words, config.max_words
    )
    return [{"text": s.text, "split": split, "source": source, "paper": s.group} for s in sentences]


def paper_sentences(paper, config: CorpusConfig) -> list[tuple[str, str]]:
    """(part, text) of an ACLSum paper's abstract sentences and aspect summaries that pass."""
    parts = [("abstract", s) for s in paper.sentences["abstract"]]
    parts += [(aspect, paper.summary[aspect]) for aspect in paper.summary]
    out = []
    for part, sentence in parts:
        text = speakable(sentence)
        if text and config.min_words <= len(text.split()) <= config.max_words:
            out.append((part, text))
    return out
