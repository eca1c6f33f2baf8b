"""Does a summary keep what was said and invent nothing? Key-fact recall and unsupported details.

Both work on spoken English as Whisper writes it, so numbers are compared as values: "forty
thousand", "40,000" and "40 thousand" are one number, "twenty-five" is 25, "3:30" holds 3 and
30, "the 15th" is 15. ``unsupported_details`` lists the numbers, names, dates and other
capitalised terms of a summary that its source never states; ``key_fact_recall`` is the share
of a document's key facts (``KeyFact``: a few keys that must all appear) a summary keeps.

Neither understands meaning: "moved from Thursday to Monday" summarized as "on Thursday" keeps
every detail of the source and still misleads. The dev set's key facts pair each date with its
item, which catches some of these; the rest needs a reader.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache

_UNITS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen "
        "fourteen fifteen sixteen seventeen eighteen nineteen".split()
    )
}
_TENS = {
    w: 10 * i
    for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), 2)
}
_SCALES = {"thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}
# Ordinals from "fourth": "first", "second" and "third" are discourse words far more often
# than dates in a summary ("Second, the team...").
_ORDINALS = {
    w: i
    for i, w in enumerate(
        "fourth fifth sixth seventh eighth ninth tenth eleventh twelfth thirteenth fourteenth "
        "fifteenth sixteenth seventeenth eighteenth nineteenth".split(),
        4,
    )
}
_UNIT_ORDINALS = dict(
    zip(
        "first second third fourth fifth sixth seventh eighth ninth".split(),
        range(1, 10),
        strict=True,
    )
)
_TENS_ORDINALS = {
    w: 10 * i
    for i, w in enumerate(
        "twentieth thirtieth fortieth fiftieth sixtieth seventieth eightieth ninetieth".split(), 2
    )
}
_ORDINALS |= _TENS_ORDINALS
_WORD_RE = re.compile(r"\d+(?:[.,:]\d+)*(?:st|nd|rd|th|s)?|[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)
_DIGITS_RE = re.compile(r"^(\d+(?:,\d{3})*(?:\.\d+)?)(?:st|nd|rd|th|s)?$")
# Words that open a sentence without naming anything: a capitalised one of these is not a name.
SENTENCE_STARTERS = frozenset(
    """a about after all also although an and another any as at because before both but by
    during each either every finally first for from further he her here his however i if in
    it its later meanwhile moreover my next no not now once one only or other our overall
    second she since so some still that the their then there these they third this those
    though thus to today tomorrow too two under until we what when where whether which while
    who why will with within without yes yesterday you your""".split()
)
_MONTHS = frozenset(
    "january february march april may june july august september october november december".split()
)
_POSSESSIVE_RE = re.compile(r"'s?$", re.IGNORECASE)
_NUMERIC_KEY_RE = re.compile(r"^[\d.,:\s]+(?:st|nd|rd|th|s)?$")
_SUFFIXES = ("ing", "ed", "es", "s", "d", "ly")


def _is_number_word(word: str) -> bool:
    return word in _UNITS or word in _TENS or word in _SCALES or word == "hundred"


def number_values(text: str) -> list[tuple[str, float]]:
    """Every number ``text`` states, as (what it says, value), in order of appearance.

    Digits with separators or ordinal endings, number words ("three hundred and twelve",
    "twenty-five", "a thousand", "4 million") and ordinals from "fourth" on; a time such as
    "3:30" gives its parts.
    """
    words = _WORD_RE.findall(text.replace("-", " "))
    found: list[tuple[str, float]] = []
    i = 0
    while i < len(words):
        raw, low = words[i], words[i].lower()
        digits = _DIGITS_RE.match(raw)
        if ":" in raw:
            found += [(part, float(part)) for part in raw.split(":") if part.isdigit()]
            i += 1
            continue
        if digits or _is_number_word(low) or (low == "a" and _next_is_scale(words, i)):
            value, end = _read_number(words, i)
            if value is not None:
                found.append((" ".join(words[i:end]), value))
                i = end
                continue
        if low in _ORDINALS or (low in _UNIT_ORDINALS and _after_month(words, i)):
            found.append((raw, float(_ORDINALS.get(low) or _UNIT_ORDINALS[low])))
        i += 1
    return found + _digit_runs(words)


def _digit_runs(words: list[str]) -> list[tuple[str, float]]:
    # "nine one one", a phone or order number read digit by digit: also the number they spell.
    runs, current = [], []
    for word in [*words, ""]:
        if _UNITS.get(word.lower(), 10) < 10:
            current.append(word)
            continue
        if len(current) >= 2:
            spelled = "".join(str(_UNITS[w.lower()]) for w in current)
            runs.append((" ".join(current), float(spelled)))
        current = []
    return runs


def _after_month(words: list[str], i: int) -> bool:
    # "October third" is a date; "third" alone is usually a discourse word.
    return i > 0 and words[i - 1].lower() in _MONTHS


def _next_is_scale(words: list[str], i: int) -> bool:
    return i + 1 < len(words) and words[i + 1].lower() in ({"hundred"} | set(_SCALES))


def _read_number(words: list[str], start: int) -> tuple[float | None, int]:
    # Greedy parse of one number: digits or word groups, "hundred" and scale words, "and"
    # between parts ("three hundred and twelve"). "three thirty" is two numbers (a time).
    total, group, i, last = 0.0, 0.0, start, None
    while i < len(words):
        raw, low = words[i], words[i].lower()
        digits = _DIGITS_RE.match(raw)
        if digits and last is None:
            group, last = float(digits.group(1).replace(",", "")), "digits"
            if raw[len(digits.group(1)) :]:  # "15th", "1990s": nothing can follow
                i += 1
                break
        elif low == "a" and last is None and _next_is_scale(words, i):
            group, last = 1.0, "unit"
        elif low in _UNITS and last in (None, "tens", "hundred", "scale"):
            group, last = group + _UNITS[low], "unit"
        elif low in _TENS and last in (None, "hundred", "scale"):
            group, last = group + _TENS[low], "tens"
        elif low in _UNIT_ORDINALS and last == "tens":  # "thirty-first"
            group += _UNIT_ORDINALS[low]
            i += 1
            break
        elif low in _TENS_ORDINALS and last in (None, "hundred", "scale"):  # "seventieth"
            group += _TENS_ORDINALS[low]
            i += 1
            break
        elif low == "hundred" and last in ("unit", "digits"):
            group, last = group * 100, "hundred"
        elif low in _SCALES and last in ("unit", "tens", "hundred", "digits"):
            total, group, last = total + group * _SCALES[low], 0.0, "scale"
        elif low == "and" and last in ("hundred", "scale") and _continues(words, i + 1):
            pass
        elif low == "point" and last in ("unit", "tens", "digits") and _decimals(words, i + 1):
            digits_after = _decimals(words, i + 1)
            group += float("0." + "".join(str(_UNITS[w.lower()]) for w in digits_after))
            i += 1 + len(digits_after)
            break
        else:
            break
        i += 1
    if last is None:
        return None, start + 1
    return total + group, i


def _decimals(words: list[str], i: int) -> list[str]:
    # "point four five": the single digits after "point".
    taken = []
    while i < len(words) and _UNITS.get(words[i].lower(), 10) < 10:
        taken.append(words[i])
        i += 1
    return taken


def _continues(words: list[str], i: int) -> bool:
    return i < len(words) and (words[i].lower() in _UNITS or words[i].lower() in _TENS)


def _stem(word: str) -> str:
    word = word.lower().strip("'")
    for suffix in _SUFFIXES:
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def _words(text: str) -> list[str]:
    # Possessives are their word: "Tomas's budget" names Tomas.
    return [_POSSESSIVE_RE.sub("", w) for w in _WORD_RE.findall(text) if not w[0].isdigit()]


@lru_cache(maxsize=1)
def common_words() -> frozenset[str]:
    """Lower-case English words: the whole-word entries of the bundled MiniLM's uncased
    WordPiece vocabulary (~20k), the one offline word list every install has. Empty when the
    model is missing: every capitalised opener then counts as a term."""
    from demo.embeddings import minilm_path
    from demo.errors import ModelUnavailableError

    try:
        vocab = json.loads((minilm_path() / "tokenizer.json").read_text(encoding="utf-8"))
    except (ModelUnavailableError, OSError, ValueError):
        return frozenset()
    words = vocab.get("model", {}).get("vocab", {})
    return frozenset(w for w in words if w.isalpha() and len(w) > 1)


def capitalised_terms(text: str) -> list[str]:
    """Names, places, dates and other capitalised terms of ``text``: capitalised words inside
    a sentence, and a sentence's first word when it is no common English word ("Participants"
    opening a sentence names nothing; "Priya" does). The pronoun "I" is not a term."""
    from demo.summarize.extractive import split_sentences

    common = common_words() | SENTENCE_STARTERS
    terms: list[str] = []
    for sentence in split_sentences(text, window_words=None):
        for position, word in enumerate(_words(sentence)):
            if not word[0].isupper() or word.split("'")[0] == "I":  # "I", "I'm", "I'll"
                continue
            if position == 0 and word.lower().split("'")[0] in common:  # "We're", "It's"
                continue
            terms.append(word)
    return list(dict.fromkeys(terms))


def unsupported_details(source: str, summary: str) -> dict[str, list[str]]:
    """What ``summary`` states that ``source`` does not: numbers (compared as values) and
    capitalised terms (names, places, weekdays, months...) found in no form in the source.

    ``{"numbers": [...], "names": [...]}``, each as the summary writes it. A term counts as
    found when the source has it in any case or inflection ("Participants" / "participant").
    """
    values = {value for _, value in number_values(source)}
    numbers = [said for said, value in number_values(summary) if value not in values]
    known = {_stem(w) for w in _words(source)}
    names = [t for t in capitalised_terms(summary) if _stem(t) not in known]
    return {"numbers": list(dict.fromkeys(numbers)), "names": names}


def count_unsupported(found: dict[str, list[str]]) -> int:
    """How many unsupported details ``unsupported_details`` found."""
    return sum(len(items) for items in found.values())


@dataclass(frozen=True)
class KeyFact:
    """One thing a summary must keep: ``keys`` must all appear in it. A key is a word or
    phrase with ``|`` between alternatives ("hire|hired"); a key of digits is a number
    matched by value ("40000" is found in "forty thousand dollars")."""

    fact: str  # the fact as a sentence, for people
    keys: tuple[str, ...]  # what a summary must contain to keep it

    def __post_init__(self) -> None:
        if not self.keys or not all(k.strip() for k in self.keys):
            raise ValueError(f"Key fact {self.fact!r} needs at least one non-empty key.")


def _phrase_found(phrase: str, words: list[str]) -> bool:
    wanted = [_stem(w) for w in _words(phrase)]
    if not wanted:
        return False
    stems = [_stem(w) for w in words]
    n = len(wanted)
    return any(stems[i : i + n] == wanted for i in range(len(stems) - n + 1))


def key_found(key: str, summary: str) -> bool:
    """Whether one key (with ``|`` alternatives) appears in ``summary``."""
    words = _words(summary)
    values = set()
    for said, value in number_values(summary):
        values.add(value)
        scale = said.rsplit(" ", 1)[-1].lower()
        if scale in _SCALES:  # "40 billion" keeps the key "40" (with "billion" beside it)
            values.add(value / _SCALES[scale])
    for option in key.split("|"):
        option = option.strip()
        wanted = [value for _, value in number_values(option)]
        if _NUMERIC_KEY_RE.match(option):  # "40000", "21st", "6:30": values, all present
            if wanted and all(value in values for value in wanted):
                return True
        elif _phrase_found(option, words):
            return True
    return False


def facts_kept(facts: list[KeyFact], summary: str) -> list[bool]:
    """For each fact, whether ``summary`` keeps it (every key found)."""
    return [all(key_found(key, summary) for key in fact.keys) for fact in facts]


def key_fact_recall(facts: list[KeyFact], summary: str) -> float:
    """The share of ``facts`` that ``summary`` keeps (1.0 when there are none)."""
    kept = facts_kept(facts, summary)
    return sum(kept) / len(kept) if kept else 1.0


def parse_facts(lines: str | list) -> list[KeyFact]:
    """Key facts from the app's text box (one per line, keys after ``:`` separated by ``;``,
    e.g. ``budget approved: 40000; approved``; a line without ``:`` is its own single key) or
    from the dev set's JSON (``{"fact", "keys"}`` objects)."""
    if isinstance(lines, list):
        return [KeyFact(str(f["fact"]), tuple(str(k) for k in f["keys"])) for f in lines]
    facts = []
    for line in lines.splitlines():
        line = line.strip().lstrip("-•*").strip()
        if not line:
            continue
        fact, _, keys = line.partition(":")
        parts = tuple(k.strip() for k in (keys or fact).split(";") if k.strip())
        facts.append(KeyFact(fact.strip(), parts or (fact.strip(),)))
    return facts
