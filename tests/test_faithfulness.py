"""Faithfulness metrics: numbers as values, names and dates the source lacks, key-fact recall,
and the spoken dev set's own references (each keeps all its facts and invents nothing)."""

import pytest

from demo.faithfulness import (
    KeyFact,
    capitalised_terms,
    facts_kept,
    key_fact_recall,
    key_found,
    number_values,
    parse_facts,
    unsupported_details,
)
from demo.metrics import METRICS
from training.corpora.spoken_dev import KINDS, load_documents


def _values(text: str) -> set[float]:
    return {value for _, value in number_values(text)}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("forty thousand dollars", 40_000),
        ("40,000 dollars", 40_000),
        ("40 thousand", 40_000),
        ("twenty-five people", 25),
        ("three hundred and twelve", 312),
        ("a thousand tickets", 1_000),
        ("four million", 4_000_000),
        ("eighty-seven point four percent", 87.4),
        ("the 15th", 15),
        ("the fifteenth", 15),
        ("the thirty-first of March", 31),
        ("October third", 3),
        ("call nine one one", 911),
        ("4.5 hours", 4.5),
    ],
)
def test_numbers_are_compared_as_values(text, value):
    assert value in _values(text)


def test_times_and_lists_are_separate_numbers():
    assert _values("at 3:30") == {3, 30}
    assert _values("three thirty") == {3, 30}  # a time, not 33
    assert _values("two and three") == {2, 3}
    assert _values("Second, the team met") == set()  # a discourse word, not a date


def test_unsupported_details_catch_invented_dates_and_names():
    source = "Move the appointment from Thursday to next Monday at three. Sam will drive."
    found = unsupported_details(source, "The appointment is on Thursday, March 15th with Priya.")
    assert found["numbers"] == ["15th"] and set(found["names"]) == {"March", "Priya"}
    # written another way, the same numbers and names are supported
    said = unsupported_details(source, "Sam's appointment moved to Monday at 3.")
    assert said == {"numbers": [], "names": []}


def test_unsupported_details_spare_ordinary_openers_and_inflections():
    source = "The participants agreed that four candidates were interviewed by Maria."
    summary = "Participants agreed. We're sure. I'm told four candidates met Maria's team."
    assert unsupported_details(source, summary) == {"numbers": [], "names": []}
    # inside a sentence a capitalised term the source lacks is flagged; as an opener, when it
    # is no common English word (a common word opening a sentence names nothing)
    assert unsupported_details("We discussed fatigue.", "It covered Fatigue and Coward.")[
        "names"
    ] == ["Coward"]
    assert unsupported_details(source, "Okonkwo agreed.")["names"] == ["Okonkwo"]
    assert capitalised_terms("I think Priya and I agree.") == ["Priya"]


def test_unsupported_numbers_in_words_and_digits():
    source = "The budget is forty thousand dollars, and twenty percent goes to travel."
    assert unsupported_details(source, "A $40,000 budget, 20% for travel.")["numbers"] == []
    assert unsupported_details(source, "A budget of 45,000 dollars.")["numbers"] == ["45,000"]


def test_key_facts_need_every_key_with_alternatives_and_values():
    facts = [
        KeyFact("Budget of 40,000 approved", ("40000", "approve|approved")),
        KeyFact("Meeting moved to Monday", ("Monday", "move|moved|postponed")),
        KeyFact("Starts at 6:30", ("6:30|six thirty",)),
    ]
    summary = "They approved forty thousand dollars. The meeting was moved to Monday at 6:30."
    assert facts_kept(facts, summary) == [True, True, True]
    assert key_fact_recall(facts, "The meeting moved to Monday.") == pytest.approx(1 / 3)
    assert key_fact_recall([], "anything") == 1.0
    assert key_found("40", "about 40 billion tonnes")  # the scaled number keeps its key
    assert key_found("late check-out", "a late check-out at noon")
    assert not key_found("Monday", "On Tuesday.")


def test_key_facts_from_the_app_text_box():
    facts = parse_facts("- budget approved: 40000; approved\nMonday\n\n")
    assert facts == [
        KeyFact("budget approved", ("40000", "approved")),
        KeyFact("Monday", ("Monday",)),
    ]
    with pytest.raises(ValueError, match="key"):
        KeyFact("empty", ("",))


def test_metric_registry_names_faithfulness():
    assert METRICS["key_fact_recall"].unit == "%"
    assert not METRICS["unsupported_details"].higher_is_better


def test_dev_set_references_keep_their_facts_and_invent_nothing():
    docs = load_documents()
    assert len(docs) >= 40 and {d.kind for d in docs} == set(KINDS)
    for doc in docs:
        assert 40 <= len(doc.text.split()) <= 400 and 3 <= len(doc.facts) <= 7
        assert all(facts_kept(list(doc.facts), doc.summary)), doc.id
        assert unsupported_details(doc.text, doc.summary) == {"numbers": [], "names": []}, doc.id
