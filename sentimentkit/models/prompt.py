"""`prompt-tuning` and `p-tuning`: learned virtual tokens in front of a frozen pretrained encoder (via peft).

Prompt tuning (Lester et al. 2021) learns the virtual token embeddings directly; P-tuning (Liu et al. 2021)
produces them with a small MLP over learned inputs. Either way only the prompt parameters and the
classification head train: on MiniLM a checkpoint is about 40 KB (prompt tuning) or 500 KB (p-tuning's MLP).

Where the virtual tokens go: peft prepends P of them to the input embeddings and prepends P ones to the
attention mask, so the encoder's `last_hidden_state` is (B, P + T, H) with the real tokens at P..P+T-1.
`PromptedEncoder` cuts the virtual positions off before pooling: "cls" reads the real [CLS] at position P
(position 0 is the first virtual token), and "mean" averages the real tokens under the caller's mask.
The prompts shape the real tokens' states through attention, which is their purpose; averaging their own
states in as well would give the prompt a fixed share P / (P + T) of every pooled vector, largest for short
sentences. The returned token states are the real tokens' (B, T, H), aligned with `input_ids` as for
`TextEncoder`.

peft is imported inside the builders: `import peft` takes seconds, and importing the models must not. At
inference on the native runtime (`Runtime("native")`, what `sentimentkit.load` uses) a BERT backbone runs without
peft and transformers: `NativePromptModel` computes the same prompts from the same parameters (same names, so the
same checkpoint loads) and feeds them to the plain-torch BERT as peft feeds them to transformers' BERT.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch import nn

from ..config import ConfigError
from ..encoders.pool import Runtime
from ..encoders.text import DEFAULT_BACKBONE, POOLINGS, load_backbone, load_tokenizer
from ..labels import LabelSet
from .base import MODELS, ModelSpec
from .document import TASK, TextClassifier

PROMPT_INITS = ("random", "text")


@dataclass(frozen=True)
class PromptTuningClassifierConfig:
    """Settings of `prompt-tuning`: `num_virtual_tokens` learned embeddings before a frozen encoder.

    `prompt_init` "random" draws them from N(0, 1) (peft's default); "text" copies the backbone's embeddings of
    the tokens of `prompt_init_text` (repeated or cut to length), which Lester et al. found trains faster.
    """

    type: str = "prompt-tuning"
    backbone: str = DEFAULT_BACKBONE
    num_virtual_tokens: int = 20
    prompt_init: str = "random"  # "random" | "text"
    prompt_init_text: str = ""  # required with prompt_init "text", e.g. the label names
    pooling: str = "mean"  # "mean" over the real tokens | "cls" (the real [CLS], after the prompts)
    dropout: float = 0.1


@dataclass(frozen=True)
class PTuningClassifierConfig:
    """Settings of `p-tuning`: virtual tokens produced by an MLP (hidden width `encoder_hidden_size`)."""

    type: str = "p-tuning"
    backbone: str = DEFAULT_BACKBONE
    num_virtual_tokens: int = 20
    encoder_hidden_size: int = 128
    pooling: str = "mean"  # "mean" over the real tokens | "cls" (the real [CLS], after the prompts)
    dropout: float = 0.1


class PromptedEncoder(nn.Module):
    """A peft prompt-learning model -> real-token states (B, T, H) and a pooled vector (B, H).

    Drop-in for `TextEncoder` under `TextClassifier`: same forward signature, outputs and `hidden_size`.
    """

    def __init__(self, model: nn.Module, num_virtual_tokens: int, pooling: str = "mean") -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling {pooling!r}: expected one of {POOLINGS}")
        self.model = model  # a peft PeftModelForFeatureExtraction around a frozen AutoModel
        self.num_virtual_tokens = num_virtual_tokens
        self.pooling = pooling
        self.hidden_size = int(model.config.hidden_size)
        self.max_positions = getattr(model.config, "max_position_embeddings", None)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # input_ids, attention_mask: (B, T); peft adds P virtual tokens in front of both
        p, steps = self.num_virtual_tokens, input_ids.shape[1]
        if self.max_positions is not None and p + steps > self.max_positions:
            raise ValueError(
                f"{steps} tokens plus {p} virtual tokens exceed the backbone's {self.max_positions} positions; "
                f"set data.max_length to at most {self.max_positions - p} or lower model.num_virtual_tokens"
            )
        states = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (B, P+T, H)
        states = states[:, p:]  # (B, T, H): the real tokens, aligned with input_ids
        if self.pooling == "cls":
            return states, states[:, 0]
        mask = attention_mask.unsqueeze(-1).to(states.dtype)  # (B, T, 1)
        pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)  # (B, H)
        return states, pooled


class _NativePromptEncoder(nn.Module):
    """peft's PromptEmbedding (prompt tuning: `embedding` only) or PromptEncoder with its MLP (p-tuning), by name."""

    def __init__(self, num_virtual_tokens: int, hidden: int, mlp_hidden: int | None) -> None:
        super().__init__()
        self.embedding = nn.Embedding(num_virtual_tokens, hidden)
        if mlp_hidden is not None:
            self.mlp_head = nn.Sequential(
                nn.Linear(hidden, mlp_hidden), nn.ReLU(), nn.Linear(mlp_hidden, mlp_hidden), nn.ReLU(),
                nn.Linear(mlp_hidden, hidden),
            )  # fmt: skip

    def forward(self) -> torch.Tensor:
        prompts = self.embedding.weight  # (P, H)
        return self.mlp_head(prompts) if hasattr(self, "mlp_head") else prompts


class NativePromptModel(nn.Module):
    """Inference without peft: prompts (P, H) before the word embeddings, ones before the mask, into NativeBert.

    Parameter names match peft's model (`prompt_encoder.default.*`), so a checkpoint trained with peft loads.
    """

    def __init__(self, base: nn.Module, num_virtual_tokens: int, mlp_hidden: int | None) -> None:
        super().__init__()
        self.base_model = base
        self.config = base.config
        hidden = int(base.config.hidden_size)
        self.prompt_encoder = nn.ModuleDict({"default": _NativePromptEncoder(num_virtual_tokens, hidden, mlp_hidden)})

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> object:
        # input_ids, attention_mask: (B, T) -> states (B, P + T, H), as peft's model returns them
        words = self.base_model.embeddings.word_embeddings(input_ids)  # (B, T, H)
        prompts = self.prompt_encoder["default"]().to(words.dtype)  # (P, H)
        prompts = prompts.unsqueeze(0).expand(words.shape[0], -1, -1)  # (B, P, H)
        ones = attention_mask.new_ones((attention_mask.shape[0], prompts.shape[1]))
        mask = torch.cat([ones, attention_mask], dim=1)  # (B, P + T)
        return self.base_model(attention_mask=mask, inputs_embeds=torch.cat([prompts, words], dim=1))


def _native(backbone: str, runtime: Runtime, num_virtual_tokens: int, mlp_hidden: int | None) -> nn.Module | None:
    """The peft-free prompt model when the runtime is native and the backbone a BERT it reproduces, else None."""
    if runtime.implementation != "native":
        return None
    from ..encoders.bert import NativeBert, supports
    from ..hub import resolve

    path = resolve(backbone).path
    if not supports(path):
        return None
    base = NativeBert.from_pretrained(path)
    base.requires_grad_(False)
    return NativePromptModel(base, num_virtual_tokens, mlp_hidden)


def _check_common(config: PromptTuningClassifierConfig | PTuningClassifierConfig) -> None:
    if config.num_virtual_tokens < 1:
        raise ConfigError(f"model.num_virtual_tokens is {config.num_virtual_tokens}; expected at least 1")
    if config.pooling not in POOLINGS:
        raise ConfigError(f"model.pooling {config.pooling!r}: expected one of {POOLINGS}")
    if not 0.0 <= config.dropout < 1.0:
        raise ConfigError(f"model.dropout is {config.dropout}; expected a probability in [0, 1)")


def _frozen_backbone_with(backbone: str, peft_config) -> nn.Module:
    """Load the backbone, freeze all of it, and wrap it with peft's prompt learner (whose parameters train)."""
    from peft import get_peft_model

    model = load_backbone(backbone)
    model.requires_grad_(False)
    with warnings.catch_warnings():
        # peft asks transformers about gradient checkpointing through a name transformers deprecated
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        return get_peft_model(model, peft_config)


def _init_from_text(model: nn.Module, tokenizer, text: str, num_virtual_tokens: int) -> None:
    """Copy the word embeddings of `text`'s tokens, cycled to `num_virtual_tokens`, into the prompt.

    Done here rather than with peft's TEXT init, which tokenizes with [CLS] and [SEP] and so would make
    two of the prompt vectors copies of the special tokens' embeddings.
    """
    ids = tokenizer([text], add_special_tokens=False, truncation=False)["input_ids"][0]
    if not ids:
        raise ConfigError(f"model.prompt_init_text {text!r} has no tokens to initialise the prompt from")
    ids = (ids * (num_virtual_tokens // len(ids) + 1))[:num_virtual_tokens]
    prompt = model.prompt_encoder["default"].embedding.weight  # (P, H)
    with torch.no_grad():
        words = model.word_embeddings(torch.tensor(ids, device=prompt.device))  # (P, H)
        prompt.copy_(words.to(prompt.dtype))


def build_prompt_tuning(config: PromptTuningClassifierConfig, labels: LabelSet, runtime: Runtime) -> TextClassifier:
    _check_common(config)
    if config.prompt_init not in PROMPT_INITS:
        raise ConfigError(f"model.prompt_init {config.prompt_init!r}: expected one of {PROMPT_INITS}")
    if config.prompt_init == "text" and not config.prompt_init_text.strip():
        raise ConfigError(
            "model.prompt_init is 'text' but model.prompt_init_text is empty; give the text to start from"
        )
    if config.prompt_init == "random" and config.prompt_init_text:
        raise ConfigError("model.prompt_init_text is set but model.prompt_init is 'random'; set prompt_init: text")
    from peft import PromptTuningConfig, PromptTuningInit, TaskType

    native = _native(config.backbone, runtime, config.num_virtual_tokens, None)
    if native is not None:
        return TextClassifier(
            PromptedEncoder(native, config.num_virtual_tokens, config.pooling), len(labels), config.dropout
        )
    peft_config = PromptTuningConfig(
        task_type=TaskType.FEATURE_EXTRACTION,
        num_virtual_tokens=config.num_virtual_tokens,
        prompt_tuning_init=PromptTuningInit.RANDOM,
    )
    model = _frozen_backbone_with(config.backbone, peft_config)
    if config.prompt_init == "text":
        _init_from_text(model, load_tokenizer(config.backbone), config.prompt_init_text, config.num_virtual_tokens)
    encoder = PromptedEncoder(model, config.num_virtual_tokens, config.pooling)
    return TextClassifier(encoder, len(labels), config.dropout)


def build_p_tuning(config: PTuningClassifierConfig, labels: LabelSet, runtime: Runtime) -> TextClassifier:
    _check_common(config)
    if config.encoder_hidden_size < 1:
        raise ConfigError(f"model.encoder_hidden_size is {config.encoder_hidden_size}; expected at least 1")
    native = _native(config.backbone, runtime, config.num_virtual_tokens, config.encoder_hidden_size)
    if native is not None:
        return TextClassifier(
            PromptedEncoder(native, config.num_virtual_tokens, config.pooling), len(labels), config.dropout
        )
    from peft import PromptEncoderConfig, PromptEncoderReparameterizationType, TaskType

    peft_config = PromptEncoderConfig(
        task_type=TaskType.FEATURE_EXTRACTION,
        num_virtual_tokens=config.num_virtual_tokens,
        encoder_hidden_size=config.encoder_hidden_size,
        encoder_reparameterization_type=PromptEncoderReparameterizationType.MLP,
    )
    model = _frozen_backbone_with(config.backbone, peft_config)
    encoder = PromptedEncoder(model, config.num_virtual_tokens, config.pooling)
    return TextClassifier(encoder, len(labels), config.dropout)


MODELS.add("prompt-tuning", ModelSpec(PromptTuningClassifierConfig, build_prompt_tuning, task=TASK))
MODELS.add("p-tuning", ModelSpec(PTuningClassifierConfig, build_p_tuning, task=TASK))
