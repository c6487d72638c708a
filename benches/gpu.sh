#!/usr/bin/env bash
# GPU benchmark in one command: wavnet's kernels (`benches/kernels.rs --full`), end-to-end
# training and inference throughput at batch 32 and 256 (`wavnet bench --device gpu`) and the
# PyTorch twin on CUDA (benches/torch_wavnet.py) in the same run, then one table with the
# card's name. Meant to finish in well under 8 minutes on an H100 (every step has a timeout).
#
#   bash benches/gpu.sh --prepare   on the build machine (has cargo): builds release, copies
#                                   the stripped binaries into .gpubin/ and downloads Debian's
#                                   Vulkan loader (libvulkan1 ...) into .gl/ (both git-ignored)
#   bash benches/gpu.sh             on the GPU machine, with .gpubin and .gl carried there;
#                                   where cargo exists it builds release itself first
#   bash benches/gpu.sh --tiny      dry check on any adapter (e.g. lavapipe): tiny shapes, the
#                                   twin on the cpu; its figures are not GPU figures
#
# Output: everything is printed and also written under $OUT (gpu_bench.log, gpu_table.md)
# when OUT is set, else under target/gpu-bench/. Exit status non-zero when a step failed.
# Inputs are synthetic (no data set needed).
set -uo pipefail
cd "$(dirname "$0")/.."

MODE=full
case "${1:-}" in
  "") ;;
  --tiny) MODE=tiny ;;
  --prepare) MODE=prepare ;;
  -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
  *) echo "gpu.sh: unknown argument '$1' (expected --prepare, --tiny or nothing; see --help)" >&2; exit 2 ;;
esac

BIN=.gpubin
die() { echo "gpu.sh: $*" >&2; exit 1; }

# ---- build release (where cargo exists) into $BIN
build() {
  echo "== building release (cargo build --release; cargo bench --bench kernels --no-run)"
  cargo build --release --quiet || die "cargo build --release failed"
  local exe
  exe=$(cargo bench --bench kernels --no-run 2>&1 | grep -o 'target/release/deps/kernels-[0-9a-f]*' | tail -1)
  [ -x "$exe" ] || die "cannot find the kernels benchmark executable after cargo bench --no-run"
  mkdir -p "$BIN"
  cp target/release/wavnet "$BIN/wavnet"
  cp "$exe" "$BIN/kernels"
  if command -v strip >/dev/null; then strip "$BIN/wavnet" "$BIN/kernels"; fi
  git rev-parse --short HEAD > "$BIN/commit" 2>/dev/null || echo unknown > "$BIN/commit"
}

if [ "$MODE" = prepare ]; then
  build
  echo "== downloading the Vulkan loader (Debian amd64 packages) into .gl/"
  mkdir -p .gl /tmp/amd64/partial
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  # shellcheck disable=SC2086
  apt-get $o update -qq || die "apt-get update failed"
  # shellcheck disable=SC2086
  (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2) \
    || die "apt-get download of the Vulkan loader failed"
  du -sh "$BIN" .gl
  echo "ready: on the GPU machine run 'bash benches/gpu.sh' with .gpubin and .gl carried"
  exit 0
fi

if command -v cargo >/dev/null; then
  build
elif [ -x "$BIN/wavnet" ] && [ -x "$BIN/kernels" ]; then
  echo "== no cargo here: using the prebuilt binaries in $BIN/ (commit $(cat "$BIN/commit" 2>/dev/null || echo unknown))"
else
  die "no cargo and no prebuilt binaries in $BIN/: run 'bash benches/gpu.sh --prepare' on the build machine and carry .gpubin"
fi
W=$BIN/wavnet
K=$BIN/kernels

RES=${OUT:-target/gpu-bench}
mkdir -p "$RES"
LOG=$RES/gpu_bench.log
TABLE=$RES/gpu_table.md
: > "$LOG"
exec > >(tee -a "$LOG") 2>&1

# ---- Vulkan loader and driver (the device tool's README: Debian's libvulkan1 carried in .gl/)
if [ "$MODE" = full ]; then
  if ! ldconfig -p | grep -q 'libvulkan.so.1'; then
    ls .gl/*.deb >/dev/null 2>&1 || die "no Vulkan loader (libvulkan.so.1) and no .gl/*.deb: run --prepare and carry .gl"
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
  fi
  icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  egl=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
  if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$icd" ]; then
    export VK_DRIVER_FILES=$icd
    [ -f "$egl" ] && export __EGL_VENDOR_LIBRARY_FILENAMES=$egl
  fi
  CARD=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
  [ -n "$CARD" ] || CARD="(nvidia-smi gave no name)"
  TORCH_DEV=cuda
  CONFIGS=("32 2 10" "256 2 5" "256 10 3")
  KARGS=(--full --gpu-only --iters 10)
  T_KERNELS=270; T_E2E=120; T_TORCH=120
else
  CARD="(tiny dry check, not a GPU figure)"
  TORCH_DEV=cpu
  CONFIGS=("2 0.25 2" "4 0.5 2")
  KARGS=(--small-only --gpu-only --iters 2)
  T_KERNELS=600; T_E2E=300; T_TORCH=120
fi

echo "== card: $CARD"
"$W" info | grep -E '^(adapter|--device)' || true
FAILED=0
step() { # step NAME TIMEOUT CMD...: runs CMD with a timeout, says how it ended
  local name=$1 t=$2 rc; shift 2
  timeout "$t" "$@"; rc=$?
  if [ $rc -eq 124 ]; then echo "!! $name: timed out after ${t}s"; FAILED=1;
  elif [ $rc -ne 0 ]; then echo "!! $name: failed with status $rc"; FAILED=1; fi
  return $rc
}

echo "== kernels: ${KARGS[*]}"
step "kernels" "$T_KERNELS" "$K" "${KARGS[@]}"

HAVE_TORCH=1
python3 -c "import torch" 2>/dev/null || { HAVE_TORCH=0; echo "!! python3 has no torch: the twin's columns stay empty"; FAILED=1; }
if [ "$MODE" = full ] && [ $HAVE_TORCH = 1 ] && ! python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "!! torch sees no CUDA device: the twin's columns stay empty"; HAVE_TORCH=0; FAILED=1
fi

ROWS=()
for c in "${CONFIGS[@]}"; do
  read -r b s n <<<"$c"
  echo "== wavnet bench --device gpu --batch $b --seconds $s --steps $n"
  out=$(step "wavnet bench batch $b x $s s" "$T_E2E" "$W" bench --device gpu --batch "$b" --seconds "$s" --steps "$n" 2>&1) \
    || FAILED=1
  echo "$out"
  # the device row ends: step s, train a/s, infer s, infer a/s, train x, infer x
  row=$(echo "$out" | grep '^gpu' | tail -1)
  wt=$(echo "$row" | awk '{print $(NF-4)}'); wi=$(echo "$row" | awk '{print $(NF-2)}')
  tt=""; ti=""
  if [ $HAVE_TORCH = 1 ]; then
    echo "== torch twin on $TORCH_DEV: --batch $b --seconds $s --steps $n"
    tout=$(step "torch twin batch $b x $s s" "$T_TORCH" python3 benches/torch_wavnet.py --device "$TORCH_DEV" \
      --batch "$b" --seconds "$s" --steps "$n" 2>&1) || FAILED=1
    echo "$tout"
    tt=$(echo "$tout" | grep -o 'train_audio_s_per_s=[0-9.]*' | cut -d= -f2)
    ti=$(echo "$tout" | grep -o 'infer_audio_s_per_s=[0-9.]*' | cut -d= -f2)
  fi
  ratio() { python3 -c "import sys; a, b = sys.argv[1:]; print(f'{float(a) / float(b):.2f}x')" "$1" "$2" 2>/dev/null || echo "-"; }
  ROWS+=("| $b x $s s | ${wt:--} | ${tt:--} | $(ratio "${wt:-}" "${tt:-}") | ${wi:--} | ${ti:--} | $(ratio "${wi:-}" "${ti:-}") |")
done

{
  echo "GPU benchmark on $CARD ($(date -u +%F), wavnet $(cat "$BIN/commit" 2>/dev/null || git rev-parse --short HEAD 2>/dev/null), twin: torch on $TORCH_DEV)"
  echo
  echo "| batch x input | wavnet gpu train (s audio/s) | torch train | wavnet / torch | wavnet gpu infer (s audio/s) | torch infer | wavnet / torch |"
  echo "|---|---|---|---|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
} > "$TABLE"
echo
echo "== table ($TABLE)"
cat "$TABLE"
[ $FAILED = 0 ] || echo "!! some steps failed or timed out (see above)"
exit $FAILED
