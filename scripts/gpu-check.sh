#!/usr/bin/env bash
# Builds and runs the CUDA backend's tests and GPU benchmark on a machine with an NVIDIA GPU but without the
# Debian test packages (the lent GPU machines): GoogleTest is built from a source tree given in
# RK_GTEST_SRC (default .device/googletest, a copy of Debian's /usr/src/googletest).
#   bash scripts/gpu-check.sh OUTDIR [tests] [memcheck] [racecheck] [bench] [codegen] [demo] [checkpoint] [webgpu] [probes]
# Sanitizer steps: RK_SANITIZER_TIMEOUT (s), RK_SANITIZER_FILTER (gtest filter), RK_SANITIZER_TWO=0 skips the
# separate two-runtime run (which hangs under compute-sanitizer). tests: RK_GPU_FILTER (gtest filter), RK_GPU_TIMEOUT (s);
# bench: RK_BENCH_TIMEOUT (s). A run still going after its limit gets its host stacks logged (gdb) and is killed.
# codegen: the IR code generation's NVRTC test (every parity kernel's CUDA C++ compiled with NVRTC, run on the
# GPU and compared with the interpreter), built directly with g++ since the GPU machines lack rapidcheck.
set -uo pipefail
out="${1:?usage: gpu-check.sh OUTDIR [tests] [memcheck] [racecheck] [bench] [codegen] [demo] [checkpoint] [webgpu] [probes]}"; shift
steps="${*:-tests bench}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export NCCL_NVLS_ENABLE=0
gtest="${RK_GTEST_SRC:-$root/.device/googletest}"
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv > "$out/gpu.txt" 2>&1
if [[ ! -f build/gpu/build.ninja ]]; then
  cmake -S . -B build/gpu -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRINGKERNEL_CUDA=ON \
    -DRINGKERNEL_GPU_TESTS_ONLY=ON -DRINGKERNEL_GTEST_SOURCE_DIR="$gtest" \
    -DRINGKERNEL_BUILD_EXAMPLES=OFF -DRINGKERNEL_BUILD_CLI=OFF > "$out/build.log" 2>&1 || { tail -40 "$out/build.log"; exit 1; }
fi
cmake --build build/gpu -j"$(nproc)" --target ringkernel_cuda_tests bench_gpu_bench >> "$out/build.log" 2>&1 \
  || { tail -40 "$out/build.log"; exit 1; }
# Runs a command with its output line-buffered into LOG for at most SECONDS. A command still running then is
# stuck: the host stacks of all its threads go to LOG (gdb, where the machine has it) before it is killed, so a
# hang costs its time limit once and says where it was. Returns the command's status (124 when it was killed).
run_bounded() {
  local log=$1 limit=$2; shift 2
  stdbuf -oL -eL "$@" > "$log" 2>&1 &
  local pid=$! waited=0
  while kill -0 "$pid" 2>/dev/null && (( waited < limit )); do sleep 1; waited=$((waited + 1)); done
  if kill -0 "$pid" 2>/dev/null; then
    echo "=== still running after ${limit} s: host stacks ===" >> "$log"
    command -v gdb > /dev/null && timeout 30 gdb -p "$pid" -batch -ex "thread apply all bt 16" >> "$log" 2>&1
    kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
    return 124
  fi
  wait "$pid"
}
rc=0
for s in $steps; do
  case "$s" in
    tests)
      # RK_GPU_FILTER: a gtest filter (all tests by default); RK_GPU_TIMEOUT: seconds before a run counts as hung.
      run_bounded "$out/tests.log" "${RK_GPU_TIMEOUT:-240}" build/gpu/tests/ringkernel_cuda_tests \
        --gtest_repeat="${RK_GPU_REPEAT:-1}" --gtest_filter="${RK_GPU_FILTER:-*}" || rc=1
      grep -E "OK \]|FAILED|Failure|Which|error|\.cu:|PASSED|still running" "$out/tests.log" || true
      grep -q "FAILED" "$out/tests.log" && rc=1 ;;
    memcheck|racecheck)
      # The two-runtime test runs on its own under a short timeout, so that a hang there (the sanitizer
      # serialises some API calls against running kernels) cannot cost the log of everything else.
      tool=(--tool "$s"); [[ "$s" == memcheck ]] && tool+=(--leak-check no)
      RK_UNDER_SANITIZER=1 timeout "${RK_SANITIZER_TIMEOUT:-400}" compute-sanitizer "${tool[@]}" \
        build/gpu/tests/ringkernel_cuda_tests --gtest_filter="${RK_SANITIZER_FILTER:--*CoResidency*:*TwoRuntimes*}" \
        > "$out/$s.log" 2>&1
      tail -4 "$out/$s.log"
      [[ "${RK_SANITIZER_TWO:-1}" == 0 ]] && continue  # skip the separate two-runtime run
      RK_UNDER_SANITIZER=1 timeout 90 compute-sanitizer "${tool[@]}" build/gpu/tests/ringkernel_cuda_tests \
        --gtest_filter='*TwoRuntimes*' > "$out/$s-two.log" 2>&1 &
      two=$!; for _ in $(seq 60); do kill -0 $two 2>/dev/null || break; sleep 1; done
      if kill -0 $two 2>/dev/null && command -v gdb > /dev/null; then  # still running after 60 s: where is it?
        for p in $(pgrep -f "ringkernel_cuda_tests --gtest_filter=\*TwoRuntimes"); do
          timeout 20 gdb -p "$p" -batch -ex "thread apply all bt 12" >> "$out/$s-two.log" 2>&1
        done
      fi
      wait $two; echo "two runtimes under $s: rc=$?"; grep -E "OK \]|FAILED|two runtimes:|#[0-9]+ " "$out/$s-two.log" | head -40 ;;
    bench) # Labelled with the source's commit (-dirty: uncommitted changes) and the driver release.
           # RK_COMMIT overrides (a copy of the tree without its .git).
           commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
           [[ "$commit" != unknown ]] && ! git diff --quiet HEAD -- 2>/dev/null && commit="$commit-dirty"
           commit=${RK_COMMIT:-$commit}
           release=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -1)
           run_bounded "$out/bench.log" "${RK_BENCH_TIMEOUT:-200}" build/gpu/benchmarks/bench_gpu_bench --iters 20000 \
             --json "$out/gpu.json" --md "$out/gpu.md" --commit "$commit" --driver-release "${release:-unknown}" || rc=1
           tail -16 "$out/bench.log" ;;
    demo)
      # The CLI with the demo's actors compiled for the GPU: `ringkernel demo` picks CUDA (backend auto).
      cmake -S . -B build/gpu-cli -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRINGKERNEL_CUDA=ON \
        -DRINGKERNEL_BUILD_TESTS=OFF -DRINGKERNEL_BUILD_BENCHMARKS=OFF -DRINGKERNEL_BUILD_EXAMPLES=OFF \
        >> "$out/build.log" 2>&1 && cmake --build build/gpu-cli -j"$(nproc)" --target ringkernel_cli >> "$out/build.log" 2>&1 \
        || { tail -30 "$out/build.log"; exit 1; }
      timeout 120 build/gpu-cli/ringkernel demo --seconds "${RK_DEMO_SECONDS:-5}" --json "$out/demo.json" > "$out/demo.log" 2>&1 || rc=1
      tail -32 "$out/demo.log" ;;
    codegen)
      nb=build/gpu-codegen
      rm -rf "$nb" && mkdir -p "$nb"
      g="$gtest/googletest"
      for f in src/ir/*.cpp src/codegen/*.cpp src/codegen/*/*.cpp src/core/*.cpp tests/codegen/nvrtc_test.cpp \
               tests/codegen/parity.cpp "$g/src/gtest-all.cc" "$g/src/gtest_main.cc"; do
        echo "g++ -std=c++20 -O1 -Iinclude -Isrc -Itests -I$g/include -I$g -c $f -o $nb/o_$(echo "$f" | tr '/.' '__').o"
      done | xargs -P "$(nproc)" -I{} sh -c "{}" >> "$out/build.log" 2>&1 || { tail -20 "$out/build.log"; exit 1; }
      g++ -o "$nb/nvrtc_tests" "$nb"/o_*.o -ldl -lpthread >> "$out/build.log" 2>&1 || { tail -20 "$out/build.log"; exit 1; }
      timeout 300 "$nb/nvrtc_tests" > "$out/codegen.log" 2>&1; grep -E "PASSED|FAILED" "$out/codegen.log" | tail -5
      grep -q "FAILED" "$out/codegen.log" && rc=1 ;;
    checkpoint|webgpu)
      # The full library (checkpoint, IR, WebGPU) on a GPU machine without the Debian dev packages: .deb files
      # in RK_DEPS_DEBS (libzstd-dev, libcurl4-openssl-dev and the libcurl runtime libraries the machine lacks)
      # are unpacked under /tmp/rk-deps; for webgpu, RK_GL_DEBS holds the Vulkan/GL loaders (libvulkan1,
      # libglvnd0, libegl1, libgl1, libglx0, libgles2, libopengl0), unpacked into / as the device notes say,
      # and third_party/wgpu must be there (scripts/fetch-wgpu.sh on a machine with network).
      d=/tmp/rk-deps/usr; L=$d/lib/x86_64-linux-gnu
      extra=()
      if [[ -n "${RK_DEPS_DEBS:-}" ]]; then
        mkdir -p /tmp/rk-deps && for f in "$RK_DEPS_DEBS"/*.deb; do dpkg -x "$f" /tmp/rk-deps; done
        export LD_LIBRARY_PATH="$L:${LD_LIBRARY_PATH:-}"
        extra=(-DCURL_INCLUDE_DIR="$d/include/x86_64-linux-gnu" -DCURL_LIBRARY="$L/libcurl.so"
               -DRINGKERNEL_ZSTD_INCLUDE="$d/include" -DRINGKERNEL_ZSTD_LIBRARY="$L/libzstd.so"
               -DCMAKE_EXE_LINKER_FLAGS="-Wl,-rpath-link,$L")
      fi
      cmake -S . -B build/gpu-all -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRINGKERNEL_CUDA=ON \
        -DRINGKERNEL_BUILD_TESTS=OFF -DRINGKERNEL_BUILD_EXAMPLES=OFF -DRINGKERNEL_BUILD_CLI=OFF \
        -DRINGKERNEL_GOOGLE_BENCHMARKS=OFF "${extra[@]}" >> "$out/build.log" 2>&1 || { tail -20 "$out/build.log"; exit 1; }
      if [[ "$s" == checkpoint ]]; then
        cmake --build build/gpu-all -j"$(nproc)" --target bench_checkpoint_gpu_bench >> "$out/build.log" 2>&1 \
          || { tail -20 "$out/build.log"; exit 1; }
        timeout 400 build/gpu-all/benchmarks/bench_checkpoint_gpu_bench --mib 1024 --repeat 2 --dir /tmp/rk-ckpt \
          --json "$out/checkpoint-h100.json" --md "$out/checkpoint-h100.md" > "$out/checkpoint.log" 2>&1 || rc=1
        tail -30 "$out/checkpoint.log"
      else
        if [[ -n "${RK_GL_DEBS:-}" ]]; then for f in "$RK_GL_DEBS"/*.deb; do dpkg -x "$f" /; done; ldconfig; fi
        cmake --build build/gpu-all -j"$(nproc)" --target bench_webgpu_bench >> "$out/build.log" 2>&1 \
          || { tail -20 "$out/build.log"; exit 1; }
        timeout 200 build/gpu-all/benchmarks/bench_webgpu_bench --require-hardware --json "$out/webgpu-h100.json" \
          --md "$out/webgpu-h100.md" > "$out/webgpu.log" 2>&1 || rc=1
        tail -15 "$out/webgpu.log"
      fi ;;
    probes)
      # Standalone probes (benchmarks/gpu/probes/): request/reply with self-validating (LL) slots against the
      # flag + payload shape, where a round trip and a K2K hop through actor_kernel spend their time, K2K slot
      # protocols outside the kernel, and racecheck on a correct distributed-shared-memory hand-off.
      mkdir -p build/probes
      nvcc -O3 -std=c++20 -arch=sm_90 benchmarks/gpu/probes/ll_request_reply.cu -o build/probes/ll_rr \
        && timeout 120 build/probes/ll_rr 20000 | tee "$out/probes.log" || rc=1
      nvcc -O3 -std=c++20 -arch=sm_90 --expt-relaxed-constexpr -Iinclude benchmarks/gpu/probes/kernel_stages.cu \
        -o build/probes/kernel_stages && timeout 120 build/probes/kernel_stages 20000 | tee -a "$out/probes.log" || rc=1
      nvcc -O3 -std=c++20 -arch=sm_90 --expt-relaxed-constexpr -DRINGKERNEL_HAS_CUDA=1 -Iinclude -Itests benchmarks/gpu/probes/k2k_stages.cu \
        build/gpu/src/cuda/libringkernel_cuda.a build/gpu/libringkernel_cpu.a build/gpu/libringkernel_core.a \
        -o build/probes/k2k_stages && for c in 1 2; do timeout 60 build/probes/k2k_stages $c; done | tee -a "$out/probes.log" || rc=1
      nvcc -O3 -std=c++20 -arch=sm_90 benchmarks/gpu/probes/k2k_protocols.cu -o build/probes/k2k_protocols \
        && timeout 60 build/probes/k2k_protocols | tee -a "$out/probes.log" || rc=1
      nvcc -O3 -std=c++20 -arch=sm_90 benchmarks/gpu/probes/load_order.cu -o build/probes/load_order \
        && timeout 60 build/probes/load_order | tee -a "$out/probes.log" || rc=1
      # The timed loads must stay in program order (host load first): the SASS shows what ptxas issued.
      cuobjdump -sass build/probes/load_order | grep -E "LDG|LDS|ATOMG|GLOBALTIMER" >> "$out/probes.log" || true
      # Sustained request -> reply: one slot's own ceiling (and, profiled, where a batch's time goes), and the
      # runtime's host thread split between send_many and receive_each for 1 to 32 actors.
      nvcc -O3 -std=c++20 -arch=sm_90 --expt-relaxed-constexpr -Iinclude benchmarks/gpu/probes/stream_stages.cu \
        -o build/probes/stream_stages && timeout 60 build/probes/stream_stages 1000000 | tee -a "$out/probes.log" || rc=1
      nvcc -O3 -std=c++20 -arch=sm_90 --expt-relaxed-constexpr -DSTREAM_PROFILE -Iinclude benchmarks/gpu/probes/stream_stages.cu \
        -o build/probes/stream_stages_prof && timeout 60 build/probes/stream_stages_prof 1000000 | tee -a "$out/probes.log" || rc=1
      nvcc -O3 -std=c++20 -arch=sm_90 --expt-relaxed-constexpr -DRINGKERNEL_HAS_CUDA=1 -Iinclude -Itests benchmarks/gpu/probes/stream_host.cu \
        build/gpu/src/cuda/libringkernel_cuda.a build/gpu/libringkernel_cpu.a build/gpu/libringkernel_core.a \
        -o build/probes/stream_host && timeout 120 build/probes/stream_host 2000000 | tee -a "$out/probes.log" || rc=1
      # Lifecycle commands through the runtime (deactivate, activate, restart, create, terminate) next to a call.
      nvcc -O3 -std=c++20 -arch=sm_90 --expt-relaxed-constexpr -DRINGKERNEL_HAS_CUDA=1 -Iinclude -Itests benchmarks/gpu/probes/command_rtt.cu \
        build/gpu/src/cuda/libringkernel_cuda.a build/gpu/libringkernel_cpu.a build/gpu/libringkernel_core.a \
        -o build/probes/command_rtt && timeout 120 build/probes/command_rtt 2000 | tee -a "$out/probes.log" || rc=1
      # Whether memcheck accepts a kernel's reads of host memory allocated after its launch (the rings of actors
      # created once the mapped arena is used up): a correct program, run with the buffer allocated before and after.
      # Both orders must give the right sum without the sanitizer; memcheck's verdicts are reported, not judged.
      nvcc -O2 -std=c++20 -arch=sm_90 -lineinfo benchmarks/gpu/probes/late_host_alloc.cu -o build/probes/late_host_alloc \
        || rc=1
      for m in early late; do
        timeout 60 build/probes/late_host_alloc "$m" 2>&1 | tee -a "$out/probes.log" || rc=1
        timeout 60 compute-sanitizer --tool memcheck build/probes/late_host_alloc "$m" 2>&1 \
          | grep -E "^late_host_alloc|ERROR SUMMARY|Invalid" | sed "s/^/memcheck $m: /" | tee -a "$out/probes.log"
      done
      nvcc -O2 -std=c++20 -arch=sm_90 -lineinfo -Iinclude benchmarks/gpu/probes/dsmem_racecheck.cu -o build/probes/dsmem_rc \
        && for m in flag flag-fence barrier; do
             timeout 120 compute-sanitizer --tool racecheck build/probes/dsmem_rc "$m" 2>&1 | grep -E "wrong reads|RACECHECK SUMMARY"
           done | tee -a "$out/probes.log" ;;
    *) echo "unknown step $s"; exit 2 ;;
  esac
done
exit $rc
