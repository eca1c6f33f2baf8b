"""Extractive summaries: sentence splitting, ranking, redundancy control and budgets."""

import numpy as np
import pytest

from demo.errors import DemoError, UnknownChoiceError
from demo.summarize.extractive import (
    EXTRACTIVE_METHODS,
    available_extractive_methods,
    split_sentences,
    summarize_extractive,
)

MAIN = "Honeybees pollinate a large share of the crops that people eat."
FARMS = "Without bees, farmers would harvest far less fruit and fewer vegetables."
OFF_TOPIC = "My cousin bought a red sports car last week."
COLLAPSE = "Pesticides and habitat loss have caused bee colonies to collapse in many regions."
DUPLICATE = "Honeybees pollinate a large share of the crops people eat."
SECURITY = "Protecting bee populations is therefore essential for global food security."
BEES = " ".join([MAIN, FARMS, OFF_TOPIC, COLLAPSE, DUPLICATE, SECURITY])

# 60 words of speech with no punctuation, as an ASR model without punctuation writes it.
TRANSCRIPT = (
    "so today we are going to talk about how solar panels turn sunlight into electricity "
    "the cells are made of silicon and when light hits them electrons start to move "
    "that flow of electrons is the current we use at home and the inverter changes it "
    "from direct current into alternating current for the grid that powers the whole neighbourhood"
)


def _picked(summary: str) -> list[str]:
    return [s for s in (MAIN, FARMS, OFF_TOPIC, COLLAPSE, DUPLICATE, SECURITY) if s in summary]


def test_split_sentences_on_punctuation():
    text = 'Is it raining? "Yes." It is! Then we stay\nhome. The end'
    assert split_sentences(text) == [
        "Is it raining?",
        '"Yes."',
        "It is!",
        "Then we stay",
        "home.",
        "The end",
    ]


def test_split_sentences_cjk_without_spaces():
    assert split_sentences("蜜蜂很重要。它们授粉！") == ["蜜蜂很重要。", "它们授粉！"]


def test_split_unpunctuated_text_into_windows():
    windows = split_sentences(TRANSCRIPT)
    assert len(TRANSCRIPT.split()) == 60
    assert [len(w.split()) for w in windows] == [20, 20, 20]
    assert " ".join(windows) == TRANSCRIPT
    assert split_sentences(TRANSCRIPT, window_words=None) == [TRANSCRIPT]


def test_registry_names():
    assert set(EXTRACTIVE_METHODS) == {"textrank", "centroid"}
    assert available_extractive_methods() == ["centroid", "textrank"]


@pytest.mark.parametrize("method", sorted(EXTRACTIVE_METHODS))
def test_hub_sentence_scores_highest(method):
    # Three unrelated sentences and one similar to all of them: the hub is the most central.
    leaves = np.eye(3, dtype=np.float32)
    hub = np.ones((1, 3), dtype=np.float32) / np.sqrt(3)
    scores = EXTRACTIVE_METHODS[method](np.vstack([leaves, hub]))
    assert int(np.argmax(scores)) == 3
    assert np.allclose(scores[:3], scores[0])


def test_textrank_scores_are_a_distribution():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(6, 8))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    scores = EXTRACTIVE_METHODS["textrank"](vectors)
    assert abs(scores.sum() - 1.0) < 1e-6
    assert (scores > 0).all()


@pytest.mark.parametrize("method", sorted(EXTRACTIVE_METHODS))
def test_picks_on_topic_sentences_once(method):
    summary = summarize_extractive(BEES, max_sentences=3, method=method)
    picked = _picked(summary)
    assert len(picked) == 3
    assert OFF_TOPIC not in picked
    assert not (MAIN in picked and DUPLICATE in picked)
    assert MAIN in picked or DUPLICATE in picked
    # Sentences come back in the order of the text.
    assert summary == " ".join(picked)


def test_without_redundancy_control_the_duplicate_is_picked():
    # Shows that the previous test depends on the redundancy control, not on luck.
    picked = _picked(summarize_extractive(BEES, max_sentences=2, redundancy=0.0))
    assert picked == [MAIN, DUPLICATE]


def test_max_words_respected():
    summary = summarize_extractive(BEES, max_sentences=5, max_words=25)
    assert 0 < len(summary.split()) <= 25
    assert len(_picked(summary)) == 2


def test_max_words_below_any_sentence_still_gives_one_sentence():
    summary = summarize_extractive(BEES, max_words=3)
    assert len(_picked(summary)) == 1
    assert summary in BEES


def test_short_text_returned_whole():
    text = "Bees make honey. They live in hives."
    assert summarize_extractive(text, max_sentences=3) == text


def test_blank_text_gives_empty_summary():
    assert summarize_extractive("") == ""
    assert summarize_extractive("  \n ") == ""


def test_unpunctuated_transcript():
    windows = split_sentences(TRANSCRIPT)
    summary = summarize_extractive(TRANSCRIPT, max_sentences=2)
    pairs = {f"{windows[i]} {windows[j]}" for i in range(3) for j in range(i + 1, 3)}
    assert summary in pairs


def test_unknown_method_lists_valid_names():
    with pytest.raises(UnknownChoiceError) as excinfo:
        summarize_extractive(BEES, method="lexrank")
    message = str(excinfo.value)
    assert isinstance(excinfo.value, DemoError)
    assert "'lexrank'" in message and "centroid, textrank" in message


def test_invalid_budget_rejected():
    with pytest.raises(ValueError, match="max_sentences"):
        summarize_extractive(BEES, max_sentences=0)
