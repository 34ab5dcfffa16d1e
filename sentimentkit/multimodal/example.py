"""Multimodal data as users and readers see it: a clip's transcript, audio and vision feature sequences and label.

Sequences hold the clip's real frames only: padding is removed when data is read (the MMSA reader detects the
padding side per sample) and added back per batch by `collate`, which also builds the frame masks. A missing
modality is a (0, D) array. `parts` is for generated data (SynMOSI): the signal and nuisance components whose sum
is the audio or vision array, so that sensitivity to each can be measured; real data has none.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..types import MultimodalExample

MODALITIES = ("text", "audio", "vision")
__all__ = ["MODALITIES", "MultimodalExample", "check_dims"]


def check_dims(examples: Sequence[MultimodalExample], what: str) -> tuple[int, int]:
    """The one (D_a, D_v) of `examples`, else ValueError naming the first example that differs."""
    if not examples:
        raise ValueError(f"{what} has no examples")
    dims = examples[0].dims
    for x in examples:
        if x.dims != dims:
            raise ValueError(
                f"{what}: {x.source or x.id} has audio/vision feature sizes {x.dims}, the first example {dims}; "
                "every clip of a dataset must come from the same feature extractor"
            )
    return dims
