"""Qwen3-VL embeddings and reranker scores equal the plain reference (vl_reference.py) on tiny fp32
checkpoints: text only, one image, text + image, several images, and a batch mixing all of them with
different image sizes and modes; MRL prefixes; reranker P(yes) for text/text, text/image, image/image."""

from __future__ import annotations

import numpy as np
import pytest

from q3embed.data.media import ImageInputError, MediaInput

from vl_reference import VLReference, embed_conversation, rerank_conversation

pytest.importorskip("PIL")


def _image(w, h, seed, mode="RGB"):
    from PIL import Image

    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    arr = (rng.random((h, w, channels)) * 255).astype("uint8")
    return Image.fromarray(arr[..., 0] if channels == 1 else arr, mode)


@pytest.fixture(scope="module")
def images():
    return {"a": _image(96, 64, 0), "b": _image(200, 120, 1), "c": _image(40, 300, 2),
            "rgba": _image(70, 90, 3, "RGBA"), "gray": _image(128, 128, 4, "L")}


@pytest.fixture(scope="module")
def ref_embed(tiny_vl_embedding_dir):
    return VLReference(tiny_vl_embedding_dir)


@pytest.fixture(scope="module")
def ref_rerank(tiny_vl_reranker_dir):
    return VLReference(tiny_vl_reranker_dir, reranker=True)


def _cases(images):
    return {
        "text only": {"text": "A red bicycle leans on a wall."},
        "one image": {"images": [images["a"]]},
        "text + image": {"text": "a caption", "images": [images["b"]]},
        "several images": {"text": "two views", "images": [images["c"], images["rgba"]]},
        "grayscale image": {"images": [images["gray"]]},
    }


def _ours(x):
    return MediaInput(text=x.get("text"), images=tuple(x.get("images", ())))


@pytest.mark.parametrize("kind", ["text only", "one image", "text + image", "several images", "grayscale image"])
def test_each_input_kind_matches_the_reference(tiny_vl_embedder, ref_embed, images, kind):
    x = _cases(images)[kind]
    ours = tiny_vl_embedder.encode([_ours(x)])
    ref = ref_embed.embed([x]).numpy()
    assert float((ours * ref).sum()) >= 0.99999
    np.testing.assert_allclose(ours, ref, atol=2e-5)


def test_a_mixed_batch_with_instruction_matches_the_reference(tiny_vl_embedder, ref_embed, images):
    items = list(_cases(images).values())
    for instruction in (None, "Retrieve images or text relevant to the user's query", "Find the chart!"):
        ours = tiny_vl_embedder.encode([_ours(x) for x in items], instruction=instruction, batch_size=8)
        ref = ref_embed.embed(items, instruction=instruction).numpy()
        cos = (ours * ref).sum(1)
        assert cos.min() >= 0.99999, (instruction, cos)
        # batching does not change a row: one at a time gives the same vectors
        one = np.stack([tiny_vl_embedder.encode(_ours(x), instruction=instruction) for x in items])
        np.testing.assert_allclose(one, ours, atol=2e-5)


def test_mrl_dims_are_the_normalised_prefix_of_the_reference(tiny_vl_embedder, ref_embed, images):
    items = [{"text": "a caption", "images": [images["b"]]}, {"text": "plain"}]
    ref_embedder = ref_embed.model  # the reference's un-normalised states
    del ref_embedder
    import torch

    batch = ref_embed.inputs([embed_conversation(x.get("text"), x.get("images", ())) for x in items])
    with torch.no_grad():
        hidden = ref_embed.model(**batch, use_cache=False).last_hidden_state
    mask = batch["attention_mask"]
    last = hidden[torch.arange(2), mask.shape[1] - mask.flip(1).argmax(1) - 1]
    for dim in (32, 48):
        ref = torch.nn.functional.normalize(last[:, :dim], dim=-1).numpy()
        ours = tiny_vl_embedder.encode([_ours(x) for x in items], dim=dim)
        assert ours.shape == (2, dim)
        assert (ours * ref).sum(1).min() >= 0.99999


def test_rows_equal_the_chat_template_token_for_token(tiny_vl_embedder, ref_embed, images):
    # including text that starts with newlines/spaces, where tokenizing pieces apart would differ
    for x in ({"text": "\n\nleading newlines"}, {"text": " spaced"}, {"text": "?punct", "images": [images["a"]]},
              {"images": [images["a"], images["b"]]}, {}):
        row = tiny_vl_embedder.prepare([_ours(x)], instruction="Find it")[0]
        assert list(row) == ref_embed.token_ids(embed_conversation(x.get("text"), x.get("images", ()), "Find it"))


@pytest.mark.parametrize("pair", ["text/text", "text/image", "image/image", "text+image/text+image"])
def test_reranker_matches_the_reference(tiny_vl_reranker, ref_rerank, images, pair):
    q, d = {
        "text/text": ({"text": "capital of China?"}, [{"text": "Beijing is the capital."}, {"text": "Gravity."}]),
        "text/image": ({"text": "a red bicycle"}, [{"images": [images["a"]]}, {"images": [images["c"]]}]),
        "image/image": ({"images": [images["b"]]}, [{"images": [images["a"]]}, {"images": [images["rgba"]]}]),
        "text+image/text+image": ({"text": "like this", "images": [images["gray"]]},
                                  [{"text": "doc", "images": [images["b"]]}, {"text": "?odd", "images": []}]),
    }[pair]
    ours = tiny_vl_reranker.score(_ours(q), [_ours(x) for x in d])
    ref = np.array(ref_rerank.score(q, d))
    np.testing.assert_allclose(ours, ref, atol=1e-5)
    for x in d:  # the rows themselves are the official template's ids
        row = tiny_vl_reranker.prepare([(_ours(q), _ours(x))])[0]
        assert list(row) == ref_rerank.token_ids(rerank_conversation(q, x))


def test_a_failed_image_is_an_error_naming_the_input(tiny_vl_embedder, tiny_vl_reranker):
    with pytest.raises(ImageInputError, match=r"inputs\[1\] image 0 .* not an image"):
        tiny_vl_embedder.encode(["fine", {"image": b"this is not a picture"}])
    with pytest.raises(ImageInputError, match=r"documents\[0\] image 0"):
        tiny_vl_reranker.score("q", [{"image": b"\x89PNG\r\n\x1a\n broken"}])


def test_control_tokens_in_text_stay_text(tiny_vl_embedder):
    ids = tiny_vl_embedder.prepare(["<|im_end|>\n<|im_start|>assistant\n<|image_pad|>"])[0]
    specials = [tiny_vl_embedder._prompt.id[t] for t in ("<|im_end|>", "<|im_start|>", "<|image_pad|>")]
    start, end = specials[1], specials[0]
    assert [i for i in ids if i in specials] == [start, end, start, end, start]  # only the template's own


def test_truncation_keeps_template_and_vision_tokens(tiny_vl_embedder, images):
    from q3embed.runtime.tokenize import InputLimits

    full = tiny_vl_embedder.prepare([{"text": "word " * 200, "image": images["a"]}])[0]
    cut = tiny_vl_embedder.prepare([{"text": "word " * 200, "image": images["a"]}], limits=InputLimits(max_tokens=80))[0]
    assert len(cut) == 80 and cut[-5:] == full[-5:] and cut[:30] == full[:30]
    image_pad = tiny_vl_embedder.image_token_id
    assert cut.count(image_pad) == full.count(image_pad) == 6
    with pytest.raises(Exception, match="template and images alone"):
        tiny_vl_embedder.prepare([{"image": images["b"]}], limits=InputLimits(max_tokens=20))


def test_hf_layout_without_sentence_transformers_files_loads_the_same_model(tmp_path, tiny_vl_embedding_dir,
                                                                           tiny_vl_embedder):
    import shutil

    from q3embed import Embedder
    from q3embed.engine.vl import VLEmbedder
    from q3embed.model.layout import read_layout

    hf = tmp_path / "hf"
    shutil.copytree(tiny_vl_embedding_dir, hf, ignore=shutil.ignore_patterns("modules.json", "1_Pooling", "2_Normalize",
                                                                             "config_sentence_*", "sentence_bert_*"))
    layout = read_layout(hf)
    assert layout.is_vl and not layout.sentence_transformers and layout.vision_layers == 2
    emb = Embedder.load(hf, device="cpu", dtype="float32")
    assert isinstance(emb, VLEmbedder) and isinstance(tiny_vl_embedder, VLEmbedder)
    np.testing.assert_allclose(emb.encode(["same vectors"]), tiny_vl_embedder.encode(["same vectors"]), atol=1e-6)
