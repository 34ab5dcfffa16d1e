"""Tasks: what a kind of prediction reads, encodes, scores and decodes (see `tasks/base.py`)."""

from .base import TASKS, Task, TrainingData, forward_batches

__all__ = ["TASKS", "Task", "TrainingData", "forward_batches"]
