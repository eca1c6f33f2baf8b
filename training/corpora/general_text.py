"""General English to speak: ABC news articles and WordNet's example sentences, split by group.

- ``news``: the Lee et al. (2005) background corpus of 300 ABC (Australian Broadcasting
  Corporation) news articles, ~60k words, shipped as ``gensim/test/test_data/
  lee_background.cor`` inside gensim's wheel. The file is read from the wheel zip (``pip
  download --no-deps gensim==4.4.0``); gensim itself is never installed or imported.
- ``wordnet``: the quoted example sentences in the glosses of Debian ``wordnet-base``
  (WordNet 3.0, ~48k examples), e.g. "he was elected to a seat in the Senate"; they are
  written without capital or full stop, so each gets both.

Every sentence goes through :func:`training.corpora.spoken.speakable`, as ACLSum's do, so the
engine and Whisper write the same words (no digits or symbols). A group is one article or one
WordNet synset, and groups, not sentences, are split: no article is heard in two splits.
"""

from __future__ import annotations

import random
import re
import sys
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from demo.errors import DemoError
from demo.settings import ROOT
from training.corpora.spoken import speakable

GENSIM = "gensim==4.4.0"
NEWS_MEMBER = "gensim/test/test_data/lee_background.cor"
# Where `make corpus-v2` / `make test` put the wheel: beside the venv, or under data/.
WHEEL_DIRS = (Path(sys.prefix) / "wheels", ROOT / "data" / "wheels")
NEWS_INSTALL = f"pip download --no-deps {GENSIM} --dest {WHEEL_DIRS[0]}"
WORDNET = Path("/usr/share/wordnet")
WORDNET_INSTALL = "sudo apt-get install wordnet-base"
WORDNET_PARTS = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}
# Shares of groups (articles, synsets) in train, validation and test.
SPLIT_SHARES = {"train": 0.8, "validation": 0.1, "test": 0.1}

# A full stop ends a sentence when the next word starts with a capital ("Mr. Howard" aside).
_SENTENCE_END = re.compile(r"(?<=[.?!])\s+(?=[A-Z])")
_ABBREVIATIONS = re.compile(r"\b(Mr|Mrs|Ms|Dr|St|Mt|Gen|Sen|Prof|Capt|Lt|Col|Sgt|No)\.$")
_QUOTED = re.compile(r'"([^"]+)"')


@dataclass(frozen=True)
class Sentence:
    text: str  # as the engine should read it (speakable)
    group: str  # "news:17" (article 17) or "wordnet:n06893565" (a synset): the split unit
    source: str  # "news" or "wordnet"


def news_articles() -> list[str]:
    """The 300 articles of the ABC news corpus, one string each, from gensim's wheel."""
    return list(_news_articles())


@lru_cache(maxsize=1)
def _news_articles() -> tuple[str, ...]:
    wheels = sorted(w for d in WHEEL_DIRS for w in d.glob("gensim-4.4.0-*.whl"))
    if not wheels:
        raise DemoError(f"The ABC news text comes from gensim's wheel; run `{NEWS_INSTALL}`.")
    with zipfile.ZipFile(wheels[0]) as wheel:
        text = wheel.read(NEWS_MEMBER).decode("utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def split_sentences(paragraph: str) -> list[str]:
    """A news article cut into sentences at ". ", "? ", "! " before a capital."""
    out: list[str] = []
    for piece in _SENTENCE_END.split(paragraph):
        if out and _ABBREVIATIONS.search(out[-1]):
            out[-1] += " " + piece
        else:
            out.append(piece)
    return out


def news_sentences() -> list[Sentence]:
    """Every speakable sentence of the news articles, grouped by article."""
    return [
        Sentence(text, f"news:{number}", "news")
        for number, article in enumerate(news_articles())
        for sentence in split_sentences(article)
        if (text := speakable(sentence))
    ]


@lru_cache(maxsize=1)
def wordnet_sentences() -> tuple[Sentence, ...]:
    """WordNet's example sentences, capitalized and closed with a full stop, by synset."""
    files = [WORDNET / f"data.{name}" for name in WORDNET_PARTS.values()]
    if not all(f.exists() for f in files):
        raise DemoError(f"WordNet's example sentences are not installed; run `{WORDNET_INSTALL}`.")
    out, seen = [], set()
    for letter, name in WORDNET_PARTS.items():
        with open(WORDNET / f"data.{name}", encoding="utf-8", errors="replace") as lines:
            for line in lines:
                if line.startswith("  ") or " | " not in line:  # the licence header
                    continue
                for example in _QUOTED.findall(line.split(" | ", 1)[1]):
                    example = example.strip()
                    if not example or example in seen:
                        continue
                    seen.add(example)
                    closed = example if example[-1] in ".?!" else example + "."
                    if text := speakable(_capitalized(closed)):
                        out.append(Sentence(text, f"wordnet:{letter}{line.split()[0]}", "wordnet"))
    return tuple(out)


def _capitalized(text: str) -> str:
    """The first letter in upper case ("'tis now..." -> "'Tis now...")."""
    first = next((i for i, c in enumerate(text) if c.isalpha()), 0)
    return text[:first] + text[first : first + 1].upper() + text[first + 1 :]


LOADERS = {"news": news_sentences, "wordnet": lambda: list(wordnet_sentences())}


def split_of_groups(groups: list[str], seed: int) -> dict[str, str]:
    """group -> split, by shuffling the sorted groups with ``seed`` and cutting at the shares."""
    order = sorted(set(groups))
    random.Random(seed).shuffle(order)
    out, start = {}, 0
    for split, share in SPLIT_SHARES.items():
        end = len(order) if split == "test" else start + round(share * len(order))
        out |= {group: split for group in order[start:end]}
        start = end
    return out


def load_split(source: str, split: str, seed: int, min_words: int, max_words: int):
    """The sentences of one split of ``source`` (news or wordnet) within the length bounds."""
    sentences = LOADERS[source]()
    splits = split_of_groups([s.group for s in sentences], seed)
    return [
        s
        for s in sentences
        if splits[s.group] == split and min_words <= len(s.text.split()) <= max_words
    ]
