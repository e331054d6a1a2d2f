#!/usr/bin/env bash
# gpu-check.sh: one run on an NVIDIA machine that records what lp-node's GPU path can use there and
# what a process per segment costs on NVDEC + CUDA scaling (issue 15). About 8 minutes at most.
#
# Steps (each under `timeout`; a failing step is recorded and the next one runs):
#   (a) the machine: nvidia-smi -L, the driver, and for every ffmpeg found (GPU_CHECK_FFMPEGS, else
#       .gpu-carry/ffmpeg, the npm-shipped one, every ffmpeg on PATH, /usr/bin and /usr/local/bin)
#       its -hwaccels, NVENC encoders, CUVID decoders and scale_cuda/scale_npp filters. The first
#       ffmpeg with the CUDA hwaccel is used; none: exit 4.
#   (b) the node's start-up GPU test (-testTranscoder: src/media/gpu/startupTest.ts with the runner
#       of testRunner.ts), through scripts/gpu-check-node.mjs. Its H.264 test encodes with NVENC
#       first; on a card without NVENC (A100, H100, H200) it tries hybrid mode (NVDEC, CUDA scaling,
#       hwdownload, libx264), and the node runs the card that way when it passes.
#   (c) per-segment start cost: a 20 s 1080p30 H.264 source (made on the CPU) cut into ten 2 s
#       segments; for each graph, one ffmpeg per segment back to back against one ffmpeg over the
#       whole 20 s. Graphs: NVDEC + scale_cuda (scale_npp when only that exists) to 426x240,
#       640x360 and 1280x720 + hwdownload, into -f null and into libx264 ultrafast (no NVENC
#       needed), and the same on the CPU for reference. Plus the bare CUDA device start-up.
#   (d) the bench (src/bench/bench.ts) run as `lp-node bench` wires it: -warm false and true one
#       segment at a time, then -warm true with two of the stream's segments at once,
#       in the mode (b) found: the standard H.264 ladder (P240p30fps16x9, P360p30fps16x9,
#       P720p30fps16x9) in hybrid mode when the card has no NVENC, on NVENC when it has; when (b)
#       did not pass, a small VP9 ladder in MP4 (144p and 240p: NVDEC, scale_cuda, hwdownload,
#       libvpx-vp9, a path that needs no NVENC). GPU_CHECK_BENCH_PROFILES replaces the ladder
#       (not the mode). Needs node >= 20 and dist/.
#
# Output: $OUT/gpu-check.json (every figure; rewritten after each step, so a killed run still
# leaves what it measured), $OUT/gpu-check.log (raw logs: commands, exit codes, stderr tails) and
# $OUT/gpu-check-summary.txt (the summary also printed at the end). $OUT defaults to /tmp/gpu-check-out.
# Exit codes: 0 every step ran, 1 a step failed (see "failures" in the JSON), 2 usage,
# 3 no NVIDIA GPU, 4 no ffmpeg with the CUDA hwaccel.
#
# On the project's device tool (one bash command in a copy of the repository; $OUT comes back):
#   here:    npm run build
#   device:  bash scripts/gpu-check.sh
#            carry ["dist", "node_modules/@bufbuild/protobuf", "node_modules/@noble/hashes"]
#            timeout_s 560
# Everything that travels must fit in 64 MiB, so node_modules cannot go whole (it is ~600 MiB; the
# npm-shipped ffmpeg alone is 66 MiB and has no CUDA anyway): the two packages above are all that
# dist/'s GPU and bench modules import. The device image is not known to have node or an ffmpeg
# with CUDA: without node, (b) and (d) are skipped; without a CUDA ffmpeg the run stops with exit
# 4. Either can travel in .gpu-carry/ (list it in .git/info/exclude and in carry): an ffmpeg
# at .gpu-carry/ffmpeg (a binary or a wrapper script) and a node binary at .gpu-carry/node, or
# xz-compressed at .gpu-carry/node.xz: node 20 is 94 MiB, 21 MiB once stripped and compressed
# (`strip -o .gpu-carry/node "$(command -v node)" && xz .gpu-carry/node`; the official build needs
# only glibc 2.28).
#
# Environment: GPU_CHECK_DEVICE (GPU index, default 0), GPU_CHECK_FFMPEGS (space-separated ffmpeg
# paths to consider instead of searching), GPU_CHECK_EXTRA_FFMPEGS (fixed paths searched after PATH),
# GPU_CHECK_NODE (node binary), GPU_CHECK_BUDGET_S (default 470), GPU_CHECK_BENCH_PROFILES,
# GPU_CHECK_SOURCE_SIZE (default 1920x1080; smaller only to try the script out).
#
# `gpu-check.sh --print-argv cuda|cpu` prints step (c)'s ffmpeg argv (one JSON array per line,
# NAME<TAB>ARRAY) and exits; the unit test checks them and runs the CPU ones.
# `gpu-check.sh --print-bench-plan '<(b) JSON>'` prints (d)'s MODE<TAB>PROFILES for that outcome.
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEVICE=${GPU_CHECK_DEVICE:-0}
BUDGET=${GPU_CHECK_BUDGET_S:-470}
# (d)'s ladders: H.264 when (b) passed (NVENC or hybrid), VP9 (no NVENC needed) otherwise.
H264_LADDER=P240p30fps16x9,P360p30fps16x9,P720p30fps16x9
VP9_LADDER=P144p30fps16x9:vp9:mp4,P240p30fps16x9:vp9:mp4
# A smaller source only for trying the script out on a machine without a GPU (the unit test does).
SOURCE_SIZE=${GPU_CHECK_SOURCE_SIZE:-1920x1080}
SEGMENTS=10
# The standard ladder's output sizes from a 16:9 source (P240p30fps16x9, P360p30fps16x9, P720p30fps16x9).
LADDER="426x240 640x360 1280x720"

EXIT_FAILED=1
EXIT_USAGE=2
EXIT_NO_GPU=3
EXIT_NO_CUDA_FFMPEG=4

# ---------------------------------------------------------------- JSON

# A JSON string literal of $1 (control characters other than \n \r \t dropped).
jstr() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/\\n}
  s=${s//$'\r'/\\r}
  s=${s//$'\t'/\\t}
  s=$(printf '%s' "$s" | tr -d '\000-\010\013\014\016-\037')
  printf '"%s"' "$s"
}

# A JSON array of strings from the arguments.
jarr() {
  local out="" a
  for a in "$@"; do out+="${out:+,}$(jstr "$a")"; done
  printf '[%s]' "$out"
}

# A JSON number, or null when $1 is not one.
jnum() {
  if [[ $1 =~ ^-?[0-9]+(\.[0-9]+)?$ ]]; then printf '%s' "$1"; else printf 'null'; fi
}

# ---------------------------------------------------------------- step (c)'s argv

# Fills CMD with the argv (after the binary) of one (c) run.
#   $1 decode: cuda | cpu   $2 encode: null | x264   $3 input   $4 scaler: scale_cuda | scale_npp | none
build_cmd() {
  local decode=$1 encode=$2 input=$3 scaler=${4:-scale_cuda}
  local n=0 size labels="" chains="" w h graph
  CMD=(-hide_banner -nostdin -loglevel error -y)
  if [[ $decode == cuda ]]; then
    CMD+=(-hwaccel cuda -hwaccel_output_format cuda -hwaccel_device "$DEVICE")
  fi
  CMD+=(-i "$input")
  for size in $LADDER; do
    w=${size%x*}
    h=${size#*x}
    labels+="[s$n]"
    if [[ $decode == cpu ]]; then
      chains+=";[s$n]scale=w=$w:h=$h,format=yuv420p[v$n]"
    elif [[ $scaler == none ]]; then
      # No CUDA scaler in this build: frames come down first and are scaled on the CPU.
      chains+=";[s$n]hwdownload,format=nv12,scale=w=$w:h=${h}[v$n]"
    else
      chains+=";[s$n]$scaler=w=$w:h=$h,hwdownload,format=nv12[v$n]"
    fi
    n=$((n + 1))
  done
  graph="[0:v:0]split=$n$labels$chains"
  CMD+=(-filter_complex "$graph")
  for ((i = 0; i < n; i++)); do
    CMD+=(-map "[v$i]")
    if [[ $encode == x264 ]]; then
      CMD+=(-c:v libx264 -preset ultrafast -g 60 -f null /dev/null)
    else
      CMD+=(-f null /dev/null)
    fi
  done
}

# argv that makes the 20 s 1080p30 source on the CPU: fixed 2 s GOPs so it cuts into 2 s segments.
source_cmd() {
  CMD=(-hide_banner -nostdin -loglevel error -y -f lavfi -i "testsrc2=size=$SOURCE_SIZE:rate=30"
    -t "$((SEGMENTS * 2))" -c:v libx264 -preset veryfast -pix_fmt yuv420p -b:v 6000k
    -g 60 -keyint_min 60 -sc_threshold 0 -f segment -segment_time 2 -segment_format mpegts
    "$1/seg%02d.ts")
}

# argv of the bare CUDA device start-up: create the device, push one tiny frame through.
cuda_init_cmd() {
  CMD=(-hide_banner -nostdin -loglevel error -init_hw_device "cuda=gc:$DEVICE" -f lavfi
    -i "color=size=64x64:rate=1" -frames:v 1 -f null /dev/null)
}

# Sets BENCH_MODE (nvenc | hybrid) and BENCH_PROFILES from (b)'s JSON in $1 ("" when (b) did not run).
bench_plan() {
  local startup=$1
  BENCH_MODE=nvenc
  BENCH_PROFILES=$VP9_LADDER
  if [[ $startup == *'"nodeStartupTest":{"ok":true'* ]]; then
    BENCH_PROFILES=$H264_LADDER
    # The start-up test lists the devices it runs in hybrid mode; this script tests one device.
    [[ $startup == *'"hybrid":["'* ]] && BENCH_MODE=hybrid
  fi
  if [[ -n ${GPU_CHECK_BENCH_PROFILES:-} ]]; then BENCH_PROFILES=$GPU_CHECK_BENCH_PROFILES; fi
}

if [[ ${1:-} == --print-bench-plan ]]; then
  bench_plan "${2:-}"
  printf '%s\t%s\n' "$BENCH_MODE" "$BENCH_PROFILES"
  exit 0
elif [[ ${1:-} == --print-argv ]]; then
  kind=${2:-}
  if [[ $kind != cuda && $kind != cpu ]]; then
    echo "usage: gpu-check.sh --print-argv cuda|cpu" >&2
    exit $EXIT_USAGE
  fi
  for enc in null x264; do
    build_cmd "$kind" "$enc" SEGMENT
    printf '%s-%s\t%s\n' "$kind" "$enc" "$(jarr "${CMD[@]}")"
  done
  source_cmd OUTDIR
  printf 'source\t%s\n' "$(jarr "${CMD[@]}")"
  if [[ $kind == cuda ]]; then
    cuda_init_cmd
    printf 'cuda-init\t%s\n' "$(jarr "${CMD[@]}")"
  fi
  exit 0
elif [[ $# -gt 0 ]]; then
  echo "usage: gpu-check.sh [--print-argv cuda|cpu | --print-bench-plan JSON]" >&2
  exit $EXIT_USAGE
fi

# ---------------------------------------------------------------- bookkeeping

OUT=${OUT:-${TMPDIR:-/tmp}/gpu-check-out}
mkdir -p "$OUT"
JSON=$OUT/gpu-check.json
LOG=$OUT/gpu-check.log
SUMMARY=$OUT/gpu-check-summary.txt
: >"$LOG"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lp-gpu-check.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
STARTED=$(date +%s)

declare -a FIELDS=()   # top-level "key": value pairs, in order
declare -a FAILURES=() # JSON strings
declare -a SUMMARY_LINES=()

put() { FIELDS+=("$(jstr "$1"): $2"); }
fail() {
  FAILURES+=("$(jstr "$1")")
  SUMMARY_LINES+=("FAILED: $1")
  log "FAILED: $1"
}
say() {
  SUMMARY_LINES+=("$1")
  log "$1"
}
log() { printf '%s\n' "$*" >>"$LOG"; }

flush() {
  local status=$1 body="" f failures=""
  for f in "${FIELDS[@]}"; do body+="  $f,"$'\n'; done
  for f in "${FAILURES[@]}"; do failures+="${failures:+,}$f"; done
  {
    printf '{\n  "status": %s,\n  "startedAt": %s,\n  "elapsedS": %s,\n' "$(jstr "$status")" \
      "$(jstr "$(date -u -d "@$STARTED" +%FT%TZ)")" "$(($(date +%s) - STARTED))"
    printf '%s' "$body"
    printf '  "failures": [%s]\n}\n' "$failures"
  } >"$JSON.tmp" && mv "$JSON.tmp" "$JSON"
}

finish() {
  local status=$1 code=$2
  flush "$status"
  {
    printf 'gpu-check: %s (exit %s)\n' "$status" "$code"
    printf '%s\n' "${SUMMARY_LINES[@]}"
    printf 'JSON: %s  log: %s\n' "$JSON" "$LOG"
  } | tee "$SUMMARY"
  exit "$code"
}

# Seconds a step may take: its own cap, within what is left of the budget (5 s kept for the end).
limit() {
  local left=$((BUDGET - ($(date +%s) - STARTED) - 5))
  if ((left < $1)); then echo $((left > 0 ? left : 0)); else echo "$1"; fi
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# Runs "$@" under timeout $1 s, stderr to the log (tail); sets RC and MS. Output on stdout kept in RUN_OUT.
RC=0
MS=0
RUN_OUT=""
run_timed() {
  local secs=$1
  shift
  local t0 t1 errf=$WORK/stderr
  if ((secs <= 0)); then
    RC=124
    MS=0
    RUN_OUT=""
    log "SKIPPED (out of time): $*"
    return
  fi
  t0=$(now_ms)
  RUN_OUT=$(timeout -k 5 "$secs" "$@" 2>"$errf")
  RC=$?
  t1=$(now_ms)
  MS=$((t1 - t0))
  {
    printf '$ %s\n' "$*"
    printf '  exit %s, %s ms\n' "$RC" "$MS"
    if [[ -s $errf ]]; then tail -c 3000 "$errf" | sed 's/^/  | /'; fi
  } >>"$LOG"
}

# ---------------------------------------------------------------- (a) the GPU

log "== (a) nvidia-smi"
smi=$(command -v nvidia-smi || true)
if [[ -z $smi ]]; then
  put nvidiaSmi '{"found": false}'
  say "no NVIDIA GPU: nvidia-smi is not on PATH"
  finish no-gpu $EXIT_NO_GPU
fi
run_timed 20 "$smi" -L
smi_list=$RUN_OUT
smi_rc=$RC
log "$smi_list"
gpu_lines=$(printf '%s\n' "$smi_list" | grep -c '^GPU [0-9]' || true)
if ((smi_rc != 0 || gpu_lines == 0)); then
  put nvidiaSmi "{\"found\": true, \"path\": $(jstr "$smi"), \"exit\": $smi_rc, \"list\": $(jstr "$smi_list")}"
  say "no NVIDIA GPU: nvidia-smi -L exited $smi_rc and listed $gpu_lines GPUs: $(printf '%s' "$smi_list" | head -n 1)"
  finish no-gpu $EXIT_NO_GPU
fi
run_timed 20 "$smi" --query-gpu=index,name,driver_version,memory.total,encoder.stats.sessionCount \
  --format=csv,noheader,nounits
smi_query=$RUN_OUT
run_timed 20 "$smi"
smi_full=$RUN_OUT
cuda_version=$(printf '%s\n' "$smi_full" | sed -n 's/.*CUDA Version: *\([0-9.]*\).*/\1/p' | head -n 1)
driver=$(printf '%s\n' "$smi_query" | head -n 1 | cut -d, -f3 | tr -d ' ')
put nvidiaSmi "{\"found\": true, \"path\": $(jstr "$smi"), \"list\": $(jstr "$smi_list"), \"query\": $(jstr "$smi_query"), \"driver\": $(jstr "$driver"), \"cudaVersion\": $(jstr "$cuda_version")}"
say "GPU: $(printf '%s' "$smi_list" | head -n 1); driver $driver, CUDA $cuda_version"

# The driver's libraries ffmpeg loads at run time: CUDA, NVDEC (nvcuvid) and NVENC.
log "== (a) driver libraries"
libs=""
ldpath=${LD_LIBRARY_PATH:-}
for lib in libcuda.so.1 libnvcuvid.so.1 libnvidia-encode.so.1; do
  found=$(ldconfig -p 2>/dev/null | awk -v l="$lib" '$1 == l { print $NF; exit }')
  if [[ -z $found ]]; then
    for d in ${ldpath//:/ } /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu /usr/lib64; do
      if [[ -e $d/$lib ]]; then
        found=$d/$lib
        break
      fi
    done
  fi
  libs+="${libs:+, }$(jstr "$lib"): $(if [[ -n $found ]]; then jstr "$found"; else echo null; fi)"
  say "driver library $lib: ${found:-not found}"
done
put driverLibraries "{$libs}"

# ---------------------------------------------------------------- node

NODE=""
find_node() {
  local c
  for c in "${GPU_CHECK_NODE:-}" "$(command -v node || true)" "$ROOT/.gpu-carry/node"; do
    if [[ -n $c && -x $c ]]; then
      NODE=$c
      return
    fi
  done
  if [[ -f $ROOT/.gpu-carry/node.xz ]]; then
    if command -v xz >/dev/null; then
      xz -dc "$ROOT/.gpu-carry/node.xz" >"$WORK/node"
    else
      python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
        "$ROOT/.gpu-carry/node.xz" "$WORK/node"
    fi && chmod +x "$WORK/node" && NODE=$WORK/node
  fi
}
find_node
node_version=""
if [[ -n $NODE ]]; then
  run_timed 20 "$NODE" --version
  node_version=$RUN_OUT
  if [[ ! $node_version =~ ^v(2[0-9]|[3-9][0-9]) ]]; then
    say "node $NODE ($node_version) is not node >= 20: (b) and (d) skipped"
    NODE=""
  fi
fi
HELPER_OK=false
if [[ -z $NODE ]]; then
  put node null
  fail "node: no node >= 20 found (PATH, GPU_CHECK_NODE, .gpu-carry/node[.xz]); (b) and (d) skipped"
elif [[ ! -f $ROOT/dist/src/media/gpu/testRunner.js || ! -f $ROOT/dist/src/bench/bench.js ]]; then
  put node "{\"path\": $(jstr "$NODE"), \"version\": $(jstr "$node_version")}"
  fail "dist/ missing: run npm run build and carry dist; (b) and (d) skipped"
else
  put node "{\"path\": $(jstr "$NODE"), \"version\": $(jstr "$node_version")}"
  HELPER_OK=true
fi

flush running

# ---------------------------------------------------------------- (a) the ffmpeg builds

log "== (a) ffmpeg builds"
declare -a CANDIDATES=()
add_candidate() {
  local p=$1 real c
  [[ -n $p && -f $p && -x $p ]] || return 0
  real=$(readlink -f "$p")
  for c in "${CANDIDATES[@]}"; do [[ $(readlink -f "$c") == "$real" ]] && return 0; done
  CANDIDATES+=("$p")
}
if [[ -n ${GPU_CHECK_FFMPEGS:-} ]]; then
  for p in $GPU_CHECK_FFMPEGS; do add_candidate "$p"; done
else
  add_candidate "$ROOT/.gpu-carry/ffmpeg"
  add_candidate "$ROOT/node_modules/@ffmpeg-installer/linux-x64/ffmpeg"
  while IFS= read -r p; do add_candidate "$p"; done < <(type -ap ffmpeg)
  for p in ${GPU_CHECK_EXTRA_FFMPEGS-/usr/bin/ffmpeg /usr/local/bin/ffmpeg}; do add_candidate "$p"; done
fi

FFMPEG=""
FF_HAS_X264=false
SCALER=none
builds=""
npm_ff="$ROOT/node_modules/@ffmpeg-installer/linux-x64/ffmpeg"
for ff in "${CANDIDATES[@]}"; do
  run_timed 20 "$ff" -hide_banner -version
  version=$(printf '%s\n' "$RUN_OUT" | head -n 1)
  ok=$RC
  run_timed 20 "$ff" -hide_banner -hwaccels
  hwaccels=$(printf '%s\n' "$RUN_OUT" | sed -n '2,$p' | tr -s ' \n' ' ' | sed 's/^ //;s/ $//')
  run_timed 20 "$ff" -hide_banner -encoders
  encoders=$RUN_OUT
  nvenc=$(printf '%s\n' "$encoders" | grep -i nvenc | awk '{print $2}' | tr '\n' ' ' | sed 's/ $//')
  x264=false
  printf '%s\n' "$encoders" | grep -qw libx264 && x264=true
  run_timed 20 "$ff" -hide_banner -decoders
  cuvid=$(printf '%s\n' "$RUN_OUT" | grep -i cuvid | awk '{print $2}' | tr '\n' ' ' | sed 's/ $//')
  run_timed 20 "$ff" -hide_banner -filters
  filters=$(printf '%s\n' "$RUN_OUT" | grep -Eo '\b(scale_cuda|scale_npp|hwdownload|hwupload_cuda)\b' | sort -u | tr '\n' ' ' | sed 's/ $//')
  cuda=false
  [[ " $hwaccels " == *" cuda "* ]] && cuda=true
  npm=false
  [[ $(readlink -f "$ff") == $(readlink -f "$npm_ff" 2>/dev/null || echo -) ]] && npm=true
  builds+="${builds:+, }{\"path\": $(jstr "$ff"), \"npmShipped\": $npm, \"runs\": $([[ $ok == 0 ]] && echo true || echo false), \"version\": $(jstr "$version"), \"hwaccels\": $(jstr "$hwaccels"), \"cuda\": $cuda, \"nvencEncoders\": $(jstr "$nvenc"), \"cuvidDecoders\": $(jstr "$cuvid"), \"gpuFilters\": $(jstr "$filters"), \"libx264\": $x264}"
  say "ffmpeg $ff: hwaccels [$hwaccels]; NVENC [$nvenc]; CUVID [$cuvid]; filters [$filters]"
  if [[ -z $FFMPEG && $cuda == true ]]; then
    FFMPEG=$ff
    FF_HAS_X264=$x264
    if [[ " $filters " == *" scale_cuda "* ]]; then
      SCALER=scale_cuda
    elif [[ " $filters " == *" scale_npp "* ]]; then SCALER=scale_npp; fi
  fi
done
put ffmpegBuilds "[$builds]"
put ffmpeg "$(if [[ -n $FFMPEG ]]; then jstr "$FFMPEG"; else echo null; fi)"
if [[ -z $FFMPEG ]]; then
  if ((${#CANDIDATES[@]} == 0)); then
    say "no ffmpeg with CUDA hwaccel: no ffmpeg found at all"
  else
    say "no ffmpeg with CUDA hwaccel among: ${CANDIDATES[*]} (the npm-shipped static build has none; bring one, see the top of this script)"
  fi
  finish no-cuda-ffmpeg $EXIT_NO_CUDA_FFMPEG
fi
put scaler "$(jstr "$SCALER")"
say "using $FFMPEG (scaler: $SCALER)"
flush running

# ---------------------------------------------------------------- (b) the node's start-up test

log "== (b) start-up GPU test"
STARTUP_JSON=""
if [[ $HELPER_OK == true ]]; then
  run_timed "$(limit 120)" "$NODE" "$ROOT/scripts/gpu-check-node.mjs" startup "$ROOT" "$FFMPEG" "$DEVICE"
  log "$RUN_OUT"
  if [[ $RC == 0 && $RUN_OUT == \{* ]]; then
    put startupTest "$RUN_OUT"
    STARTUP_JSON=$RUN_OUT
    if [[ $RUN_OUT == *'"nodeStartupTest":{"ok":true'* && $RUN_OUT == *'"hybrid":["'* ]]; then
      say "(b) start-up test: passed in hybrid mode (no NVENC on GPU $DEVICE: NVDEC and GPU scaling, H.264 by libx264; lp-node -nvidia $DEVICE would start)"
    elif [[ $RUN_OUT == *'"nodeStartupTest":{"ok":true'* ]]; then
      say "(b) start-up test: passed (lp-node -nvidia $DEVICE would start)"
    else
      say "(b) start-up test: lp-node -nvidia $DEVICE would NOT start: $(printf '%s' "$RUN_OUT" | sed -n 's/.*"nodeStartupTest":{"ok":false,"error":"\(\([^"\\]\|\\.\)*\)".*/\1/p' | sed 's/\\"/"/g' | cut -c1-300)"
    fi
  else
    put startupTest "{\"exit\": $RC, \"output\": $(jstr "$RUN_OUT")}"
    fail "(b) start-up test helper exited $RC"
  fi
  flush running
fi

# ---------------------------------------------------------------- (c) per-segment start cost

log "== (c) per-segment start cost"
SEGDIR=$WORK/segments
mkdir -p "$SEGDIR"
# The source is made on the CPU: by the chosen ffmpeg when it has libx264, else by the npm one.
maker=$FFMPEG
[[ $FF_HAS_X264 == true ]] || maker=$npm_ff
source_cmd "$SEGDIR"
run_timed "$(limit 120)" "$maker" "${CMD[@]}"
nseg=$(find "$SEGDIR" -name 'seg*.ts' | wc -l)
if [[ $RC != 0 || $nseg -lt 2 ]]; then
  fail "(c) cannot make the source with $maker (exit $RC, $nseg segments)"
  put source "{\"maker\": $(jstr "$maker"), \"exit\": $RC}"
else
  cat "$SEGDIR"/seg*.ts >"$WORK/whole.ts"
  put source "{\"maker\": $(jstr "$maker"), \"segments\": $nseg, \"segmentSeconds\": 2, \"size\": $(jstr "$SOURCE_SIZE"), \"fps\": 30, \"ms\": $MS}"

  # The bare CUDA device start-up, three times: the first also loads the driver's libraries.
  cuda_init_cmd
  inits=()
  for i in 1 2 3; do
    run_timed "$(limit 30)" "$FFMPEG" "${CMD[@]}"
    if [[ $RC == 0 ]]; then inits+=("$MS"); else
      inits+=(null)
      fail "(c) CUDA device start-up run $i exited $RC"
    fi
  done
  # The same command without the device, to subtract ffmpeg's own start.
  run_timed "$(limit 30)" "$FFMPEG" -hide_banner -nostdin -loglevel error -f lavfi -i "color=size=64x64:rate=1" \
    -frames:v 1 -f null /dev/null
  plain=$([[ $RC == 0 ]] && echo "$MS" || echo null)
  put cudaInit "{\"ms\": [$(
    IFS=,
    echo "${inits[*]}"
  )], \"withoutDeviceMs\": $plain}"
  say "(c) CUDA device start-up: ${inits[*]} ms (ffmpeg without it: $plain ms)"
  flush running

  graphs=""
  modes=("cpu null" "cuda null")
  [[ $FF_HAS_X264 == true ]] && modes+=("cpu x264" "cuda x264")
  [[ $FF_HAS_X264 == true ]] || fail "(c) $FFMPEG has no libx264: x264 graphs skipped"
  for mode in "${modes[@]}"; do
    read -r dec enc <<<"$mode"
    name="$([[ $dec == cuda ]] && echo nvdec || echo cpu)-$enc"
    per=()
    sum=0
    bad=0
    for seg in "$SEGDIR"/seg*.ts; do
      build_cmd "$dec" "$enc" "$seg" "$SCALER"
      run_timed "$(limit 60)" "$FFMPEG" "${CMD[@]}"
      if [[ $RC == 0 ]]; then
        per+=("$MS")
        sum=$((sum + MS))
      else
        per+=(null)
        bad=$((bad + 1))
      fi
    done
    build_cmd "$dec" "$enc" "$WORK/whole.ts" "$SCALER"
    run_timed "$(limit 120)" "$FFMPEG" "${CMD[@]}"
    whole=$([[ $RC == 0 ]] && echo "$MS" || echo null)
    [[ $RC == 0 ]] || fail "(c) $name over the whole source exited $RC"
    ((bad == 0)) || fail "(c) $name: $bad of $nseg per-segment runs failed"
    extra=null
    ratio=null
    if ((bad == 0)) && [[ $whole != null ]]; then
      extra=$(awk -v s="$sum" -v w="$whole" -v n="$nseg" 'BEGIN { printf "%.1f", (s - w) / n }')
      ratio=$(awk -v s="$sum" -v w="$whole" 'BEGIN { printf "%.3f", (w > 0 ? s / w : 0) }')
    fi
    graphs+="${graphs:+, }$(jstr "$name"): {\"perSegmentMs\": [$(
      IFS=,
      echo "${per[*]}"
    )], \"perSegmentTotalMs\": $sum, \"wholeMs\": $whole, \"startCostPerSegmentMs\": $(jnum "$extra"), \"perSegmentVsWhole\": $(jnum "$ratio"), \"argv\": $(jarr "${CMD[@]}")}"
    say "(c) $name: 10 processes ${sum} ms vs one process $whole ms: ${ratio}x, ${extra} ms per segment start"
    # Written after every graph so a run cut short keeps what it measured.
    put startCost "{$graphs}"
    flush running
    unset 'FIELDS[${#FIELDS[@]}-1]'
  done
  put startCost "{$graphs}"
  flush running
fi

# ---------------------------------------------------------------- (d) lp-node bench, warm and cold

log "== (d) bench"
if [[ $HELPER_OK == true && $nseg -ge 2 ]]; then
  benches=""
  bench_plan "$STARTUP_JSON"
  say "(d) bench mode $BENCH_MODE, ladder $BENCH_PROFILES"
  # One segment at a time, cold then warm: the per-segment start cost; then warm with two segments
  # of the stream at once, as the node runs a stream that is behind (LocalTranscoder's STREAM_DEPTH).
  for run in "false 1" "true 1" "true 2"; do
    read -r warm inflight <<<"$run"
    run_timed "$(limit 150)" "$NODE" "$ROOT/scripts/gpu-check-node.mjs" bench "$ROOT" "$FFMPEG" "$DEVICE" \
      "$warm" "$SEGDIR" "$BENCH_PROFILES" "$BENCH_MODE" "$inflight"
    log "$RUN_OUT"
    if [[ $RC == 0 && $RUN_OUT == \{* ]]; then
      benches+="${benches:+, }$RUN_OUT"
      vs=$(printf '%s' "$RUN_OUT" | grep -o '"vsSingleProcess":[^,]*' | cut -d: -f2)
      wall=$(printf '%s' "$RUN_OUT" | grep -o '"nodeWallMs":[^,]*' | cut -d: -f2)
      p95=$(printf '%s' "$RUN_OUT" | grep -o '"latencyP95Ms":[^,]*' | cut -d: -f2)
      say "(d) bench -warm $warm -inflight $inflight ($BENCH_MODE, $BENCH_PROFILES): node ${wall} ms, vsSingleProcess $vs, latency p95 ${p95} ms"
    else
      benches+="${benches:+, }{\"warm\": $warm, \"inflight\": $inflight, \"exit\": $RC, \"output\": $(jstr "$RUN_OUT")}"
      fail "(d) bench -warm $warm -inflight $inflight exited $RC"
    fi
  done
  put bench "[$benches]"
  flush running
elif [[ $HELPER_OK == true ]]; then
  fail "(d) skipped: no segments from (c)"
fi

if ((${#FAILURES[@]} > 0)); then finish done-with-failures $EXIT_FAILED; fi
finish ok 0
