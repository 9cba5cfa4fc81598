# FindWgpuNative: wgpu-native (the WebGPU C API over wgpu/naga), as extracted by scripts/fetch-wgpu.sh.
#
#   find_package(WgpuNative)        -> WgpuNative_FOUND, imported target WgpuNative::wgpu_native
#
# Searched in WgpuNative_ROOT, then <source>/third_party/wgpu. Only the IR code generation tests use it (to
# validate generated WGSL with naga and run it on whatever adapter exists, Mesa lavapipe on CPU machines).
find_path(WgpuNative_INCLUDE_DIR webgpu/webgpu.h
  HINTS "${WgpuNative_ROOT}/include" "${PROJECT_SOURCE_DIR}/third_party/wgpu/include"
  NO_DEFAULT_PATH)
find_library(WgpuNative_LIBRARY NAMES wgpu_native
  HINTS "${WgpuNative_ROOT}/lib" "${PROJECT_SOURCE_DIR}/third_party/wgpu/lib"
  NO_DEFAULT_PATH)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(WgpuNative REQUIRED_VARS WgpuNative_LIBRARY WgpuNative_INCLUDE_DIR)
if(WgpuNative_FOUND AND NOT TARGET WgpuNative::wgpu_native)
  add_library(WgpuNative::wgpu_native SHARED IMPORTED)
  set_target_properties(WgpuNative::wgpu_native PROPERTIES
    IMPORTED_LOCATION "${WgpuNative_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${WgpuNative_INCLUDE_DIR}")
endif()
mark_as_advanced(WgpuNative_INCLUDE_DIR WgpuNative_LIBRARY)
