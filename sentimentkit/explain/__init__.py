"""Explanations of predictions: integrated gradients per word (captum), with the model's own attention, MDW
weights and MoE routing beside them, as a page, a heatmap or JSON; for multimodal models, words, audio frames
and vision frames together, with ALMT's AHL attention (`explain/multimodal.py`); and faithfulness tests (deletion
of the top
words against random and attention rankings). Needs the `explain` extra (captum, matplotlib)."""

from .attribution import Attribution, ClipAttribution, FrameScores, WordScore, save_attributions
from .core import Explainer, explain
from .multimodal import ClipExplainer

__all__ = [
    "Attribution",
    "ClipAttribution",
    "ClipExplainer",
    "Explainer",
    "FrameScores",
    "WordScore",
    "explain",
    "save_attributions",
]
