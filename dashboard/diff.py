"""Word diff of a transcript or summary against its reference, for highlighting.

Words compare case- and punctuation-insensitively (WER ignores both too). The segments are
what gradio's HighlightedText takes; ``diff_html`` renders the same for the Compare cards.
"""

from __future__ import annotations

import html
from difflib import SequenceMatcher

# Word diff categories (gradio HighlightedText labels / CSS class suffixes).
DIFF_CHANGED = "changed"  # a reference word was replaced by this one
DIFF_EXTRA = "extra"  # a word the reference does not have
DIFF_MISSING = "missing"  # a reference word the text left out (shown struck through)
DIFF_COLORS = {DIFF_CHANGED: "#E69F00", DIFF_EXTRA: "#56B4E9", DIFF_MISSING: "#D55E00"}


def word_diff(reference: str, text: str) -> list[tuple[str, str | None]]:
    """``text`` split into segments labelled by how its words differ from ``reference``.

    Words compare case- and punctuation-insensitively. Labels: None (same as the reference),
    ``"changed"`` (replaces reference words), ``"extra"`` (not in the reference) and
    ``"missing"`` (reference words the text left out, given as the reference's words). The
    segments joined give the text back, with the missing words added; the shape is what
    gradio's HighlightedText takes.
    """
    ref_words, words = reference.split(), text.split()
    ref_keys = [_key(w) for w in ref_words]
    keys = [_key(w) for w in words]
    # Tokens that are only punctuation take no part in the match (WER ignores them too).
    ref_index = [i for i, k in enumerate(ref_keys) if k]
    index = [i for i, k in enumerate(keys) if k]
    matcher = SequenceMatcher(
        None, [ref_keys[i] for i in ref_index], [keys[i] for i in index], autojunk=False
    )
    labels: list[str | None] = [None] * len(words)
    missing_before: dict[int, list[str]] = {}  # text position -> reference words left out there
    for tag, r1, r2, h1, h2 in matcher.get_opcodes():
        if tag in ("replace", "insert"):
            for j in range(h1, h2):
                labels[index[j]] = DIFF_CHANGED if tag == "replace" else DIFF_EXTRA
        elif tag == "delete":
            at = index[h1] if h1 < len(index) else len(words)
            missing_before.setdefault(at, []).extend(ref_words[ref_index[i]] for i in range(r1, r2))

    segments: list[tuple[str, str | None]] = []
    for position in range(len(words) + 1):
        if position in missing_before:
            _append(segments, " ".join(missing_before[position]) + " ", DIFF_MISSING)
        if position < len(words):
            _append(segments, words[position] + " ", labels[position])
    if segments:
        last_text, last_label = segments[-1]
        segments[-1] = (last_text.rstrip(), last_label)
    return segments


def diff_html(reference: str | None, text: str) -> str:
    """``text`` as escaped HTML with words that differ from ``reference`` highlighted.

    Without a reference the text is returned escaped and unmarked.
    """
    if not reference or not reference.strip():
        return html.escape(text)
    parts = []
    for segment, label in word_diff(reference, text):
        escaped = html.escape(segment)
        if label is None:
            parts.append(escaped)
            continue
        color = DIFF_COLORS[label]
        style = f"background:{color}40;border-bottom:3px solid {color};border-radius:3px"
        if label == DIFF_MISSING:
            style += ";text-decoration:line-through"
        words = escaped.rstrip()
        tail = escaped[len(words) :]
        parts.append(
            f'<span class="diff-{label}" title="{label}" style="{style}">{words}</span>{tail}'
        )
    return "".join(parts)


def diff_legend_html() -> str:
    """A one-line legend for ``diff_html`` colours."""
    items = [
        (DIFF_CHANGED, "changed word"),
        (DIFF_EXTRA, "extra word"),
        (DIFF_MISSING, "missing reference word"),
    ]
    return " · ".join(
        f'<span style="background:{DIFF_COLORS[k]}40;border-bottom:3px solid {DIFF_COLORS[k]};'
        f'padding:0 4px">{text}</span>'
        for k, text in items
    )


def _key(word: str) -> str:
    return "".join(ch for ch in word.lower() if ch.isalnum())


def _append(segments: list[tuple[str, str | None]], text: str, label: str | None) -> None:
    if segments and segments[-1][1] == label:
        segments[-1] = (segments[-1][0] + text, label)
    else:
        segments.append((text, label))
