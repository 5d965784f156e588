#!/usr/bin/env bash
# The GPU checks, as one script for a lent CUDA machine (CI has none; everything here also passes on CPU):
#   bash bench/gpu_check.sh            logs and records under $OUT (the device tool's folder) or mllab-out/gpu
# 1. tests/gpu (AMP with the real kernels, syncs that do not grow with the steps, bit-exact resume on CUDA)
#    and the CPU tests of the same paths; 2. the benches' GPU rows (fit overhead, attention); 3. full profiles
#    under torchrun on one GPU (NCCL), with their throughput; 4. a full-profile run on CUDA.
# Each step has a time limit (seconds, STEP_LIMIT) so one slow step cannot eat the rest.
set -u
OUT=${OUT:-mllab-out/gpu}
mkdir -p "$OUT"
LOG="$OUT/gpu_check.log"
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg
PY=${PYTHON:-python3}
if [ -d .whl ] && ! "$PY" -c "import gymnasium, num2words, mlxtend, captum" 2>/dev/null; then  # packages the machine's image lacks (gymnasium, num2words, mlxtend, captum), carried as wheels
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD/src:${PYTHONPATH:-}"

step() {  # step NAME LIMIT COMMAND...: run, keep its whole output in the log, print its tail and time
  local name=$1 limit=$2; shift 2
  local t0; t0=$(date +%s.%N)
  echo "=== $name: $*" | tee -a "$LOG"
  timeout "$limit" "$@" >"$OUT/step.log" 2>&1
  local rc=$?
  cat "$OUT/step.log" >>"$LOG"
  tail -n "${TAIL:-12}" "$OUT/step.log"
  printf '=== %s: rc=%s, %.1f s\n' "$name" "$rc" "$(echo "$(date +%s.%N) - $t0" | bc)" | tee -a "$LOG"
}

step machine 60 env PY="$PY" bash -c 'nvidia-smi -L; $PY -c "import torch, mllab; print(\"torch\", torch.__version__, \
torch.cuda.get_device_name(), \"mllab\", mllab.__version__)"'
step cuda_tests 150 "$PY" -m pytest -q -p no:cacheprovider tests/gpu tests/train/test_amp.py tests/train/test_sync.py
step fit_overhead 90 "$PY" bench/fit_overhead.py --device cuda --repeats 5 --no-fabric
step attention 120 "$PY" bench/attention.py --repeats 3 --devices cuda
if [ -f bench/gpu_torchrun.sh ]; then
  step torchrun "${TORCHRUN_LIMIT:-240}" bash bench/gpu_torchrun.sh "$OUT/torchrun"
fi
tar -czf "$OUT/records.tar.gz" -C "$OUT" --exclude records.tar.gz --exclude '*.log' . 2>/dev/null
rm -f "$OUT/step.log"
echo "done; log: $LOG"
