"""A plain-torch BERT encoder and tokenizer for fast start-up at inference.

Why: importing transformers' BERT costs about 3 s (its modeling stack pulls in torch.distributed,
sympy and the kernel hub), which alone breaks the 4 s cold-start budget of `sentimentkit analyze`.
Training and every non-BERT backbone use `transformers.AutoModel`; a shipped model whose backbone is
BERT-architecture (MiniLM is) runs here instead. Module and parameter names match transformers' BertModel,
so the same checkpoint (backbone safetensors + our adapters) loads into either; tests check that both
give the same token states and that both tokenizers give the same ids.
"""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import torch
from torch import nn
from torch.nn import functional as F

from ..hub import read_backbone_config
from .tokenizer import FastTokenizer, TokenizerOutput

__all__ = ["FastTokenizer", "NativeBert", "TokenizerOutput", "supports"]

SUPPORTED = {"model_type": "bert", "position_embedding_type": "absolute", "hidden_act": "gelu"}


def supports(model_dir: str | Path) -> bool:
    """Whether the backbone in `model_dir` is a BERT this module reproduces exactly."""
    config = read_backbone_config(model_dir)
    weights = Path(model_dir, "model.safetensors")
    if config is None or not (weights.exists() and Path(model_dir, "tokenizer.json").exists()):
        return False
    return all(config.get(k, "absolute" if k == "position_embedding_type" else None) == v for k, v in SUPPORTED.items())


class _Embeddings(nn.Module):
    def __init__(self, c: SimpleNamespace) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(c.vocab_size, c.hidden_size, padding_idx=c.pad_token_id)
        self.position_embeddings = nn.Embedding(c.max_position_embeddings, c.hidden_size)
        self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(
        self,
        input_ids: torch.Tensor | None,
        token_type_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
    ) -> torch.Tensor:
        # input_ids: (B, T), or inputs_embeds: (B, T, H) already looked up (prompt tuning prepends its own)
        words = self.word_embeddings(input_ids) if inputs_embeds is None else inputs_embeds
        positions = torch.arange(words.shape[1], device=words.device)  # (T,)
        types = (
            self.token_type_embeddings.weight[0]
            if token_type_ids is None
            else self.token_type_embeddings(token_type_ids)
        )
        x = words + self.position_embeddings(positions) + types
        return self.dropout(self.LayerNorm(x))  # (B, T, H)


class _SelfAttention(nn.Module):
    def __init__(self, c: SimpleNamespace) -> None:
        super().__init__()
        self.heads = c.num_attention_heads
        self.query = nn.Linear(c.hidden_size, c.hidden_size)
        self.key = nn.Linear(c.hidden_size, c.hidden_size)
        self.value = nn.Linear(c.hidden_size, c.hidden_size)
        self.dropout_p = c.attention_probs_dropout_prob

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, t, h = x.shape

        def split(y: torch.Tensor) -> torch.Tensor:  # (B, T, H) -> (B, heads, T, H / heads)
            return y.view(b, t, self.heads, h // self.heads).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        p = self.dropout_p if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p, scale=1 / math.sqrt(h // self.heads))
        return out.transpose(1, 2).reshape(b, t, h)


class _AttentionOutput(nn.Module):
    def __init__(self, c: SimpleNamespace, inner: int) -> None:
        super().__init__()
        self.dense = nn.Linear(inner, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class _Attention(nn.Module):
    def __init__(self, c: SimpleNamespace) -> None:
        super().__init__()
        self.self = _SelfAttention(c)
        self.output = _AttentionOutput(c, c.hidden_size)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.output(self.self(x, mask), x)


class _Intermediate(nn.Module):
    def __init__(self, c: SimpleNamespace) -> None:
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.intermediate_size)
        self.intermediate_act_fn = nn.GELU()  # exact (erf) GELU, as BERT's "gelu"; a module, as MoE insertion expects

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.intermediate_act_fn(self.dense(x))


class _Layer(nn.Module):
    def __init__(self, c: SimpleNamespace) -> None:
        super().__init__()
        self.attention = _Attention(c)
        self.intermediate = _Intermediate(c)
        self.output = _AttentionOutput(c, c.intermediate_size)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.attention(x, mask)
        return self.output(self.intermediate(x), x)


class _Encoder(nn.Module):
    def __init__(self, c: SimpleNamespace) -> None:
        super().__init__()
        self.layer = nn.ModuleList(_Layer(c) for _ in range(c.num_hidden_layers))


class NativeBert(nn.Module):
    """BERT without the pooler: (input_ids, attention_mask) -> object with `last_hidden_state` (B, T, H)."""

    def __init__(self, config: SimpleNamespace) -> None:
        super().__init__()
        self.config = config
        self.embeddings = _Embeddings(config)
        self.encoder = _Encoder(config)

    @classmethod
    def from_pretrained(cls, model_dir: str | Path) -> NativeBert:
        from safetensors.torch import load_file

        config = SimpleNamespace(**(read_backbone_config(model_dir) or {}))
        config.pad_token_id = getattr(config, "pad_token_id", 0)
        model = cls(config)
        state = load_file(str(Path(model_dir, "model.safetensors")))
        state = {k.removeprefix("bert."): v for k, v in state.items()}
        state = {k: v for k, v in state.items() if not k.startswith("pooler.") and k != "embeddings.position_ids"}
        model.load_state_dict(state, strict=True)
        return model.eval()

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
    ) -> SimpleNamespace:
        x = self.embeddings(input_ids, token_type_ids, inputs_embeds)  # (B, T, H)
        if attention_mask is None:
            attention_mask = torch.ones(x.shape[:2], dtype=torch.long, device=x.device)
        mask = attention_mask.bool()[:, None, None, :]  # (B, 1, 1, T): padding keys are masked out
        for layer in self.encoder.layer:
            x = layer(x, mask)
        return SimpleNamespace(last_hidden_state=x)
