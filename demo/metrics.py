"""Scores shared by training, the app and the benchmarks: WER/CER for transcripts, ROUGE and
embedding similarity for summaries. All rates and scores are fractions, not percentages.

``METRICS`` is the one registry of metric names, labels and units: every table and chart
(dashboard, bench report, Compare) takes its labels and scales from it.
"""

import re
from dataclasses import dataclass
from functools import lru_cache

import jiwer
import numpy as np

from demo.embeddings import embed

# Faithfulness lives in its own module and is re-exported here, beside ROUGE and similarity.
from demo.faithfulness import key_fact_recall, unsupported_details  # noqa: F401
from demo.summarize.extractive import split_sentences

ENGLISH_CODES = ("en", "english")
ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")


@dataclass(frozen=True)
class Metric:
    key: str  # the name in metrics.jsonl, results, benchmark rows and CSV columns
    label: str  # short label, e.g. "ROUGE-1"
    unit: str  # how the shown value reads: "%", "x100", "s", "MB", "" (as is)
    scale: float  # shown value = stored value x scale (fractions are shown x100)
    task: str  # "asr", "summary", "bridge" (Q-Former pre-training) or "cost"
    higher_is_better: bool = True

    @property
    def title(self) -> str:
        """Label with unit, for axes and table headers: "WER (%)", "ROUGE-1 (x100)"."""
        return f"{self.label} ({self.unit})" if self.unit else self.label

    def shown(self, value: float | None, digits: int = 1) -> float | None:
        """The stored value as shown (scaled and rounded); None stays None."""
        return None if value is None else round(value * self.scale, digits)


METRICS: dict[str, Metric] = {
    m.key: m
    for m in [
        Metric("wer", "WER", "%", 100.0, "asr", higher_is_better=False),
        Metric("cer", "CER", "%", 100.0, "asr", higher_is_better=False),
        Metric("wer_raw", "WER raw", "%", 100.0, "asr", higher_is_better=False),
        Metric("rouge1", "ROUGE-1", "x100", 100.0, "summary"),
        Metric("rouge2", "ROUGE-2", "x100", 100.0, "summary"),
        Metric("rougeL", "ROUGE-L", "x100", 100.0, "summary"),
        Metric("rougeLsum", "ROUGE-Lsum", "x100", 100.0, "summary"),
        Metric("rougeS", "ROUGE-S", "x100", 100.0, "summary"),
        Metric("embedding_similarity", "Embedding similarity", "x100", 100.0, "summary"),
        # Faithfulness (demo.faithfulness): key facts kept, details the transcript lacks.
        Metric("key_fact_recall", "Key-fact recall", "%", 100.0, "summary"),
        Metric(
            "unsupported_details",
            "Unsupported details",
            "",
            1.0,
            "summary",
            higher_is_better=False,
        ),  # fmt: skip
        # The Q-Former bridge (demo.bridge): cosine of MiniLM sentence embeddings, not the
        # thesis's BERTScore (another model, token-level F1); its losses and retrieval.
        Metric("minilm_similarity", "MiniLM similarity", "x100", 100.0, "asr"),
        Metric("r_at_1", "R@1 speech->text", "%", 100.0, "bridge"),
        Metric("stm_accuracy", "STM accuracy", "%", 100.0, "bridge"),
        Metric("loss_stcl", "STCL loss", "", 1.0, "bridge", higher_is_better=False),
        Metric("loss_stm", "STM loss", "", 1.0, "bridge", higher_is_better=False),
        Metric("loss_stg", "STG loss", "", 1.0, "bridge", higher_is_better=False),
        Metric("loss", "Loss", "", 1.0, "cost", higher_is_better=False),
        Metric("peak_memory_mb", "Peak memory", "MB", 1.0, "cost", higher_is_better=False),
    ]
}
# The scores of one transcript / one summary against a reference, in table and chart order.
ASR_METRICS = ("wer", "cer")
SUMMARY_METRICS = ("rouge1", "rouge2", "rougeL", "rougeLsum", "rougeS", "embedding_similarity")
# Against the transcript (unsupported details, always) and a key-fact list (when given).
FAITHFULNESS_METRICS = ("key_fact_recall", "unsupported_details")
# Whisper's evaluation maps British to American spelling with a 1,700-entry file
# (normalizer.json) that ships with the Whisper tokenizer on the hub, not with transformers.
# Loading it would need a downloaded checkpoint, so WER here would depend on which models are
# cached; instead a fixed mapping of the commonest words keeps scores reproducible offline.
# Words outside it count as errors when spelled differently, which only makes WER stricter.
ENGLISH_SPELLING = {
    "analyse": "analyze",
    "behaviour": "behavior",
    "cancelled": "canceled",
    "catalogue": "catalog",
    "centre": "center",
    "centres": "centers",
    "colour": "color",
    "colours": "colors",
    "defence": "defense",
    "favour": "favor",
    "favourite": "favorite",
    "grey": "gray",
    "honour": "honor",
    "humour": "humor",
    "labour": "labor",
    "licence": "license",
    "litre": "liter",
    "metre": "meter",
    "metres": "meters",
    "neighbour": "neighbor",
    "neighbours": "neighbors",
    "organisation": "organization",
    "organise": "organize",
    "programme": "program",
    "realise": "realize",
    "realised": "realized",
    "recognise": "recognize",
    "theatre": "theater",
    "travelled": "traveled",
    "travelling": "traveling",
}
# Unicode letters and digits, no underscore: rouge-score's own tokenizer keeps only [a-z0-9],
# which would score any Cyrillic, Greek or CJK summary 0.
_WORD_RE = re.compile(r"[^\W_]+", re.UNICODE)
_MIN_STEM_LENGTH = 4  # rouge-score stems only tokens longer than 3 characters


def _is_english(language: str | None) -> bool:
    if language is None:
        return False
    return language.lower().replace("_", "-").split("-")[0] in ENGLISH_CODES


@lru_cache(maxsize=2)
def _normalizer(english: bool):
    from transformers.models.whisper.english_normalizer import (
        BasicTextNormalizer,
        EnglishTextNormalizer,
    )

    # The English one also strips diacritics (й -> и, ß -> ss), so it is kept to English.
    return EnglishTextNormalizer(ENGLISH_SPELLING) if english else BasicTextNormalizer()


def normalize_text(text: str, language: str | None = "en") -> str:
    """Normalise a transcript for WER the way Whisper's evaluation does.

    English (``"en"``, ``"english"``, ``"en-US"``...) gets Whisper's English normaliser:
    lowercase, no punctuation, fillers (um, uh) dropped, contractions expanded ("can't" ->
    "can not"), spelled-out numbers as digits ("twenty five" -> "25"), a few British spellings
    made American. Any other language, or None, gets Whisper's basic normaliser, which only
    lowercases and replaces punctuation and symbols with spaces, keeping letters and accents.
    Whitespace is collapsed and stripped in both cases.
    """
    return " ".join(_normalizer(_is_english(language))(text).split())


def _prepare(texts: list[str], normalize: bool, language: str | None) -> list[str]:
    if normalize:
        return [normalize_text(text, language) for text in texts]
    return [text.strip() for text in texts]


def _error_rate(
    references: list[str],
    hypotheses: list[str],
    *,
    characters: bool,
    normalize: bool,
    language: str | None,
) -> float:
    # Corpus level: all edits over all reference units, so long utterances weigh more.
    refs = _prepare(references, normalize, language)
    hyps = _prepare(hypotheses, normalize, language)
    errors = units = 0
    kept = [(ref, hyp) for ref, hyp in zip(refs, hyps, strict=True) if ref]
    if kept:
        process = jiwer.process_characters if characters else jiwer.process_words
        out = process([ref for ref, _ in kept], [hyp for _, hyp in kept])
        errors = out.substitutions + out.deletions + out.insertions
        units = out.hits + out.substitutions + out.deletions
    # A reference that is empty (e.g. only fillers or punctuation) has no units to get
    # wrong, so everything the hypothesis says there counts as insertions.
    for ref, hyp in zip(refs, hyps, strict=True):
        if not ref:
            errors += len(hyp) if characters else len(hyp.split())
    if units == 0:
        return 0.0 if errors == 0 else 1.0
    return errors / units


def word_errors(
    references: list[str], hypotheses: list[str], *, language: str | None = "en"
) -> list[tuple[int, int]]:
    """``(word errors, reference words)`` per utterance, normalised as ``asr_scores`` does: their
    sums give the corpus WER, and a bootstrap over utterances resamples them in pairs."""
    _check_pairs(references, hypotheses)
    out = []
    for ref, hyp in zip(_prepare(references, True, language), _prepare(hypotheses, True, language),
                        strict=True):  # fmt: skip
        if not ref:  # nothing to get wrong: every word said is an insertion
            out.append((len(hyp.split()), 0))
            continue
        words = jiwer.process_words(ref, hyp)
        errors = words.substitutions + words.deletions + words.insertions
        out.append((errors, words.hits + words.substitutions + words.deletions))
    return out


def wer(
    reference: str, hypothesis: str, *, normalize: bool = True, language: str | None = "en"
) -> float:
    """Word error rate of one hypothesis; an empty reference gives 0.0 if the hypothesis is
    empty too, else 1.0."""
    return _error_rate(
        [reference], [hypothesis], characters=False, normalize=normalize, language=language
    )


def cer(
    reference: str, hypothesis: str, *, normalize: bool = True, language: str | None = "en"
) -> float:
    """Character error rate of one hypothesis (spaces count as characters)."""
    return _error_rate(
        [reference], [hypothesis], characters=True, normalize=normalize, language=language
    )


def _check_pairs(references: list[str], predictions: list[str]) -> None:
    if len(references) != len(predictions):
        raise ValueError(
            f"Got {len(references)} references but {len(predictions)} predictions; "
            "pass one prediction per reference."
        )
    if not references:
        raise ValueError("Nothing to score: pass at least one reference and prediction.")


def asr_scores(
    references: list[str], hypotheses: list[str], *, language: str | None = "en"
) -> dict[str, float]:
    """Corpus-level ``wer`` and ``cer`` after normalisation, and ``wer_raw``/``cer_raw`` on the
    stripped text as is (case and punctuation count)."""
    _check_pairs(references, hypotheses)
    scores = {}
    for suffix, normalize in (("", True), ("_raw", False)):
        for name, characters in (("wer", False), ("cer", True)):
            scores[name + suffix] = _error_rate(
                references,
                hypotheses,
                characters=characters,
                normalize=normalize,
                language=language,
            )
    return scores


class _UnicodeTokenizer:
    # rouge-score calls `.tokenize(text)`; this matches its default tokenizer on ASCII text
    # (lowercase, split on non-alphanumerics, Porter-stem tokens over 3 characters) but
    # keeps letters of every script.
    def __init__(self, stem: bool) -> None:
        from nltk.stem import porter

        self._stemmer = porter.PorterStemmer() if stem else None

    def tokenize(self, text: str) -> list[str]:
        tokens = _WORD_RE.findall(text.lower())
        if self._stemmer is None:
            return tokens
        # The Porter stemmer knows only English suffixes; other scripts pass through.
        return [
            self._stemmer.stem(token)
            if len(token) >= _MIN_STEM_LENGTH and token.isascii()
            else token
            for token in tokens
        ]


@lru_cache(maxsize=2)
def _tokenizer(stem: bool) -> _UnicodeTokenizer:
    return _UnicodeTokenizer(stem)


@lru_cache(maxsize=2)
def _rouge_scorer(stem: bool):
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(list(ROUGE_TYPES), tokenizer=_tokenizer(stem))


def _one_sentence_per_line(text: str) -> str:
    # rougeLsum reads sentences from newlines; rouge-score's own splitter needs NLTK's punkt
    # data, which is not available offline, so split here. Unpunctuated text stays one
    # sentence rather than being cut into arbitrary windows.
    if "\n" in text:
        return text
    return "\n".join(split_sentences(text, window_words=None))


def _skip_bigram_counts(ids: "np.ndarray", size: int) -> "np.ndarray":
    # counts[a, b] = number of positions i < j with ids[i] == a and ids[j] == b.
    counts = np.zeros((size, size), dtype=np.int64)
    before = np.zeros(size, dtype=np.int64)
    for token in ids:
        counts[:, token] += before
        before[token] += 1
    return counts


def rouge_s_scores(reference: list[str], prediction: list[str]) -> tuple[float, float, float]:
    """ROUGE-S precision, recall and F1 of two token lists."""
    # ROUGE-S (Lin 2004, section 5): skip-bigrams are ordered word pairs with any gap; a text
    # of n words has C(n, 2) of them. Returns (precision, recall, F1) with beta = 1. Only words
    # both texts share can form a matching pair, so the pairs are counted over that shared
    # vocabulary in O(n x shared) time and O(shared^2) memory, never listed one by one.
    ref_pairs = len(reference) * (len(reference) - 1) // 2
    pred_pairs = len(prediction) * (len(prediction) - 1) // 2
    shared = sorted(set(reference) & set(prediction))
    matches = 0
    if shared:
        index = {word: i for i, word in enumerate(shared)}
        ref_ids = np.array([index[w] for w in reference if w in index], dtype=np.int64)
        pred_ids = np.array([index[w] for w in prediction if w in index], dtype=np.int64)
        ref_counts = _skip_bigram_counts(ref_ids, len(shared))
        pred_counts = _skip_bigram_counts(pred_ids, len(shared))
        matches = int(np.minimum(ref_counts, pred_counts).sum())
    precision = matches / pred_pairs if pred_pairs else 0.0
    recall = matches / ref_pairs if ref_pairs else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def rouge_per_document(
    references: list[str],
    predictions: list[str],
    *,
    language: str | None = "en",
    use_stemmer: bool | None = None,
) -> list[dict[str, float]]:
    """Each pair's ROUGE-1/2/L/Lsum (rouge-score) and ROUGE-S: F1 under the type's name plus
    ``<name>_precision`` and ``<name>_recall``. ``rouge_scores`` is their mean; a paired
    bootstrap over documents (``demo.intervals``) resamples them.

    Tokens are lowercased Unicode words, so any script scores; the Porter stemmer is used only
    for English unless ``use_stemmer`` says otherwise.
    """
    _check_pairs(references, predictions)
    stem = _is_english(language) if use_stemmer is None else use_stemmer
    scorer = _rouge_scorer(stem)
    tokenizer = _tokenizer(stem)
    out = []
    for reference, prediction in zip(references, predictions, strict=True):
        scores = scorer.score(_one_sentence_per_line(reference), _one_sentence_per_line(prediction))
        triples = {name: (scores[name].precision, scores[name].recall, scores[name].fmeasure)
                   for name in ROUGE_TYPES}  # fmt: skip
        triples["rougeS"] = rouge_s_scores(
            tokenizer.tokenize(reference), tokenizer.tokenize(prediction)
        )
        document = {}
        for name, (precision, recall, f1) in triples.items():
            document[name] = float(f1)
            document[f"{name}_precision"] = float(precision)
            document[f"{name}_recall"] = float(recall)
        out.append(document)
    return out


def rouge_scores(
    references: list[str],
    predictions: list[str],
    *,
    language: str | None = "en",
    use_stemmer: bool | None = None,
) -> dict[str, float]:
    """ROUGE-1/2/L/Lsum (rouge-score) and ROUGE-S (skip-bigram), averaged over pairs
    (``rouge_per_document``'s keys)."""
    documents = rouge_per_document(
        references, predictions, language=language, use_stemmer=use_stemmer
    )
    return {key: sum(d[key] for d in documents) / len(documents) for key in documents[0]}


def embedding_similarity(references: list[str], predictions: list[str]) -> float:
    """Mean cosine similarity of MiniLM embeddings of each reference and its prediction.

    A blank text is similar only to another blank text (1.0), to anything else 0.0.
    """
    _check_pairs(references, predictions)
    vectors = embed(list(references) + list(predictions))
    refs, preds = vectors[: len(references)], vectors[len(references) :]
    cosines = np.einsum("ij,ij->i", refs, preds).astype(np.float64)
    for i, (reference, prediction) in enumerate(zip(references, predictions, strict=True)):
        if not reference.strip() or not prediction.strip():
            cosines[i] = float(not reference.strip() and not prediction.strip())
    return float(cosines.mean())


def summary_scores(
    references: list[str], predictions: list[str], *, language: str | None = "en"
) -> dict[str, float]:
    """``rouge_scores`` plus ``embedding_similarity``, for one set of summaries."""
    scores = rouge_scores(references, predictions, language=language)
    scores["embedding_similarity"] = embedding_similarity(references, predictions)
    return scores
