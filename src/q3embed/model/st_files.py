"""The sentence-transformers files beside a checkpoint (modules, pooling, prompts), as q3embed writes them."""

from __future__ import annotations

import json
from pathlib import Path

from ..config import query_prompt


def write_sentence_transformers_files(out: Path, pooling: str = "lasttoken", prompt_instruction: str | None = None,
                                      max_seq_length: int = 8192, normalize: bool = True) -> None:
    """modules.json (Transformer -> Pooling [-> Normalize]), pooling config, prompts."""
    out = Path(out)
    (out / "1_Pooling").mkdir(exist_ok=True)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    if normalize:
        (out / "2_Normalize").mkdir(exist_ok=True)
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
    (out / "modules.json").write_text(json.dumps(modules, indent=2))
    config = json.loads((out / "config.json").read_text())
    hidden = config.get("hidden_size") or config["text_config"]["hidden_size"]  # Qwen3-VL: the text model's width
    pool = {"word_embedding_dimension": hidden, "pooling_mode_cls_token": pooling == "cls",
            "pooling_mode_mean_tokens": pooling == "mean", "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False, "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": pooling == "lasttoken", "include_prompt": True}
    (out / "1_Pooling" / "config.json").write_text(json.dumps(pool, indent=2))
    prompts = {"query": query_prompt(prompt_instruction), "document": ""} if prompt_instruction else {}
    (out / "config_sentence_transformers.json").write_text(json.dumps(
        {"prompts": prompts, "default_prompt_name": None, "similarity_fn_name": "cosine"}, indent=2))
    (out / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": max_seq_length, "do_lower_case": False}))
