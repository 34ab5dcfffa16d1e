"""Explanations of predictions: integrated gradients per word (captum), with the model's own attention, MDW
weights and MoE routing beside them, as a page, a heatmap or JSON; and faithfulness tests (deletion of the top
words against random and attention rankings). Needs the `explain` extra (captum, matplotlib)."""

from .attribution import Attribution, WordScore, save_attributions
from .core import Explainer, explain

__all__ = ["Attribution", "Explainer", "WordScore", "explain", "save_attributions"]
