"""Models. Every built-in model is declared here and its module imported on first use (see Registry.add_lazy)."""

from .base import MODELS, ModelOutput, ModelSpec, Runtime, build_model, load_checkpoint, save_checkpoint

BUILTIN = {
    "text-classifier": "document",
    "full-ft": "document",
    "lora": "document",
    "bitfit": "document",
    "moe": "moe",
    "moe-ffn": "moe",
    "bilstm-attn": "bilstm",
    "prompt-tuning": "prompt",
    "p-tuning": "prompt",
    "iagcn": "aspect",
    "iagcn-no-mdw": "aspect",
    "iagcn-no-gcn": "aspect",
    "iagcn-no-interactive": "aspect",
    "asgcn": "aspect",
    "spc": "aspect",
    "ate": "extraction",
}


def _declare_builtin() -> None:
    for name, module in BUILTIN.items():
        MODELS.add_lazy(name, f"{__name__}.{module}")


_declare_builtin()

__all__ = ["MODELS", "ModelOutput", "ModelSpec", "Runtime", "build_model", "load_checkpoint", "save_checkpoint"]
