"""Summaries of speech: roles of transcript sentences, the speech-aware extractor, grounding,
the checked and extract-then-rewrite strategies on the real SmolLM2, styles, the choice of
``auto`` and bad input. MiniLM, SmolLM2-135M and tiny.en are the real bundled weights."""

import json

import pytest
from loaded_models import cpu_model

from demo.faithfulness import number_values
from demo.settings import ROOT
from demo.summarize import SummaryOptions, summarize, summarize_grounded
from demo.summarize.grounded import Summary, SummarySentence, check, match_sources
from demo.summarize.registry import (
    AUTO_SUMMARIZER,
    available_summarizers,
    get_summarizer,
    split_summarizer,
)
from demo.summarize.rewrite import acceptable
from demo.summarize.speech import clean_sentence, sentence_role

MEETING = (
    "Good morning everyone, thanks for joining the weekly planning meeting. "
    "First item is the budget. "
    "We agreed to spend forty thousand dollars on the new servers, and Maria will order them "
    "by Friday. "
    "Um, okay, so. "
    "Second item is the hiring plan. "
    "We interviewed four candidates, and we will make one offer, to Daniel, next Tuesday. "
    "Last item, the customer survey result came in. "
    "Satisfaction went up from 71 to 78 percent since March. "
    "Thanks everyone, see you next week."
)
VOICE_NOTE = (
    "Note to self. The dentist called. My cleaning is moved from Thursday the ninth to next "
    "Monday, the thirteenth, at 4 p.m. Not Thursday anymore. So I need to tell Sam I can pick "
    "up the kids on Thursday after all, and ask him to do Monday instead. Also bring the new "
    "insurance card."
)


extractive = cpu_model("extractive", "summarizer", "extractive")


smollm = cpu_model("smollm", "summarizer", "smollm2-135m")


@pytest.mark.parametrize(
    ("sentence", "role"),
    [
        ("Good morning everyone, thanks for joining the weekly planning meeting.", "greeting"),
        ("Second item is the hiring plan.", "heading"),
        ("Last item, the customer survey result came in.", "heading"),
        ("Thanks everyone, see you next week.", "sign-off"),
        ("Thank you all, and see you at the river.", "sign-off"),
        ("Um, okay, so.", "filler"),
        ("Let's get started.", "filler"),
        ("Hi, this is Dana calling about your appointment on Tuesday.", "content"),
        ("We agreed that Priya will get two more quotes.", "content"),
    ],
)
def test_sentence_roles(sentence, role):
    assert sentence_role(sentence) == role


def test_speech_extractive_keeps_decisions_not_greetings(extractive):
    summary = summarize_grounded(extractive, MEETING, SummaryOptions(strategy="speech"))
    text = summary.text
    assert "Good morning" not in text and "item is" not in text and "see you" not in text
    assert "forty thousand dollars" in text and "Daniel" in text and "78 percent" in text
    sources = [s.sources[0] for s in summary.sentences]
    assert sources == sorted(sources)  # the recording's order
    for sentence in summary.sentences:
        assert sentence.origin == "extracted" and sentence.unsupported_count == 0
        assert sentence.text in clean_sentence(summary.source_sentences[sentence.sources[0]])
    # today's TextRank picks the greeting and the headings; the dev set measures the gap
    plain = summarize(extractive, MEETING)
    assert plain.startswith("Good morning") and "Second item is the hiring plan." in plain


def test_key_points_style_is_bullets_of_facts(extractive):
    options = SummaryOptions(strategy="speech", style="key-points", max_sentences=4)
    summary = summarize_grounded(extractive, MEETING, options)
    lines = summary.text.splitlines()
    assert 1 <= len(lines) <= 4 and all(line.startswith("• ") for line in lines)
    assert all(number_values(line) or "Daniel" in line for line in lines)


def test_generated_sentences_find_their_source():
    sources = ["The weather was nice.", "Maria will order the servers by Friday.", "Bye."]
    assert match_sources(["Maria orders servers before Friday."], sources) == [[1]]
    assert match_sources(["Completely unrelated text about oceans."], sources) == [[]]


def test_check_replaces_sentences_with_invented_details():
    sources = ["The appointment moved from Thursday to next Monday.", "Bring the card."]
    transcript = " ".join(sources)
    summary = Summary(
        [
            SummarySentence("It is on Thursday, March 15th.", [0], "generated",
                            {"numbers": ["15th"], "names": ["March"]}),
            SummarySentence("Bring the card.", [1], "generated", {}),
            SummarySentence("Invented with Priya.", [], "generated", {"names": ["Priya"]}),
        ],
        sources,
    )  # fmt: skip
    checked = check(summary, transcript)
    assert [s.text for s in checked.sentences] == [sources[0], "Bring the card."]
    assert checked.sentences[0].origin == "replaced" and checked.unsupported_count == 0
    assert "2 of 3" in checked.notes[0] and "15th" in checked.notes[0]


def test_rewrite_acceptance_rules():
    sentence = "So we agreed to spend forty thousand dollars on servers, and Maria orders them."
    transcript = sentence
    assert acceptable("We agreed to spend 40,000 dollars on servers; Maria orders them.",
                      sentence, transcript)  # fmt: skip
    assert not acceptable(
        "We agreed to spend money on servers; Maria orders them.", sentence, transcript
    )  # fmt: skip  (a number dropped)
    assert not acceptable(
        "Priya agreed to spend 40,000 dollars; Maria orders them.", sentence, transcript
    )  # fmt: skip  (a name added)
    assert not acceptable("", sentence, transcript)
    assert not acceptable(
        "We agreed to spend 40,000 dollars on servers, and Maria orders-", sentence, transcript
    )  # fmt: skip  (cut off)


def test_llm_strategies_on_real_smollm2(smollm):
    plain = summarize_grounded(smollm, VOICE_NOTE, SummaryOptions())
    assert plain.sentences and all(s.origin == "generated" for s in plain.sentences)
    checked = summarize_grounded(smollm, VOICE_NOTE, SummaryOptions(strategy="checked"))
    assert checked.unsupported_count == 0
    rewrite = summarize_grounded(smollm, VOICE_NOTE, SummaryOptions(strategy="rewrite"))
    assert rewrite.unsupported_count == 0 and rewrite.notes[0].startswith("Extract, then rewrite")
    for sentence in rewrite.sentences:
        assert sentence.origin in ("rewritten", "extracted") and len(sentence.sources) == 1
        source = rewrite.source_sentences[sentence.sources[0]]
        kept = {v for _, v in number_values(sentence.text)}
        assert {v for _, v in number_values(source)} <= kept
    keypoints = summarize_grounded(smollm, VOICE_NOTE, SummaryOptions(style="key-points"))
    assert keypoints.text.startswith("• ")


def test_strategies_name_their_model_and_refuse_mismatches():
    assert split_summarizer("smollm2-135m+rewrite") == ("smollm2-135m", "rewrite")
    assert split_summarizer("extractive") == ("extractive", "plain")
    assert get_summarizer("smollm2-135m+checked").name == "smollm2-135m"
    assert {"auto", "extractive+speech", "smollm2-135m+rewrite"} <= set(available_summarizers())
    with pytest.raises(ValueError, match="rewrite strategy needs a summarizer of kind llm"):
        split_summarizer("extractive+rewrite")
    with pytest.raises(ValueError, match="Unknown summary strategy"):
        split_summarizer("smollm2-135m+magic")
    with pytest.raises(ValueError, match="summary style"):
        SummaryOptions(style="haiku")


def test_auto_is_the_measured_choice():
    """``auto`` is the summarizer with the best key-fact recall among those that stated no
    unsupported detail on the spoken dev set, within the click budget (the checked-in run)."""
    from bench.spoken_dev import choose_auto

    result = json.loads((ROOT / "checkpoints/bench/summarize-spoken-dev.json").read_text())
    budget = result["meta"]["click_budget_s"]
    assert choose_auto(result["rows"], budget) == result["auto"] == AUTO_SUMMARIZER
    assert split_summarizer("auto") == split_summarizer(AUTO_SUMMARIZER)
    rows = [dict(r, docs_with_unsupported=1) for r in result["rows"]]
    assert choose_auto(rows, budget) is None  # nothing faithful: no choice


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("", ""),
        ("Hello.", "nothing to summarize"),
        ("Um. Okay. So. Thanks everyone, see you.", "nothing to summarize"),
    ],
)
def test_empty_and_filler_transcripts_say_so(extractive, text, expect):
    summary = summarize_grounded(extractive, text, SummaryOptions(strategy="speech"))
    assert summary.text == ""
    assert expect in " ".join(summary.notes) if expect else not summary.notes


def test_an_hour_of_transcript_is_summarized(extractive):
    hour = " ".join(f"Item {i}: we agreed to buy {i + 2} chairs for room {i}." for i in range(900))
    summary = summarize_grounded(extractive, hour, SummaryOptions(strategy="speech"))
    assert 1 <= len(summary.sentences) <= 3 and summary.unsupported_count == 0


def test_pipeline_returns_grounding_and_unsupported_count(jfk_path):
    from demo.pipeline import PipelineOptions, References, run_pipeline

    result = run_pipeline(
        jfk_path, PipelineOptions(summary_style="key-points"),
        references=References(facts="country: country"),
    )  # fmt: skip
    assert result.grounding["sentences"] and result.summary.startswith("• ")
    assert result.scores["unsupported_details"] == 0.0
    assert result.scores["key_fact_recall"] == 1.0
    assert "grounding" in result.to_dict()


def test_try_it_shows_grounded_summary_with_marks(jfk_path):
    from dashboard import handlers as h
    from dashboard.try_it import grounded_html

    out = h.transcribe_and_summarize({"audio": str(jfk_path)})
    assert 'class="summary-sentence"' in out["grounded"] and 'href="#src-1"' in out["grounded"]
    assert 'id="src-1"' in out["grounded"]
    grounding = {
        "style": "prose",
        "source_sentences": ["We meet on Monday."],
        "sentences": [{"text": "We meet on Friday <b>.", "sources": [0], "origin": "generated",
                       "unsupported": {"numbers": [], "names": ["Friday"]}}],
        "unsupported_count": 1,
    }  # fmt: skip
    shown = grounded_html(grounding)
    assert '<mark class="unsupported" title="not in the transcript">Friday</mark>' in shown
    assert "&lt;b&gt;" in shown and "<b>" not in shown  # the text is escaped
    assert "1 detail not in the transcript" in shown and grounded_html({}) == ""
