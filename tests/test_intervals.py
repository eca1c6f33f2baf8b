"""Bootstrap intervals (demo.intervals) and where the report prints them: the real-speech
accuracy table's gap of each mode to full precision, paired over clips."""

from __future__ import annotations

import pytest

from demo.intervals import distinguishable, mean_interval, paired_difference, pooled_interval


def test_mean_and_pooled_intervals_hold_the_estimate_and_shrink_with_more_items():
    low, high = mean_interval([0.2, 0.4, 0.3, 0.5, 0.1] * 4)
    assert low < 0.3 < high
    wide = pooled_interval([1, 0, 2, 0], [10, 10, 10, 10])
    narrow = pooled_interval([1, 0, 2, 0] * 25, [10, 10, 10, 10] * 25)
    assert wide[0] <= 0.075 <= wide[1] and narrow[0] <= 0.075 <= narrow[1]
    assert narrow[1] - narrow[0] < wide[1] - wide[0]
    assert mean_interval([1.0, 2.0, 3.0]) == mean_interval([1.0, 2.0, 3.0])  # seeded


def test_paired_difference_sees_a_consistent_gap_that_unpaired_noise_would_hide():
    a = [0.30, 0.55, 0.20, 0.80, 0.45, 0.65, 0.25, 0.70] * 3  # documents vary a lot...
    b = [x + 0.02 for x in a]  # ...but b is better on every one of them
    delta, low, high = paired_difference(a, b)
    assert delta == pytest.approx(0.02) and distinguishable(low, high)
    same = paired_difference(a, [x + (0.05 if i % 2 else -0.05) for i, x in enumerate(a)])
    assert not distinguishable(same[1], same[2])
    # pooled: errors per clip and words per clip; 3 more errors over 100 words = +3 points
    gap = paired_difference([1, 2, 0, 1], [2, 3, 1, 1], totals=[25, 25, 25, 25])
    assert gap[0] == pytest.approx(0.03) and gap[1] <= 0.03 <= gap[2]
    with pytest.raises(ValueError):
        paired_difference([1.0], [1.0, 2.0])


def test_the_real_speech_table_prints_each_modes_gap_interval():
    from results.report_accuracy import gap_intervals, real_speech_section

    rows = []
    for clip in range(20):
        for quant, wer in (("full", 0.1), ("fast-int8", 0.1 + (0.1 if clip < 10 else 0.0))):
            rows.append({"model": "tiny.en", "quant": quant, "clip": f"c{clip}", "wer": wer,
                         "reference_words": 10, "baseline": "full"})  # fmt: skip
    gap, low, high = gap_intervals(rows)[("tiny.en", "fast-int8")]
    assert gap == pytest.approx(5.0) and 0 < low <= 5.0 <= high  # 10 more errors in 200 words
    verdicts = [{"model": "tiny.en", "quant": q, "clips": 20, "words": 200, "pooled_wer": w,
                 "pooled_gap_points": g, "worst_clip_words_lost": 1, "meets_pooled_rule": False,
                 "may_be_default": False} for q, w, g in (("full", 0.1, 0.0),
                                                          ("fast-int8", 0.15, 5.0))]  # fmt: skip
    text = "\n".join(real_speech_section({"meta": {"verdicts": verdicts}, "rows": rows}))
    assert f"[{low:+.2f}, {high:+.2f}] | yes" in text


def test_interval_text_marks_an_interval_that_holds_zero_and_few_items_get_none():
    from demo.intervals import MIN_ITEMS, interval_text
    from results.paired import document_gap

    assert interval_text(0.5, 2.0) == "[+0.5, +2.0]"
    assert interval_text(-0.01, 0.02, "+.2f", 100) == "[-1.00, +2.00] (not distinguishable)"
    docs = [{"id": str(i), "rougeL": 0.3 + 0.01 * (i % 3)} for i in range(MIN_ITEMS)]
    better = [{**d, "rougeL": d["rougeL"] + 0.02} for d in docs]
    assert document_gap(docs, better, "rougeL") == pytest.approx((2.0, 2.0, 2.0))
    assert document_gap(docs[:-1], better[:-1], "rougeL") is None  # too few papers
    assert document_gap(docs, better[::-1], "rougeL") is None  # not the same papers
