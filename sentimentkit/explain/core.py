"""Integrated gradients for the document and aspect models, on the word embeddings, folded back to words.

The model is the loaded one, run exactly as `Pipeline` runs it (the task's own encoding); only the word-embedding
lookup is interpolated between a baseline and the text (captum's LayerIntegratedGradients). The baseline replaces
every content subword by [PAD] and keeps [CLS], [SEP] and the aspect's subwords, so an aspect's explanation says
what in its context decided its polarity. The explained output is the label's probability (with the model's
calibration temperature, as the pipeline gives it), so attributions are in probability units and sum (up to
`delta`) to probability(text) - probability(baseline). Emoji are read as words, as the task reads them; the
words' subwords map back to the emoji in the text.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any

import torch
from torch import nn

from ..data.align import find_term, sentence_spans
from ..data.preprocess import rewrite
from ..tasks.aspect import AspectPolarity, AspectSentiment, _extract
from ..tasks.document import TextClassification
from ..types import AspectExample, Span, TextExample
from .attribution import WORD, Attribution, WordScore

RANKINGS = ("integrated-gradients", "attention", "random")


@dataclass
class Encoded:
    """One text (or aspect sentence) as the model reads it: a batch of one, and the character span of each
    position of `input_ids` in `text` (None for special tokens and for an appended pair aspect)."""

    text: str
    batch: Any
    token_spans: list[tuple[int, int] | None]
    aspect_positions: frozenset[int]
    truncated: bool
    aspect: str | None = None
    aspect_spans: tuple[Span, ...] = ()
    offset: int = 0


def _torch_pipeline(pipeline: Any) -> Any:
    """The torch checkpoint behind a pipeline running on ONNX Runtime (gradients need torch)."""
    from ..inference.pipeline import Pipeline

    again = Pipeline.load(pipeline.source, batch_size=pipeline.batch_size, backend="torch")
    if again.backend != "torch":
        raise ValueError(
            f"{pipeline.source} is an exported ONNX folder: explanations need gradients, so explain the torch "
            "model it was exported from"
        )
    return again


class Explainer:
    """Explanations for a loaded pipeline (`sentimentkit.load(...)`): a document model, or an aspect model.

    steps: integration steps (more: smaller completeness delta, slower). internal_batch_size: interpolated inputs
    per forward pass.
    """

    def __init__(self, pipeline: Any, steps: int = 50, internal_batch_size: int = 64) -> None:
        if steps < 2:
            raise ValueError(f"steps must be at least 2, got {steps}")
        if getattr(pipeline, "backend", "torch") == "onnx":
            pipeline = _torch_pipeline(pipeline)
        task = pipeline.task
        if isinstance(task, TextClassification):
            self.kind, self.task, self.model = "document", task, pipeline.model
        elif isinstance(task, AspectPolarity):
            self.kind, self.task, self.model = "aspect", task, pipeline.model
        elif isinstance(task, AspectSentiment):
            self.kind, self.task, self.model = "aspect", task.polarity, pipeline.model.polarity
        elif task.name.startswith("multimodal"):
            raise ValueError(
                f"{pipeline.manifest.path} is a multimodal model: explain its clips with "
                "sentimentkit.explain.ClipExplainer (or explain(pipeline, clip))"
            )
        else:
            raise ValueError(
                f"{pipeline.manifest.path}: explanations cover document, aspect and multimodal models, not {task.name}"
            )
        self.pipeline = pipeline
        self.steps, self.internal_batch_size = steps, internal_batch_size
        self.embeddings = _word_embeddings(self.model)
        self.labels = self.task.labels
        self.temperature = float(getattr(self.task, "temperature", 1.0))  # probabilities as the pipeline gives them

    # --- public ------------------------------------------------------------------------------------------------
    def explain(
        self, text: str, aspect: str | Sequence[str] | None = None, target: str | None = None
    ) -> list[Attribution]:
        """One Attribution per prediction: one for a document model; for an aspect model one per occurrence of each
        `aspect` term (each in its sentence, as `Pipeline` scores it), or per extracted aspect when none is given.

        target: the label to explain (default: the predicted one). ValueError for blank text, an absent aspect
        term, an unknown target, or an aspect given to a document model.
        """
        if not isinstance(text, str) or not text.strip():
            raise ValueError("nothing to explain: the text is blank")
        if target is not None and target not in self.labels.names:
            raise ValueError(f"target {target!r}: expected one of the model's labels {list(self.labels.names)}")
        return [self.attribute(e, target) for e in self.encode(text, aspect)]

    def encode(self, text: str, aspect: str | Sequence[str] | None = None) -> list[Encoded]:
        if self.kind == "document":
            if aspect:
                raise ValueError("this is a document model; explain an aspect with an aspect model such as absa-en")
            return [self._encode_document(text)]
        return [self.encode_aspect(example, offset) for example, offset in self._aspect_examples(text, aspect)]

    def attribute(self, encoded: Encoded, target: str | None = None) -> Attribution:
        from captum.attr import LayerIntegratedGradients

        batch = encoded.batch
        with torch.no_grad():
            out = self.model(batch)
        probs = torch.softmax(out.logits.float() / self.temperature, -1)[0]
        predicted = int(probs.argmax())
        k = predicted if target is None else self.labels.names.index(target)
        baseline = self._baseline(encoded)
        forward = self._forward(batch)
        ig = LayerIntegratedGradients(forward, self.embeddings)
        with torch.enable_grad():
            scores, delta = ig.attribute(
                batch.input_ids,
                baselines=baseline,
                target=k,
                n_steps=self.steps,
                method="gausslegendre",
                internal_batch_size=self.internal_batch_size,
                return_convergence_delta=True,
            )
        token_scores = scores.sum(-1)[0].detach().float().tolist()  # (T,)
        with torch.no_grad():
            base_prob = float(forward(baseline)[0, k])
        views = self._views(encoded)
        words = _fold(encoded, token_scores, views)
        return Attribution(
            text=encoded.text,
            words=tuple(words),
            label=self.labels.names[k],
            predicted=self.labels.names[predicted],
            probability=float(probs[k]),
            baseline_probability=base_prob,
            probabilities={n: float(p) for n, p in zip(self.labels.names, probs.tolist(), strict=True)},
            delta=float(delta.reshape(-1)[0]),
            steps=self.steps,
            aspect=encoded.aspect,
            offset=encoded.offset,
            truncated=encoded.truncated,
        )

    # --- probabilities of edited texts (faithfulness) ----------------------------------------------------------
    def probability(self, encoded: Encoded, label: str, keep: set[int]) -> float:
        """The label's probability on the text with only the words at indices `keep` (of `WORD` words), the
        aspect always kept: the deletion test re-reads the edited text through the task's own encoding."""
        words = list(WORD.finditer(encoded.text))
        aspect_chars = [(a, b) for a, b in encoded.aspect_spans]
        pieces, spans, cursor = [], [], 0
        for i, m in enumerate(words):
            is_aspect = any(m.start() < b and a < m.end() for a, b in aspect_chars)
            if i in keep or is_aspect:
                if pieces:
                    cursor += 1
                start = cursor
                pieces.append(m.group())
                cursor += len(m.group())
                if is_aspect:
                    spans.append((start, cursor))
        text = " ".join(pieces)
        if not text.strip():
            text = "."
        k = self.labels.names.index(label)
        if self.kind == "document":
            edited = self._encode_document(text)
        else:
            merged = _merge_spans(spans)
            if not merged:
                raise ValueError("the aspect vanished from the edited text")
            example = AspectExample(text=text, aspect=encoded.aspect or "", spans=tuple(merged))
            edited = self.encode_aspect((example), 0)
        with torch.no_grad():
            return float(torch.softmax(self.model(edited.batch).logits.float() / self.temperature, -1)[0, k])

    def ranking(self, attribution: Attribution, encoded: Encoded, how: str, seed: int = 0) -> list[int]:
        """Word indices (of `WORD` words, aspect words left out) from most to least important, by `how`."""
        if how not in RANKINGS:
            raise ValueError(f"ranking {how!r}: expected one of {RANKINGS}")
        candidates = [i for i, w in enumerate(attribution.words) if not w.aspect]
        if how == "random":
            rng = random.Random(seed)
            rng.shuffle(candidates)
            return candidates
        if how == "attention":
            if any(attribution.words[i].attention is None for i in candidates):
                raise ValueError("this model shows no attention over its words")
            return sorted(candidates, key=lambda i: -(attribution.words[i].attention or 0.0))
        return sorted(candidates, key=lambda i: -(attribution.words[i].score or float("-inf")))

    # --- encoding ------------------------------------------------------------------------------------------------
    def _encode_document(self, text: str) -> Encoded:
        task = self.task
        item = task.encode([TextExample(text=text)])[0]
        rw = rewrite(text, task.emoji)  # what the task tokenized (emoji as words); offsets map back to `text`
        pieces = task.tokenizer(rw.text, add_special_tokens=False, return_offsets_mapping=True)
        offsets = [tuple(rw.old_span(o)) for o in pieces["offset_mapping"]]
        kept = _kept_positions(len(offsets), task.max_length - 2, task.truncation)
        if [pieces["input_ids"][i] for i in kept] != list(item.input_ids[1:-1]):
            raise RuntimeError("explanation encoding drifted from the task's encoding")  # a bug, not user input
        spans = [None, *(offsets[i] for i in kept), None]
        return Encoded(text, task.collate([item]), spans, frozenset(), item.truncated)

    def _aspect_examples(self, text: str, aspect: str | Sequence[str] | None) -> list[tuple[AspectExample, int]]:
        if aspect is None or (not isinstance(aspect, str) and not aspect):
            extractor = getattr(self.pipeline.task, "extractor", None)
            if extractor is None:
                raise ValueError("this aspect model has no extractor: name the aspect to explain")
            located = _extract(extractor, self.pipeline.model.extractor, [text], 32)[0]
            if not located:
                raise ValueError("no aspect found in the text; name one to explain")
        else:
            terms = [aspect] if isinstance(aspect, str) else list(aspect)
            located = []
            for term in terms:
                found = find_term(text, term)
                if not found:
                    raise ValueError(f"aspect {term!r} does not occur in the text")
                located.extend(found)
        sentences = sentence_spans(text)
        out = []
        for a, b in sorted(set(located)):
            s0, s1 = next(((x, y) for x, y in sentences if x <= a and b <= y), (0, len(text)))
            example = AspectExample(text=text[s0:s1], aspect=text[a:b], spans=(Span(a - s0, b - s0),))
            out.append((example, s0))
        return out

    def encode_aspect(self, example: AspectExample, offset: int = 0) -> Encoded:
        """One aspect example (a sentence, the aspect's span in it) as the polarity model reads it; `offset`: where
        the sentence starts in the text it came from."""
        from ..data.align import align_words

        task = self.task
        prepared, rw = task.prepare(example, raw_text=True)  # emoji as words; `rw` maps offsets back to the text
        parses = task.parses([prepared], raw_text=True)
        item = task.encode([prepared], raw_text=True, parses=parses)[0]
        parse = parses[0] if parses else None
        alignment = align_words(task.tokenizer, prepared.text, parse.words if parse is not None else None)
        content = list(item.input_ids[1 : 1 + _content_length(item)])
        lo = _find(list(alignment.subword_ids), content)
        spans: list[tuple[int, int] | None] = [None] * len(item.input_ids)
        for i in range(len(content)):
            spans[1 + i] = tuple(rw.old_span(alignment.subword_spans[lo + i]))  # type: ignore[assignment]
        aspect_positions = frozenset(i for i, m in enumerate(item.aspect_mask) if m)
        truncated = len(content) < len(alignment.subword_ids)
        return Encoded(
            example.text,
            task.collate([item]),
            spans,
            aspect_positions,
            truncated,
            example.aspect,
            example.spans,
            offset,
        )

    # --- model pieces --------------------------------------------------------------------------------------------
    def _baseline(self, encoded: Encoded) -> torch.Tensor:
        ids = encoded.batch.input_ids.clone()
        pad = int(getattr(self.embeddings, "padding_idx", None) or 0)
        for i, span in enumerate(encoded.token_spans):
            if span is not None and i not in encoded.aspect_positions:
                ids[0, i] = pad
        return ids

    def _forward(self, template: Any) -> Callable[[torch.Tensor], torch.Tensor]:
        model, temperature = self.model, self.temperature

        def forward(input_ids: torch.Tensor) -> torch.Tensor:
            values = {**expanded(template, input_ids.shape[0]), "input_ids": input_ids}
            return torch.softmax(model(replace(template, **values)).logits.float() / temperature, -1)

        return forward

    def _views(self, encoded: Encoded) -> dict[str, list[Any]]:
        """What the model shows per position in one plain forward: attention, MDW weights, MoE experts."""
        from ..models.moe import MoEClassifier

        views: dict[str, list[Any]] = {}
        captured: dict[str, torch.Tensor] = {}
        hooks = []
        head = getattr(self.model, "head", None)
        attention = getattr(head, "context_attention", None)
        if attention is not None:
            hooks.append(attention.register_forward_hook(_capture_query_attention(captured)))
        else:
            layer = _last_self_attention(self.model)
            if layer is not None:
                hooks.append(layer.register_forward_hook(_capture_self_attention(captured)))
        try:
            with torch.no_grad():
                if isinstance(self.model, MoEClassifier):
                    out = self.model(encoded.batch, record_routing=True)
                else:
                    out = self.model(encoded.batch)
        finally:
            for h in hooks:
                h.remove()
        if "attention" in captured:
            views["attention"] = captured["attention"][0].tolist()
        mdw = getattr(head, "mdw", None)
        if mdw is not None:
            mask = encoded.batch.aspect_mask[0].tolist()
            views["mdw"] = [float(mdw[0] if m else mdw[1]) for m in mask]
        experts = out.extras.get("routing_experts")
        if experts is not None:  # (L, 1, T, k)
            views["experts"] = [tuple(int(e) for e in experts[:, 0, t, 0].tolist()) for t in range(experts.shape[2])]
        return views


# --- helpers ---------------------------------------------------------------------------------------------------
def expanded(template: Any, n: int) -> dict[str, Any]:
    """The fields of a batch of one, each tensor expanded (without copying) to a batch of n."""
    values = {}
    for f in fields(template):
        v = getattr(template, f.name)
        if isinstance(v, torch.Tensor) and v.shape[0] == 1:
            v = v.expand(n, *v.shape[1:])
        values[f.name] = v
    return values


def _word_embeddings(model: nn.Module) -> nn.Module:
    """The word-embedding lookup of the model's encoder (a BERT's `word_embeddings`, or the BiLSTM's table)."""
    found = {id(m): m for name, m in model.named_modules() if name.endswith("word_embeddings")}
    if not found:
        found = {
            id(m): m for name, m in model.named_modules() if name.endswith("embedding") and isinstance(m, nn.Embedding)
        }
    if len(found) != 1:
        raise ValueError(f"{type(model).__name__}: no single word-embedding layer to attribute to")
    return next(iter(found.values()))


def _last_self_attention(model: nn.Module) -> nn.Module | None:
    from ..encoders.bert import _SelfAttention

    layers = [m for m in model.modules() if isinstance(m, _SelfAttention)]
    return layers[-1] if layers else None


def _capture_self_attention(captured: dict[str, torch.Tensor]) -> Callable[..., None]:
    """Recompute the last layer's attention probabilities from its inputs (the fused kernel does not return them):
    the attention each position receives, averaged over heads and over the real query positions."""

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        x, mask = inputs[0], inputs[1]  # (B, T, H); (B, 1, 1, T) bool
        b, t, h = x.shape
        heads = module.heads

        def split(y: torch.Tensor) -> torch.Tensor:
            return y.view(b, t, heads, h // heads).transpose(1, 2)

        q, k = split(module.query(x)), split(module.key(x))
        scores = q @ k.transpose(-1, -2) / (h // heads) ** 0.5  # (B, heads, T, T)
        probs = torch.softmax(scores.float().masked_fill(~mask, float("-inf")), -1)
        real = mask[:, 0, 0, :].float()  # (B, T)
        received = (probs.mean(1) * real.unsqueeze(-1)).sum(1) / real.sum(-1, keepdim=True)  # (B, T)
        captured["attention"] = received

    return hook


def _capture_query_attention(captured: dict[str, torch.Tensor]) -> Callable[..., None]:
    """IAGCN's context attention weights, recomputed from the attention module's inputs."""

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        keys, mask, query = inputs
        scores = torch.tanh(torch.bmm(keys, module.proj(query).unsqueeze(-1)).squeeze(-1))
        captured["attention"] = torch.softmax(scores.float().masked_fill(~mask, float("-inf")), dim=-1)

    return hook


def _fold(encoded: Encoded, token_scores: list[float], views: dict[str, list[Any]]) -> list[WordScore]:
    """Subword values -> the text's words (`WORD`): sums for scores and attention; the first subword's MDW weight
    and experts. Words with no subword in the model's window get score None."""
    words = list(WORD.finditer(encoded.text))
    owner: dict[int, list[int]] = {i: [] for i in range(len(words))}
    for pos, span in enumerate(encoded.token_spans):
        if span is None or span[0] == span[1]:
            continue
        a, b = span
        for i, m in enumerate(words):
            if m.start() < b and a < m.end():
                owner[i].append(pos)
    aspect_chars = list(encoded.aspect_spans)
    out = []
    for i, m in enumerate(words):
        positions = owner[i]
        is_aspect = any(m.start() < b and a < m.end() for a, b in aspect_chars)
        score = sum(token_scores[p] for p in positions) if positions else None
        attention = None
        if "attention" in views and positions:
            attention = float(sum(views["attention"][p] for p in positions))
        mdw = float(views["mdw"][positions[0]]) if "mdw" in views and positions else None
        experts = views["experts"][positions[0]] if "experts" in views and positions else None
        out.append(
            WordScore(
                word=m.group(),
                start=m.start() + encoded.offset,
                end=m.end() + encoded.offset,
                score=None if score is None else float(score),
                aspect=is_aspect,
                attention=attention,
                mdw=mdw,
                experts=experts,
            )
        )
    return out


def _kept_positions(n: int, budget: int, truncation: str) -> list[int]:
    """The subword indices `encode_texts` keeps of n (the same cut: "head", or a quarter head + the rest tail)."""
    if n <= budget:
        return list(range(n))
    if truncation == "head":
        return list(range(budget))
    head = budget // 4
    return [*range(head), *range(n - (budget - head), n)]


def _content_length(item: Any) -> int:
    """Subwords of the sentence in an aspect item: up to its first [SEP] (a pair input appends the aspect)."""
    return next(i for i, w in enumerate(item.subword_words[1:], start=1) if w == -1) - 1


def _find(haystack: list[int], needle: list[int]) -> int:
    for lo in range(len(haystack) - len(needle) + 1):
        if haystack[lo : lo + len(needle)] == needle:
            return lo
    raise RuntimeError("explanation encoding drifted from the task's encoding")


def _merge_spans(spans: list[tuple[int, int]]) -> list[Span]:
    """Adjacent aspect words of the edited text (one space apart) as one span each occurrence."""
    merged: list[list[int]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1] + 1:
            merged[-1][1] = b
        else:
            merged.append([a, b])
    return [Span(a, b) for a, b in merged]


def explain(
    pipeline: Any,
    text: Any,
    aspect: str | Sequence[str] | None = None,
    target: str | None = None,
    steps: int = 50,
) -> list[Any]:
    """Integrated-gradients explanations of `pipeline`'s prediction(s) for `text` (see `Explainer.explain`); for a
    multimodal model `text` is a clip (a MultimodalExample, a .npz clip file, or a list: `ClipExplainer.explain`)."""
    if pipeline.task.name.startswith("multimodal"):
        if aspect or target:
            raise ValueError("a multimodal model explains its sentiment value: no aspect or target label")
        from .multimodal import ClipExplainer

        return ClipExplainer(pipeline, steps=steps).explain(text)
    return Explainer(pipeline, steps=steps).explain(text, aspect, target)
