#!/usr/bin/env bash
# The whole GPU bring-up in one call of a time-limited machine (bench/GPU_CHECK.md): configure and
# build (sm_90), every [cuda] test case in its own process and timeout, failing cases again under
# compute-sanitizer, the kernel and training-step benchmarks beside the PyTorch peer, sind-train's
# demo in bf16, the NCCL self-test, and a racecheck/memcheck pass; a table last.
#
#   bench/gpu_check.sh                         on the GPU machine, from the repo root, .deps/ carried
#   GPU_CHECK_DRY_RUN=1 bench/gpu_check.sh     every phase's plumbing on the CPU, fake device results
#
# Each phase appends one JSON line to $LOG_DIR/summary.jsonl and writes $LOG_DIR/<phase>.log as soon
# as it ends (at most 8 files there: the device tool returns no more). A phase whose estimate does not
# fit in what is left of GPU_CHECK_BUDGET_S is skipped, and every phase is cut at its own cap.
# Environment: GPU_CHECK_BUDGET_S (520), GPU_CHECK_BUILD_DIR (build-gpu; dry run: build),
# LOG_DIR (default $OUT, else <build>/gpu_check), GPU_CHECK_CASE_TIMEOUT_S (90), GPU_CHECK_TEST_JOBS (4),
# GPU_CHECK_REPS (20).
set -uo pipefail
export LC_ALL=C PYTHONUNBUFFERED=1 OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 2

DRY="${GPU_CHECK_DRY_RUN:-0}"
[ "$DRY" = 1 ] || DRY=0
BUDGET_S="${GPU_CHECK_BUDGET_S:-520}"
BUILD="${GPU_CHECK_BUILD_DIR:-$([ "$DRY" = 1 ] && echo build || echo build-gpu)}"
LOG_DIR="${LOG_DIR:-${OUT:-$BUILD/gpu_check}}"
WORK="$BUILD/gpu_check_work"
REPS="${GPU_CHECK_REPS:-$([ "$DRY" = 1 ] && echo 2 || echo 20)}"
export CASE_TIMEOUT_S="${GPU_CHECK_CASE_TIMEOUT_S:-90}"
TEST_JOBS="${GPU_CHECK_TEST_JOBS:-4}"
SUMMARY=(python3 "$ROOT/bench/gpu_check_summary.py" --log-dir "$LOG_DIR" --dry-run "$DRY")
DEVICE=cuda
[ "$DRY" = 1 ] && DEVICE=cpu
# The kernels that decide a SIND step, then the two whole steps (bench/bench_*.cpp names).
BENCH_OPS=(attention_fwd attention_fwd_bwd layer_norm add_layer_norm linear_qkv linear_mlp bias_quick_gelu
           scale_shift_loss fusion_head views_global views_mosaic copy copy_large sind_step_b64 qep_step_b110)
SANITIZE_OPS=attention_fwd,attention_fwd_bwd,fusion_head,scale_shift_loss,scale_shift_loss_128x4
SANITIZE_CASES=("CUDA fused attention: Sq != Skv and tile-multiple lengths" "local_global_head CUDA matches the CPU"
                "scale_shift_loss CUDA matches the CPU")
NCCL_CASE="NCCL communicator and GPU gradient buckets with one rank"
WATCHDOG_CASE="NCCL watchdog: a collective that never completes aborts the communicator and exits naming it"
DRY_PLANTED_FAILURE="gpu_check dry run: a planted failing case"

now_ms() { local t="${EPOCHREALTIME/./}"; echo $((t / 1000)); }
START_MS=$(now_ms)
DEADLINE_MS=$((START_MS + BUDGET_S * 1000))
left_s() { echo $(((DEADLINE_MS - $(now_ms)) / 1000)); }
say() { echo "== gpu_check: $*"; }
rm -rf "$WORK"  # nothing of an earlier run may pass for this one
mkdir -p "$LOG_DIR" "$WORK"
rm -f "$LOG_DIR/summary.jsonl"

# phase_begin NAME ESTIMATE_S CAP_S: false (and a "skipped" line) when the estimate does not fit;
# else sets PHASE_T0 and PHASE_DEADLINE_MS (the earlier of the cap and the budget).
phase_begin() {
  local left
  left=$(left_s)
  if [ "$left" -lt "$2" ]; then
    say "$1 SKIPPED: needs ~$2 s, $left s of the budget left"
    "${SUMMARY[@]}" record --phase "$1" --status skipped --wall 0 --note "needs ~$2 s, $left s left"
    return 1
  fi
  say "$1 (estimate $2 s, cap $3 s, $left s left)"
  PHASE_T0=$(now_ms)
  PHASE_DEADLINE_MS=$((PHASE_T0 + $3 * 1000))
  [ "$PHASE_DEADLINE_MS" -gt "$DEADLINE_MS" ] && PHASE_DEADLINE_MS=$DEADLINE_MS
  return 0
}
# phase_end NAME STATUS [record options]: the JSON line, and the wall time on stdout.
phase_end() {
  local wall
  wall=$(python3 -c "print(round(($(now_ms) - $PHASE_T0) / 1000, 1))")
  "${SUMMARY[@]}" record --phase "$1" --status "$2" --wall "$wall" "${@:3}"
  say "$1: $2 in $wall s"
}
# Seconds until the phase's deadline, at most $1.
phase_left() {
  local s=$(((PHASE_DEADLINE_MS - $(now_ms)) / 1000))
  [ "$s" -gt "$1" ] && s=$1
  echo "$s"
}
finish() {
  "${SUMMARY[@]}" table
  exit $?
}
trap 'say "interrupted: the table of the phases that finished"; finish' TERM INT

# ---- machine and dependencies ---------------------------------------------------------------------
if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then export PATH="/usr/local/cuda/bin:$PATH"; fi
{
  say "machine ($([ "$DRY" = 1 ] && echo "DRY RUN on the CPU" || echo GPU)), budget $BUDGET_S s, logs in $LOG_DIR"
  nvidia-smi -L 2>&1 | head -8
  nvcc --version 2>&1 | tail -1
  cmake --version | head -1
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' 2>&1 | tail -1
} | tee "$LOG_DIR/build.log"
NGPU=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)

cmake_args=(-S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release)
lib_dirs=()
deps_missing=()
for f in include/nlohmann/json.hpp include/CLI/CLI.hpp include/catch2/catch.hpp lib/cmake/Catch2/Catch2Config.cmake \
         include/jpeglib.h include/png.h lib/x86_64-linux-gnu/libopenjp2.so; do
  [ -e ".deps/usr/$f" ] || deps_missing+=(".deps/usr/$f")
done
if [ "${#deps_missing[@]}" -eq 0 ]; then
  deps_mb=$(du -sm .deps | cut -f1)
  say ".deps/ is $deps_mb MB$([ "$deps_mb" -gt 20 ] && echo " (over the 20 MB it should stay under)")" | tee -a "$LOG_DIR/build.log"
  cmake_args+=(-DCMAKE_PREFIX_PATH="$ROOT/.deps/usr")
  lib_dirs+=("$ROOT/.deps/usr/lib/x86_64-linux-gnu")
  # jconfig.h sits in the multiarch folder, which FindJPEG does not add.
  export CPATH="$ROOT/.deps/usr/include/x86_64-linux-gnu${CPATH:+:$CPATH}"
elif [ "$DRY" = 1 ]; then
  say "no complete .deps/ (${deps_missing[0]} missing): the dry run uses the system's packages; the GPU run would stop here"
else
  say "FATAL: .deps/ is missing or incomplete (${deps_missing[*]}). The GPU machine has no Catch2, nlohmann-json or" \
      "CLI11 and no network: run 'tools/setup.sh --deps-only' here and carry .deps ([\".deps\"])." | tee -a "$LOG_DIR/build.log"
  PHASE_T0=$(now_ms)
  phase_end build failed --note ".deps/ missing: ${deps_missing[0]}"
  finish
fi
command -v ninja >/dev/null 2>&1 && cmake_args+=(-G Ninja)
command -v ccache >/dev/null 2>&1 && cmake_args+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
if [ "$DRY" = 1 ]; then
  cmake_args+=(-DIQA_CUDA=OFF)
else
  cmake_args+=(-DIQA_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90)
fi

# cuDNN and NCCL: the system's, else the nvidia-* wheels beside PyTorch (their libraries carry only
# versioned names, and cuDNN dlopens its engines, so their folders go on LD_LIBRARY_PATH too).
first_match() {
  local pattern="$1" d hit
  shift
  for d in "$@"; do
    [ -d "$d" ] || continue
    hit="$(find -L "$d" -name "$pattern" -print -quit 2>/dev/null)"
    [ -n "$hit" ] && { echo "$hit"; return 0; }
  done
  return 1
}
system_dirs=(/usr/local/cuda/include /usr/local/cuda/lib64 /usr/include /usr/lib/x86_64-linux-gnu)
wheel_dir="$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' 2>/dev/null)/nvidia"
for lib in cudnn nccl; do
  upper="$(echo "$lib" | tr a-z A-Z)"
  if first_match "$lib.h" "${system_dirs[@]}" >/dev/null && first_match "lib$lib.so" "${system_dirs[@]}" >/dev/null; then
    say "$lib from the system"
    continue
  fi
  header="$(first_match "$lib.h" "$wheel_dir")"
  library="$(first_match "lib$lib.so*" "$wheel_dir")"
  if [ -n "$header" ] && [ -n "$library" ]; then
    say "$lib from the Python wheel: $library"
    [ "$DRY" = 1 ] || cmake_args+=(-D"${upper}_INCLUDE_DIR=$(dirname "$header")" -D"${upper}_LIBRARY=$library")
    lib_dirs+=("$(dirname "$library")")
  else
    say "$lib not found in the system or in $wheel_dir$([ "$DRY" = 1 ] && echo " (not needed for the dry run)")"
  fi
done
if [ "${#lib_dirs[@]}" -gt 0 ]; then
  LD_LIBRARY_PATH="$(IFS=:; echo "${lib_dirs[*]}")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export LD_LIBRARY_PATH
fi

# ---- build ----------------------------------------------------------------------------------------
phase_begin build 20 "$BUDGET_S"
{
  status=ok
  if [ "$DRY" = 1 ] && [ -f "$BUILD/CMakeCache.txt" ]; then
    say "dry run: reusing the configured $BUILD"
  else
    echo "cmake ${cmake_args[*]}"
    timeout "$(phase_left 900)" cmake "${cmake_args[@]}" || status=failed
  fi
  [ "$status" = ok ] && { timeout "$(phase_left 900)" cmake --build "$BUILD" -j "$(nproc)" \
    --target iqa_tests iqa-bench sind-train || status=failed; }
  echo "build_status=$status"
} >>"$LOG_DIR/build.log" 2>&1
status=$(sed -n 's/^build_status=//p' "$LOG_DIR/build.log" | tail -1)
grep -E "iqa.cu:|CUDA backend" "$LOG_DIR/build.log" | head -4
if [ "$status" != ok ]; then
  grep -E "error|Error|FAILED" "$LOG_DIR/build.log" | head -30
  phase_end build failed --note "see build.log"
  finish
fi
phase_end build ok
TESTS="$BUILD/iqa_tests"
BENCH="$BUILD/iqa-bench"
TRAIN="$BUILD/sind-train"

# ---- [cuda] test cases, each in its own process -------------------------------------------------
# Catch2 reads ',' '[' ']' '\' in a name as syntax unless escaped.
catch_escape() { printf '%s' "$1" | sed 's/[][\\,]/\\&/g'; }
# run_case "INDEX<TAB>NAME": one case, its log and "status<TAB>wall_s<TAB>name" under $CASES_DIR.
run_case() {
  local idx="${1%%$'\t'*}" name="${1#*$'\t'}" t rc status t0 wall
  t=$(((CASE_DEADLINE_MS - $(now_ms)) / 1000))
  [ "$t" -gt "$CASE_TIMEOUT_S" ] && t=$CASE_TIMEOUT_S
  if [ "$t" -lt 3 ]; then printf 'not_run\t0\t%s\n' "$name" >"$CASES_DIR/$idx.status"; return 0; fi
  t0=$(now_ms)
  # shellcheck disable=SC2086  # CASE_PREFIX is a command line (the sanitizer), split on purpose
  timeout -k 5 "$t" $CASE_PREFIX "$TESTS" --warn NoTests "$(catch_escape "$name")" >"$CASES_DIR/$idx.log" 2>&1
  rc=$?
  wall=$((($(now_ms) - t0) / 100))
  case "$rc" in
    0) status=passed; grep -q "skipping CUDA test" "$CASES_DIR/$idx.log" && status=skipped ;;
    124 | 137) status=timeout ;;
    86) status=sanitizer_error ;;
    2) status=failed; grep -q "No test cases matched" "$CASES_DIR/$idx.log" && status=not_found ;;
    *) status=failed; [ "$rc" -gt 128 ] && status="crashed_signal_$((rc - 128))" ;;
  esac
  printf '%s\t%s\t%s\n' "$status" "$((wall / 10)).$((wall % 10))" "$name" >"$CASES_DIR/$idx.status"
  printf '  %-9s %5ss  %s\n' "$status" "$((wall / 10)).$((wall % 10))" "$name"
}
export -f run_case catch_escape now_ms
export TESTS
# run_cases DIR PREFIX JOBS < names: runs them, JOBS at a time, until the phase deadline.
run_cases() {
  export CASES_DIR="$1" CASE_PREFIX="$2" CASE_DEADLINE_MS="$PHASE_DEADLINE_MS"
  rm -rf "$CASES_DIR" && mkdir -p "$CASES_DIR"
  awk '{ printf "%03d\t%s\n", NR, $0 }' | xargs -d '\n' -r -P "$3" -I{} bash -c 'run_case "$1"' _ {}
}
# Every case's log in order, under a header line with its status.
collect_cases() {
  local s
  for s in "$1"/*.status; do
    [ -e "$s" ] || continue
    echo "---- $(cut -f1,2 "$s" | tr '\t' ' ')s: $(cut -f3- "$s")"
    cat "${s%.status}.log" 2>/dev/null
  done
}

"$TESTS" --list-test-names-only "[cuda]" | sed '/^$/d' >"$WORK/cuda_cases.txt"
say "$(wc -l <"$WORK/cuda_cases.txt") [cuda] test cases listed"
if [ "$DRY" = 1 ]; then
  # Two [cuda] cases (they skip on the CPU), one CPU case that runs, and one planted failure that the
  # failure listing and the sanitizer re-run must catch.
  { head -2 "$WORK/cuda_cases.txt"; echo "expand_nodelist: Slurm host list forms"; echo "$DRY_PLANTED_FAILURE"; } \
    >"$WORK/test_cases.txt"
  TEST_JOBS=2
else
  cp "$WORK/cuda_cases.txt" "$WORK/test_cases.txt"
fi
if phase_begin tests 60 180; then
  OMP_NUM_THREADS=$(( $(nproc) / TEST_JOBS > 0 ? $(nproc) / TEST_JOBS : 1 )) \
    run_cases "$WORK/cases" "" "$TEST_JOBS" <"$WORK/test_cases.txt"
  collect_cases "$WORK/cases" >"$LOG_DIR/tests.log"
  expect=()
  [ "$DRY" = 1 ] && expect=(--expect-failure "$DRY_PLANTED_FAILURE")
  phase_end tests "$("${SUMMARY[@]}" case-status "$WORK/cases" "${expect[@]}")" --cases "$WORK/cases"
fi

# ---- failing cases again under compute-sanitizer (memcheck) --------------------------------------
SANITIZER="$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)"
awk -F'\t' '$1 != "passed" && $1 != "skipped" && $1 != "not_run" { print $3 }' "$WORK"/cases/*.status 2>/dev/null |
  head -3 >"$WORK/failing.txt"
if [ -s "$WORK/failing.txt" ] && phase_begin tests_sanitizer 30 90; then
  prefix="$SANITIZER --tool memcheck --error-exitcode 86 --print-limit 20"
  [ "$DRY" = 1 ] && prefix="" && say "dry run: re-running without compute-sanitizer"
  run_cases "$WORK/cases_sanitizer" "$prefix" 1 <"$WORK/failing.txt"
  { echo; echo "==== failing cases under: ${prefix:-(no sanitizer, dry run)}"; collect_cases "$WORK/cases_sanitizer"; } \
    >>"$LOG_DIR/tests.log"
  phase_end tests_sanitizer ok --cases "$WORK/cases_sanitizer"
fi

# ---- benchmarks: ours, one process per op (a sticky CUDA error costs one op), then PyTorch's -----
small=()
[ "$DRY" = 1 ] && small=(--small)
if phase_begin bench 45 120; then
  : >"$WORK/bench_ours.jsonl"
  for op in "${BENCH_OPS[@]}"; do
    t=$(phase_left 60)
    [ "$t" -lt 3 ] && { echo "error: $op: not run (phase cap)" >>"$WORK/bench_ours.jsonl"; continue; }
    warmup=5
    [[ "$op" == *_step_* ]] && warmup=3
    [ "$DRY" = 1 ] && warmup=0
    timeout -k 5 "$t" "$BENCH" --device "$DEVICE" --reps "$REPS" --warmup "$warmup" --json "${small[@]}" --ops "$op" \
      >>"$WORK/bench_ours.jsonl" 2>&1 || echo "error: $op: exit $?" >>"$WORK/bench_ours.jsonl"
  done
  cp "$WORK/bench_ours.jsonl" "$LOG_DIR/bench.log"
  grep -v '^{' "$WORK/bench_ours.jsonl"
  phase_end bench "$(grep -q '^error' "$WORK/bench_ours.jsonl" && echo failed || echo ok)" --bench "$WORK/bench_ours.jsonl"
fi
if [ -s "$WORK/bench_ours.jsonl" ] && phase_begin bench_torch 60 150; then
  peer_ops=$(printf '%s\n' "${BENCH_OPS[@]}" | grep -v '^views_' | paste -sd,)
  : >"$WORK/bench_torch.jsonl"
  if python3 -c 'import torch' 2>/dev/null; then
    # The view peers run the reference's PIL transforms on the CPU: a few reps tell their speed.
    timeout -k 5 "$(phase_left 150)" python3 bench/torch_peer.py --device "$DEVICE" --reps "$REPS" --warmup 3 \
      "${small[@]}" --ops "$peer_ops" >>"$WORK/bench_torch.jsonl" 2>&1 || echo "error: torch_peer: exit $?" >>"$WORK/bench_torch.jsonl"
    timeout -k 5 "$(phase_left 60)" python3 bench/torch_peer.py --device "$DEVICE" --reps 3 --warmup 1 "${small[@]}" \
      --ops views_global,views_mosaic >>"$WORK/bench_torch.jsonl" 2>&1 || echo "error: torch_peer views: exit $?" >>"$WORK/bench_torch.jsonl"
  elif [ "$DRY" = 1 ]; then
    say "dry run without torch: fake peer rows (each op's peer looked up in bench/torch_peer*.py)"
  else
    echo "error: python3 cannot import torch" >>"$WORK/bench_torch.jsonl"
  fi
  # The dry run checks each op's peer exists; without torch it also makes the rows up.
  [ "$DRY" = 1 ] && python3 bench/gpu_check_fake_peer.py "$WORK/bench_ours.jsonl" "$WORK/bench_torch.jsonl"
  { echo "==== PyTorch peer"; cat "$WORK/bench_torch.jsonl"; } >>"$LOG_DIR/bench.log"
  grep -v '^{' "$WORK/bench_torch.jsonl"
  phase_end bench_torch "$(grep -q '^error' "$WORK/bench_torch.jsonl" && echo failed || echo ok)" \
    --bench "$WORK/bench_torch.jsonl"
fi

# ---- sind-train --demo in bf16 --------------------------------------------------------------------
DEMO_DIR="$WORK/demo"
if phase_begin demo 75 180; then
  rm -rf "$DEMO_DIR"
  precision=bf16 cap=180
  # The CPU demo takes ~45 s on 2 idle cores but minutes on busy ones: the dry run stops it at 100 s.
  [ "$DRY" = 1 ] && precision=fp32 cap=100
  timeout -k 5 "$(phase_left "$cap")" "$TRAIN" --demo --device "$DEVICE" --precision "$precision" \
    --project_dir "$DEMO_DIR" >"$LOG_DIR/demo.log" 2>&1
  rc=$?
  grep -A3 "side by side" "$LOG_DIR/demo.log"
  status=$([ "$rc" = 0 ] && echo ok || echo "failed_exit_$rc")
  note=()
  # 124: stopped by SIGTERM; 137: killed 5 s later, as when the cut falls inside an evaluation.
  if [ "$DRY" = 1 ] && { [ "$rc" = 124 ] || [ "$rc" = 137 ]; } && grep -q "img/s" "$LOG_DIR/demo.log"; then
    status=ok note=(--note "dry run: cut at $cap s once training ran (no SRCC)")
  fi
  phase_end demo "$status" --demo "$LOG_DIR/demo.log" "${note[@]}"
fi

# ---- NCCL self-test: the communicator's all-reduce, one rank per GPU ------------------------------
if phase_begin nccl 25 150; then
  {
    echo "---- $NCCL_CASE"
    NCCL_DEBUG=INFO timeout -k 5 "$(phase_left 60)" "$TESTS" --warn NoTests "$NCCL_CASE"
    echo "nccl_case_rc=$?"
    echo "---- $WATCHDOG_CASE"
    timeout -k 5 "$(phase_left 45)" "$TESTS" --warn NoTests "$WATCHDOG_CASE"
    echo "watchdog_case_rc=$?"
    ranks=$NGPU
    [ "$DRY" = 1 ] && ranks=2  # TCP between 2 CPU ranks: the launcher plumbing of the GPU run
    if [ "$ranks" -ge 2 ] && [ -f "$DEMO_DIR/data/all.json" ]; then
      echo "---- sind-train over $ranks ranks (torchrun-style launch), 64 demo images"
      python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); d["files"] = d["files"][:64]
json.dump(d, open(sys.argv[2], "w"))' "$DEMO_DIR/data/all.json" "$DEMO_DIR/data/dp64.json"
      port=$((29500 + RANDOM % 1000))
      pids=()
      for ((r = 0; r < ranks; r++)); do
        RANK=$r LOCAL_RANK=$r WORLD_SIZE=$ranks MASTER_ADDR=127.0.0.1 MASTER_PORT=$port IQA_DIST_TIMEOUT=60 \
          OMP_NUM_THREADS=1 timeout -k 5 "$(phase_left 80)" "$TRAIN" --exp_type cross-set \
          --train_dataset "$DEMO_DIR/data/dp64.json" --test_dataset "$DEMO_DIR/data/dp64.json" \
          --data_root "$DEMO_DIR/data" --project_dir "$WORK/dp" --clip_model tiny --loss_type l1 --scene_sampling 0 \
          --batch_size 8 --epochs 1 --warmup_epoch 0 --num_workers 1 --device "$DEVICE" --eval_every 1 \
          >"$WORK/dp_rank$r.log" 2>&1 &
        pids+=($!)
      done
      bad=0
      for p in "${pids[@]}"; do wait "$p" || bad=$((bad + 1)); done
      for ((r = 0; r < ranks; r++)); do echo "-- rank $r"; tail -5 "$WORK/dp_rank$r.log"; done
      grep -h "per rank x $ranks" "$WORK/dp_rank0.log"
      echo "dp_ranks=$ranks dp_failed_ranks=$bad"
      # A rank dies: rank 1 SIGKILLs itself after its first step (engine/fault_point.h); every other rank
      # must exit 1 within the collective timeout, naming the collective, instead of holding the GPUs.
      echo "---- rank death: rank 1 killed after its first step, IQA_COMM_TIMEOUT_S=20"
      port=$((29500 + RANDOM % 1000))
      pids=()
      t0=$(now_ms)
      for ((r = 0; r < ranks; r++)); do
        kill_at=""
        [ "$r" = 1 ] && kill_at="step:1"
        RANK=$r LOCAL_RANK=$r WORLD_SIZE=$ranks MASTER_ADDR=127.0.0.1 MASTER_PORT=$port IQA_DIST_TIMEOUT=60 \
          IQA_COMM_TIMEOUT_S=20 IQA_KILL_AT=$kill_at OMP_NUM_THREADS=1 timeout -k 5 "$(phase_left 80)" "$TRAIN" \
          --exp_type cross-set --train_dataset "$DEMO_DIR/data/dp64.json" --test_dataset "$DEMO_DIR/data/dp64.json" \
          --data_root "$DEMO_DIR/data" --project_dir "$WORK/death" --clip_model tiny --loss_type l1 \
          --scene_sampling 0 --batch_size 8 --epochs 1 --warmup_epoch 0 --num_workers 1 --device "$DEVICE" \
          --eval_every 1 >"$WORK/death_rank$r.log" 2>&1 &
        pids+=($!)
      done
      wait "${pids[1]}"
      killed_rc=$?
      wait "${pids[0]}"
      rc0=$?
      t1=$(now_ms)
      for ((r = 2; r < ranks; r++)); do wait "${pids[$r]}"; done
      for ((r = 0; r < 2; r++)); do echo "-- rank $r"; tail -4 "$WORK/death_rank$r.log"; done
      named=0
      grep -qE "rank 0: (NCCL [a-z_]+ did not complete|rank 1 closed the connection)" "$WORK/death_rank0.log" && named=1
      echo "death_killed_rc=$killed_rc death_rank0_rc=$rc0 death_seconds=$(((t1 - t0) / 1000)) death_named=$named"
    else
      echo "one GPU: the multi-rank all-reduce needs two (or the demo's data); the one-rank case above is the test"
    fi
  } >"$LOG_DIR/nccl.log" 2>&1
  grep -E "nccl_case_rc|dp_ranks|NCCL version" "$LOG_DIR/nccl.log" | head -4
  phase_end nccl "$("${SUMMARY[@]}" nccl-status "$LOG_DIR/nccl.log")" --nccl "$LOG_DIR/nccl.log"
fi

# ---- racecheck / memcheck over the attention, fusion-head and scale-shift kernels at small shapes ---
if phase_begin sanitize 40 "$BUDGET_S"; then
  missing=0
  for c in "${SANITIZE_CASES[@]}"; do grep -qxF "$c" "$WORK/cuda_cases.txt" || { say "no test case '$c'"; missing=1; }; done
  : >"$LOG_DIR/sanitize.log"
  for tool in memcheck racecheck; do
    prefix="$SANITIZER --tool $tool --error-exitcode 86 --print-limit 20"
    [ "$DRY" = 1 ] && prefix=""
    t=$(phase_left 120)
    if [ "$t" -ge 10 ]; then
      echo "---- $tool: iqa-bench --small --ops $SANITIZE_OPS" >>"$LOG_DIR/sanitize.log"
      # shellcheck disable=SC2086
      timeout -k 5 "$t" $prefix "$BENCH" --device "$DEVICE" --small --reps 1 --warmup 0 --ops "$SANITIZE_OPS" \
        >>"$LOG_DIR/sanitize.log" 2>&1
      echo "bench_rc[$tool]=$?" >>"$LOG_DIR/sanitize.log"
    fi
    printf '%s\n' "${SANITIZE_CASES[@]}" | run_cases "$WORK/cases_$tool" "$prefix" 1
    { echo "---- $tool: test cases"; collect_cases "$WORK/cases_$tool"; } >>"$LOG_DIR/sanitize.log"
  done
  [ "$DRY" = 1 ] && echo "dry run: no compute-sanitizer, the commands ran bare" >>"$LOG_DIR/sanitize.log"
  phase_end sanitize "$([ "$missing" = 0 ] && "${SUMMARY[@]}" sanitize-status "$LOG_DIR/sanitize.log" "$WORK" \
    || echo failed_missing_case)" --sanitize "$LOG_DIR/sanitize.log" --work "$WORK"
fi

finish
