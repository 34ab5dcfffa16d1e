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
    # multimodal (task multimodal-regression.v1): ALMT, its ablations, the baselines, the residual net, text only
    "almt": "multimodal.almt",
    "almt-no-ahl": "multimodal.almt",
    "almt-shuffled-guidance": "multimodal.almt",
    "almt-single-scale": "multimodal.almt",
    "tfn": "multimodal.fusion",
    "lmf": "multimodal.fusion",
    "lf-dnn": "multimodal.fusion",
    "ef-lstm": "multimodal.fusion",
    "mult": "multimodal.mult",
    "msrn": "multimodal.msrn",
    "text-regressor": "multimodal.text_only",
    # encoder pretraining: SKESL's sentiment-word intensity and the masked-language-model control
    "skesl-text": "pretraining",
    "mlm-text": "pretraining",
    # SKESL's multimodal half: pretraining with non-verbal injection, and fine-tuning from it
    "skesl-mm": "multimodal.skesl",
    "skesl-ft": "multimodal.skesl",
}


def _declare_builtin() -> None:
    for name, module in BUILTIN.items():
        MODELS.add_lazy(name, f"{__name__}.{module}")


_declare_builtin()

__all__ = ["MODELS", "ModelOutput", "ModelSpec", "Runtime", "build_model", "load_checkpoint", "save_checkpoint"]
