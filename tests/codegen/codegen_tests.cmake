# Extra sources and settings of ringkernel_codegen_tests (included from tests/CMakeLists.txt).
if(TARGET ringkernel_codegen_tests)
  target_sources(ringkernel_codegen_tests PRIVATE
    "${CMAKE_CURRENT_SOURCE_DIR}/codegen/parity.cpp"
    "${CMAKE_CURRENT_SOURCE_DIR}/codegen/wgpu_runner.cpp")
  target_compile_definitions(ringkernel_codegen_tests PRIVATE
    "RK_TEST_CXX=\"${CMAKE_CXX_COMPILER}\""
    "RK_TEST_SOURCE_DIR=\"${PROJECT_SOURCE_DIR}\""
    "RK_TEST_BINARY_DIR=\"${CMAKE_CURRENT_BINARY_DIR}\"")
  list(APPEND CMAKE_MODULE_PATH "${PROJECT_SOURCE_DIR}/cmake")
  find_package(WgpuNative)
  if(WgpuNative_FOUND)
    target_link_libraries(ringkernel_codegen_tests PRIVATE WgpuNative::wgpu_native)
    target_compile_definitions(ringkernel_codegen_tests PRIVATE RINGKERNEL_HAS_WGPU=1)
    message(STATUS "RingKernel: WGSL tests use wgpu-native at ${WgpuNative_LIBRARY}")
  else()
    message(STATUS "RingKernel: wgpu-native not found (run scripts/fetch-wgpu.sh): WGSL validation tests will skip")
  endif()
endif()
