"""A sparse gated-expert Mixture-of-Experts layer for any Hugging Face encoder, and the `moe` classifiers.

`insert_moe` puts an `MoEFFN` into chosen transformer blocks, in place of the block's FFN ("replace") or
beside it ("beside"). A router sends each token to its top-k experts; only those experts run on it. The
experts start from the pretrained FFN, so training starts from the pretrained function:

- "copy": every expert is a copy of the FFN; the top-k gates sum to 1, so the layer is the FFN;
- "split": the FFN's intermediate neurons are partitioned among the experts (MoEfication, Zhang et al.
  2022); with a uniform router and k == E the layer is the FFN;
- "beside": the FFN stays and each expert's down projection starts at zero.

Expert types: "gated" (GLU-style: down(act(up(x)) * (1 + gate(x))), gate starting at zero) for `moe`, and
"plain" (down(act(up(x)))) for the `moe-ffn` ablation. A Switch/GShard load-balancing loss over real
(non-padding) tokens is left on each layer as `aux_loss`; the classifier adds it to the task loss.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..config import ConfigError
from ..encoders.text import TextEncoder
from ..labels import LabelSet
from .base import MODELS, ModelSpec
from .document import TextClassifier

EXPERT_TYPES = ("gated", "plain")
MODES = ("replace", "beside")
EXPERT_INITS = ("copy", "split")


class PlainExpert(nn.Module):
    """An FFN expert: down(act(up(x))), (n, H) -> (n, H)."""

    def __init__(self, hidden: int, inner: int, act: nn.Module) -> None:
        super().__init__()
        self.up = nn.Linear(hidden, inner)
        self.act = act
        self.down = nn.Linear(inner, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(self.act(self.up(x)))


class GatedExpert(PlainExpert):
    """A GLU-style expert: down(act(up(x)) * (1 + gate(x))), (n, H) -> (n, H).

    The gate starts at zero, so an expert with the pretrained up/down starts as exactly the pretrained FFN.
    """

    def __init__(self, hidden: int, inner: int, act: nn.Module) -> None:
        super().__init__(hidden, inner, act)
        self.gate = nn.Linear(hidden, inner)
        nn.init.zeros_(self.gate.weight)
        nn.init.zeros_(self.gate.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(self.act(self.up(x)) * (1 + self.gate(x)))


@dataclass(frozen=True)
class Routing:
    """The routing of one forward: expert ids (..., k), -1 at padding, and their gates (..., k), 0 at padding."""

    expert_ids: torch.Tensor
    gates: torch.Tensor


def load_balancing_loss(probs: torch.Tensor, expert_ids: torch.Tensor) -> torch.Tensor:
    """Switch/GShard balance loss E * sum_e f_e * P_e; 1 when routing and router are uniform, E when collapsed.

    probs: (n, E) router probabilities; expert_ids: (n, k) chosen experts. f_e is the fraction of the n * k
    assignments that went to e (not differentiable), P_e the mean probability of e (differentiable).
    """
    num_experts = probs.shape[-1]
    if probs.shape[0] == 0:
        return probs.new_zeros(())
    fraction = torch.bincount(expert_ids.reshape(-1), minlength=num_experts).to(probs.dtype) / expert_ids.numel()
    return num_experts * (fraction * probs.mean(0)).sum()


class MoEFFN(nn.Module):
    """Top-k routed experts (plus, in "beside" mode, the pretrained FFN): (..., H) -> (..., H).

    `token_mask` (..., set before each encoder forward by the hook that `insert_moe` installs) marks real
    tokens: padding is neither computed nor counted in `aux_loss`, and its MoE output is zero. When
    `record_routing` is on, `routing` holds the last forward's per-token choices.
    """

    def __init__(
        self, experts: Sequence[nn.Module], hidden: int, top_k: int, pretrained: nn.Module | None = None
    ) -> None:
        super().__init__()
        if not 1 <= top_k <= len(experts):
            raise ValueError(f"top_k must be between 1 and the number of experts ({len(experts)}), got {top_k}")
        self.experts = nn.ModuleList(experts)
        self.router = nn.Linear(hidden, len(experts), bias=False)
        self.top_k = top_k
        self.pretrained = pretrained
        self.token_mask: torch.Tensor | None = None
        self.record_routing = False
        self.routing: Routing | None = None
        self.aux_loss = torch.zeros(())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        flat = x.reshape(-1, shape[-1])  # (N, H)
        rows = None  # rows of `flat` that are real tokens; None: all of them
        if self.token_mask is not None:
            if self.token_mask.shape != shape[:-1]:
                raise ValueError(f"token mask {tuple(self.token_mask.shape)} does not match states {tuple(shape)}")
            keep = self.token_mask.reshape(-1).bool()  # (N,)
            if not keep.all():
                rows = keep.nonzero().squeeze(1)  # (n,)
        tokens = flat if rows is None else flat.index_select(0, rows)  # (n, H)
        probs = self.router(tokens).float().softmax(-1)  # (n, E)
        top_probs, expert_ids = probs.topk(self.top_k, dim=-1)  # (n, k)
        gates = top_probs / top_probs.sum(-1, keepdim=True)  # (n, k), renormalised over the chosen k
        out = flat.new_zeros(flat.shape) if self.pretrained is None else self.pretrained(flat)  # (N, H)
        self._dispatch(tokens, expert_ids, gates, out, rows)
        self.aux_loss = load_balancing_loss(probs, expert_ids)
        if self.record_routing:
            self._record(shape, expert_ids, gates, rows)
        return out.reshape(shape)

    def _dispatch(
        self,
        tokens: torch.Tensor,
        expert_ids: torch.Tensor,
        gates: torch.Tensor,
        out: torch.Tensor,
        rows: torch.Tensor | None,
    ) -> None:
        """out[row of t] += sum_k gates[t, k] * expert_{ids[t, k]}(tokens[t]), each expert on its tokens only."""
        k = expert_ids.shape[1]
        flat_ids = expert_ids.reshape(-1)  # (n*k,) expert of each (token, slot) assignment
        order = flat_ids.argsort(stable=True)  # (n*k,) assignments grouped by expert
        counts = torch.bincount(flat_ids, minlength=len(self.experts)).tolist()  # (E,)
        token_of = order // k  # (n*k,) token of each grouped assignment
        gate_of = gates.reshape(-1).index_select(0, order)  # (n*k,)
        target = token_of if rows is None else rows.index_select(0, token_of)  # (n*k,) rows of `out`
        start = 0
        for expert, count in zip(self.experts, counts, strict=True):
            if count:
                part = slice(start, start + count)
                y = expert(tokens.index_select(0, token_of[part])) * gate_of[part, None]  # (count, H)
                out.index_add_(0, target[part], y.to(out.dtype))
            start += count

    def _record(
        self, shape: torch.Size, expert_ids: torch.Tensor, gates: torch.Tensor, rows: torch.Tensor | None
    ) -> None:
        ids, weights = expert_ids, gates.detach()  # (n, k)
        if rows is not None:  # put real tokens back among the padding
            ids = expert_ids.new_full((shape[:-1].numel(), self.top_k), -1).index_copy(0, rows, ids)  # (N, k)
            weights = weights.new_zeros(ids.shape).index_copy(0, rows, weights)  # (N, k)
        self.routing = Routing(ids.reshape(*shape[:-1], self.top_k), weights.reshape(*shape[:-1], self.top_k))


class DenseFFN(nn.Module):
    """The pretrained FFN, down(act(up(x))), kept beside the experts in "beside" mode."""

    def __init__(self, up: nn.Linear, act: nn.Module, down: nn.Linear) -> None:
        super().__init__()
        self.up, self.act, self.down = up, act, down

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(self.act(self.up(x)))


def make_moe(
    up: nn.Linear,
    act: nn.Module,
    down: nn.Linear,
    num_experts: int,
    top_k: int,
    expert_type: str,
    mode: str,
    expert_init: str,
    noise: float,
) -> MoEFFN:
    """An MoEFFN whose experts start from the pretrained FFN up/act/down (see the module docstring).

    noise: copied expert weights get noise * std(W) Gaussian perturbations (so that copies can diverge) and
    the router's weights start as N(0, noise^2); 0 gives exact copies and a zero router (uniform gates).
    """
    hidden, inner = up.in_features, up.out_features
    if expert_init == "copy":
        neuron_sets = [torch.arange(inner)] * num_experts
        scale = 1.0
    else:
        if inner < num_experts:
            raise ValueError(f"cannot split {inner} FFN neurons among {num_experts} experts")
        neuron_sets = list(torch.tensor_split(torch.arange(inner), num_experts))
        # Gates start at 1/k each: scaling by k lets each chosen expert's neurons count fully, as in the FFN.
        scale = float(top_k)
    expert_cls = GatedExpert if expert_type == "gated" else PlainExpert
    experts = []
    for neurons in neuron_sets:
        expert = expert_cls(hidden, len(neurons), copy.deepcopy(act)).to(up.weight.device, up.weight.dtype)
        with torch.no_grad():
            expert.up.weight.copy_(up.weight[neurons])
            expert.down.weight.copy_(down.weight[:, neurons] * scale)
            expert.up.bias.copy_(_bias_of(up)[neurons])
            expert.down.bias.copy_(_bias_of(down))
            if expert_init == "copy" and noise > 0:
                for weight in (expert.up.weight, expert.down.weight):
                    weight.add_(torch.randn_like(weight) * (noise * float(weight.std())))
            if mode == "beside":
                expert.down.weight.zero_()
                expert.down.bias.zero_()
        experts.append(expert)
    moe = MoEFFN(experts, hidden, top_k, DenseFFN(up, act, down) if mode == "beside" else None)
    moe.router.to(up.weight.device, up.weight.dtype)
    with torch.no_grad():
        moe.router.weight.normal_(0.0, noise)  # noise 0: a zero router, uniform gates
    return moe


def _bias_of(linear: nn.Linear) -> torch.Tensor:
    """The layer's bias, or zeros for a bias-free layer (experts always have biases)."""
    return linear.bias if linear.bias is not None else linear.weight.new_zeros(linear.out_features)


def insert_moe(
    model: nn.Module,
    layers: Sequence[int],
    num_experts: int = 4,
    top_k: int = 2,
    expert_type: str = "gated",
    mode: str = "replace",
    expert_init: str = "copy",
    noise: float = 0.01,
) -> list[MoEFFN]:
    """Put an MoEFFN into blocks `layers` (negative indices count from the end) of a Hugging Face encoder.

    Works by shape, not by model class: the blocks are the first nn.ModuleList with config.num_hidden_layers
    entries; in a block, the FFN is the one nn.Linear H -> F (up) and the one F -> H (down), F != H. If up
    and down have different owners (BERT's intermediate.dense, output.dense), up's owner (which must hold
    only up and the activation) becomes the MoE and down an identity, so the block's own dropout, residual
    and LayerNorm stay. If they share an owner (DistilBERT's ffn.lin1/activation/lin2), up becomes the MoE
    and the activation and down identities. A forward pre-hook passes the attention mask to the layers.
    """
    for name, value, options in (("expert_type", expert_type, EXPERT_TYPES), ("mode", mode, MODES)):
        if value not in options:
            raise ValueError(f"{name} {value!r}: expected one of {options}")
    if expert_init not in EXPERT_INITS:
        raise ValueError(f"expert_init {expert_init!r}: expected one of {EXPERT_INITS}")
    if not 1 <= top_k <= num_experts or noise < 0:
        raise ValueError(f"need 1 <= top_k <= num_experts and noise >= 0, got {top_k}, {num_experts}, {noise}")
    blocks = _find_blocks(model)
    chosen = [i + len(blocks) if i < 0 else i for i in layers]
    if not chosen or len(set(chosen)) != len(chosen) or not all(0 <= i < len(blocks) for i in chosen):
        raise ValueError(f"layers {list(layers)}: expected distinct indices in [-{len(blocks)}, {len(blocks)})")
    inserted = []
    for i in chosen:
        up_name, down_name, act_name, owner_name = _find_ffn(model, blocks[i], i)
        block = blocks[i]
        up, down, act = block.get_submodule(up_name), block.get_submodule(down_name), block.get_submodule(act_name)
        moe = make_moe(up, act, down, num_experts, top_k, expert_type, mode, expert_init, noise)
        _set(block, owner_name or up_name, moe)
        _set(block, down_name, nn.Identity())
        if owner_name is None:
            _set(block, act_name, nn.Identity())
        inserted.append(moe)
    if not hasattr(model, "_moe_mask_hook"):
        model._moe_mask_hook = model.register_forward_pre_hook(_pass_token_mask, with_kwargs=True)
    return inserted


def moe_layers(module: nn.Module) -> list[MoEFFN]:
    """Every MoEFFN inside `module`, in order (e.g. to switch `record_routing` on or read `aux_loss`)."""
    return [m for m in module.modules() if isinstance(m, MoEFFN)]


def _pass_token_mask(model: nn.Module, args: tuple, kwargs: dict) -> None:
    # HF encoders take (input_ids, attention_mask, ...) when called positionally.
    mask = kwargs.get("attention_mask", args[1] if len(args) > 1 else None)
    for layer in moe_layers(model):
        layer.token_mask = mask


def _find_blocks(model: nn.Module) -> nn.ModuleList:
    count = getattr(getattr(model, "config", None), "num_hidden_layers", None)
    for module in model.modules():
        if isinstance(module, nn.ModuleList) and len(module) == count:
            return module
    raise LookupError(
        f"{type(model).__name__}: found no nn.ModuleList of config.num_hidden_layers ({count}) transformer "
        "blocks; insert_moe needs a Hugging Face encoder whose layers are in one ModuleList"
    )


def _find_ffn(model: nn.Module, block: nn.Module, index: int) -> tuple[str, str, str, str | None]:
    """Names in `block` of the FFN's up, down and activation, and of up's owner when it is replaced whole."""
    where = f"{type(model).__name__} block {index} ({type(block).__name__})"
    if moe_layers(block):
        raise ValueError(f"{where} already has an MoE layer")
    hidden = int(model.config.hidden_size)
    linears = [(n, m) for n, m in block.named_modules() if isinstance(m, nn.Linear)]
    ups = [n for n, m in linears if m.in_features == hidden and m.out_features != hidden]
    downs = [n for n, m in linears if m.out_features == hidden and m.in_features != hidden]
    sizes = {block.get_submodule(n).out_features for n in ups} | {block.get_submodule(n).in_features for n in downs}
    if len(ups) != 1 or len(downs) != 1 or len(sizes) != 1:
        raise LookupError(
            f"{where}: cannot find the FFN; looked for exactly one nn.Linear {hidden}->F (up projection) and "
            f"one F->{hidden} (down projection), found up {ups} and down {downs}"
        )
    up_name, down_name = ups[0], downs[0]
    up_owner, down_owner = up_name.rpartition(".")[0], down_name.rpartition(".")[0]
    owner = block.get_submodule(up_owner)
    acts = [
        n
        for n, m in owner.named_children()
        if not isinstance(m, nn.Linear | nn.Dropout | nn.Identity) and next(m.parameters(), None) is None
    ]
    if len(acts) != 1:
        raise LookupError(f"{where}: expected one activation module beside {up_name}, found {acts}")
    act_name = f"{up_owner}.{acts[0]}" if up_owner else acts[0]
    if up_owner == down_owner:
        return up_name, down_name, act_name, None
    up_params = sum(p.numel() for p in block.get_submodule(up_name).parameters())
    if not up_owner or sum(p.numel() for p in owner.parameters()) != up_params:
        raise LookupError(f"{where}: {up_owner or 'the block'} holds more than the FFN's up projection")
    return up_name, down_name, act_name, up_owner


def _set(root: nn.Module, dotted: str, module: nn.Module) -> None:
    parent, _, name = dotted.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, name, module)


# -- the `moe` and `moe-ffn` classifiers ------------------------------------------------------------------
MOE_ADAPTERS = ("full", "bitfit", "frozen")  # LoRA would wrap the very projections the MoE replaces
EXPERT_TYPE_OF_MODEL = {"moe": "gated", "moe-ffn": "plain"}


@dataclass(frozen=True)
class MoEClassifierConfig:
    """Settings of `moe`: `text-classifier` with gated-expert MoE layers in the encoder's blocks `layers`."""

    type: str = "moe"
    backbone: str = "minilm"
    pooling: str = "mean"
    adapter: str = "full"  # "full" | "bitfit" | "frozen" (MoE layers always train)
    dropout: float = 0.1
    gradient_checkpointing: bool = False
    layers: tuple[int, ...] = (-2, -1)  # (4, 5) on the 6-layer MiniLM
    num_experts: int = 4
    top_k: int = 2
    mode: str = "replace"  # "replace" | "beside"
    expert_init: str = "copy"  # "copy" | "split"
    noise: float = 0.01
    aux_loss_weight: float = 0.01


@dataclass(frozen=True)
class MoEFFNClassifierConfig(MoEClassifierConfig):
    """Settings of `moe-ffn`, the ablation with plain FFN experts."""

    type: str = "moe-ffn"


class MoEClassifier(TextClassifier):
    """TextClassifier whose loss adds aux_loss_weight * the sum of its MoE layers' balance losses."""

    def __init__(self, encoder: TextEncoder, num_labels: int, dropout: float, aux_loss_weight: float) -> None:
        super().__init__(encoder, num_labels, dropout)
        self.aux_loss_weight = aux_loss_weight

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        out = super().forward(input_ids, attention_mask, labels)
        if labels is not None:
            out["aux_loss"] = torch.stack([layer.aux_loss for layer in moe_layers(self)]).sum()
            out["loss"] = out["loss"] + self.aux_loss_weight * out["aux_loss"]
        return out


def build_moe_classifier(config: MoEClassifierConfig, labels: LabelSet) -> MoEClassifier:
    if config.adapter not in MOE_ADAPTERS:
        raise ConfigError(f"model.adapter {config.adapter!r}: expected one of {MOE_ADAPTERS} for {config.type}")
    encoder = TextEncoder(
        backbone=config.backbone,
        pooling=config.pooling,
        adapter=config.adapter,
        gradient_checkpointing=config.gradient_checkpointing,
    )
    try:
        insert_moe(
            encoder.model,
            config.layers,
            config.num_experts,
            config.top_k,
            EXPERT_TYPE_OF_MODEL[config.type],
            config.mode,
            config.expert_init,
            config.noise,
        )
    except ValueError as err:
        raise ConfigError(f"model ({config.type}): {err}") from None
    return MoEClassifier(encoder, len(labels), config.dropout, config.aux_loss_weight)


MODELS.add("moe", ModelSpec(MoEClassifierConfig, build_moe_classifier, task="text-classification"))
MODELS.add("moe-ffn", ModelSpec(MoEFFNClassifierConfig, build_moe_classifier, task="text-classification"))
