"""The error of reading a user's clip or feature file, shared by the feature extractors (`features.py`,
`landmarks.py`) without either importing the other."""

from __future__ import annotations


class FeatureError(ValueError):
    """A clip or feature file cannot be read; the message names the file and what was wrong."""


__all__ = ["FeatureError"]
