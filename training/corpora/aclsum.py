"""ACLSum (Takeshita et al., NAACL 2024): 250 ACL papers with expert aspect summaries.

The data ships in the ``aclsum`` PyPI package (MIT), installed with ``--no-deps``: its module
imports ``sienna``, which is not needed, so the JSONL files are read directly from the package
folder without importing it. Each paper has one-sentence summaries of three aspects
(challenge, approach, outcome; 25 words at most) and the sentences of its abstract,
introduction and conclusion, tokenized with spaces around punctuation; :func:`detokenize` turns
those back into normal text ("In this paper , we explore ( QA ) ." -> "In this paper, we
explore (QA).").

Tasks (names in :data:`TASKS`): ``aclsum`` is the demo task, abstract -> the three aspect
sentences joined; ``aclsum-<aspect>`` maps abstract + introduction + conclusion -> that
aspect's sentence, as in the paper's abstractive setting.
"""

from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from demo.errors import DemoError

PACKAGE = "aclsum"
INSTALL = "pip install --no-deps aclsum==0.1.2"
ASPECTS = ("challenge", "approach", "outcome")
SECTIONS = ("abstract", "introduction", "conclusion")
# Our split names -> the package's file names (it calls validation "val").
SPLIT_FILES = {"train": "train.jsonl", "validation": "val.jsonl", "test": "test.jsonl"}

# A token made only of these attaches to the word before it ("answers ." -> "answers.").
_CLOSING = re.compile(r"^[,.;:?!%)\]}]+$")
# A token made only of these attaches to the word after it ("( QA" -> "(QA").
_OPENING = re.compile(r"^[(\[{$]+$")
# Clitics the tokenizer split off: "et al . 's" -> "et al.'s", "have n't" -> "haven't".
_CLITICS = {"'s", "'S", "n't", "'re", "'ve", "'ll", "'d", "'m"}
_DIGITS = re.compile(r"^\d+$")
_WORD = re.compile(r"[A-Za-z]{2}")


@dataclass(frozen=True)
class Paper:
    """One ACLSum paper, with detokenized text."""

    id: str  # ACL Anthology id, e.g. "P06-1112"
    title: str
    split: str  # train, validation or test
    summary: dict[str, str]  # aspect -> expert one-sentence summary
    sentences: dict[str, tuple[str, ...]]  # section -> detokenized sentences, as in the data
    # aspect -> section -> 0/1 per sentence: the experts' extractive labels
    highlights: dict[str, dict[str, tuple[int, ...]]]

    def section_text(self, *sections: str) -> str:
        """The sentences of ``sections`` (default: all three) as one paragraph, without the
        PDF-extraction debris that has no word in it (footnote marks "1", bullets "•")."""
        names = sections or SECTIONS
        return join_sentences(s for name in names for s in self.sentences[name] if _WORD.search(s))

    @property
    def joined_summary(self) -> str:
        """Challenge, approach and outcome sentences in that order, as one text."""
        return " ".join(self.summary[aspect] for aspect in ASPECTS)


def detokenize(sentence: str) -> str:
    """Undo ACLSum's tokenization: no space before closing punctuation or after opening
    brackets, double quotes glued to what they quote, clitics, slashes, number ranges and
    "20 %" put back together.
    Hyphenated words are left as they are ("state-ofthe-art" stays)."""
    tokens = sentence.split()
    # Pair quotes by order: an odd quote opens (sticks to the next token), an even one closes.
    # A lone single quote in a sentence is a possessive ("users ' data" -> "users' data").
    singles = sum(token == "'" for token in tokens)
    out: list[str] = []
    glue_next = False
    double_open = single_open = False
    for i, token in enumerate(tokens):
        glue_prev = False
        opens = False
        if token == '"':
            double_open = not double_open
            opens, glue_prev = double_open, not double_open
        elif token == "'" and singles % 2 == 0:
            single_open = not single_open
            opens, glue_prev = single_open, not single_open
        elif token == "'" or token in _CLITICS or _CLOSING.match(token):
            glue_prev = True
        elif _OPENING.match(token):
            opens = True
        elif token == "/":
            glue_prev = opens = True  # "Passage / Sentence" -> "Passage/Sentence"
        elif token == "-" and out and _DIGITS.match(out[-1][-1:] or "x") and _is_number(tokens, i):
            glue_prev = opens = True  # a range: "2 - 3 mm" -> "2-3 mm"
        if out and (glue_prev or glue_next):
            out[-1] += token
        else:
            out.append(token)
        glue_next = opens
    return " ".join(out)


def join_sentences(sentences) -> str:
    """Sentences as one paragraph; a piece the sentence splitter cut off mid-sentence
    (", aux can all be pronounced") is glued back to the one before it."""
    text = ""
    for sentence in sentences:
        glue = text and _CLOSING.match(sentence.split(" ", 1)[0])
        text = text + sentence if glue or not text else f"{text} {sentence}"
    return text


def _is_number(tokens: list[str], index: int) -> bool:
    return index + 1 < len(tokens) and bool(_DIGITS.match(tokens[index + 1]))


def data_dir() -> Path:
    """The package's dataset folder; a DemoError naming the install command if it's missing."""
    spec = importlib.util.find_spec(PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    folder = Path(locations[0]) / "dataset" if locations else None
    if folder is None or not all((folder / name).is_file() for name in SPLIT_FILES.values()):
        raise DemoError(f"The ACLSum dataset is not installed; run `{INSTALL}`.")
    return folder


@lru_cache(maxsize=3)
def load_papers(split: str) -> tuple[Paper, ...]:
    """The papers of one split (train 100, validation 50, test 100), text detokenized."""
    if split not in SPLIT_FILES:
        raise DemoError(f"ACLSum has no split {split!r}; choose one of: {', '.join(SPLIT_FILES)}.")
    path = data_dir() / SPLIT_FILES[split]
    papers = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        papers.append(
            Paper(
                id=row["id"],
                title=row.get("title", ""),
                split=split,
                summary={aspect: row["summary"][aspect].strip() for aspect in ASPECTS},
                # Every sentence is kept (empty ones too) so the highlight labels stay aligned.
                sentences={
                    name: tuple(detokenize(s) for s in row["sentences"][name]) for name in SECTIONS
                },
                highlights={
                    aspect: {name: tuple(row["highlights"][aspect][name]) for name in SECTIONS}
                    for aspect in ASPECTS
                },
            )
        )
    return tuple(papers)


def demo_pairs(split: str) -> list[dict[str, str]]:
    """The demo task: the abstract -> challenge + approach + outcome sentences."""
    return [
        {"text": p.section_text("abstract"), "summary": p.joined_summary, "paper": p.id}
        for p in load_papers(split)
    ]


def aspect_pairs(aspect: str, split: str) -> list[dict[str, str]]:
    """Abstract + introduction + conclusion -> the expert sentence for one aspect."""
    if aspect not in ASPECTS:
        raise DemoError(f"ACLSum has no aspect {aspect!r}; choose one of: {', '.join(ASPECTS)}.")
    return [
        {"text": p.section_text(), "summary": p.summary[aspect], "paper": p.id}
        for p in load_papers(split)
    ]


def _aspect_task(aspect: str):
    def pairs(split: str) -> list[dict[str, str]]:
        return aspect_pairs(aspect, split)

    pairs.__name__ = f"{aspect}_pairs"
    return pairs


# Task name -> split -> rows with "text", "summary" and "paper".
TASKS = {"aclsum": demo_pairs, **{f"aclsum-{a}": _aspect_task(a) for a in ASPECTS}}
