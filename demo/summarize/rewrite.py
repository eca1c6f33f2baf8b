"""Extract, then rewrite: the LM only shortens sentences the speaker said.

ACLSum (Takeshita et al., NAACL 2024) found extract-then-abstract comparable to end-to-end
abstraction with small models; here it is also a guard against invention. The speech-aware
extractor (``demo.summarize.speech``) picks the sentences; the LM rewrites each one alone, so
it sees a dozen words, not a meeting, and has little room to invent. A rewrite is kept only if
it states nothing the transcript lacks, keeps every number and name of its sentence, is no
longer than it, and still means it (MiniLM cosine); otherwise the sentence stays as spoken
(fillers removed). A note says how many sentences were rewritten.
"""

from __future__ import annotations

from demo.faithfulness import capitalised_terms, count_unsupported, number_values
from demo.faithfulness import unsupported_details as details_missing
from demo.summarize import grounded
from demo.summarize.speech import summarize_spoken

MIN_COSINE = 0.75  # a rewrite less like its source than this changed the meaning
ENDS = ".!?"  # a rewrite that does not end a sentence was cut off
EXTRA_WORDS = 2  # a rewrite may be this many words longer than the cleaned sentence


def acceptable(rewrite: str, sentence: str, transcript: str) -> bool:
    """Whether ``rewrite`` may stand for ``sentence``: a finished sentence, not longer, nothing
    the transcript lacks, every number and name kept, the same meaning."""
    from demo.embeddings import embed

    if not rewrite or len(rewrite.split()) > len(sentence.split()) + EXTRA_WORDS:
        return False
    if rewrite[-1] not in ENDS:  # cut off by the token budget ("because the menu double-")
        return False
    if count_unsupported(details_missing(transcript, rewrite)):
        return False
    kept_values = {value for _, value in number_values(rewrite)}
    if any(value not in kept_values for _, value in number_values(sentence)):
        return False
    lowered = rewrite.lower()
    if any(term.lower() not in lowered for term in capitalised_terms(sentence)):
        return False
    vectors = embed([rewrite, sentence])
    return float(vectors[0] @ vectors[1]) >= MIN_COSINE


def extract_then_rewrite(loaded, text: str, options) -> grounded.Summary:
    """The ``rewrite`` summary method: speech-aware picks, each rewritten by the LM and kept
    only when ``acceptable``."""
    from tqdm.auto import tqdm

    from demo.cancel import check
    from demo.summarize.llm import rewrite_sentence

    facts_only = options.style == "key-points"
    sources, picked, cleaned = summarize_spoken(
        text, options.max_sentences, options.max_words, facts_only=facts_only
    )
    sentences: list[grounded.SummarySentence] = []
    rewritten = 0
    bar = tqdm(cleaned, desc="rewriting", unit="sentence")
    for index, sentence in zip(picked, bar, strict=True):
        check()
        candidate = rewrite_sentence(loaded, sentence, options.style).strip()
        ok = acceptable(candidate, sentence, text)
        rewritten += ok
        said = candidate if ok else sentence
        origin = "rewritten" if ok else "extracted"
        sentences.append(
            grounded.SummarySentence(said, [index], origin, details_missing(text, said))
        )
    summary = grounded.Summary(sentences, sources, options.style)
    if sentences:
        summary.notes.append(
            f"Extract, then rewrite: {rewritten} of {len(sentences)} picked sentences rewritten "
            "by the LM; the rest kept as spoken (a rewrite that dropped or added a detail is "
            "refused)."
        )
    return summary
