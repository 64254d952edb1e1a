"""A plain Qwen3-VL reference: transformers' model, tokenizer, chat template and image processor used
directly, following the official Qwen3-VL-Embedding / Qwen3-VL-Reranker code step by step.

- conversation: system turn = instruction (default "Represent the user's input.", a full stop added
  when it ends without punctuation); user turn = images, then texts ("NULL" when empty);
- ``apply_chat_template(..., add_generation_prompt=True)`` with the checkpoint's own template;
- each image: to RGB (RGBA over white), resized with Pillow bicubic to qwen-vl-utils' smart size
  (factor 32, 4..1800 merged tokens), then the image processor with ``do_resize=False``;
- ``<|image_pad|>`` expanded to grid_h * grid_w / 4 copies, the whole string tokenized (right padding);
- embedding: ``last_hidden_state`` of the last non-padding token, L2-normalised;
- reranker: one pair per forward, ``sigmoid((w_yes - w_no) . h_last)``.

Nothing here is shared with q3embed's runtime (the smart-resize rule is written out again).
"""

from __future__ import annotations

import math
import unicodedata

import torch
import torch.nn.functional as F

SYSTEM_RERANK = ('Judge whether the Document meets the requirements based on the Query and the Instruct provided. '
                 'Note that the answer can only be "yes" or "no".')


def smart_size(height, width, factor=32, min_pixels=4 * 32 * 32, max_pixels=1800 * 32 * 32):
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = math.floor(height / beta / factor) * factor
        w_bar = math.floor(width / beta / factor) * factor
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def fetch_image(image):
    from PIL import Image

    if image.mode == "RGBA":
        white = Image.new("RGB", image.size, (255, 255, 255))
        white.paste(image, mask=image.split()[3])
        image = white
    else:
        image = image.convert("RGB")
    h, w = smart_size(image.size[1], image.size[0])
    return image.resize((w, h))


def embed_conversation(text=None, images=(), instruction=None):
    if instruction:
        instruction = instruction.strip()
        if instruction and not unicodedata.category(instruction[-1]).startswith("P"):
            instruction += "."
    content = [{"type": "image", "image": im} for im in images]
    if text is not None:
        content.append({"type": "text", "text": text})
    if not content:
        content = [{"type": "text", "text": "NULL"}]
    return [{"role": "system", "content": [{"type": "text", "text": instruction or "Represent the user's input."}]},
            {"role": "user", "content": content}]


def rerank_conversation(query, document, instruction=None):
    def side(prefix, x):
        parts = [{"type": "text", "text": prefix}]
        text, images = x.get("text"), x.get("images", ())
        if text is None and not images:
            return parts + [{"type": "text", "text": "NULL"}]
        parts += [{"type": "image", "image": im} for im in images]
        return parts + ([{"type": "text", "text": text}] if text is not None else [])

    instruction = instruction or "Given a search query, retrieve relevant candidates that answer the query."
    contents = [{"type": "text", "text": "<Instruct>: " + instruction}]
    contents += side("<Query>:", query) + side("\n<Document>:", document)
    return [{"role": "system", "content": [{"type": "text", "text": SYSTEM_RERANK}]},
            {"role": "user", "content": contents}]


class VLReference:
    def __init__(self, model_dir, reranker: bool = False):
        from transformers import AutoImageProcessor, AutoTokenizer, Qwen3VLForConditionalGeneration, Qwen3VLModel

        self.tok = AutoTokenizer.from_pretrained(model_dir)
        self.tok.padding_side = "right"
        self.images = AutoImageProcessor.from_pretrained(model_dir)
        if reranker:
            lm = Qwen3VLForConditionalGeneration.from_pretrained(model_dir, dtype=torch.float32).eval()
            self.model = lm.model
            w = lm.lm_head.weight
            vocab = self.tok.get_vocab()
            self.score_w = (w[vocab["yes"]] - w[vocab["no"]]).detach()  # (H,)
        else:
            self.model = Qwen3VLModel.from_pretrained(model_dir, dtype=torch.float32).eval()
        self.image_id = self.tok.convert_tokens_to_ids("<|image_pad|>")

    def inputs(self, conversations):
        texts = [self.tok.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in conversations]
        images = [fetch_image(p["image"]) for c in conversations for m in c for p in m["content"]
                  if p.get("type") == "image"]
        extra = {}
        if images:
            px = self.images(images=images, do_resize=False, return_tensors="pt")
            grids = iter(px["image_grid_thw"].tolist())
            expanded = []
            for t in texts:  # the processor's placeholder expansion
                while "<|image_pad|>" in t:
                    g = next(grids)
                    t = t.replace("<|image_pad|>", "<|placeholder|>" * (g[0] * g[1] * g[2] // 4), 1)
                expanded.append(t.replace("<|placeholder|>", "<|image_pad|>"))
            texts = expanded
            extra = {"pixel_values": px["pixel_values"], "image_grid_thw": px["image_grid_thw"]}
        enc = self.tok(texts, padding=True, return_tensors="pt")
        if extra:
            extra["mm_token_type_ids"] = (enc["input_ids"] == self.image_id).int()
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], **extra}

    @torch.no_grad()
    def embed(self, items, instruction=None):
        """items: dicts {"text": str|None, "images": [PIL]} -> (N, H) L2-normalised, one padded batch."""
        batch = self.inputs([embed_conversation(x.get("text"), x.get("images", ()), instruction) for x in items])
        hidden = self.model(**batch, use_cache=False).last_hidden_state  # (B, T, H)
        mask = batch["attention_mask"]
        last = mask.shape[1] - mask.flip(1).argmax(1) - 1
        return F.normalize(hidden[torch.arange(len(items)), last], p=2, dim=-1)

    @torch.no_grad()
    def score(self, query, documents, instruction=None):
        out = []
        for d in documents:  # one pair per forward, as the official reranker
            batch = self.inputs([rerank_conversation(query, d, instruction)])
            h = self.model(**batch, use_cache=False).last_hidden_state[:, -1]  # (1, H)
            out.append(torch.sigmoid(h @ self.score_w).item())
        return out

    def token_ids(self, conversation):
        return self.inputs([conversation])["input_ids"][0].tolist()
