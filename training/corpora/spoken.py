"""Sentences as espeak-ng should speak them, kept only where Whisper would write the same words.

A synthetic clip is only as good as its transcript: espeak-ng reads "(Xu et al., 2015)" or
"20%" one way and Whisper writes them another, so the word error rate would measure the
mismatch, not the model. :func:`speakable` removes what is not read aloud in a talk
(citations, bracketed acronym definitions), spells out "e.g."/"i.e.", and refuses the rest.
"""

from __future__ import annotations

import re

_LETTER = re.compile(r"[A-Za-z]")
_BRACKETED = re.compile(r"\s*(\([^()]*\)|\[[^\[\]]*\])")  # citations, "(QA)", "[1]"
_SPOKEN = [
    (re.compile(r"\be\.g\.,?"), "for example,"),
    (re.compile(r"\bi\.e\.,?"), "that is,"),
    (re.compile(r"\bvs\."), "versus"),
    # PDF extraction lost a hyphen: "state-ofthe-art", "stateof-the-art", "state-of-theart".
    (re.compile(r"\bstate-?of-?the-?art\b"), "state-of-the-art"),
    (re.compile(r"[\"“”]"), ""),
    (re.compile(r"[‘’]"), "'"),
    (re.compile(r"\s+([,;:.?!])"), r"\1"),
    (re.compile(r",\s*,"), ","),
]
# Refused: anything outside these characters (digits, symbols, accents), "et al.", dashes.
# Long abstract clips (True) keep numbers: espeak-ng reads "20%", and their target is a summary.
_UNSPEAKABLE = {
    numbers: re.compile(rf"[^A-Za-z{digits} ,.;:'?!{percent}-]|\bet al\b|\.\.|--|\s-|-\s")
    for numbers, digits, percent in ((False, "", ""), (True, "0-9", "%"))
}


def speakable(sentence: str, numbers: bool = False) -> str | None:
    """The sentence as espeak-ng should read it, or None when Whisper would write it otherwise.

    Parenthesised and bracketed parts go (citations, acronym definitions, footnote marks);
    "e.g." and "i.e." are read out; a sentence still holding digits, symbols, non-ASCII
    letters, "et al." or a dash is refused, as is a fragment without final punctuation and
    punctuation with no word at all.
    ``numbers`` lets digits and "%" through (for the long abstract clips)."""
    text = sentence
    while _BRACKETED.search(text):
        text = _BRACKETED.sub("", text)
    for pattern, replacement in _SPOKEN:
        text = pattern.sub(replacement, text)
    text = " ".join(text.split())
    if not _LETTER.search(text) or _UNSPEAKABLE[numbers].search(text):
        return None  # nothing to say (";."), or something Whisper writes otherwise
    if text[-1] not in ".?!" or text[0].islower():
        return None
    return text
