# `ringkernel codegen` / `ringkernel check` (included from tests/CMakeLists.txt when the CLI and the IR are built).
# Each case runs the CLI through sh and checks both the exit code and a pattern in its output.
set(_rk_kernels "${PROJECT_SOURCE_DIR}/examples/kernels/saxpy.rkir")
function(ringkernel_cli_case name expected_rc pattern)
  add_test(NAME cli.${name}
    COMMAND sh -c "out=$(\"$0\" \"$@\" 2>&1); rc=$?; printf '%s\\n' \"$out\"; [ $rc -eq ${expected_rc} ] && printf '%s' \"$out\" | grep -q -- '${pattern}'"
            $<TARGET_FILE:ringkernel_cli> ${ARGN})
  set_tests_properties(cli.${name} PROPERTIES LABELS "ir;cli" TIMEOUT 60)
endfunction()
ringkernel_cli_case(codegen_cuda 0 "__global__" codegen ${_rk_kernels} --kernel saxpy --backend cuda)
ringkernel_cli_case(codegen_wgsl 0 "@compute" codegen ${_rk_kernels} --kernel saxpy --backend wgsl)
ringkernel_cli_case(codegen_msl 0 "kernel void" codegen ${_rk_kernels} --kernel saxpy --backend msl)
ringkernel_cli_case(codegen_sm80 0 "__global__" codegen ${_rk_kernels} --kernel daxpy --backend cuda --target sm80)
ringkernel_cli_case(codegen_f64_refused_on_wgsl 1 "f64" codegen ${_rk_kernels} --kernel daxpy --backend wgsl)
ringkernel_cli_case(codegen_f64_downcast_on_wgsl 0 "note:" codegen ${_rk_kernels} --kernel daxpy --backend wgsl --fallback downcast-f64)
ringkernel_cli_case(codegen_cpu_fallback 0 "interpreter" codegen ${_rk_kernels} --kernel daxpy --backend msl --fallback cpu)
ringkernel_cli_case(codegen_needs_a_kernel 1 "several kernels" codegen ${_rk_kernels} --backend cuda)
ringkernel_cli_case(codegen_unknown_kernel 1 "no kernel" codegen ${_rk_kernels} --kernel nope --backend cuda)
ringkernel_cli_case(codegen_unknown_backend 1 "unknown backend" codegen ${_rk_kernels} --kernel saxpy --backend spirv)
ringkernel_cli_case(codegen_target_mismatch 1 "does not belong" codegen ${_rk_kernels} --kernel saxpy --backend cuda --target metal)
ringkernel_cli_case(codegen_missing_file 1 "cannot read" codegen /nonexistent/k.rkir --backend cuda)
ringkernel_cli_case(codegen_malformed_file 1 "ringkernel:" codegen "${PROJECT_SOURCE_DIR}/README.md" --backend cuda)
ringkernel_cli_case(check_reports_every_target 0 "webgpu-subgroups" check ${_rk_kernels})
ringkernel_cli_case(check_says_why_not 0 "no: " check ${_rk_kernels} --kernel daxpy)

# `ringkernel demo --backend webgpu`: the demo's actors as IR programs on the machine's WebGPU adapter (Mesa
# lavapipe in CI), verified end to end; and the clear error when no adapter can be found.
if(TARGET ringkernel_webgpu)
  ringkernel_cli_case(demo_webgpu 0 "verification: PASS" demo --backend webgpu --seconds 2 --no-progress)
  ringkernel_cli_case(demo_webgpu_many_failures 0 "verification: PASS" demo --backend webgpu --seconds 1 --ingest 3
                      --fail-every 50 --no-progress)
  ringkernel_cli_case(demo_webgpu_no_adapter 1 "no WebGPU adapter" demo --backend webgpu --seconds 1 --no-progress)
  set_tests_properties(cli.demo_webgpu cli.demo_webgpu_many_failures cli.demo_webgpu_no_adapter
                       PROPERTIES LABELS "webgpu;cli" TIMEOUT 120)
  # No native API wgpu-native could use on Linux: the adapter search finds nothing.
  set_tests_properties(cli.demo_webgpu_no_adapter PROPERTIES ENVIRONMENT "RINGKERNEL_WEBGPU_BACKEND=dx12")
endif()
