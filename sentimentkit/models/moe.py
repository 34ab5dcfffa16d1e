"""A sparse gated-expert Mixture-of-Experts layer for any Hugging Face encoder, and the `moe` classifiers.

`insert_moe` puts an `MoEFFN` into chosen transformer blocks, in place of the block's FFN ("replace") or
beside it ("beside"). A router sends each token to its top-k experts; only those experts run on it. The
experts start from the pretrained FFN, so training starts from the pretrained function:

- "copy": every expert is a copy of the FFN; the top-k gates sum to 1, so the layer is the FFN;
- "split": the FFN's intermediate neurons are partitioned among the experts (MoEfication, Zhang et al.
  2022); with a uniform router and k == E the layer is the FFN;
- "beside": the FFN stays and each expert's down projection starts at zero.

Expert types: "gated" (GLU-style: down(act(up(x)) * (1 + gate(x))), gate starting at zero) for `moe`, and
"plain" (down(act(up(x)))) for the `moe-ffn` ablation.

Per-call state lives in a `MoECall`, not on the layers: the caller opens one around the encoder's forward
(`with moe_call(attention_mask) as call:`), the layers read the token mask from it and add their Switch/GShard
load-balancing loss over real (non-padding) tokens and, on request, their routing to it. It is a context
variable, so concurrent calls (threads, asyncio tasks) each see their own: a loaded MoE model is re-entrant.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field

import torch
from torch import nn

from ..config import ConfigError
from ..data.collate import TextBatch
from ..encoders.pool import Runtime
from ..encoders.text import DEFAULT_BACKBONE, TextEncoder, enable_checkpointing
from ..labels import LabelSet
from .base import MODELS, ModelOutput, ModelSpec
from .document import TASK, TextClassifier

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


@dataclass
class MoECall:
    """One forward pass through MoE layers: the token mask they read, and what they report back (in layer order).

    token_mask: (...) 1 on real tokens, matching the states' leading dims (None: every token is real).
    """

    token_mask: torch.Tensor | None = None
    record_routing: bool = False
    aux_losses: list[torch.Tensor] = field(default_factory=list)
    routing: list[Routing] = field(default_factory=list)

    def aux_loss(self) -> torch.Tensor:
        """The summed balance loss of every MoE layer this call went through (0 when none)."""
        return torch.stack(self.aux_losses).sum() if self.aux_losses else torch.zeros(())


_CALL: ContextVar[MoECall | None] = ContextVar("sentimentkit_moe_call", default=None)


@contextlib.contextmanager
def moe_call(token_mask: torch.Tensor | None = None, record_routing: bool = False) -> Iterator[MoECall]:
    """The MoE layers called inside the block read `token_mask` and report to the yielded MoECall."""
    call = MoECall(token_mask, record_routing)
    token = _CALL.set(call)
    try:
        yield call
    finally:
        _CALL.reset(token)


def checkpoint_contexts() -> tuple[contextlib.AbstractContextManager, contextlib.AbstractContextManager]:
    """torch.utils.checkpoint's `context_fn` for MoE layers: the recompute of a layer in the backward pass runs
    outside the forward's `moe_call` block, so it gets a copy of that call (the same token mask, hence the same
    routing) that reports to nowhere: balance losses and routing are counted once, in the forward."""
    call = _CALL.get()
    replay = None if call is None else MoECall(call.token_mask, record_routing=False)
    return contextlib.nullcontext(), _active(replay)


@contextlib.contextmanager
def _active(call: MoECall | None) -> Iterator[None]:
    token = _CALL.set(call)
    try:
        yield
    finally:
        _CALL.reset(token)


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

    The token mask of the current `moe_call` marks real tokens: padding is neither computed nor counted in the
    balance loss, and its MoE output is zero. Outside a `moe_call` every token is computed and nothing is reported.
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        call = _CALL.get()
        token_mask = call.token_mask if call is not None else None
        shape = x.shape
        flat = x.reshape(-1, shape[-1])  # (N, H)
        rows = None  # rows of `flat` that are real tokens; None: all of them
        if token_mask is not None:
            if token_mask.shape != shape[:-1]:
                raise ValueError(f"token mask {tuple(token_mask.shape)} does not match states {tuple(shape)}")
            keep = token_mask.reshape(-1).bool()  # (N,)
            if not keep.all():
                rows = keep.nonzero().squeeze(1)  # (n,)
        tokens = flat if rows is None else flat.index_select(0, rows)  # (n, H)
        probs = self.router(tokens).float().softmax(-1)  # (n, E)
        top_probs, expert_ids = probs.topk(self.top_k, dim=-1)  # (n, k)
        gates = top_probs / top_probs.sum(-1, keepdim=True)  # (n, k), renormalised over the chosen k
        out = flat.new_zeros(flat.shape) if self.pretrained is None else self.pretrained(flat)  # (N, H)
        self._dispatch(tokens, expert_ids, gates, out, rows)
        if call is not None:
            call.aux_losses.append(load_balancing_loss(probs, expert_ids))
            if call.record_routing:
                call.routing.append(self._routing(shape, expert_ids, gates, rows))
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

    def _routing(
        self, shape: torch.Size, expert_ids: torch.Tensor, gates: torch.Tensor, rows: torch.Tensor | None
    ) -> Routing:
        ids, weights = expert_ids, gates.detach()  # (n, k)
        if rows is not None:  # put real tokens back among the padding
            ids = expert_ids.new_full((shape[:-1].numel(), self.top_k), -1).index_copy(0, rows, ids)  # (N, k)
            weights = weights.new_zeros(ids.shape).index_copy(0, rows, weights)  # (N, k)
        return Routing(ids.reshape(*shape[:-1], self.top_k), weights.reshape(*shape[:-1], self.top_k))


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
    and the activation and down identities. Call the model inside `moe_call(attention_mask)` so that the
    layers skip padding and report their balance loss.
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
    return inserted


def moe_layers(module: nn.Module) -> list[MoEFFN]:
    """Every MoEFFN inside `module`, in order."""
    return [m for m in module.modules() if isinstance(m, MoEFFN)]


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
    backbone: str = DEFAULT_BACKBONE
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
    """TextClassifier whose loss adds aux_loss_weight * the sum of its MoE layers' balance losses.

    extras: "aux_loss" (the summed balance loss) and, when `record_routing` is passed to forward, the routing of
    every MoE layer: "routing_experts" (L, B, T, k) expert ids (-1 at padding) and "routing_gates" (L, B, T, k).
    """

    def __init__(self, encoder: TextEncoder, num_labels: int, dropout: float, aux_loss_weight: float) -> None:
        super().__init__(encoder, num_labels, dropout)
        self.aux_loss_weight = aux_loss_weight

    def forward(self, batch: TextBatch, record_routing: bool = False) -> ModelOutput:
        with moe_call(batch.attention_mask, record_routing) as call:
            out = super().forward(batch)
        out.extras["aux_loss"] = call.aux_loss()
        if out.loss is not None:
            out.loss = out.loss + self.aux_loss_weight * out.extras["aux_loss"]
        if record_routing and call.routing:
            out.extras["routing_experts"] = torch.stack([r.expert_ids for r in call.routing])
            out.extras["routing_gates"] = torch.stack([r.gates for r in call.routing])
        return out


def build_moe_classifier(config: MoEClassifierConfig, labels: LabelSet, runtime: Runtime) -> MoEClassifier:
    if config.adapter not in MOE_ADAPTERS:
        raise ConfigError(f"model.adapter {config.adapter!r}: expected one of {MOE_ADAPTERS} for {config.type}")
    # never from a pool: inserting experts rewrites the backbone's blocks
    encoder = TextEncoder(
        backbone=config.backbone,
        pooling=config.pooling,
        adapter=config.adapter,
        implementation=runtime.implementation,
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
    if config.gradient_checkpointing and runtime.implementation == "transformers":
        enable_checkpointing(encoder.model, checkpoint_contexts)
    return MoEClassifier(encoder, len(labels), config.dropout, config.aux_loss_weight)


MODELS.add("moe", ModelSpec(MoEClassifierConfig, build_moe_classifier, task=TASK))
MODELS.add("moe-ffn", ModelSpec(MoEFFNClassifierConfig, build_moe_classifier, task=TASK))
