"""Faithfulness of a word ranking, measured by deleting words (DeYoung et al. 2020, ERASER).

For a fraction f of the text's words (at least one), ranked by a method: comprehensiveness = p(label | text) -
p(label | text without the top f), higher is better (the words mattered); sufficiency = p(label | text) -
p(label | only the top f), lower is better (the words suffice). Both are averaged over the fractions (AOPC).
The aspect of an aspect explanation is never deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .attribution import Attribution
from .core import Encoded, Explainer

FRACTIONS = (0.1, 0.2, 0.3, 0.5)


@dataclass(frozen=True)
class Deletion:
    comprehensiveness: float
    sufficiency: float


def deletion(
    explainer: Explainer,
    encoded: Encoded,
    attribution: Attribution,
    how: str,
    fractions: Sequence[float] = FRACTIONS,
    seed: int = 0,
) -> Deletion | None:
    """Comprehensiveness and sufficiency of ranking `how` for one explanation (None when it has no word to rank)."""
    order = explainer.ranking(attribution, encoded, how, seed)
    if not order:
        return None
    everything = set(range(len(attribution.words)))
    full = attribution.probability
    comp, suff = [], []
    for f in fractions:
        k = max(1, round(f * len(order)))
        top = set(order[:k])
        comp.append(full - explainer.probability(encoded, attribution.label, everything - top))
        suff.append(full - explainer.probability(encoded, attribution.label, top))
    return Deletion(sum(comp) / len(comp), sum(suff) / len(suff))
