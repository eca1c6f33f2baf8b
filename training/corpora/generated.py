"""The seeded generator of plain English sentences behind ``--source generated``."""

from __future__ import annotations

import random

_SUBJECTS = [
    "the old farmer", "my younger sister", "a tired doctor", "the quiet teacher", "our neighbor",
    "the new pilot", "a clever student", "the baker", "his grandmother", "the young engineer",
    "a famous singer", "the nervous driver", "her best friend", "the careful nurse",
    "a lonely sailor", "the cheerful waiter", "my uncle", "the small boy", "a busy lawyer",
    "the angry customer",
]  # fmt: skip
_VERBS = [
    "carried", "painted", "found", "repaired", "borrowed", "sold", "cleaned", "opened", "dropped",
    "ordered", "noticed", "described", "wrapped", "delivered", "forgot", "hid", "moved", "washed",
    "lost", "bought",
]  # fmt: skip
_OBJECTS = [
    "a wooden chair", "the red bicycle", "some fresh bread", "an empty bottle", "the heavy box",
    "a yellow umbrella", "the broken window", "a silver ring", "the morning paper",
    "a warm blanket", "the kitchen table", "a strange letter", "the blue jacket",
    "a basket of apples", "the garden gate", "an old photograph", "the leather bag",
    "a cup of coffee", "the tall ladder", "a paper map",
]  # fmt: skip
_PLACES = [
    "near the river", "in the kitchen", "behind the station", "at the market", "under the bridge",
    "beside the church", "in the garden", "at the airport", "on the roof", "inside the museum",
    "next to the school", "at the hospital", "in the library", "across the street", "by the lake",
]  # fmt: skip
_TIMES = [
    "before dinner", "on Monday morning", "last winter", "after the storm", "early today",
    "late at night", "during the holidays", "yesterday afternoon", "every Sunday", "last week",
]  # fmt: skip


def make_sentences(count: int, seed: int = 0) -> list[str]:
    """``count`` distinct generated English sentences (no digits), reproducible from ``seed``."""
    rng = random.Random(seed)
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < count:
        subject, verb, obj = rng.choice(_SUBJECTS), rng.choice(_VERBS), rng.choice(_OBJECTS)
        place, time = rng.choice(_PLACES), rng.choice(_TIMES)
        form = rng.randrange(3)
        if form == 0:
            sentence = f"{subject} {verb} {obj} {place} {time}."
        elif form == 1:
            sentence = f"{time}, {subject} {verb} {obj} {place}."
        else:
            sentence = f"{subject} {verb} {obj} {place}."
        sentence = sentence[0].upper() + sentence[1:]
        if sentence not in seen:
            seen.add(sentence)
            out.append(sentence)
    return out
