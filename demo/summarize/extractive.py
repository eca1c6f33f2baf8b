"""Offline extractive summaries: rank sentences by MiniLM embeddings, keep the best few.

Pipeline: split into sentences, embed them (``demo.embeddings``), score them with a method
from ``EXTRACTIVE_METHODS``, pick greedily with a redundancy penalty (MMR), and return the
picks in their original order.
"""

import math
import re
from collections.abc import Callable

import numpy as np

from demo.embeddings import embed
from demo.errors import unknown_choice

WINDOW_WORDS = 20  # chunk size for text without sentence punctuation (raw transcripts)
MAX_SENTENCE_WORDS = 60  # a longer "sentence" is a run-on transcript: chunk it too
DAMPING = 0.85  # PageRank damping factor (Mihalcea & Tarau 2004 use the usual 0.85)
PAGERANK_TOL = 1e-8
PAGERANK_MAX_ITER = 200
# A candidate whose cosine to a pick exceeds 1 - DUPLICATE_SLOPE * redundancy is skipped as a
# near-duplicate: 0.8 at the default redundancy 0.3, where MiniLM paraphrases start.
DUPLICATE_SLOPE = 2.0 / 3.0
# Break at whitespace after sentence-final punctuation, optionally followed by a closing
# quote or bracket; after CJK full stops even without whitespace (those scripts use none);
# and at every line break.
_SENTENCE_END_RE = re.compile(
    r"(?:(?<=[.!?…])|(?<=[.!?…][\"'”’»)\]]))\s+|(?<=[。！？])\s*|\s*\n\s*"
)


_TITLE_END_RE = re.compile(r"(?:^|\s)(?:Mr|Mrs|Ms|Dr|Prof|St|Mt|vs)\.$")
_TIME_END_RE = re.compile(r"\b[ap]\.m\.$", re.IGNORECASE)


def split_sentences(text: str, *, window_words: int | None = WINDOW_WORDS) -> list[str]:
    """Split text into sentences at sentence punctuation and line breaks.

    Text without sentence boundaries (an unpunctuated transcript), and any run-on "sentence"
    over ``MAX_SENTENCE_WORDS`` words, is cut into windows of about ``window_words`` words;
    ``window_words=None`` keeps such text whole.
    """
    pieces = [piece.strip() for piece in _SENTENCE_END_RE.split(text.strip())]
    pieces = _join_abbreviations([piece for piece in pieces if piece])
    if window_words is None:
        return pieces
    sentences: list[str] = []
    for piece in pieces:
        words = piece.split()
        if (len(pieces) == 1 and len(words) > window_words) or len(words) > MAX_SENTENCE_WORDS:
            sentences.extend(_windows(words, window_words))
        else:
            sentences.append(piece)
    return sentences


def _join_abbreviations(pieces: list[str]) -> list[str]:
    # "Please send them to Mrs. Okafor." is one sentence: a title never ends one, and "a.m." /
    # "p.m." only does when a capital follows.
    joined: list[str] = []
    for piece in pieces:
        if joined and (
            _TITLE_END_RE.search(joined[-1])
            or (_TIME_END_RE.search(joined[-1]) and not piece[0].isupper())
        ):
            joined[-1] = f"{joined[-1]} {piece}"
        else:
            joined.append(piece)
    return joined


def _windows(words: list[str], size: int) -> list[str]:
    # Equal-sized windows of about `size` words, so no tiny leftover window at the end.
    count = max(1, round(len(words) / size))
    step = math.ceil(len(words) / count)
    return [" ".join(words[i : i + step]) for i in range(0, len(words), step)]


def _textrank_scores(embeddings: np.ndarray) -> np.ndarray:
    # PageRank over the sentence graph weighted by cosine similarity (TextRank with
    # embedding similarity instead of word overlap). Negative cosines carry no vote.
    n = len(embeddings)
    weights = np.clip(embeddings @ embeddings.T, 0.0, None).astype(np.float64)
    np.fill_diagonal(weights, 0.0)
    row_sums = weights.sum(axis=1, keepdims=True)
    # A sentence similar to nothing links to every sentence evenly (a dangling node).
    transition = np.where(row_sums > 0, weights / np.where(row_sums > 0, row_sums, 1.0), 1.0 / n)
    scores = np.full(n, 1.0 / n)
    for _ in range(PAGERANK_MAX_ITER):
        updated = (1.0 - DAMPING) / n + DAMPING * (transition.T @ scores)
        converged = np.abs(updated - scores).sum() < PAGERANK_TOL
        scores = updated
        if converged:
            break
    return scores


def _centroid_scores(embeddings: np.ndarray) -> np.ndarray:
    # Cosine to the mean embedding: how typical a sentence is of the whole text.
    centroid = embeddings.mean(axis=0)
    norm = np.linalg.norm(centroid)
    if norm == 0.0:
        return np.zeros(len(embeddings))
    return embeddings @ (centroid / norm)


EXTRACTIVE_METHODS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "textrank": _textrank_scores,
    "centroid": _centroid_scores,
}


def available_extractive_methods() -> list[str]:
    """Return the names accepted by ``summarize_extractive(method=...)``."""
    return sorted(EXTRACTIVE_METHODS)


def summarize_extractive(
    text: str,
    *,
    max_sentences: int = 3,
    max_words: int | None = None,
    method: str = "textrank",
    redundancy: float = 0.3,
) -> str:
    """Pick the most central, non-redundant sentences of ``text`` and join them in text order.

    ``redundancy`` (0..1) weighs the MMR penalty for similarity to sentences already picked;
    a candidate with cosine above ``1 - 2/3 * redundancy`` to a pick is skipped outright as
    a near-duplicate. ``max_words`` stops selection before the budget would be exceeded, but
    one sentence is always returned for non-empty text.
    """
    if method not in EXTRACTIVE_METHODS:
        raise unknown_choice("extractive method", method, sorted(EXTRACTIVE_METHODS))
    if max_sentences < 1:
        raise ValueError(f"max_sentences must be at least 1, got {max_sentences}.")
    if max_words is not None and max_words < 1:
        raise ValueError(f"max_words must be at least 1 or None, got {max_words}.")
    if not 0.0 <= redundancy <= 1.0:
        raise ValueError(f"redundancy must be between 0 and 1, got {redundancy}.")
    if not text.strip():
        return ""
    sentences = split_sentences(text)
    lengths = [len(sentence.split()) for sentence in sentences]
    if len(sentences) <= max_sentences and (max_words is None or sum(lengths) <= max_words):
        return " ".join(sentences)

    embeddings = embed(sentences)
    relevance = EXTRACTIVE_METHODS[method](embeddings)
    picked = select_mmr(relevance, embeddings, lengths, max_sentences, max_words, redundancy)
    return " ".join(sentences[i] for i in sorted(picked))


def select_mmr(
    relevance: np.ndarray,
    embeddings: np.ndarray,
    lengths: list[int],
    max_sentences: int,
    max_words: int | None,
    redundancy: float,
) -> list[int]:
    """Indices picked by maximal marginal relevance, best first, within the length limits."""
    # Maximal marginal relevance (Carbonell & Goldstein 1998). Relevance is rescaled to
    # 0..1 so that it is commensurable with the cosine penalty whatever the method.
    spread = relevance.max() - relevance.min()
    relevance = (relevance - relevance.min()) / spread if spread > 0 else np.ones_like(relevance)
    similarity = embeddings @ embeddings.T
    duplicate_cosine = 1.0 - DUPLICATE_SLOPE * redundancy if redundancy > 0 else np.inf
    picked: list[int] = []
    words = 0
    candidates = set(range(len(relevance)))
    while candidates and len(picked) < max_sentences:
        closest = {i: max((similarity[i, j] for j in picked), default=0.0) for i in candidates}
        fresh = [i for i in candidates if not picked or closest[i] < duplicate_cosine]
        if not fresh:
            break
        best = max(
            fresh, key=lambda i: ((1.0 - redundancy) * relevance[i] - redundancy * closest[i], -i)
        )
        if picked and max_words is not None and words + lengths[best] > max_words:
            break
        picked.append(best)
        words += lengths[best]
        candidates.remove(best)
    return picked
