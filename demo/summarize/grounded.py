"""Summaries that show where each sentence came from and what in it the recording never said.

A ``Summary`` is a list of ``SummarySentence``: its text, the transcript sentences it rests on
(``sources``, indices into ``Summary.source_sentences``), how it was made (``origin``) and the
details it states that the transcript lacks (``unsupported``). Extracted and rewritten
sentences know their source; a generated one is matched to the transcript sentences most like
it (MiniLM cosine and shared words). ``check`` replaces each generated sentence that states an
unsupported detail by the transcript sentence it rests on, and says how many it replaced.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

import numpy as np

from demo.faithfulness import count_unsupported, unsupported_details

ORIGINS = ("extracted", "rewritten", "generated", "replaced")
STYLES = ("prose", "key-points")
BULLET = "• "
MATCH_THRESHOLD = 0.45  # below this combined score a generated sentence rests on nothing
SECOND_SOURCE_MARGIN = 0.08  # a second source within this of the best is cited too
MAX_SOURCES = 2
_WORD_RE = re.compile(r"[^\W_]+", re.UNICODE)


@dataclass
class SummarySentence:
    text: str
    sources: list[int]  # indices of the transcript sentences it rests on (may be empty)
    origin: str  # an ORIGINS value
    unsupported: dict[str, list[str]] = field(default_factory=dict)  # numbers / names

    @property
    def unsupported_count(self) -> int:
        return count_unsupported(self.unsupported)


@dataclass
class Summary:
    sentences: list[SummarySentence]
    source_sentences: list[str]  # the transcript, split into sentences
    style: str = "prose"  # a STYLES value: how ``text`` joins the sentences
    notes: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The summary as shown: sentences joined (prose) or one bullet a line (key points)."""
        texts = [s.text for s in self.sentences if s.text]
        if self.style == "key-points":
            return "\n".join(BULLET + t for t in texts)
        return " ".join(texts)

    @property
    def unsupported_count(self) -> int:
        """Details in the summary that the transcript does not state."""
        return sum(s.unsupported_count for s in self.sentences)

    @classmethod
    def from_dict(cls, data: dict) -> Summary:
        """The summary ``to_dict`` wrote (its derived fields are recomputed, not read)."""
        sentences = [SummarySentence(**s) for s in data["sentences"]]
        return cls(sentences, data["source_sentences"], data["style"], list(data["notes"]))

    def to_dict(self) -> dict:
        return {
            "text": self.text,
            "style": self.style,
            "sentences": [asdict(s) for s in self.sentences],
            "source_sentences": self.source_sentences,
            "unsupported_count": self.unsupported_count,
            "notes": self.notes,
        }


def _content(text: str) -> set[str]:
    return {w.lower() for w in _WORD_RE.findall(text) if len(w) > 2}


def match_sources(
    sentences: list[str], sources: list[str], source_embeddings: np.ndarray | None = None
) -> list[list[int]]:
    """For each summary sentence, the transcript sentences it rests on (best first): the
    mean of MiniLM cosine and the share of its words found in the source sentence."""
    from demo.embeddings import embed

    if not sentences or not sources:
        return [[] for _ in sentences]
    if source_embeddings is None:
        source_embeddings = embed(sources)
    cosine = embed(sentences) @ source_embeddings.T
    source_words = [_content(s) for s in sources]
    matched = []
    for row, sentence in enumerate(sentences):
        words = _content(sentence)
        overlap = np.array([len(words & w) / max(1, len(words)) for w in source_words])
        score = 0.5 * cosine[row] + 0.5 * overlap
        order = [int(i) for i in np.argsort(-score)]
        best = score[order[0]]
        keep = [
            i for i in order[:MAX_SOURCES]
            if score[i] >= MATCH_THRESHOLD and score[i] >= best - SECOND_SOURCE_MARGIN
        ]  # fmt: skip
        matched.append(sorted(keep))
    return matched


def build(
    transcript: str,
    source_sentences: list[str],
    texts: list[str],
    origin: str,
    sources: list[list[int]] | None = None,
    style: str = "prose",
) -> Summary:
    """A ``Summary`` of ``texts``: sources matched where not given, details checked."""
    if sources is None:
        sources = match_sources(texts, source_sentences)
    sentences = [
        SummarySentence(text, list(src), origin, unsupported_details(transcript, text))
        for text, src in zip(texts, sources, strict=True)
    ]
    return Summary(sentences, source_sentences, style)


def check(summary: Summary, transcript: str) -> Summary:
    """Replace every generated sentence with an unsupported detail by the transcript sentence
    it rests on (drop it when that sentence is already in the summary or it rests on none);
    a note says how many and which details."""
    from demo.summarize.speech import clean_sentence

    kept: list[SummarySentence] = []
    used = {i for s in summary.sentences if not s.unsupported_count for i in s.sources}
    details: list[str] = []
    replaced = dropped = 0
    for sentence in summary.sentences:
        if not sentence.unsupported_count:
            kept.append(sentence)
            continue
        details += [d for items in sentence.unsupported.values() for d in items]
        fresh = [i for i in sentence.sources if i not in used]
        if not fresh:
            dropped += 1
            continue
        used.update(fresh)
        text = " ".join(clean_sentence(summary.source_sentences[i]) for i in fresh)
        kept.append(SummarySentence(text, fresh, "replaced", unsupported_details(transcript, text)))
        replaced += 1
    checked = Summary(kept, summary.source_sentences, summary.style, list(summary.notes))
    if replaced or dropped:
        total = len(summary.sentences)
        what = ", ".join(dict.fromkeys(details))
        done = []
        if replaced:
            done.append(f"{replaced} replaced by the transcript sentence they rest on")
        if dropped:
            done.append(f"{dropped} dropped")
        checked.notes.append(
            f"Checked against the transcript: {replaced + dropped} of {total} summary sentences "
            f"stated details the recording does not ({what}): {' and '.join(done)}."
        )
    return checked


def mark_note(summary: Summary) -> str | None:
    """A note naming the unsupported details left in a summary (None when there are none)."""
    details = [d for s in summary.sentences for items in s.unsupported.values() for d in items]
    if not details:
        return None
    shown = ", ".join(dict.fromkeys(details))
    return (
        f"{len(details)} detail{'s' if len(details) > 1 else ''} in this summary "
        f"{'are' if len(details) > 1 else 'is'} not in the transcript ({shown}): marked; "
        "a checked summarizer replaces such sentences."
    )
