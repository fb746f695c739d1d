#!/usr/bin/env bash
# bench/gpu_engine_bench.sh — issue 6's GPU numbers in one run on the GPU machine: the PyTorch peer
# (FP16, channels-last, CUDA graphs), vrseg's engine (`--backend gpu`, FP16 plans) and ONNX Runtime's
# CUDA provider (`--backend ort-cuda`), on the same GPU, in the same run.
#
#   bench/gpu_engine_bench.sh [--steps LIST] [--work DIR] [--quick]
#
#   --steps  comma-separated subset of: stage,env,export,torch,build,gpu,layers,ort,tests,summary
#            (default: all, in that order)
#   --work   where exported models and plans go (default /tmp/vrseg-gpu-bench); a warm machine keeps
#            it between calls, and an export already there (manifest.json without errors) is reused
#   --quick  fewer timed iterations and only the first and last batch size of each model
#
# Run it from the repository root on the GPU machine after `source BUNDLE/env.sh` (see
# ../shared/tools/gpu-bundle: `vrseg`, and optionally `ort_cuda_bench` and `backend_tests`, on PATH
# with their libraries). ONNX Runtime is timed with ort_cuda_bench where it is on PATH, else with
# `vrseg bench --backend ort-cuda`, once per cuDNN algorithm search (heuristic, exhaustive).
# The converted models are read from models/ (selfie.onnx; carry models/ with the call).
#
# ONNX Runtime's CUDA provider (libonnxruntime_providers_cuda.so, `scripts/setup.sh --gpu`) must sit
# next to the libonnxruntime.so.1 that vrseg loads, and that core must be the CUDA-enabled one that
# setup --gpu installs (bundle vrseg after running it; with the CPU-only core ort-cuda refuses).
# Where the provider is not there already, the script puts it there from $ORT_CUDA_PROVIDER (the
# library, or an .xz of it), else from $WORK/ort/ where the `stage` step left it. The library is
# 230 MB (165 MB as xz), more than one device call carries (64 MiB) next to the vrseg bundle: carry
# an sm_90-only copy instead (bench/slim_cuda_fatbin.py ... --sm 90 --xz: 37 MB), if need be in a
# call of its own that runs `--steps stage` with ORT_CUDA_PROVIDER set, the bench following on the
# same warm machine.
#
# Writes under $OUT (default ./gpu-bench-out), few files, as the device tool brings back at most 8:
#   bench.log        everything every step printed, with its exit status
#   results.jsonl    one JSON object per measurement: {"kind": "gemm"|"torch"|"vrseg-gpu"|
#                    "ort-cuda"|"build"|"test", ...}
#   summary.md       a table per model against the issue's targets, the GPU named
#   details.tar.gz   build reports, per-layer tables, the export manifest, test logs
# A step that fails is logged (and its JSON carries "error") and the script goes on. It stops
# starting new steps after $BENCH_TIME_LIMIT seconds (default 540) so that it ends inside a
# 10-minute device call with its files written.
#
# Environment: BENCH_APPEND=1 (append to results.jsonl instead of starting it afresh: steps split
# over two calls on one warm machine, with the same OUT), VRSEG (the vrseg program; default: vrseg
# on PATH, else build/src/cli/vrseg),
# VRSEG_BENCH_ARGS (the bench command line; placeholders {backend} {model} {batch}; default
# "bench --backend {backend} --model {model} --batch {batch} --json"), PYTHON (python3).
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
steps=stage,env,export,torch,build,gpu,layers,ort,tests,summary
work=/tmp/vrseg-gpu-bench
quick=0
while [ $# -gt 0 ]; do
  case "$1" in
    --steps) steps=$2; shift ;;
    --work) work=$2; shift ;;
    --quick) quick=1 ;;
    -h|--help) sed -n '2,44p' "$0"; exit 0 ;;
    *) echo "gpu_engine_bench: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

out=${OUT:-$PWD/gpu-bench-out}
mkdir -p "$out" "$work/models" "$work/plans" "$work/details" "$work/ort"
log=$out/bench.log
results=$out/results.jsonl
# BENCH_APPEND=1 keeps the rows of an earlier call on the same machine (steps split across calls).
[ "${BENCH_APPEND:-0}" = 1 ] || : > "$results"
python=${PYTHON:-python3}
limit=${BENCH_TIME_LIMIT:-540}
start_s=$SECONDS
failed=0
if [ -z "${VRSEG:-}" ]; then
  VRSEG=$(command -v vrseg || echo "$repo/build/src/cli/vrseg")
fi
bench_args=${VRSEG_BENCH_ARGS:-"bench --backend {backend} --model {model} --batch {batch} --json"}
iters=50 repeats=7
[ $quick = 1 ] && iters=50 repeats=3

# Models: name, ONNX file (fp32), batch sizes. The plan covers 1..max batch; opt is the max.
declare -A batches=(
  [deeplabv3_resnet50]="1 8 16 32"
  [resnet50]="1 256"
  [lraspp_mobilenet_v3_large]="1 64"
  [selfie]="1 64"
)
order=(deeplabv3_resnet50 resnet50 lraspp_mobilenet_v3_large selfie)
onnx_of() {
  case "$1" in
    selfie) echo "$repo/models/selfie.onnx" ;;
    *) echo "$work/models/$1.onnx" ;;
  esac
}
batches_of() {
  local b
  read -ra b <<< "${batches[$1]}"
  if [ $quick = 1 ] && [ ${#b[@]} -gt 2 ]; then echo "${b[0]} ${b[-1]}"; else echo "${b[*]}"; fi
}
max_of() { local b; read -ra b <<< "${batches[$1]}"; echo "${b[-1]}"; }

say() { echo "[$(date -u +%H:%M:%S) +$((SECONDS - start_s))s] $*" | tee -a "$log"; }
want() { [[ ",$steps," == *",$1,"* ]]; }
time_left() {
  if [ $((SECONDS - start_s)) -ge "$limit" ]; then
    say "time limit ($limit s) reached: skipping $1"
    return 1
  fi
}
# jsonl KEY=VALUE... : appends one JSON object (values that parse as JSON stay JSON, others strings)
jsonl() {
  "$python" - "$@" >> "$results" <<'EOF'
import json, sys
obj = {}
for kv in sys.argv[1:]:
    k, _, v = kv.partition("=")
    try:
        obj[k] = json.loads(v)
    except ValueError:
        obj[k] = v
print(json.dumps(obj))
EOF
}
# run NAME TIMEOUT CMD...: runs CMD with its output in the log; returns its status
run() {
  local name=$1 t=$2; shift 2
  say "$name: $*"
  timeout --kill-after=10 "$t" "$@" >> "$log" 2>&1
  local rc=$?
  if [ $rc = 0 ]; then
    say "$name: ok"
  elif [ $rc = 124 ] || [ $rc = 137 ]; then
    say "$name: FAILED (timed out after $t s)"
  else
    say "$name: FAILED (exit $rc)"
  fi
  return $rc
}

# ---- stage: the CUDA provider library into $work/ort, for this call or a later one ------------------
staged=$work/ort/libonnxruntime_providers_cuda.so
if want stage && [ -n "${ORT_CUDA_PROVIDER:-}" ]; then
  if [ ! -f "$ORT_CUDA_PROVIDER" ]; then
    say "stage: ORT_CUDA_PROVIDER=$ORT_CUDA_PROVIDER does not exist"; failed=$((failed + 1))
  else
    case "$ORT_CUDA_PROVIDER" in
      *.xz) xz -dc "$ORT_CUDA_PROVIDER" > "$staged.part" ;;
      *) cp "$ORT_CUDA_PROVIDER" "$staged.part" ;;
    esac && mv "$staged.part" "$staged" && say "stage: $staged from $ORT_CUDA_PROVIDER" ||
      { say "stage: could not unpack $ORT_CUDA_PROVIDER"; failed=$((failed + 1)); }
  fi
fi

# ---- env: the GPU and the software, named -----------------------------------------------------------
if want env; then
  say "env: $(nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader 2>&1 | head -1)"
  nvidia-smi >> "$log" 2>&1
  "$python" -c 'import torch, torchvision; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version(), "torchvision", torchvision.__version__)' >> "$log" 2>&1
  say "env: vrseg = $VRSEG"
  "$VRSEG" --version >> "$log" 2>&1 || true
  ldd "$VRSEG" 2>/dev/null | grep -E "onnxruntime|cudnn|cublas|cudart" >> "$log"
fi

# ---- export: torchvision models with seeded weights (bench/export_torchvision.py) -------------------
if want export && time_left export; then
  manifest=$work/models/manifest.json
  if [ -f "$manifest" ] && ! grep -q '"error"' "$manifest"; then
    say "export: reusing $work/models (manifest without errors)"
  else
    run export 400 "$python" "$repo/bench/export_torchvision.py" "$work/models" || failed=$((failed + 1))
  fi
  cp "$manifest" "$work/details/" 2>/dev/null
fi

# ---- torch: the PyTorch peer and the FP16 GEMM rate ---------------------------------------------------
if want torch && time_left torch; then
  plan_args=()
  for m in deeplabv3_resnet50 resnet50 lraspp_mobilenet_v3_large; do
    plan_args+=(--plan "$m:$(batches_of $m | tr ' ' ',')")
  done
  run torch 400 "$python" "$repo/bench/torch_peer.py" --out "$results" --iters $iters \
    --repeats $repeats "${plan_args[@]}" || failed=$((failed + 1))
fi

# ---- build: vrseg build-engine, FP16, one plan per model over its batch range -------------------------
if want build; then
  for m in "${order[@]}"; do
    time_left "build $m" || break
    onnx=$(onnx_of $m) plan=$work/plans/$m.plan max=$(max_of $m)
    if [ ! -f "$onnx" ]; then
      say "build $m: $onnx missing"; jsonl kind=build model=$m error="missing $onnx"
      failed=$((failed + 1)); continue
    fi
    t0=$SECONDS
    run "build $m" 300 "$VRSEG" build-engine "$onnx" -o "$plan" --precision fp16 \
      --batch "1:$max:$max" --verbose
    rc=$?
    sed -n '/build '"$m"':/,$p' "$log" > "$work/details/build_$m.log"
    if [ $rc = 0 ]; then
      jsonl kind=build model=$m precision=fp16 batch="\"1:$max:$max\"" seconds=$((SECONDS - t0)) \
        plan_bytes="$(stat -c %s "$plan")"
    else
      jsonl kind=build model=$m error="exit $rc" seconds=$((SECONDS - t0)); failed=$((failed + 1))
    fi
  done
fi

# bench_one KIND BACKEND MODEL_FILE NAME BATCH: one `vrseg bench`, its JSON line kept with ours
bench_one() {
  local kind=$1 backend=$2 file=$3 name=$4 batch=$5 args
  args=${bench_args//\{backend\}/$backend}
  args=${args//\{model\}/$file}
  args=${args//\{batch\}/$batch}
  local tmp=$work/details/last_bench.json
  say "$kind $name batch $batch: $VRSEG $args"
  # shellcheck disable=SC2086 # the arguments are words on purpose
  timeout --kill-after=10 120 "$VRSEG" $args > "$tmp" 2>> "$log"
  local rc=$?
  cat "$tmp" >> "$log"
  if [ $rc != 0 ]; then
    say "$kind $name batch $batch: FAILED (exit $rc)"
    jsonl kind=$kind model=$name batch=$batch error="exit $rc"
    return 1
  fi
  # The last JSON object the command printed; ms per batch from the model-only figures.
  "$python" - "$kind" "$name" "$batch" "$tmp" >> "$results" <<'EOF'
import json, sys
kind, name, batch, path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
obj = None
for line in open(path):
    line = line.strip()
    if line.startswith("{"):
        try:
            obj = json.loads(line)
        except ValueError:
            pass
row = {"kind": kind, "model": name, "batch": batch}
if obj is None:
    row["error"] = "no JSON in the output"
else:
    ms = obj.get("ms_per_batch") or obj.get("model_batch_ms")
    fps = obj.get("frames_per_s") or obj.get("model_fps") or (batch * 1000.0 / ms if ms else None)
    if ms is None and fps:
        ms = batch * 1000.0 / fps
    row.update({"ms_per_batch": ms, "frames_per_s": fps, "device": obj.get("device"), "raw": obj})
print(json.dumps(row))
EOF
}

# ---- gpu: vrseg's engine ------------------------------------------------------------------------------
if want gpu; then
  for m in "${order[@]}"; do
    plan=$work/plans/$m.plan
    [ -f "$plan" ] || { say "gpu $m: no plan ($plan)"; continue; }
    for b in $(batches_of $m); do
      time_left "gpu $m $b" || break 2
      bench_one vrseg-gpu gpu "$plan" $m $b || failed=$((failed + 1))
    done
  done
fi

# ---- layers: per-layer times, tactics and achieved rates ------------------------------------------------
if want layers; then
  for m in "${order[@]}"; do
    plan=$work/plans/$m.plan
    [ -f "$plan" ] || continue
    time_left "layers $m" || break
    b=$(max_of $m); [ $m = deeplabv3_resnet50 ] && b=8
    args=${bench_args//\{backend\}/gpu}; args=${args//\{model\}/$plan}; args=${args//\{batch\}/$b}
    args=${args/--json/}
    # shellcheck disable=SC2086
    run "layers $m batch $b" 180 bash -c "\"$VRSEG\" $args --layers > \"$work/details/layers_${m}_b$b.txt\" 2>&1" ||
      failed=$((failed + 1))
  done
fi

# ---- ort: ONNX Runtime's CUDA provider ------------------------------------------------------------------
ort_ready=0
place_provider() {
  local lib dir
  local prog=$VRSEG
  [ -x "$prog" ] || prog=$(command -v ort_cuda_bench || echo "$VRSEG")
  lib=$(ldd "$prog" 2>/dev/null | awk '/libonnxruntime\.so/ {print $3; exit}')
  if [ -z "$lib" ]; then say "ort: cannot tell which libonnxruntime.so.1 $prog loads"; return 1; fi
  dir=$(dirname "$(readlink -f "$lib")")
  if [ -f "$dir/libonnxruntime_providers_cuda.so" ]; then say "ort: provider present in $dir"; return 0; fi
  local src=${ORT_CUDA_PROVIDER:-}
  [ -f "$staged" ] && src=$staged
  if [ -z "$src" ] || [ ! -f "$src" ]; then
    say "ort: libonnxruntime_providers_cuda.so is not next to $lib, none is staged in $work/ort and ORT_CUDA_PROVIDER is unset; ort-cuda skipped"
    return 1
  fi
  case "$src" in
    *.xz) xz -dc "$src" > "$dir/libonnxruntime_providers_cuda.so" ;;
    *) cp "$src" "$dir/libonnxruntime_providers_cuda.so" ;;
  esac
  # Beside it, the provider bridge's small helper library (the core package's copy will do).
  [ -f "$dir/libonnxruntime_providers_shared.so" ] || say "ort: warning: no libonnxruntime_providers_shared.so in $dir"
  say "ort: provider placed in $dir from $src"
}
if want ort || want tests; then
  place_provider && ort_ready=1
fi
# ort_direct NAME FILE BATCHES SEARCH: ort_cuda_bench (bench/ort_cuda_bench.cc), its JSON lines kept
ort_direct() {
  local name=$1 file=$2 list=$3 search=$4 tmp=$work/details/last_ort.jsonl
  say "ort $name ($search): $ort_bench $file $list"
  VRSEG_ORT_CUDA_CONV_SEARCH=$search timeout --kill-after=10 300 "$ort_bench" "$file" "$list" \
    > "$tmp" 2>> "$log"
  local rc=$?
  cat "$tmp" >> "$log"
  "$python" - "$name" "$search" "$tmp" >> "$results" <<'EOF2'
import json, sys
name, search, path = sys.argv[1], sys.argv[2], sys.argv[3]
for line in open(path):
    line = line.strip()
    if line.startswith("{"):
        row = json.loads(line)
        row.update({"model": name, "conv_search": search})
        print(json.dumps(row))
EOF2
  [ $rc = 0 ] || say "ort $name ($search): FAILED (exit $rc)"
  return $rc
}
if want ort && [ $ort_ready = 1 ]; then
  ort_bench=$(command -v ort_cuda_bench || true)
  # Both cuDNN searches: neither is best everywhere (src/backend/ort_cuda_backend.cc); the summary
  # keeps the faster, so the peer gets its best.
  for search in heuristic exhaustive; do
    for m in "${order[@]}"; do
      # ONNX Runtime runs a model in its file's precision: the FP16 export is its FP16 peer.
      onnx=$(onnx_of $m); f16=${onnx%.onnx}_fp16.onnx
      [ -f "$f16" ] && onnx=$f16
      [ -f "$onnx" ] || { say "ort $m: $onnx missing"; continue; }
      time_left "ort $m $search" || break 2
      if [ -n "$ort_bench" ]; then
        ort_direct $m "$onnx" "$(batches_of $m | tr ' ' ',')" $search || failed=$((failed + 1))
      else
        for b in $(batches_of $m); do
          VRSEG_ORT_CUDA_CONV_SEARCH=$search bench_one ort-cuda ort-cuda "$onnx" $m $b ||
            failed=$((failed + 1))
        done
      fi
    done
  done
fi

# ---- tests: ort-cuda parity against ONNX Runtime on the CPU (tests/backend/ort_cuda_test.cc) -------------
if want tests && [ $ort_ready = 1 ] && time_left tests; then
  if command -v backend_tests > /dev/null; then
    list=""
    for m in deeplabv3_resnet50 resnet50 lraspp_mobilenet_v3_large; do
      for f in "$work/models/$m.onnx" "$work/models/${m}_fp16.onnx"; do
        [ -f "$f" ] && list=${list:+$list,}$f
      done
    done
    VRSEG_ORT_CUDA_MODELS=$list run "tests ort-cuda" 300 backend_tests --gtest_filter='OrtCudaBackend.*'
    rc=$?
    jsonl kind=test name=ort_cuda_parity rc=$rc
    [ $rc = 0 ] || failed=$((failed + 1))
  else
    say "tests: backend_tests not on PATH (bundle it to run the ort-cuda parity tests)"
  fi
fi

# ---- summary ------------------------------------------------------------------------------------------
if want summary; then
  "$python" - "$results" > "$out/summary.md" 2>> "$log" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
gpu = next((r.get("gpu") for r in rows if r.get("gpu")), None)
if gpu is None:  # no PyTorch row: the backends' device strings ("NVIDIA H200, sm_90, ...")
    gpu = next((r["device"].split(",")[0] for r in rows if r.get("device")), "unknown GPU")
gemm = next((r for r in rows if r.get("kind") == "gemm" and "tflops" in r), None)
# Issue 6's targets: (model, batch) -> (ratio to PyTorch, absolute ms ceiling, absolute fps floor)
targets = {
    ("deeplabv3_resnet50", b): "≥1.3× PyTorch" for b in (1, 8, 16, 32)}
targets.update({("resnet50", 1): "≥1.3× PyTorch", ("resnet50", 256): "≥1.3× PyTorch",
                ("lraspp_mobilenet_v3_large", 1): "≤0.6 ms", ("lraspp_mobilenet_v3_large", 64): "≥1.5× PyTorch",
                ("selfie", 1): "≤0.15 ms", ("selfie", 64): "≥20,000 fps"})
def find(kind, model, batch):
    """The row of (kind, model, batch) with the most frames/s (ort-cuda runs once per cuDNN search)."""
    best = None
    for r in rows:
        if r.get("kind") == kind and r.get("model") == model and r.get("batch") == batch:
            if best is None or (r.get("frames_per_s") or 0) > (best.get("frames_per_s") or 0):
                best = r
    return best
def fmt(x, spec=".0f"):
    return "—" if x is None else format(x, spec)
print(f"# GPU engine benchmark — {gpu}\n")
if gemm:
    print(f"Dense FP16 GEMM (torch.matmul 8192³): {gemm['tflops']:.0f} TFLOP/s.\n")
print("| model | batch | PyTorch fps | vrseg ms | vrseg fps | ×PyTorch | vrseg TFLOP/s | ORT CUDA fps | ×ORT | target |")
print("|---|---|---|---|---|---|---|---|---|---|")
models = []
for r in rows:
    if r.get("kind") in ("torch", "vrseg-gpu", "ort-cuda") and r.get("model") and r.get("batch"):
        key = (r["model"], r["batch"])
        if key not in models:
            models.append(key)
for model, batch in models:
    t, v, o = find("torch", model, batch), find("vrseg-gpu", model, batch), find("ort-cuda", model, batch)
    tf = t.get("frames_per_s") if t else None
    vf = v.get("frames_per_s") if v else None
    vm = v.get("ms_per_batch") if v else None
    of = o.get("frames_per_s") if o else None
    gflop = t.get("gflop_per_frame") if t else None
    tflops = gflop * vf / 1000.0 if gflop and vf else None
    tfl = fmt(tflops, ".1f")
    if tflops and gemm:
        tfl += f" ({100.0 * tflops / gemm['tflops']:.0f}%)"
    print(f"| {model} | {batch} | {fmt(tf)} | {fmt(vm, '.3f')} | {fmt(vf)} | "
          f"{fmt(vf / tf if vf and tf else None, '.2f')} | {tfl} | {fmt(of)} | "
          f"{fmt(vf / of if vf and of else None, '.2f')} | {targets.get((model, batch), '')} |")
errors = [r for r in rows if "error" in r]
if errors:
    print("\nFailures:\n")
    for r in errors:
        print(f"- {r.get('kind')} {r.get('model', '')} {r.get('batch', '')}: {r['error']}")
EOF
  say "summary: $out/summary.md"
  cat "$out/summary.md" >> "$log"
fi

tar -C "$work" -czf "$out/details.tar.gz" details 2>> "$log"
say "done: $failed failed step(s); files in $out"
exit $((failed > 100 ? 100 : failed))
