#!/usr/bin/env bash
# make gpu-check: verify every GPU path of kbench on the NVIDIA GPU of this machine, in one command.
#
# 1. A GPU? `nvidia-smi -L` must list one, within seconds, before anything is installed; otherwise one line on
#    stderr and exit 3.
# 2. GPU packages in their own environment ($KBENCH_GPU_VENV, default .venv-gpu; the CPU .venv is left alone):
#    kbench with its test and tensorrt extras (TensorRT 10/11 and a CUDA torch from PyPI), onnxruntime-gpu in place
#    of onnxruntime, paddlepaddle-gpu from Paddle's index ($KBENCH_PADDLE_GPU_INDEX, default CUDA 12.6's) in place
#    of paddlepaddle. $KBENCH_GPU_WHEELS names a folder of wheels to install from instead of the registries
#    (a machine without internet access).
# 3. Every test marked `gpu` (one per GPU path), with KBENCH_REQUIRE_GPU=1 so that none can skip for want of a GPU.
# 4. The zoo's KeypointBenchmark server table for every model: GPU (Paddle Inference on CUDA), TensorRT FP32 and
#    TensorRT FP16 at batch 8, a record per measurement under $KBENCH_GPU_RECORDS (default runs/gpu-check), then
#    printed with `kbench results`.
# Budget: 8 minutes on one GPU (each step has its own limit, so a hung step cannot eat the others').
set -u -o pipefail
cd "$(dirname "$0")/.."

fail() { echo "gpu-check: $*" >&2; exit "${2:-1}"; }

if ! command -v nvidia-smi >/dev/null 2>&1; then
  fail "no NVIDIA GPU here (nvidia-smi not found): run make gpu-check on a machine with an NVIDIA GPU and driver" 3
fi
if ! listing=$(timeout 20 nvidia-smi -L 2>&1) || ! grep -q '^GPU ' <<<"$listing"; then
  fail "nvidia-smi lists no usable GPU ($(head -n 1 <<<"$listing"))" 3
fi
echo "gpu-check: $(head -n 1 <<<"$listing")"

start=$(date +%s)
VENV=${KBENCH_GPU_VENV:-.venv-gpu}
PY=${PYTHON:-python3}
PADDLE_INDEX=${KBENCH_PADDLE_GPU_INDEX:-https://www.paddlepaddle.org.cn/packages/stable/cu126/}
RECORDS=${KBENCH_GPU_RECORDS:-runs/gpu-check}
pip_src=()
paddle_src=(-i "$PADDLE_INDEX")
if [ -n "${KBENCH_GPU_WHEELS:-}" ]; then
  pip_src=(--no-index --find-links "$KBENCH_GPU_WHEELS")
  paddle_src=("${pip_src[@]}")
fi
PIP="$VENV/bin/python -m pip install -q"

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV" || fail "cannot create $VENV"
timeout 900 bash -c "
  set -e
  $PIP ${pip_src[*]} --upgrade pip 'setuptools<81' wheel numpy cython
  $PIP ${pip_src[*]} -e '.[test,tensorrt]'
  $VENV/bin/python -m pip uninstall -q -y onnxruntime paddlepaddle >/dev/null 2>&1 || true
  $PIP ${pip_src[*]} onnxruntime-gpu
  $PIP ${paddle_src[*]} paddlepaddle-gpu
  $PIP ${pip_src[*]} 'setuptools<81'
" || fail "installing the GPU packages into $VENV failed (see pip's messages above)"
"$VENV/bin/python" - <<'EOF' || fail "the GPU packages do not see the GPU (see above)"
import onnxruntime, paddle, tensorrt, torch
assert torch.cuda.is_available(), "torch sees no CUDA device"
assert "CUDAExecutionProvider" in onnxruntime.get_available_providers(), onnxruntime.get_available_providers()
assert paddle.device.cuda.device_count() > 0, "paddle sees no CUDA device"
print(f"gpu-check: torch {torch.__version__} (CUDA {torch.version.cuda}), onnxruntime {onnxruntime.__version__} "
      f"{onnxruntime.get_available_providers()}, paddle {paddle.__version__}, tensorrt {tensorrt.__version__}")
EOF
echo "gpu-check: set up in $(( $(date +%s) - start )) s"

status=0
KBENCH_REQUIRE_GPU=1 timeout 420 "$VENV/bin/python" -m pytest -p no:cacheprovider -m gpu -q -rs tests \
  || { echo "gpu-check: GPU tests failed" >&2; status=1; }

mkdir -p "$RECORDS"
timeout 300 "$VENV/bin/kbench" latency --models all --device gpu --backend paddle-inference,tensorrt \
  --precision fp32,fp16 --batch 8 --warmup 0.5s --seconds 1 --record "$RECORDS" \
  || { echo "gpu-check: the server table did not complete" >&2; status=1; }
echo "gpu-check: done in $(( $(date +%s) - start )) s, records in $RECORDS"
exit $status
