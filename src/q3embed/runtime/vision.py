"""Images -> the patches a Qwen3-VL vision tower reads, exactly as the official pipeline makes them.

The official code (qwen-vl-utils ``fetch_image`` then the processor with ``do_resize=False``):

1. to RGB, with a transparent image composed over white (``to_rgb``);
2. resize with Pillow's bicubic filter to ``smart_resize``: both sides multiples of 32 (16-pixel
   patches merged 2 x 2), the pixel count inside ``[min_pixels, max_pixels]`` (defaults 4 and 1,800
   merged tokens: 4,096 .. 1,843,200 pixels), the aspect ratio kept as closely as possible;
3. rescale to [0, 1], normalise with the checkpoint's mean/std (0.5/0.5 for Qwen3-VL);
4. cut into 16 x 16 patches, each repeated twice in time (``temporal_patch_size``), ordered so that
   every 2 x 2 group of patches that the merger joins is contiguous.

The result of one image is ``pixel_values`` (N, 3 * 2 * 16 * 16) and ``grid_thw`` (1, H/16, W/16);
the language model sees N / 4 ``<|image_pad|>`` tokens for it. Images of one batch are packed end
to end (the vision tower attends within each image through ``grid_thw``), so no padding is spent
on pixels.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch

IMAGE_FACTOR = 32  # 16-pixel patches, merged 2 x 2
MIN_PIXELS = 4 * IMAGE_FACTOR * IMAGE_FACTOR
MAX_PIXELS = 1800 * IMAGE_FACTOR * IMAGE_FACTOR
MAX_RATIO = 200


@dataclass(frozen=True)
class VisionPreprocess:
    """The checkpoint's image settings (``preprocessor_config.json``) and the resize bounds."""

    patch_size: int = 16
    merge_size: int = 2
    temporal_patch_size: int = 2
    image_mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    image_std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    min_pixels: int = MIN_PIXELS
    max_pixels: int = MAX_PIXELS

    def __post_init__(self):
        if not 0 < self.min_pixels <= self.max_pixels:
            raise ValueError(f"need 0 < min_pixels <= max_pixels, got {self.min_pixels}, {self.max_pixels}")

    @property
    def factor(self) -> int:
        return self.patch_size * self.merge_size

    @classmethod
    def from_checkpoint(cls, model_dir: Path, **overrides) -> "VisionPreprocess":
        """Read ``preprocessor_config.json`` (patch/merge sizes, mean/std); resize bounds stay the
        official embedding/reranker defaults unless overridden (the checkpoint's own ``size`` is the
        chat model's, which the embedding code does not use)."""
        kwargs = {}
        f = Path(model_dir) / "preprocessor_config.json"
        if f.exists():
            cfg = json.loads(f.read_text(encoding="utf-8"))
            for key in ("patch_size", "merge_size", "temporal_patch_size"):
                if key in cfg:
                    kwargs[key] = int(cfg[key])
            for key in ("image_mean", "image_std"):
                if key in cfg:
                    kwargs[key] = tuple(float(v) for v in cfg[key])
        kwargs.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**kwargs)


def smart_resize(height: int, width: int, factor: int = IMAGE_FACTOR, min_pixels: int = MIN_PIXELS,
                 max_pixels: int = MAX_PIXELS) -> tuple[int, int]:
    """(height, width): multiples of ``factor``, pixels within bounds, aspect ratio kept (qwen-vl-utils' rule)."""
    if max(height, width) / min(height, width) > MAX_RATIO:
        raise ValueError(f"has an aspect ratio of {max(height, width) / min(height, width):.0f}:1; "
                         f"the limit is {MAX_RATIO}:1")
    h = max(factor, round(height / factor) * factor)
    w = max(factor, round(width / factor) * factor)
    if h * w > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h = math.floor(height / beta / factor) * factor
        w = math.floor(width / beta / factor) * factor
    elif h * w < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h = math.ceil(height * beta / factor) * factor
        w = math.ceil(width * beta / factor) * factor
    return h, w


def to_rgb(image):
    """RGB; an RGBA image is composed over white (a plain convert would put it over black)."""
    from PIL import Image

    if image.mode == "RGBA":
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.split()[3])
        return background
    return image.convert("RGB")


@dataclass(frozen=True)
class PreparedImage:
    """One image ready for the vision tower: ``pixel_values`` (N, C*T*P*P) float32, ``grid_thw`` (3,)."""

    pixel_values: torch.Tensor
    grid_thw: tuple[int, int, int]
    merge_size: int

    @property
    def tokens(self) -> int:
        """``<|image_pad|>`` tokens the language model sees for this image."""
        t, h, w = self.grid_thw
        return t * h * w // (self.merge_size ** 2)


def resized(image, pre: VisionPreprocess):
    """The RGB image at its ``smart_resize`` size (Pillow bicubic, as qwen-vl-utils resizes)."""
    from PIL import Image

    image = to_rgb(image)
    width, height = image.size
    h, w = smart_resize(height, width, pre.factor, pre.min_pixels, pre.max_pixels)
    return image.resize((w, h), Image.Resampling.BICUBIC)


def prepare_image(image, pre: VisionPreprocess) -> PreparedImage:
    """A decoded PIL image -> its patches (see the module docstring for the steps)."""
    import numpy as np

    img = resized(image, pre)
    arr = torch.from_numpy(np.asarray(img, dtype=np.float32).copy())  # (H, W, C) in 0..255
    mean = torch.tensor(pre.image_mean, dtype=torch.float32)
    std = torch.tensor(pre.image_std, dtype=torch.float32)
    x = ((arr / 255.0 - mean) / std).permute(2, 0, 1)  # (C, H, W)
    return PreparedImage(patchify(x, pre), (1, x.shape[1] // pre.patch_size, x.shape[2] // pre.patch_size),
                         pre.merge_size)


def patchify(x: torch.Tensor, pre: VisionPreprocess) -> torch.Tensor:
    """(C, H, W) -> (gh * gw, C * T * P * P), merge groups contiguous, each patch repeated T times in time."""
    c, height, width = x.shape
    p, m, t = pre.patch_size, pre.merge_size, pre.temporal_patch_size
    gh, gw = height // p, width // p
    x = x.reshape(c, gh // m, m, p, gw // m, m, p)
    x = x.permute(1, 4, 2, 5, 0, 3, 6)  # (gh/m, gw/m, m, m, C, P, P)
    x = x.unsqueeze(5).expand(*x.shape[:5], t, p, p)  # (gh/m, gw/m, m, m, C, T, P, P)
    return x.reshape(gh * gw, c * t * p * p).contiguous()
