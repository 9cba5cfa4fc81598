# Checkpoint tests (included from tests/CMakeLists.txt).
#
#   ringkernel_checkpoint_tests <- tests/checkpoint/*_test.cpp   ctest "checkpoint.<Suite>.<Test>", LABELS checkpoint
#                                  (format, file storage + crash-during-write, manager, S3 against moto_server)
#   ringkernel_snapshot_tests   <- tests/checkpoint/runtime_snapshot.cpp  ctest "checkpoint.<Suite>.<Test>",
#                                  LABELS checkpoint-cpu: Runtime::snapshot/restore_snapshot with core + cpu only, so
#                                  the sanitizer and coverage stages (ctest -L 'core|cpu') also run src/core/snapshot.cpp
#   checkpoint.fuzz.reader      libFuzzer over the checkpoint reader (built when clang++ is available)
if(RINGKERNEL_GPU_TESTS_ONLY)
  return()
endif()
if(TARGET ringkernel_cpu)
  add_executable(ringkernel_snapshot_tests "${CMAKE_CURRENT_SOURCE_DIR}/checkpoint/runtime_snapshot.cpp")
  target_link_libraries(ringkernel_snapshot_tests PRIVATE RingKernel::cpu RingKernel::ringkernel GTest::gtest_main)
  target_include_directories(ringkernel_snapshot_tests PRIVATE "${CMAKE_CURRENT_SOURCE_DIR}" "${PROJECT_SOURCE_DIR}/src")
  if(RINGKERNEL_SANITIZER_BUILD)
    target_compile_definitions(ringkernel_snapshot_tests PRIVATE RINGKERNEL_SANITIZER_BUILD=1)
  endif()
  ringkernel_project_target(ringkernel_snapshot_tests)
  gtest_discover_tests(ringkernel_snapshot_tests
    TEST_PREFIX "checkpoint."
    DISCOVERY_MODE PRE_TEST
    DISCOVERY_TIMEOUT 60
    PROPERTIES LABELS checkpoint-cpu TIMEOUT 120)
endif()
if(NOT TARGET ringkernel_checkpoint)
  return()
endif()
ringkernel_add_test_suite(ringkernel_checkpoint_tests checkpoint LIBRARIES RingKernel::checkpoint RingKernel::ringkernel)
find_program(RINGKERNEL_PYTHON3_CKPT NAMES python3)
target_compile_definitions(ringkernel_checkpoint_tests PRIVATE
  RK_PYTHON3="${RINGKERNEL_PYTHON3_CKPT}"
  RK_CKPT_TEST_DIR="${CMAKE_CURRENT_SOURCE_DIR}/checkpoint")

# libFuzzer target for the checkpoint reader, built with clang++ from the format's own source (+ error.cpp, hlc.cpp
# for the symbols the headers use). A short run on every ctest; longer runs by hand:
#   build/<dir>/tests/fuzz_checkpoint_reader -max_total_time=600 tests/checkpoint/fuzz_corpus
find_program(RINGKERNEL_CLANGXX_CKPT NAMES clang++-14 clang++)
if(RINGKERNEL_CLANGXX_CKPT AND RINGKERNEL_ZSTD_LIBRARY)
  set(_ckpt_fuzz_bin "${CMAKE_CURRENT_BINARY_DIR}/fuzz_checkpoint_reader")
  set(_ckpt_fuzz_sources
    "${CMAKE_CURRENT_SOURCE_DIR}/checkpoint/fuzz_checkpoint_reader.cpp"
    "${PROJECT_SOURCE_DIR}/src/checkpoint/format.cpp"
    "${PROJECT_SOURCE_DIR}/src/core/error.cpp")
  add_custom_command(OUTPUT "${_ckpt_fuzz_bin}"
    COMMAND "${RINGKERNEL_CLANGXX_CKPT}" -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined
            -fno-sanitize-recover=undefined -I "${PROJECT_SOURCE_DIR}/include" -I "${PROJECT_SOURCE_DIR}/src"
            ${_ckpt_fuzz_sources} "${RINGKERNEL_ZSTD_LIBRARY}" -o "${_ckpt_fuzz_bin}"
    DEPENDS ${_ckpt_fuzz_sources} "${PROJECT_SOURCE_DIR}/include/ringkernel/checkpoint/format.hpp"
    COMMENT "Building the libFuzzer target fuzz_checkpoint_reader with ${RINGKERNEL_CLANGXX_CKPT}"
    VERBATIM)
  add_custom_target(ringkernel_fuzz_checkpoint_reader ALL DEPENDS "${_ckpt_fuzz_bin}")
  file(MAKE_DIRECTORY "${CMAKE_CURRENT_BINARY_DIR}/fuzz_checkpoint_corpus")
  add_test(NAME checkpoint.fuzz.reader
    COMMAND sh -c "if setarch \"$(uname -m)\" -R true 2>/dev/null; then exec setarch \"$(uname -m)\" -R \"$@\"; else exec \"$@\"; fi"
            sh "${_ckpt_fuzz_bin}" -max_total_time=15 -max_len=8192 -timeout=5 -rss_limit_mb=1024
            "${CMAKE_CURRENT_BINARY_DIR}/fuzz_checkpoint_corpus" "${CMAKE_CURRENT_SOURCE_DIR}/checkpoint/fuzz_corpus")
  set_tests_properties(checkpoint.fuzz.reader PROPERTIES LABELS checkpoint TIMEOUT 120)
else()
  message(STATUS "RingKernel: clang++ not found - the libFuzzer target fuzz_checkpoint_reader is not built")
endif()
