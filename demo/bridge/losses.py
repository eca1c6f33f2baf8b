"""BLIP-2's three pre-training objectives, for speech (LAVIS ``blip2_qformer.py``, SparQLe).

- STCL, speech-text contrastive: each query output is projected and L2-normalised, the text's
  [CLS] likewise; a clip's similarity to a text is the best of its queries; cross-entropy over
  the batch in both directions, label smoothing 0.1, divided by a learned temperature.
- STM, speech-text matching: a 2-way head says whether speech and text belong together, on the
  positives and on one hard negative per clip and per text drawn from the STCL similarities.
- STG, speech-grounded text generation: the Q-Former's LM head predicts the text token by
  token, each token seeing the queries and the earlier text.

The functions here take tensors; ``SpeechBridge.forward`` runs the Q-Former passes they need.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

LABEL_SMOOTHING = 0.1  # BLIP-2 uses it for the contrastive and the LM loss
IGNORE_INDEX = -100
NEGATIVE_FLOOR = 1e-4  # LAVIS: softmax + 1e-4, so every other pair can be drawn


def similarities(speech_feats: torch.Tensor, text_feats: torch.Tensor, temp: torch.Tensor):
    """(B speech, B text) logits: for each pair the highest query-text cosine, over ``temp``.

    ``speech_feats`` (B, Nq, E) and ``text_feats`` (B, E) are L2-normalised. Text-to-speech is
    the transpose (one process sees the whole batch).
    """
    per_query = torch.einsum("bqe,te->btq", speech_feats, text_feats)
    return per_query.max(dim=-1).values / temp


def contrastive_loss(sim_s2t: torch.Tensor) -> torch.Tensor:
    """STCL: mean of speech->text and text->speech cross-entropy; pair i matches pair i."""
    targets = torch.arange(sim_s2t.shape[0], device=sim_s2t.device)
    s2t = F.cross_entropy(sim_s2t, targets, label_smoothing=LABEL_SMOOTHING)
    t2s = F.cross_entropy(sim_s2t.t(), targets, label_smoothing=LABEL_SMOOTHING)
    return (s2t + t2s) / 2


def same_text(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """(B, B) bool: the two rows hold the same text (a sentence spoken twice is no negative)."""
    ids = input_ids.masked_fill(~attention_mask.bool(), 0)
    return (ids[:, None, :] == ids[None, :, :]).all(dim=-1)


def hard_negatives(
    sim_s2t: torch.Tensor, same: torch.Tensor, sample: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """(negative text per clip, negative clip per text), drawn in proportion to softmax of the
    similarities (``sample``, training) or the most similar wrong one (evaluation, so scores
    repeat). A pair with the same text is never a negative."""
    with torch.no_grad():
        negatives = []
        for sim in (sim_s2t, sim_s2t.t()):
            weights = F.softmax(sim.float(), dim=1) + NEGATIVE_FLOOR
            weights = weights.masked_fill(same, 0.0)
            # A row whose every other text is the same sentence has no true negative; draw
            # uniformly among the others rather than fail.
            empty = weights.sum(dim=1) == 0
            if empty.any():
                others = ~torch.eye(len(sim), dtype=torch.bool, device=sim.device)
                weights[empty] = others[empty].float()
            if sample:
                negatives.append(torch.multinomial(weights, 1).squeeze(1))
            else:
                negatives.append(weights.argmax(dim=1))
    return negatives[0], negatives[1]


def matching_loss(logits: torch.Tensor, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """STM cross-entropy and accuracy; ``logits`` (3B, 2) are positives then 2B negatives."""
    labels = torch.zeros(logits.shape[0], dtype=torch.long, device=logits.device)
    labels[:batch] = 1
    loss = F.cross_entropy(logits, labels)
    accuracy = (logits.argmax(dim=-1) == labels).float().mean()
    return loss, accuracy


def generation_loss(logits: torch.Tensor, labels: torch.Tensor, smoothing: float = 0.0):
    """STG cross-entropy over the labelled positions (``logits`` aligned with ``labels``)."""
    return F.cross_entropy(
        logits.transpose(1, 2).float(), labels, ignore_index=IGNORE_INDEX, label_smoothing=smoothing
    )


def recall_at_1(sim_s2t: torch.Tensor, same: torch.Tensor) -> torch.Tensor:
    """Share of clips whose most similar text in the batch is their own (or the same words)."""
    best = sim_s2t.argmax(dim=1)
    return same[torch.arange(len(best), device=best.device), best].float().mean()
