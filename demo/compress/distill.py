"""The soft-target term of knowledge distillation (Hinton et al. 2015), in one place: the
latent decoder's training (``demo.compress.latent``) and a low-rank fine-tune's
(``training.distill``) both add ``T² KL(teacher_T || student_T)`` to their cross-entropy."""

from __future__ import annotations

IGNORE_INDEX = -100  # label positions that are padding (transformers' convention)


def soft_target_kl(student_logits, teacher_logits, labels, temperature: float):
    """``KL(teacher_T || student_T)`` of the temperature-``T`` softmaxes, summed over the
    vocabulary and averaged over the label positions (``IGNORE_INDEX`` left out), in float32;
    the caller scales it by ``T²`` to keep its gradients on cross-entropy's scale."""
    import torch.nn.functional as F

    keep = labels != IGNORE_INDEX
    student = F.log_softmax(student_logits[keep].float() / temperature, dim=-1)
    teacher = F.log_softmax(teacher_logits[keep].float() / temperature, dim=-1)
    return F.kl_div(student, teacher, log_target=True, reduction="batchmean")
