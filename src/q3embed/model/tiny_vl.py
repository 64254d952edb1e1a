"""Tiny random Qwen3-VL embedding and reranker checkpoints, laid out like the released ones.

Each folder holds what Qwen/Qwen3-VL-Embedding-2B and Qwen/Qwen3-VL-Reranker-2B hold:
``config.json`` (``model_type: qwen3_vl``, a text and a vision config), safetensors weights
(``model.language_model.*``, ``model.visual.*``; the reranker adds ``lm_head.weight``), the
genuine Qwen vocabulary with the vision tokens at their real ids (``<|vision_start|>`` 151652,
``<|vision_end|>`` 151653, ``<|image_pad|>`` 151655, ``<|video_pad|>`` 151656), the Qwen3-VL chat
template, and ``preprocessor_config.json`` / ``video_preprocessor_config.json`` (16-pixel patches,
2 x 2 merge, mean/std 0.5). The embedding model also has the sentence-transformers files
(last-token pooling, Normalize).

``shape="2B"`` gives the real 2B shape with random weights (for throughput benchmarks).
Only the ``tiny`` verb and tests import this module.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .st_files import write_sentence_transformers_files
from .tiny import TOKENIZER_FILES, save_random_weights
from .vocab import save_qwen3_tokenizer

VL_SHAPES = {
    "tiny": dict(
        text=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, head_dim=16, mrope_section=[4, 2, 2]),
        vision=dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, deepstack_visual_indexes=[0]),
    ),
    "2B": dict(
        text=dict(hidden_size=2048, intermediate_size=6144, num_hidden_layers=28, num_attention_heads=16,
                  num_key_value_heads=8, head_dim=128, mrope_section=[24, 20, 20]),
        vision=dict(depth=24, hidden_size=1024, intermediate_size=4096, num_heads=16,
                    deepstack_visual_indexes=[5, 11, 17]),
    ),
}
VL_VOCAB_SIZE = 151_936  # the released embedding matrix is padded past the tokenizer's 151,669 ids

#: the vision special tokens (already in the Qwen3 vocabulary at these ids) the VL tokenizer names
VL_TOKENIZER_EXTRAS = {"image_token": "<|image_pad|>", "video_token": "<|video_pad|>",
                       "vision_start_token": "<|vision_start|>", "vision_end_token": "<|vision_end|>"}

# The chat template that Qwen3-VL checkpoints ship (chat_template.jinja), which the official
# embedding and reranker code render their prompts with.
QWEN3_VL_CHAT_TEMPLATE = """{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0].role == 'system' %}
        {%- if messages[0].content is string %}
            {{- messages[0].content }}
        {%- else %}
            {%- for content in messages[0].content %}
                {%- if 'text' in content %}
                    {{- content.text }}
                {%- endif %}
            {%- endfor %}
        {%- endif %}
        {{- '\\n\\n' }}
    {%- endif %}
    {{- "# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>" }}
    {%- for tool in tools %}
        {{- "\\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}\\n</tool_call><|im_end|>\\n" }}
{%- else %}
    {%- if messages[0].role == 'system' %}
        {{- '<|im_start|>system\\n' }}
        {%- if messages[0].content is string %}
            {{- messages[0].content }}
        {%- else %}
            {%- for content in messages[0].content %}
                {%- if 'text' in content %}
                    {{- content.text }}
                {%- endif %}
            {%- endfor %}
        {%- endif %}
        {{- '<|im_end|>\\n' }}
    {%- endif %}
{%- endif %}
{%- set image_count = namespace(value=0) %}
{%- set video_count = namespace(value=0) %}
{%- for message in messages %}
    {%- if message.role == "user" %}
        {{- '<|im_start|>' + message.role + '\\n' }}
        {%- if message.content is string %}
            {{- message.content }}
        {%- else %}
            {%- for content in message.content %}
                {%- if content.type == 'image' or 'image' in content or 'image_url' in content %}
                    {%- set image_count.value = image_count.value + 1 %}
                    {%- if add_vision_id %}Picture {{ image_count.value }}: {% endif -%}
                    <|vision_start|><|image_pad|><|vision_end|>
                {%- elif content.type == 'video' or 'video' in content %}
                    {%- set video_count.value = video_count.value + 1 %}
                    {%- if add_vision_id %}Video {{ video_count.value }}: {% endif -%}
                    <|vision_start|><|video_pad|><|vision_end|>
                {%- elif 'text' in content %}
                    {{- content.text }}
                {%- endif %}
            {%- endfor %}
        {%- endif %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role + '\\n' }}
        {%- if message.content is string %}
            {{- message.content }}
        {%- else %}
            {%- for content_item in message.content %}
                {%- if 'text' in content_item %}
                    {{- content_item.text }}
                {%- endif %}
            {%- endfor %}
        {%- endif %}
        {{- '<|im_end|>\\n' }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
"""

PREPROCESSOR_CONFIG = {
    "do_convert_rgb": True, "do_normalize": True, "do_rescale": True, "do_resize": True,
    "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5],
    "image_processor_type": "Qwen2VLImageProcessorFast", "merge_size": 2, "patch_size": 16,
    "processor_class": "Qwen3VLProcessor", "resample": 3, "rescale_factor": 1 / 255,
    "size": {"longest_edge": 16777216, "shortest_edge": 65536}, "temporal_patch_size": 2,
}
VIDEO_PREPROCESSOR_CONFIG = {
    "do_convert_rgb": True, "do_normalize": True, "do_rescale": True, "do_resize": True, "do_sample_frames": True,
    "fps": 2, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5], "max_frames": 768, "merge_size": 2,
    "min_frames": 4, "patch_size": 16, "processor_class": "Qwen3VLProcessor", "resample": 3,
    "rescale_factor": 1 / 255, "size": {"longest_edge": 25165824, "shortest_edge": 4096},
    "temporal_patch_size": 2, "video_processor_type": "Qwen3VLVideoProcessor",
}


def qwen3_vl_config(shape: str = "tiny", **overrides):
    from transformers import Qwen3VLConfig

    if shape not in VL_SHAPES:
        raise ValueError(f"shape {shape!r} is not known for Qwen3-VL; accepted: {', '.join(VL_SHAPES)}")
    text = dict(VL_SHAPES[shape]["text"])
    mrope = text.pop("mrope_section")
    text.update(vocab_size=VL_VOCAB_SIZE, rms_norm_eps=1e-6, max_position_embeddings=262_144,
                tie_word_embeddings=overrides.pop("tie_word_embeddings", True),
                rope_parameters={"rope_type": "default", "rope_theta": 5_000_000.0, "mrope_section": mrope,
                                 "mrope_interleaved": True})
    vision = dict(VL_SHAPES[shape]["vision"], patch_size=16, spatial_merge_size=2, temporal_patch_size=2,
                  out_hidden_size=text["hidden_size"], num_position_embeddings=2304, hidden_act="gelu_pytorch_tanh")
    return Qwen3VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=text["tie_word_embeddings"],
                         **overrides)


def save_qwen3_vl_tokenizer(out_dir: str | Path, tokenizer_dir: str | Path | None = None) -> Path:
    """The Qwen3 tokenizer files with the VL token names, the chat template and the processor configs."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if tokenizer_dir is not None and (Path(tokenizer_dir) / "tokenizer.json").exists():
        for f in Path(tokenizer_dir).iterdir():
            if f.name in TOKENIZER_FILES and f.resolve() != (out / f.name).resolve():
                shutil.copyfile(f, out / f.name)
    else:
        save_qwen3_tokenizer(out)
    cfg_file = out / "tokenizer_config.json"
    cfg = json.loads(cfg_file.read_text(encoding="utf-8"))
    cfg.update(VL_TOKENIZER_EXTRAS)
    cfg_file.write_text(json.dumps(cfg, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "chat_template.jinja").write_text(QWEN3_VL_CHAT_TEMPLATE, encoding="utf-8")
    (out / "preprocessor_config.json").write_text(json.dumps(PREPROCESSOR_CONFIG, indent=2) + "\n")
    (out / "video_preprocessor_config.json").write_text(json.dumps(VIDEO_PREPROCESSOR_CONFIG, indent=2) + "\n")
    return out


def save_tiny_qwen3_vl(out_dir: str | Path, kind: str = "embedding", shape: str = "tiny", seed: int = 0,
                       tokenizer_dir: str | Path | None = None, dtype=None) -> Path:
    """Write a random Qwen3-VL checkpoint. kind: "embedding" (+ sentence-transformers files) or "reranker"."""
    import torch
    from transformers import Qwen3VLForConditionalGeneration

    if kind not in ("embedding", "reranker"):
        raise ValueError(f"kind must be 'embedding' or 'reranker', got {kind!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    # The released reranker keeps its own LM head (only the "yes"/"no" rows matter); the embedding
    # model is saved with the same class and tied weights, as Qwen3VLForEmbedding wraps Qwen3VLModel.
    cfg = qwen3_vl_config(shape, tie_word_embeddings=kind == "embedding")
    model = Qwen3VLForConditionalGeneration(cfg)
    save_random_weights(model, out, spread=shape == "tiny", dtype=dtype)
    save_qwen3_vl_tokenizer(out, tokenizer_dir)
    if kind == "embedding":
        write_sentence_transformers_files(out, pooling="lasttoken")
    return out
