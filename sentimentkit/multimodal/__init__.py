"""Multimodal sentiment (text + audio + vision): data formats, the SynMOSI benchmark generator, MMSA's metrics,
robustness protocols and feature extraction from users' clips. The task is `tasks/multimodal.py`; the models are
in `models/multimodal/`."""
