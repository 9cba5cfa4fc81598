# libFuzzer target for the IR text parser (included from tests/CMakeLists.txt with the IR). GCC has no libFuzzer,
# so it is built with clang++ as a separate executable from the IR's own sources, and run briefly by ctest:
#   build/<dir>/tests/fuzz_ir_text -max_total_time=600 tests/ir/fuzz_corpus     (longer runs by hand)
find_program(RINGKERNEL_CLANGXX NAMES clang++-14 clang++)
if(RINGKERNEL_CLANGXX)
  set(_ir_fuzz_bin "${CMAKE_CURRENT_BINARY_DIR}/fuzz_ir_text")
  file(GLOB _ir_fuzz_lib CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/src/ir/*.cpp")
  set(_ir_fuzz_sources "${CMAKE_CURRENT_SOURCE_DIR}/ir/fuzz_ir_text.cpp" ${_ir_fuzz_lib} "${PROJECT_SOURCE_DIR}/src/core/error.cpp")
  file(GLOB _ir_fuzz_headers CONFIGURE_DEPENDS "${PROJECT_SOURCE_DIR}/src/ir/*.hpp" "${PROJECT_SOURCE_DIR}/include/ringkernel/ir/*.hpp")
  add_custom_command(OUTPUT "${_ir_fuzz_bin}"
    COMMAND "${RINGKERNEL_CLANGXX}" -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
            -I "${PROJECT_SOURCE_DIR}/include" -I "${PROJECT_SOURCE_DIR}/src" ${_ir_fuzz_sources} -o "${_ir_fuzz_bin}"
    DEPENDS ${_ir_fuzz_sources} ${_ir_fuzz_headers}
    COMMENT "Building the libFuzzer target fuzz_ir_text with ${RINGKERNEL_CLANGXX}"
    VERBATIM)
  add_custom_target(ringkernel_fuzz_ir_text ALL DEPENDS "${_ir_fuzz_bin}")
  file(MAKE_DIRECTORY "${CMAKE_CURRENT_BINARY_DIR}/fuzz_ir_text_corpus")
  # setarch -R where allowed: ASan's shadow mapping fails on kernels with high mmap entropy.
  add_test(NAME ir.fuzz.text_parser
    COMMAND sh -c "if setarch \"$(uname -m)\" -R true 2>/dev/null; then exec setarch \"$(uname -m)\" -R \"$@\"; else exec \"$@\"; fi"
            sh "${_ir_fuzz_bin}" -max_total_time=15 -max_len=8192 -timeout=5 -rss_limit_mb=1024
            "${CMAKE_CURRENT_BINARY_DIR}/fuzz_ir_text_corpus" "${CMAKE_CURRENT_SOURCE_DIR}/ir/fuzz_corpus")
  set_tests_properties(ir.fuzz.text_parser PROPERTIES LABELS ir TIMEOUT 120)
else()
  message(STATUS "RingKernel: clang++ not found - the libFuzzer target fuzz_ir_text is not built")
endif()
