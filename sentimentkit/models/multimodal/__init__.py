"""Multimodal (text + audio + vision) regression models: ALMT and its ablations, the MMSA baselines (TFN, LMF,
LF-DNN, EF-LSTM, MulT), the modality-specific residual network and the text-only floor. Each module registers its
names in `MODELS` with task "multimodal-regression.v1"; every model takes a `MultimodalBatch` and returns a
`ModelOutput` whose logits are the predicted value (B, 1)."""
