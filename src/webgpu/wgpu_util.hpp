// Small webgpu.h helpers shared by the WebGPU backend (src/webgpu) and the WGSL test runner
// (tests/codegen/wgpu_runner.cpp). Header-only on purpose: the codegen tests use wgpu-native directly and do
// not link RingKernel::webgpu.
#pragma once

#include <webgpu/webgpu.h>

#include <cstring>
#include <string>

namespace ringkernel::webgpu::detail {

/// A webgpu.h string view of `s` (valid while `s` is).
inline WGPUStringView sv(const std::string& s) { return {s.data(), s.size()}; }

/// A webgpu.h string view as a std::string (null data = empty; WGPU_STRLEN = NUL-terminated).
inline std::string str(WGPUStringView v) {
  if (v.data == nullptr) return {};
  return std::string(v.data, v.length == WGPU_STRLEN ? std::strlen(v.data) : v.length);
}

/// Runs `fn` inside a validation error scope of `device` and returns the captured message ("" when none).
/// `wait()` must make progress on the device's callbacks (poll and/or process events); it is called until the
/// pop completes, at most 1000 times, so a device that stops answering yields an error instead of a hang.
template <class Wait, class Fn>
std::string validation_scope(WGPUDevice device, Wait&& wait, Fn&& fn) {
  wgpuDevicePushErrorScope(device, WGPUErrorFilter_Validation);
  fn();
  std::string msg;
  bool done = false;
  WGPUPopErrorScopeCallbackInfo cb{};
  cb.mode = WGPUCallbackMode_AllowProcessEvents;
  cb.callback = [](WGPUPopErrorScopeStatus status, WGPUErrorType type, WGPUStringView m, void* u1, void* u2) {
    auto& out = *static_cast<std::string*>(u1);
    if (status != WGPUPopErrorScopeStatus_Success) out = "error scope could not be popped (device lost?)";
    else if (type != WGPUErrorType_NoError) out = str(m).empty() ? "validation error" : str(m);
    *static_cast<bool*>(u2) = true;
  };
  cb.userdata1 = &msg;
  cb.userdata2 = &done;
  wgpuDevicePopErrorScope(device, cb);
  for (int i = 0; i < 1000 && !done; ++i) wait();
  if (!done && msg.empty()) msg = "error scope never completed";
  return msg;
}

} // namespace ringkernel::webgpu::detail
