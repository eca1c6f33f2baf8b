"""WER/CER and summary metrics against hand-computed values."""

import pytest
from rouge_score import rouge_scorer

from demo.metrics import (
    asr_scores,
    cer,
    embedding_similarity,
    normalize_text,
    rouge_scores,
    summary_scores,
    wer,
)


def test_wer_one_substitution_in_four_words():
    assert wer("the cat sat down", "the cat sat up") == 0.25


def test_wer_deletion_and_insertion():
    # "green" deleted, "white" inserted: 2 edits / 4 reference words.
    assert wer("red green blue black", "red blue black white") == 0.5


def test_cer_hand_computed():
    assert cer("abcd", "abed") == 0.25
    # Spaces are characters: 1 substitution over 5 characters.
    assert cer("ab cd", "ab ce") == pytest.approx(0.2)


def test_raw_and_normalized_wer_differ_on_case_and_punctuation():
    assert wer("Hello, World!", "hello world") == 0.0
    # Raw: "Hello," != "hello" and "World!" != "world": 2 substitutions / 2 words.
    assert wer("Hello, World!", "hello world", normalize=False) == 1.0


def test_english_numbers_contractions_and_fillers():
    assert normalize_text("Um, I can't pay twenty-five dollars!") == "i can not pay $25"
    assert normalize_text("The colour is grey.") == "the color is gray"
    assert wer("It's twenty five percent.", "it is 25%") == 0.0
    assert wer("It's twenty five percent.", "it is 25%", normalize=False) > 0.5


def test_non_english_text_is_kept():
    assert normalize_text("Привет, мир! Йод и ёлка.", language="ru") == "привет мир йод и ёлка"
    assert normalize_text("Grüße aus München!", language="de") == "grüße aus münchen"
    # The English normaliser drops diacritics, which is why it is used only for English.
    assert normalize_text("Grüße aus München!", language="en") == "grusse aus munchen"
    assert wer("Йод и ёлка.", "йод и елка", language="ru") == pytest.approx(1 / 3)


def test_empty_reference():
    assert wer("", "") == 0.0
    assert wer("", "hello") == 1.0
    # "um" normalises to nothing, so an empty hypothesis is perfect.
    assert wer("Um.", "") == 0.0
    assert wer("the cat", "") == 1.0


def test_asr_scores_corpus_level():
    refs = ["The cat sat.", "A dog ran away fast."]
    hyps = ["the cat sat", "a dog ran"]
    scores = asr_scores(refs, hyps)
    assert set(scores) == {"wer", "cer", "wer_raw", "cer_raw"}
    # 2 deletions over 8 words (the mean of per-utterance WERs would be 0.2).
    assert scores["wer"] == 0.25
    # " away fast" is 10 deleted characters of 11 + 19.
    assert scores["cer"] == pytest.approx(10 / 30)
    # Raw: The/the, sat./sat and A/a substituted, away and fast. deleted: 5 / 8.
    assert scores["wer_raw"] == 5 / 8
    assert scores["cer_raw"] > scores["cer"]


def test_pairs_must_match():
    with pytest.raises(ValueError, match="2 references but 1"):
        asr_scores(["a", "b"], ["a"])


def test_rouge_s_counts_like_listing_every_pair_and_scales_to_long_text():
    import itertools
    import random
    from collections import Counter

    from demo.metrics import rouge_s_scores

    def listed(ref, pred):  # the definition: every ordered pair, counted
        pairs = lambda t: Counter(itertools.combinations(t, 2))  # noqa: E731
        matches = sum((pairs(ref) & pairs(pred)).values())
        p, r = (
            matches / (len(pred) * (len(pred) - 1) / 2),
            matches / (len(ref) * (len(ref) - 1) / 2),
        )
        return p, r, 2 * p * r / (p + r) if p + r else 0.0

    rng = random.Random(0)
    words = "the a cat dog sat on mat ran far away".split()
    for _ in range(20):
        ref = [rng.choice(words) for _ in range(rng.randrange(2, 30))]
        pred = [rng.choice(words) for _ in range(rng.randrange(2, 30))]
        assert rouge_s_scores(ref, pred) == pytest.approx(listed(ref, pred))
    # 3,000 words each (about the 20,000-character reference limit): 4.5M pairs per text are
    # counted over the shared vocabulary, never listed.
    long_ref = [f"w{rng.randrange(400)}" for _ in range(3000)]
    precision, recall, f1 = rouge_s_scores(long_ref, list(reversed(long_ref)))
    assert 0 < f1 < 1 and precision == recall


def test_rouge_s_lin_example():
    # Lin (2004): reference "police killed the gunman" has C(4,2) = 6 skip-bigrams:
    # police-killed police-the police-gunman killed-the killed-gunman the-gunman.
    # "police kill the gunman" shares police-the, police-gunman, the-gunman: 3 of 6 each way,
    # so P = R = 3/6 and F1 = 0.5.
    scores = rouge_scores(
        ["police killed the gunman"], ["police kill the gunman"], use_stemmer=False
    )
    assert scores["rougeS"] == 0.5
    assert scores["rougeS_precision"] == 0.5 and scores["rougeS_recall"] == 0.5
    # "the gunman kill police" shares only the-gunman: 1/6 (Lin's 0.167).
    scores = rouge_scores(
        ["police killed the gunman"], ["the gunman kill police"], use_stemmer=False
    )
    assert scores["rougeS"] == pytest.approx(1 / 6)
    # English stems by default: killed -> kill, so all 6 pairs match.
    assert rouge_scores(["police killed the gunman"], ["police kill the gunman"])["rougeS"] == 1.0


def test_rouge_s_unequal_lengths():
    # Prediction "the gunman" has 1 skip-bigram, matched: P = 1/1, R = 1/6,
    # F1 = 2 * 1 * 1/6 / (1 + 1/6) = 2/7.
    scores = rouge_scores(["police killed the gunman"], ["the gunman"])
    assert scores["rougeS_precision"] == 1.0
    assert scores["rougeS_recall"] == pytest.approx(1 / 6)
    assert scores["rougeS"] == pytest.approx(2 / 7)


def test_rouge_n_l_s_hand_computed():
    # ref: the cat sat on the mat (6 words); pred: the cat on the mat (5 words).
    scores = rouge_scores(["the cat sat on the mat"], ["the cat on the mat"])
    # ROUGE-1: 5 unigrams shared. P = 5/5, R = 5/6, F1 = 2 * 5/6 / (11/6) = 10/11.
    assert scores["rouge1_precision"] == 1.0
    assert scores["rouge1_recall"] == pytest.approx(5 / 6)
    assert scores["rouge1"] == pytest.approx(10 / 11)
    # ROUGE-2: pred bigrams the-cat cat-on on-the the-mat; ref has the-cat on-the the-mat.
    # P = 3/4, R = 3/5, F1 = 2 * 0.45 / 1.35 = 2/3.
    assert scores["rouge2_precision"] == 0.75
    assert scores["rouge2_recall"] == pytest.approx(0.6)
    assert scores["rouge2"] == pytest.approx(2 / 3)
    # ROUGE-L: the whole prediction is a subsequence of the reference, LCS = 5 -> as ROUGE-1.
    assert scores["rougeL"] == pytest.approx(10 / 11)
    # ROUGE-S: all C(5,2) = 10 prediction pairs occur in the reference (the-mat twice in
    # both), against C(6,2) = 15 reference pairs: P = 1, R = 2/3, F1 = 0.8.
    assert scores["rougeS_recall"] == pytest.approx(2 / 3)
    assert scores["rougeS"] == pytest.approx(0.8)


def test_rouge_matches_rouge_score_on_english():
    refs = [
        "The quick brown fox jumped over the lazy dogs.",
        "Stocks fell sharply on Monday after the bank's report; investors didn't react well.",
    ]
    preds = ["A quick brown fox jumps over lazy dogs!", "Investors reacted badly as stocks fell."]
    ours = rouge_scores(refs, preds)
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    theirs = [scorer.score(r, p) for r, p in zip(refs, preds, strict=True)]
    for name in ("rouge1", "rouge2", "rougeL"):
        expected = sum(s[name].fmeasure for s in theirs) / 2
        assert ours[name] == pytest.approx(expected)
        assert 0.0 < ours[name] < 1.0


def test_rouge_cyrillic():
    ref, pred = "Кошка сидела на ковре.", "Кошка лежала на ковре."
    # rouge-score's own tokenizer deletes Cyrillic letters, so it would score 0.
    assert rouge_scorer.RougeScorer(["rouge1"]).score(ref, pred)["rouge1"].fmeasure == 0.0
    scores = rouge_scores([ref], [pred], language="ru")
    # Tokens кошка сидела на ковре / кошка лежала на ковре: 3 of 4 unigrams shared.
    assert scores["rouge1"] == 0.75
    # Bigrams: only на-ковре of 3 on each side.
    assert scores["rouge2"] == pytest.approx(1 / 3)
    # LCS кошка на ковре = 3 of 4.
    assert scores["rougeL"] == 0.75
    # Skip-bigrams: кошка-на, кошка-ковре, на-ковре = 3 of 6.
    assert scores["rougeS"] == 0.5


def test_rouge_lsum_uses_sentences():
    ref, pred = "The cat sat. The dog ran.", "The dog ran. The cat sat."
    scores = rouge_scores([ref], [pred])
    # Whole-text LCS is 3 of 6 words; per sentence each reference sentence is found whole.
    assert scores["rougeL"] == 0.5
    assert scores["rougeLsum"] == 1.0


def test_rouge_averages_over_pairs():
    scores = rouge_scores(["bees make honey", "cats chase mice"], ["bees make honey", "rain fell"])
    assert scores["rouge1"] == 0.5
    assert scores["rougeS"] == 0.5


def test_embedding_similarity():
    same = embedding_similarity(["A man is eating food."], ["A man is eating food."])
    paraphrase = embedding_similarity(["A man is eating food."], ["Someone is having a meal."])
    unrelated = embedding_similarity(["A man is eating food."], ["The stock market crashed."])
    assert same == pytest.approx(1.0, abs=1e-5)
    assert paraphrase > unrelated + 0.3
    assert embedding_similarity(["", "bees"], ["", ""]) == 0.5


def test_summary_scores_has_all_keys():
    scores = summary_scores(["Bees make honey in hives."], ["Bees make honey."])
    for name in ("rouge1", "rouge2", "rougeL", "rougeLsum", "rougeS"):
        assert 0.0 < scores[name] <= 1.0
        assert f"{name}_precision" in scores and f"{name}_recall" in scores
    assert 0.5 < scores["embedding_similarity"] <= 1.0


def test_word_errors_per_utterance_sum_to_the_corpus_wer():
    from demo.metrics import asr_scores, word_errors

    refs = ["The cat sat.", "Hello world", "", "the dog ran home"]
    hyps = ["the cat sat", "hello there world", "goodbye", "the dog home"]
    pairs = word_errors(refs, hyps)
    assert pairs == [(0, 3), (1, 2), (1, 0), (1, 4)]  # an empty reference: all insertions
    errors, words = map(sum, zip(*pairs, strict=True))
    assert errors / words == pytest.approx(asr_scores(refs, hyps)["wer"])
