# ctest package.consumer: install the build tree into a scratch prefix, then configure, build and run the
# consumer project against that prefix only. Any failing step stops the test with the step's output.
#
# Inputs (-D): RK_BUILD_DIR, RK_CONSUMER_SOURCE_DIR, RK_WORK_DIR, RK_CONFIG, RK_CXX_COMPILER, RK_CXX_FLAGS,
#              RK_REQUIRE_CPU, RK_CUDA_COMPILER (set when RingKernel was built with CUDA: the consumer then
#              also builds and runs a program with device code).
cmake_minimum_required(VERSION 3.25)

foreach(var RK_BUILD_DIR RK_CONSUMER_SOURCE_DIR RK_WORK_DIR)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "run_consumer.cmake: ${var} is not set")
  endif()
endforeach()
if(NOT RK_CONFIG)
  set(RK_CONFIG Release)
endif()

set(prefix "${RK_WORK_DIR}/prefix")
set(consumer_build "${RK_WORK_DIR}/consumer-build")
file(REMOVE_RECURSE "${RK_WORK_DIR}")
file(MAKE_DIRECTORY "${RK_WORK_DIR}")

function(run_step name)
  message(STATUS "package.consumer: ${name}: ${ARGN}")
  execute_process(COMMAND ${ARGN}
    RESULT_VARIABLE rc
    OUTPUT_VARIABLE out
    ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "package.consumer: step '${name}' FAILED (exit ${rc})\n"
                        "command: ${ARGN}\n---- output ----\n${out}\n----------------")
  endif()
  message(STATUS "package.consumer: ${name}: ok")
  set(step_output "${out}" PARENT_SCOPE)
endfunction()

run_step(install "${CMAKE_COMMAND}" --install "${RK_BUILD_DIR}" --prefix "${prefix}" --config "${RK_CONFIG}")

set(configure_args
  -S "${RK_CONSUMER_SOURCE_DIR}" -B "${consumer_build}" -G Ninja
  "-DCMAKE_PREFIX_PATH=${prefix}"
  "-DCMAKE_BUILD_TYPE=${RK_CONFIG}"
  "-DRINGKERNEL_CONSUMER_REQUIRE_CPU=${RK_REQUIRE_CPU}"
  # Only the scratch prefix may satisfy find_package(RingKernel): no package registry, no build tree.
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
  -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF)
if(RK_CXX_COMPILER)
  list(APPEND configure_args "-DCMAKE_CXX_COMPILER=${RK_CXX_COMPILER}")
endif()
if(RK_CXX_FLAGS)
  list(APPEND configure_args "-DCMAKE_CXX_FLAGS=${RK_CXX_FLAGS}")
endif()
if(RK_CUDA_COMPILER)
  list(APPEND configure_args -DRINGKERNEL_CONSUMER_CUDA=ON "-DCMAKE_CUDA_COMPILER=${RK_CUDA_COMPILER}")
endif()
run_step(configure "${CMAKE_COMMAND}" ${configure_args})
run_step(build "${CMAKE_COMMAND}" --build "${consumer_build}")
run_step(run "${consumer_build}/ringkernel_consumer")
message("${step_output}")
if(RK_CUDA_COMPILER)
  run_step(run_cuda "${consumer_build}/ringkernel_cuda_consumer")
  message("${step_output}")
endif()
