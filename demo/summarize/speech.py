"""Extractive summaries that know speech: the points of a recording, not its greetings.

A meeting transcript opens with "Good morning everyone, thanks for joining", walks through
"Second item is the hiring plan", and closes with "Thanks, see you next week". A ranker by
centrality picks exactly those: they are typical of the whole text. Here each sentence gets a
role (greeting, sign-off, agenda heading, filler or content) and only content is eligible;
relevance mixes centrality with how many facts a sentence carries (numbers, dates and times,
names, decisions and tasks); maximal marginal relevance covers distinct points; the picks keep
their order and lose leading fillers ("So, um, ..."), nothing else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from demo.faithfulness import capitalised_terms, number_values
from demo.summarize.extractive import EXTRACTIVE_METHODS, select_mmr, split_sentences

ROLES = ("content", "greeting", "sign-off", "heading", "filler")
CENTRALITY_WEIGHT = 0.4  # relevance = this x centrality + the rest x fact density
REDUNDANCY = 0.4  # MMR penalty weight: spoken text repeats itself more than written text
FACT_SATURATION = 4.0  # fact signals beyond this add little (a list of numbers is not 4x)
FILLER_WORDS = frozenset(
    "um uh erm er ah hmm mm okay ok so well right alright yeah yes oh like anyway".split()
)
_FILLER_PHRASES = ("you know", "i mean", "sort of", "kind of")
_PROCEDURAL = re.compile(
    r"^(let'?s (get started|begin|start|move on|wrap up|continue)|moving on|any questions|"
    r"does that make sense|that'?s (it|all)( for (now|today))?|hold on|one (second|moment)|"
    r"can (everyone|you all) hear me|is everyone here|shall we (start|begin))\b",
    re.IGNORECASE,
)
_GREETING = re.compile(
    r"^(good (morning|afternoon|evening)|hi|hello|hey|welcome|morning|"
    r"thanks?( you)?( (all|everyone|everybody|so much))? for (joining|coming|being here|"
    r"having me|calling|listening))\b",
    re.IGNORECASE,
)
_SIGN_OFF = re.compile(
    r"^((ok(ay)?|alright|right|so|well),? )?((thanks?|thank you)( (so|very) much)?"
    r"( (all|everyone|everybody|again|guys))?[.!]*$|see you|bye|goodbye|talk (to you )?soon|"
    r"have a (good|great|nice)|that wraps|that'?s all\b|take care|cheers)",
    re.IGNORECASE,
)
_HEADING = re.compile(
    r"^((ok(ay)?|so|now|alright),? )*(the )?(first|second|third|fourth|fifth|next|last|final|"
    r"main|other|one more|another) (item|point|topic|thing|question|update|order of business)"
    r"( on the (agenda|list))?( (is|was|today))?\b",
    re.IGNORECASE,
)
HEADING_MAX_WORDS = 10  # a longer "first item is ..." sentence says something itself
SIGN_OFF_MAX_WORDS = 10  # "Thank you all, and see you at the river." closes; a longer one may not
_THANKS = re.compile(r"^((ok(ay)?|alright|right|so|well),? )?(thanks?|thank you)\b", re.IGNORECASE)
_DATE_WORDS = frozenset(
    """monday tuesday wednesday thursday friday saturday sunday january february march april
    may june july august september october november december today tomorrow tonight yesterday
    week weekend month year morning afternoon evening noon midnight o'clock a.m p.m am pm
    deadline due""".split()
)
# Dates that make a greeting or sign-off content ("Hi, calling about Tuesday"); "see you next
# week" and "good morning" date nothing.
_DATES = frozenset(
    """monday tuesday wednesday thursday friday saturday sunday january february march april
    june july august september october november december a.m p.m o'clock deadline due""".split()
)
_DECISION_WORDS = frozenset(
    """decided decide decision agreed agree approved approve approval rejected reject voted
    vote passed failed will won't must need needs plan planned move moved moving postponed
    postpone cancel cancelled canceled schedule scheduled rescheduled budget cost costs price
    hire hired hiring chose chosen choose assigned owner responsible deliver launch confirmed
    confirm order ordered book booked pay paid buy remember call email send submit finish""".split()
)
_TOKEN_RE = re.compile(r"[a-z]+(?:[.'][a-z]+)*\.?")
_LEADING_FILLER = re.compile(
    r"^(?:(?:so|okay|ok|um|uh|erm|well|and|alright|right|anyway|yeah|oh|now|like|"
    r"you know|i mean)\b[,.]?\s+)+",
    re.IGNORECASE,
)
_INNER_FILLER = re.compile(r",?\s+\b(?:um|uh|erm|er|you know)\b,?(?=\s)", re.IGNORECASE)


@dataclass(frozen=True)
class SpokenSentence:
    text: str  # the transcript sentence as Whisper wrote it
    role: str  # a ROLES value
    facts: int  # fact signals: numbers, dates and times, names, decision and task words


def _content_words(sentence: str) -> list[str]:
    words = _TOKEN_RE.findall(sentence.lower())
    text = " ".join(words)
    for phrase in _FILLER_PHRASES:
        text = text.replace(phrase, " ")
    return [w.strip(".") for w in text.split() if w.strip(".") not in FILLER_WORDS]


def fact_signals(sentence: str) -> int:
    """How many facts ``sentence`` carries: numbers, date and time words, names, decision and
    task words (each counted once)."""
    words = {w.strip(".") for w in _TOKEN_RE.findall(sentence.lower())}
    names = capitalised_terms(sentence)
    return (
        len(number_values(sentence)) + len(words & _DATE_WORDS) + len(words & _DECISION_WORDS)
        + len([n for n in names if n.lower() not in _DATE_WORDS])
    )  # fmt: skip


def sentence_role(sentence: str) -> str:
    """What a transcript sentence does: ``content``, or a greeting, sign-off, agenda heading or
    filler that a summary should not quote. A greeting or sign-off that also states a fact
    ("Hi, this is Dana calling about Tuesday's appointment") is content."""
    text = sentence.strip()
    content = _content_words(text)
    if len(content) <= 2 or _PROCEDURAL.match(" ".join(content)):
        return "filler"
    has_facts = len(number_values(text)) + len(set(content) & _DATES) > 0
    if _HEADING.match(text) and len(text.split()) <= HEADING_MAX_WORDS and not has_facts:
        return "heading"
    if has_facts:
        return "content"
    if _GREETING.match(text):
        return "greeting"
    if _SIGN_OFF.match(text) or (_THANKS.match(text) and len(content) <= SIGN_OFF_MAX_WORDS):
        return "sign-off"
    return "content"


def analyse(sentences: list[str]) -> list[SpokenSentence]:
    """Role and fact count of each transcript sentence."""
    return [SpokenSentence(s, sentence_role(s), fact_signals(s)) for s in sentences]


def clean_sentence(sentence: str) -> str:
    """A transcript sentence without its leading fillers and inner "um"s, capitalised."""
    text = _INNER_FILLER.sub("", _LEADING_FILLER.sub("", sentence.strip())).strip()
    if not text:
        return sentence.strip()
    return text[0].upper() + text[1:]


def _relevance(spoken: list[SpokenSentence], embeddings: np.ndarray, facts_only: bool):
    centrality = EXTRACTIVE_METHODS["textrank"](embeddings)
    spread = centrality.max() - centrality.min()
    centrality = (centrality - centrality.min()) / spread if spread > 0 else np.ones(len(spoken))
    density = np.array([min(s.facts, FACT_SATURATION) / FACT_SATURATION for s in spoken])
    weight = 0.0 if facts_only else CENTRALITY_WEIGHT
    return weight * centrality + (1.0 - weight) * density


def select_spoken(
    sentences: list[str],
    max_sentences: int,
    max_words: int | None = None,
    *,
    facts_only: bool = False,
    embeddings: np.ndarray | None = None,
) -> list[int]:
    """Indices (in order) of the sentences a spoken-input summary keeps.

    Only content sentences are eligible (all sentences, if none is content); ``facts_only``
    (the key-points style) ranks by fact density alone and keeps only sentences with facts
    when there are any.
    """
    from demo.embeddings import embed

    if not sentences:
        return []
    spoken = analyse(sentences)
    eligible = [i for i, s in enumerate(spoken) if s.role == "content"] or list(range(len(spoken)))
    if facts_only:
        eligible = [i for i in eligible if spoken[i].facts > 0] or eligible
    if embeddings is None:
        embeddings = embed(sentences)
    relevance = _relevance(spoken, embeddings, facts_only)
    lengths = [len(s.split()) for s in sentences]
    picked = select_mmr(
        relevance[eligible], embeddings[eligible], [lengths[i] for i in eligible],
        max_sentences, max_words, REDUNDANCY,
    )  # fmt: skip
    return sorted(eligible[i] for i in picked)


def summarize_spoken(
    text: str, max_sentences: int = 3, max_words: int | None = None, *, facts_only: bool = False
) -> tuple[list[str], list[int], list[str]]:
    """(transcript sentences, picked indices, the picks cleaned of fillers)."""
    sentences = split_sentences(text)
    picked = select_spoken(sentences, max_sentences, max_words, facts_only=facts_only)
    return sentences, picked, [clean_sentence(sentences[i]) for i in picked]
