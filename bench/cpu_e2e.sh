#!/usr/bin/env bash
# bench/cpu_e2e.sh — issue 2's CPU figures: model-only frames/s of a model under ONNX Runtime and
# end-to-end `vrseg segment` frames/s (H.264 1280x720 file → FFV1 mask file), alternated in one run,
# RUNS times each; prints every run and the medians, and the ratio of the medians.
#
#   bench/cpu_e2e.sh [RUNS=5] [MODEL=selfie] [THREADS=1] [INFER_WORKERS=2] [BUFFER_SETS=3] [BATCH=1]
#
# Model-only: `vrseg bench --json` times Backend::Run alone (its "model_fps": INFER_WORKERS
# backends of THREADS threads each, running in parallel on full batches), with the same backend
# settings as the segment run. Needs a built tree (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5} model=${2:-selfie} threads=${3:-1} workers=${4:-2} sets=${5:-3} batch=${6:-1}
vrseg=build/src/cli/vrseg
clip=build/bench-720p.mp4
if [ ! -f "$clip" ]; then
  # 10 s of 1280x720 at 30000/1001 panning over a photograph, with film grain so that the decoder
  # has realistic work (a static picture decodes unrealistically fast).
  ffmpeg -v error -y -loop 1 -framerate 30000/1001 -i testdata/grace_hopper.jpg -t 10 \
    -vf "scale=1280:-2,crop=1280:720:0:(ih-720)*t/10,noise=alls=6:allf=t,format=yuv420p" \
    -c:v libx264 -preset veryfast -crf 20 "$clip"
fi
frames=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 "$clip")
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
model_fps=() e2e_fps=()
for i in $(seq "$runs"); do
  m=$("$vrseg" -q bench --model "$model" --size 1280x720 -n 600 --warmup 60 --json --threads "$threads" \
        --infer-workers "$workers" --buffer-sets "$sets" --max-batch "$batch" --max-delay-us 0 |
      sed -n 's/.*"model_fps": \([0-9.]*\).*/\1/p')
  out=$(mktemp --suffix=.mkv)
  s=$("$vrseg" -q segment "$clip" -o "$out" --model "$model" --no-progress --threads "$threads" \
        --set pipeline.infer_workers="$workers" --set pipeline.buffer_sets="$sets" --batch "$batch" |
      sed -n 's/^segmented \([0-9]*\) frames in \([0-9.]*\) s.*/\1 \2/p')
  rm -f "$out"
  e=$(echo "$s" | awk '{printf "%.2f", $1 / $2}')
  echo "run $i: model-only $m frames/s, end-to-end $e frames/s ($frames frames)"
  model_fps+=("$m"); e2e_fps+=("$e")
done
mm=$(printf '%s\n' "${model_fps[@]}" | median)
me=$(printf '%s\n' "${e2e_fps[@]}" | median)
echo "median of $runs: model-only $mm frames/s, end-to-end $me frames/s, ratio $(awk -v a="$me" -v b="$mm" 'BEGIN {printf "%.3f", a / b}')"
