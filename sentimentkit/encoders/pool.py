"""How a model runs (`Runtime`), and `EncoderPool`: one frozen backbone per process for many LoRA adapters.

Runtime choices (which implementation of the backbone, which device, whether backbones are shared) are made
when a model is loaded and are never saved in its checkpoint: the same folder runs on either implementation.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from torch import nn

IMPLEMENTATIONS = ("transformers", "native")
DTYPES = ("fp32", "bf16")


class EncoderPool:
    """Frozen pretrained backbones and their tokenizers, loaded once and shared.

    Models whose encoder trains only LoRA adapters (or nothing) can share one backbone: each adds its adapter
    under a name from `adapter_name()` and selects it per forward pass (`encoders.lora.use_adapter`). A serving
    process or the bundled aspect model then holds one MiniLM instead of one per model. Thread-safe.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._backbones: dict[tuple[str, str], nn.Module] = {}
        self._tokenizers: dict[tuple[str, str], Any] = {}
        self._names = itertools.count(1)

    def backbone(self, name: str, implementation: str) -> nn.Module:
        """The shared, frozen, eval-mode backbone `name` (loaded on first use)."""
        from .text import load_backbone

        key = (name, implementation)
        with self._lock:
            if key not in self._backbones:
                model = load_backbone(name, implementation)
                model.requires_grad_(False)
                self._backbones[key] = model.eval()
            return self._backbones[key]

    def tokenizer(self, name: str, implementation: str) -> Any:
        from .text import load_tokenizer

        key = (name, implementation)
        with self._lock:
            if key not in self._tokenizers:
                self._tokenizers[key] = load_tokenizer(name, implementation)
            return self._tokenizers[key]

    def adapter_name(self) -> str:
        """A fresh adapter name, unique in this pool."""
        with self._lock:
            return f"adapter{next(self._names)}"

    def __len__(self) -> int:
        return len(self._backbones)


@dataclass(frozen=True)
class Runtime:
    """How to run a model: never part of its config, never saved.

    implementation: "transformers" (AutoModel; training, every architecture) or "native" (the plain-torch BERT
    of `encoders/bert.py` where the backbone is a BERT, AutoModel otherwise: fast start-up at inference).
    encoders: share backbones between the models loaded with this runtime (None: each model loads its own).
    dtype: "fp32", or "bf16" (inference under torch.autocast in bfloat16, for CPUs with AVX-512 BF16 or AMX; the
    weights stay fp32; sentiment-en's logits move by up to about 0.3 and its labels agree with fp32 on about 99 %
    of SST-5 sentences). ONNX model folders run as exported and refuse bf16.
    threads: intra-op threads of ONNX Runtime sessions (0: ONNX Runtime's default, one per physical core); torch
    takes its own from `torch.set_num_threads`.
    """

    implementation: Literal["transformers", "native"] = "transformers"
    device: str = "cpu"
    encoders: EncoderPool | None = None
    dtype: Literal["fp32", "bf16"] = "fp32"
    threads: int = 0

    def __post_init__(self) -> None:
        if self.implementation not in IMPLEMENTATIONS:
            raise ValueError(f"implementation {self.implementation!r}: expected one of {IMPLEMENTATIONS}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype {self.dtype!r}: expected one of {DTYPES}")
        if self.threads < 0:
            raise ValueError(f"threads must be >= 0 (0: the runtime's default), got {self.threads}")


TRAINING = Runtime("transformers")


def inference_runtime(share: bool = True, dtype: Literal["fp32", "bf16"] = "fp32", threads: int = 0) -> Runtime:
    """The runtime `load()` uses by default: the native BERT, and one backbone for all the models it loads."""
    return Runtime("native", encoders=EncoderPool() if share else None, dtype=dtype, threads=threads)
