#!/usr/bin/env bash
# The full profiles of parameter-sharing and seq2seq-translation under torchrun on one GPU: each model trains with
# DDP (NCCL) through fit; prints each record's verdict, seconds and global training throughput.
#   bash bench/gpu_torchrun.sh [OUT_DIR]      records in OUT_DIR/<experiment> (default mllab-out/gpu/torchrun)
# Environment: DEVICE (cuda), PROFILE (full), NPROC (1: processes, one GPU each), PYTHON (python3),
#   PS_SET / TR_SET: extra `--set` items for each experiment, space-separated (PS_SET default none; TR_SET default
#     "languages=en,de seeds=1 epochs=5": the full profile's data and model, 2 of its 9 models, a quarter of the
#     epochs, to fit a GPU check; TR_SET= (empty) runs the whole full profile: raise LIMIT to 1200),
#   DATA_DIR: your MNIST IDX files for parameter-sharing (its full profile then trains on mnist; default mnist5k),
#   EXPERIMENTS: which to run (default "parameter-sharing seq2seq-translation"),
#   LIMIT: seconds per experiment (default 300). On a CPU (the test): DEVICE=cpu PROFILE=smoke, gloo.
# Measured on one H200 (2026-11, gVisor; small models: the steps are bound by host-side launch overhead, not by the
# GPU): parameter-sharing full 103 s (46 fits of 1,000 steps, 2.2 ms/step, ~29k samples/s); seq2seq-translation, one
# model of its full profile (5,000 steps), 101 s (19.5 ms/step, ~1.6k sentences/s): its whole full profile (9 models)
# ~15 min, the default TR_SET ~1 min (estimated). The default script: ~3.5 min with torchrun's starts (H100 unmeasured).
set -u
OUT_DIR=${1:-mllab-out/gpu/torchrun}
DEVICE=${DEVICE:-cuda}
PROFILE=${PROFILE:-full}
NPROC=${NPROC:-1}
PY=${PYTHON:-python3}
LIMIT=${LIMIT:-300}
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg
if ! "$PY" -c "import mllab" 2>/dev/null; then  # a checkout without `pip install -e .`
  export PYTHONPATH="$(cd "$(dirname "$0")/.." && pwd)/src:${PYTHONPATH:-}"
fi
mkdir -p "$OUT_DIR"
status=0
for name in ${EXPERIMENTS:-parameter-sharing seq2seq-translation}; do
  sets=()
  extra=$([ "$name" = parameter-sharing ] && echo "${PS_SET:-}" || echo "${TR_SET-languages=en,de seeds=1 epochs=5}")
  for item in $extra; do sets+=(--set "$item"); done
  if [ "$name" = parameter-sharing ] && [ -n "${DATA_DIR:-}" ]; then sets+=(--data-dir "$DATA_DIR"); fi
  rm -rf "${OUT_DIR:?}/$name"
  start=$(date +%s)
  timeout "$LIMIT" "$PY" -m torch.distributed.run --standalone --nproc_per_node "$NPROC" -m mllab run "$name" \
    --profile "$PROFILE" --device "$DEVICE" --out "$OUT_DIR/$name" -q "${sets[@]}"
  rc=$?
  wall=$(( $(date +%s) - start ))
  if [ "$rc" -ne 0 ] || [ ! -f "$OUT_DIR/$name/result.json" ]; then
    echo "$name: torchrun exited $rc after ${wall}s (no record)"; status=1; continue
  fi
  "$PY" - "$OUT_DIR/$name/result.json" "$wall" <<'PYEOF' || status=1
import json, sys
r = json.load(open(sys.argv[1]))
m = r["metrics"]
print(f"{r['experiment']}: {r['verdict']}, world_size {r['world_size']} ({r['backend']}), {r['versions']['device']} "
      f"{r['versions']['cuda_device']}".rstrip())
print(f"  seconds {r['seconds']:.1f} (torchrun wall {sys.argv[2]} s), train_seconds {m['train_seconds']:.1f}, "
      f"train_samples {m['train_samples']}, train_samples_per_second {m['train_samples_per_second']:.0f}"
      + (f", train_tokens_per_second {m['train_tokens_per_second']:.0f}" if "train_tokens_per_second" in m else ""))
if r["error"]:
    print(f"  error: {r['error']['type']}: {r['error']['message']}")
sys.exit(1 if r["verdict"] == "error" else 0)
PYEOF
done
exit $status
