# Operations-server tests that run outside GoogleTest (included from tests/CMakeLists.txt when the server is
# built). All carry LABELS server; every one starts its own server on a free port (port 0), so they can run
# in parallel with everything else.
#
#   server.ws.<case>        tests/server/ws_test.py: WebSocket protocol against `ringkernel serve`, with the
#                           websocket-client library (scripts/requirements.txt)
#   server.dashboard        tests/server/dashboard_test.py: headless Chromium (selenium + chromedriver) loads
#                           the dashboard, sees the numbers change, saves dashboard.png in this build directory
#   server.cli.serve        `ringkernel serve` starts, answers, and stops cleanly on SIGTERM (and _webgpu: the
#                           same with the demo's IR actors on the WebGPU backend)
#   server.fuzz.ws_command  libFuzzer over the WebSocket command parser (built when clang++ is available)
find_program(RINGKERNEL_PYTHON3 NAMES python3)
if(TARGET ringkernel_cli AND RINGKERNEL_PYTHON3)
  foreach(_case connected_and_ping call_and_send subscribe_events lifecycle get_stats errors oversized_frame auth
                reconnect_resume slow_client)
    add_test(NAME server.ws.${_case}
      COMMAND "${RINGKERNEL_PYTHON3}" "${CMAKE_CURRENT_SOURCE_DIR}/server/ws_test.py"
              --ringkernel "$<TARGET_FILE:ringkernel_cli>" --case ${_case})
    set_tests_properties(server.ws.${_case} PROPERTIES LABELS server TIMEOUT 90)
  endforeach()
  add_test(NAME server.dashboard
    COMMAND "${RINGKERNEL_PYTHON3}" "${CMAKE_CURRENT_SOURCE_DIR}/server/dashboard_test.py"
            --ringkernel "$<TARGET_FILE:ringkernel_cli>" --screenshot "${CMAKE_CURRENT_BINARY_DIR}/dashboard.png")
  # RUN_SERIAL: Chromium is the heaviest process of the suite; on a 2-core CI machine it should not share.
  set_tests_properties(server.dashboard PROPERTIES LABELS server TIMEOUT 120 RUN_SERIAL ON)
  add_test(NAME server.cli.serve
    COMMAND "${RINGKERNEL_PYTHON3}" "${CMAKE_CURRENT_SOURCE_DIR}/server/serve_test.py"
            --ringkernel "$<TARGET_FILE:ringkernel_cli>")
  set_tests_properties(server.cli.serve PROPERTIES LABELS server TIMEOUT 60)
  if(TARGET ringkernel_webgpu)  # the demo's IR actors behind the server, on lavapipe in CI
    add_test(NAME server.cli.serve_webgpu
      COMMAND "${RINGKERNEL_PYTHON3}" "${CMAKE_CURRENT_SOURCE_DIR}/server/serve_test.py"
              --ringkernel "$<TARGET_FILE:ringkernel_cli>" --backend webgpu)
    set_tests_properties(server.cli.serve_webgpu PROPERTIES LABELS "server;webgpu" TIMEOUT 90)
  endif()
elseif(TARGET ringkernel_cli)
  message(WARNING "python3 not found: server.ws.*, server.dashboard and server.cli.serve are not registered")
endif()

# libFuzzer target for the WebSocket command parser. GCC has no libFuzzer, so it is built with clang++ as a
# separate project-free executable from the parser's own sources (protocol.cpp + event_hub.cpp have no Boost).
find_program(RINGKERNEL_CLANGXX NAMES clang++-14 clang++)
if(RINGKERNEL_CLANGXX)
  set(_fuzz_bin "${CMAKE_CURRENT_BINARY_DIR}/fuzz_ws_command")
  get_target_property(_json_inc nlohmann_json::nlohmann_json INTERFACE_INCLUDE_DIRECTORIES)
  set(_fuzz_sources
    "${CMAKE_CURRENT_SOURCE_DIR}/server/fuzz_ws_command.cpp"
    "${PROJECT_SOURCE_DIR}/src/server/protocol.cpp"
    "${PROJECT_SOURCE_DIR}/src/server/event_hub.cpp"
    "${PROJECT_SOURCE_DIR}/src/core/error.cpp")
  set(_fuzz_includes -I "${PROJECT_SOURCE_DIR}/include" -I "${PROJECT_SOURCE_DIR}/src")
  foreach(_d IN LISTS _json_inc)
    if(NOT _d STREQUAL "/usr/include")  # re-adding the system directory breaks libstdc++'s #include_next
      list(APPEND _fuzz_includes -isystem "${_d}")
    endif()
  endforeach()
  add_custom_command(OUTPUT "${_fuzz_bin}"
    COMMAND "${RINGKERNEL_CLANGXX}" -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined
            -fno-sanitize-recover=undefined ${_fuzz_includes} ${_fuzz_sources} -o "${_fuzz_bin}"
    DEPENDS ${_fuzz_sources} "${PROJECT_SOURCE_DIR}/src/server/protocol.hpp" "${PROJECT_SOURCE_DIR}/src/server/event_hub.hpp"
    COMMENT "Building the libFuzzer target fuzz_ws_command with ${RINGKERNEL_CLANGXX}"
    VERBATIM)
  add_custom_target(ringkernel_fuzz_ws_command ALL DEPENDS "${_fuzz_bin}")
  # A short run on every ctest (seeded with valid commands); longer runs by hand:
  #   build/<dir>/tests/fuzz_ws_command -max_total_time=600 tests/server/fuzz_corpus
  # New inputs go to the first corpus directory, so that one is in the build tree; the committed seeds are
  # read-only. setarch -R (when allowed): ASan's shadow mapping fails on kernels with high mmap entropy.
  file(MAKE_DIRECTORY "${CMAKE_CURRENT_BINARY_DIR}/fuzz_ws_command_corpus")
  add_test(NAME server.fuzz.ws_command
    COMMAND sh -c "if setarch \"$(uname -m)\" -R true 2>/dev/null; then exec setarch \"$(uname -m)\" -R \"$@\"; else exec \"$@\"; fi"
            sh "${_fuzz_bin}" -max_total_time=20 -max_len=4096 -timeout=5 -rss_limit_mb=1024
            "${CMAKE_CURRENT_BINARY_DIR}/fuzz_ws_command_corpus" "${CMAKE_CURRENT_SOURCE_DIR}/server/fuzz_corpus")
  set_tests_properties(server.fuzz.ws_command PROPERTIES LABELS server TIMEOUT 120)
else()
  message(STATUS "RingKernel: clang++ not found - the libFuzzer target fuzz_ws_command is not built")
endif()
