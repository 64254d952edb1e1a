"""What is trained: LoRA through peft or the full model; gradient checkpointing; merged weights.

``merged_state_dict`` computes W + delta for every LoRA layer without touching the live model,
so a checkpoint can be exported in the middle of a run and training continues bit for bit.
"""

from __future__ import annotations

import warnings

import torch

from .config import ConfigError, LoraConfig


def apply_lora(model, cfg: LoraConfig, task_type: str):
    """Wrap ``model`` in peft LoRA (task_type "FEATURE_EXTRACTION" or "CAUSAL_LM"), or return it as is."""
    if not cfg.enabled:
        for p in model.parameters():
            p.requires_grad_(True)
        return model
    try:
        from peft import LoraConfig as PeftLoraConfig, get_peft_model
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ConfigError("lora.enabled needs the 'peft' package: pip install 'q3embed[train]'") from e
    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    missing = [t for t in cfg.target_modules if t not in names]
    if missing:
        linear = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)})
        raise ConfigError(f"lora.target_modules {missing} are not in this model; its linear layers are: {', '.join(linear)}")
    peft_cfg = PeftLoraConfig(r=cfg.rank, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout,
                              target_modules=list(cfg.target_modules), task_type=task_type)
    with warnings.catch_warnings():
        # peft (0.21) reads the model's `is_gradient_checkpointing`, which transformers 5 deprecated in
        # favour of `is_activation_checkpointing`: their warning, nothing q3embed does or can change.
        warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
        return get_peft_model(model, peft_cfg)


def enable_gradient_checkpointing(model) -> None:
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    # Non-reentrant checkpointing works with frozen inputs (LoRA) without enable_input_require_grads.
    # transformers 5 names it activation_checkpointing_enable (gradient_checkpointing_enable warns,
    # FutureWarning, and goes in v6); older releases (the floor is 4.56) have only the old name.
    if hasattr(base, "activation_checkpointing_enable"):
        base.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    else:
        base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    base.config.use_cache = False


def base_model(model):
    """The transformers model under a peft wrapper (or the model itself)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def trainable_parameters(model) -> dict[str, torch.Tensor]:
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


def merged_state_dict(model) -> dict[str, torch.Tensor]:
    """The base model's state dict with every LoRA delta folded in; the live model is unchanged."""
    base = base_model(model)
    if base is model:
        return {k: v.detach() for k, v in model.state_dict().items()}
    deltas = {}
    for name, module in base.named_modules():
        if hasattr(module, "get_delta_weight") and hasattr(module, "base_layer"):
            with torch.no_grad():
                delta = sum(module.get_delta_weight(a) for a in module.active_adapters if a in module.lora_A)
            deltas[f"{name}.weight"] = delta
    out = {}
    for key, value in base.state_dict().items():
        if "lora_" in key or "lora_dropout" in key:
            continue
        clean = key.replace(".base_layer.", ".")
        value = value.detach()
        if clean in deltas and key.endswith("base_layer.weight"):
            value = value + deltas[clean].to(value.dtype)
        out[clean] = value
    return out
