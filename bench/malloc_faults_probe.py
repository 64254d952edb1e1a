"""Page faults and system CPU time of one Embedder.encode, to run under different glibc malloc settings.

The packed forward allocates ~100 MiB of fresh tensors per layer; glibc hands large blocks back to
the kernel when they are freed (mmap threshold, heap trimming), so the next batch faults them in
and zeroes them again (issue 16). Run the same command with and without the tunables that keep
freed memory in the heap, and compare the sys time and the minor faults:

    cd bench && PYTHONPATH=../src TAG=plain taskset -c 1 python malloc_faults_probe.py 1
    cd bench && PYTHONPATH=../src TAG=tun \\
        GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=4294967296:glibc.malloc.top_pad=268435456 \\
        taskset -c 1 python malloc_faults_probe.py 1

MALLOPT=1 applies the same settings in-process, as the q3embed command does (runtime/allocator.py).
(argument: torch threads; the 0.6B-shape bf16 checkpoint and texts of elementwise_probe.py, from
/work/wt/bench16/bench/.cache).
"""
import os
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
torch.set_num_threads(int(sys.argv[1]))
from engine_common import lognormal_lengths, make_texts, model_dir
from transformers import AutoTokenizer
from transformers.utils import logging as hl

hl.disable_progress_bar()
from q3embed import Embedder

if os.environ.get("MALLOPT") == "1":  # the q3embed command's own setting (runtime/allocator.py), in-process
    from q3embed.runtime.allocator import keep_freed_memory

    assert keep_freed_memory()
path = model_dir(Path("/work/wt/bench16/bench/.cache"), "embedding")
texts = make_texts(AutoTokenizer.from_pretrained(path), lognormal_lengths(24, 8, 512), None)
emb = Embedder.load(path)
emb.encode(texts)
for i in range(2):
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    w = time.perf_counter()
    emb.encode(texts)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    print(os.environ.get("TAG"), f"wall {time.perf_counter() - w:.2f} user {r1.ru_utime - r0.ru_utime:.2f} "
          f"sys {r1.ru_stime - r0.ru_stime:.2f} minflt {r1.ru_minflt - r0.ru_minflt} maxrss {r1.ru_maxrss / 1e6:.2f} GB "
          f"load {os.getloadavg()[0]:.1f}", flush=True)
