// wgpu-native glue for the WGSL tests. Only the webgpu.h C API is used; every asynchronous call is driven
// to completion with wgpuInstanceProcessEvents/wgpuDevicePoll before returning.
#include "codegen/wgpu_runner.hpp"

#include <cstring>

#if defined(RINGKERNEL_HAS_WGPU)
#include <webgpu/webgpu.h>
#include <webgpu/wgpu.h>

#include <utility>

#include "webgpu/wgpu_util.hpp"
#endif

namespace rkt {

#if !defined(RINGKERNEL_HAS_WGPU)

struct WgpuRunner::Impl {};
WgpuRunner* WgpuRunner::get(std::string* why) {
  *why = "wgpu-native not found at configure time (run scripts/fetch-wgpu.sh and re-run cmake)";
  return nullptr;
}
WgpuRunner::~WgpuRunner() = default;
std::string WgpuRunner::validate(const std::string&, const std::string&) { return "unavailable"; }
std::string WgpuRunner::run(const ringkernel::ir::GeneratedCode&, const ringkernel::ir::Kernel&, std::array<std::uint32_t, 3>,
                            std::vector<Arg>&) {
  return "unavailable";
}

#else

using ringkernel::webgpu::detail::str;
using ringkernel::webgpu::detail::sv;

struct WgpuRunner::Impl {
  WGPUInstance instance = nullptr;
  WGPUAdapter adapter = nullptr;
  WGPUDevice device = nullptr;
  WGPUQueue queue = nullptr;

  void wait() {
    wgpuInstanceProcessEvents(instance);
    wgpuDevicePoll(device, true, nullptr);
    wgpuInstanceProcessEvents(instance);
  }

  // Runs `fn` inside a validation error scope; returns the captured error text ("" when none). The helper is
  // shared with the WebGPU backend (src/webgpu/wgpu_util.hpp).
  template <class Fn>
  std::string scoped(Fn&& fn) {
    return ringkernel::webgpu::detail::validation_scope(device, [this] { wait(); }, std::forward<Fn>(fn));
  }
};

WgpuRunner* WgpuRunner::get(std::string* why) {
  static std::string failure;
  static WgpuRunner* runner = [] () -> WgpuRunner* {
    auto* r = new WgpuRunner();
    r->impl_ = new Impl();
    Impl& m = *r->impl_;
    m.instance = wgpuCreateInstance(nullptr);
    if (m.instance == nullptr) {
      failure = "wgpuCreateInstance failed";
      return nullptr;
    }
    WGPURequestAdapterOptions opts{};
    opts.powerPreference = WGPUPowerPreference_HighPerformance;
    WGPURequestAdapterCallbackInfo acb{};
    acb.mode = WGPUCallbackMode_AllowProcessEvents;
    acb.callback = [](WGPURequestAdapterStatus status, WGPUAdapter adapter, WGPUStringView msg, void* u1, void* u2) {
      if (status == WGPURequestAdapterStatus_Success) *static_cast<WGPUAdapter*>(u1) = adapter;
      else *static_cast<std::string*>(u2) = "no WebGPU adapter: " + str(msg);
    };
    acb.userdata1 = &m.adapter;
    acb.userdata2 = &failure;
    wgpuInstanceRequestAdapter(m.instance, &opts, acb);
    for (int i = 0; i < 100 && m.adapter == nullptr && failure.empty(); ++i) wgpuInstanceProcessEvents(m.instance);
    if (m.adapter == nullptr) {
      if (failure.empty()) failure = "no WebGPU adapter (install mesa-vulkan-drivers for lavapipe)";
      return nullptr;
    }
    WGPUAdapterInfo info{};
    if (wgpuAdapterGetInfo(m.adapter, &info) == WGPUStatus_Success) {
      r->adapter_ = str(info.device) + " (" + str(info.description) + ")";
      r->sg_min_ = info.subgroupMinSize;
      r->sg_max_ = info.subgroupMaxSize;
      wgpuAdapterInfoFreeMembers(info);
    }
    std::vector<WGPUFeatureName> features;
    // wgpu-native exposes subgroups as its native feature (the standard name may not be reported).
    for (auto f : {WGPUFeatureName_Subgroups, static_cast<WGPUFeatureName>(WGPUNativeFeature_Subgroup)}) {
      if (wgpuAdapterHasFeature(m.adapter, f)) {
        features.push_back(f);
        r->subgroups_ = true;
      }
    }
    WGPUDeviceDescriptor dd{};
    dd.requiredFeatureCount = features.size();
    dd.requiredFeatures = features.data();
    WGPURequestDeviceCallbackInfo dcb{};
    dcb.mode = WGPUCallbackMode_AllowProcessEvents;
    dcb.callback = [](WGPURequestDeviceStatus status, WGPUDevice device, WGPUStringView msg, void* u1, void* u2) {
      if (status == WGPURequestDeviceStatus_Success) *static_cast<WGPUDevice*>(u1) = device;
      else *static_cast<std::string*>(u2) = "device request failed: " + str(msg);
    };
    dcb.userdata1 = &m.device;
    dcb.userdata2 = &failure;
    wgpuAdapterRequestDevice(m.adapter, &dd, dcb);
    for (int i = 0; i < 100 && m.device == nullptr && failure.empty(); ++i) wgpuInstanceProcessEvents(m.instance);
    if (m.device == nullptr) {
      if (failure.empty()) failure = "device request did not complete";
      return nullptr;
    }
    m.queue = wgpuDeviceGetQueue(m.device);
    return r;
  }();
  if (runner == nullptr) *why = failure;
  return runner;
}

WgpuRunner::~WgpuRunner() = default;  // the process-wide runner lives until exit

std::string WgpuRunner::validate(const std::string& wgsl, const std::string& entry) {
  Impl& m = *impl_;
  WGPUShaderModule module = nullptr;
  std::string err = m.scoped([&] {
    WGPUShaderSourceWGSL src{};
    src.chain.sType = WGPUSType_ShaderSourceWGSL;
    src.code = sv(wgsl);
    WGPUShaderModuleDescriptor md{};
    md.nextInChain = &src.chain;
    module = wgpuDeviceCreateShaderModule(m.device, &md);
  });
  if (!err.empty()) {
    if (module != nullptr) wgpuShaderModuleRelease(module);
    return err;
  }
  WGPUComputePipeline pipe = nullptr;
  err = m.scoped([&] {
    WGPUComputePipelineDescriptor pd{};
    pd.compute.module = module;
    pd.compute.entryPoint = sv(entry);
    pipe = wgpuDeviceCreateComputePipeline(m.device, &pd);
  });
  if (pipe != nullptr) wgpuComputePipelineRelease(pipe);
  wgpuShaderModuleRelease(module);
  return err;
}

std::string WgpuRunner::run(const ringkernel::ir::GeneratedCode& code, const ringkernel::ir::Kernel& lowered,
                            std::array<std::uint32_t, 3> grid, std::vector<Arg>& args) {
  namespace ir = ringkernel::ir;
  Impl& m = *impl_;
  std::string err;
  WGPUShaderModule module = nullptr;
  err = m.scoped([&] {
    WGPUShaderSourceWGSL src{};
    src.chain.sType = WGPUSType_ShaderSourceWGSL;
    src.code = sv(code.source);
    WGPUShaderModuleDescriptor md{};
    md.nextInChain = &src.chain;
    module = wgpuDeviceCreateShaderModule(m.device, &md);
  });
  if (!err.empty()) return "shader: " + err;

  // Host-side images of every binding (f64 data converted to f32 where the kernel was downcast).
  struct Bound {
    std::uint32_t slot;
    std::vector<std::byte> data;
    bool read_only;
    std::size_t arg;  // index into args, or SIZE_MAX for the scalar block
    bool downcast;
  };
  std::vector<Bound> bound;
  std::vector<std::uint32_t> scalars(code.scalar_block_words, 0);
  for (const auto& b : code.bindings) {
    Arg& a = args[b.param];
    const ir::Type t = lowered.type_of(lowered.params[b.param]);
    if (b.scalar) {
      scalars[b.word_offset] = static_cast<std::uint32_t>(a.bits);
      if (ir::is_int64(t.scalar)) scalars[b.word_offset + 1] = static_cast<std::uint32_t>(a.bits >> 32);
      if (t.scalar == ir::ScalarKind::F32 && a.elem == ir::ScalarKind::F64) {
        double d;
        std::memcpy(&d, &a.bits, 8);
        const float f = static_cast<float>(d);
        std::memcpy(&scalars[b.word_offset], &f, 4);
      }
      continue;
    }
    Bound bd{b.slot, a.bytes, t.is_pointer() && t.space == ir::AddressSpace::Constant, b.param, false};
    if (t.is_pointer() && t.scalar == ir::ScalarKind::F32 && a.elem == ir::ScalarKind::F64) {
      bd.downcast = true;
      std::vector<std::byte> f(a.bytes.size() / 2);
      for (std::size_t i = 0; i < a.bytes.size() / 8; ++i) {
        double d;
        std::memcpy(&d, a.bytes.data() + 8 * i, 8);
        const float x = static_cast<float>(d);
        std::memcpy(f.data() + 4 * i, &x, 4);
      }
      bd.data = std::move(f);
    }
    bound.push_back(std::move(bd));
  }
  if (code.scalar_block_slot >= 0) {
    Bound bd{static_cast<std::uint32_t>(code.scalar_block_slot), {}, true, SIZE_MAX, false};
    bd.data.resize(scalars.size() * 4);
    std::memcpy(bd.data.data(), scalars.data(), bd.data.size());
    bound.push_back(std::move(bd));
  }

  std::vector<WGPUBuffer> buffers;
  std::vector<WGPUBindGroupLayoutEntry> layout_entries;
  std::vector<WGPUBindGroupEntry> group_entries;
  for (auto& b : bound) {
    const std::size_t size = std::max<std::size_t>(16, (b.data.size() + 15) / 16 * 16);
    WGPUBufferDescriptor bd{};
    bd.size = size;
    bd.usage = WGPUBufferUsage_Storage | WGPUBufferUsage_CopyDst | WGPUBufferUsage_CopySrc;
    WGPUBuffer buf = wgpuDeviceCreateBuffer(m.device, &bd);
    std::vector<std::byte> padded(size);
    std::memcpy(padded.data(), b.data.data(), b.data.size());
    wgpuQueueWriteBuffer(m.queue, buf, 0, padded.data(), size);
    buffers.push_back(buf);
    WGPUBindGroupLayoutEntry le{};
    le.binding = b.slot;
    le.visibility = WGPUShaderStage_Compute;
    le.buffer.type = b.read_only ? WGPUBufferBindingType_ReadOnlyStorage : WGPUBufferBindingType_Storage;
    layout_entries.push_back(le);
    WGPUBindGroupEntry ge{};
    ge.binding = b.slot;
    ge.buffer = buf;
    ge.size = size;
    group_entries.push_back(ge);
  }
  WGPUBindGroupLayout bgl = nullptr;
  WGPUPipelineLayout pl = nullptr;
  WGPUComputePipeline pipe = nullptr;
  WGPUBindGroup group = nullptr;
  err = m.scoped([&] {
    WGPUBindGroupLayoutDescriptor ld{};
    ld.entryCount = layout_entries.size();
    ld.entries = layout_entries.data();
    bgl = wgpuDeviceCreateBindGroupLayout(m.device, &ld);
    WGPUPipelineLayoutDescriptor pld{};
    pld.bindGroupLayoutCount = 1;
    pld.bindGroupLayouts = &bgl;
    pl = wgpuDeviceCreatePipelineLayout(m.device, &pld);
    WGPUComputePipelineDescriptor pd{};
    pd.layout = pl;
    pd.compute.module = module;
    pd.compute.entryPoint = sv(code.entry);
    pipe = wgpuDeviceCreateComputePipeline(m.device, &pd);
    WGPUBindGroupDescriptor gd{};
    gd.layout = bgl;
    gd.entryCount = group_entries.size();
    gd.entries = group_entries.data();
    group = wgpuDeviceCreateBindGroup(m.device, &gd);
  });
  if (err.empty()) {
    err = m.scoped([&] {
      WGPUCommandEncoder enc = wgpuDeviceCreateCommandEncoder(m.device, nullptr);
      WGPUComputePassEncoder pass = wgpuCommandEncoderBeginComputePass(enc, nullptr);
      wgpuComputePassEncoderSetPipeline(pass, pipe);
      wgpuComputePassEncoderSetBindGroup(pass, 0, group, 0, nullptr);
      wgpuComputePassEncoderDispatchWorkgroups(pass, grid[0], grid[1], grid[2]);
      wgpuComputePassEncoderEnd(pass);
      wgpuComputePassEncoderRelease(pass);
      WGPUCommandBuffer cmd = wgpuCommandEncoderFinish(enc, nullptr);
      wgpuQueueSubmit(m.queue, 1, &cmd);
      wgpuCommandBufferRelease(cmd);
      wgpuCommandEncoderRelease(enc);
    });
  }
  // Read every buffer back.
  for (std::size_t i = 0; err.empty() && i < bound.size(); ++i) {
    if (bound[i].arg == SIZE_MAX) continue;
    const std::size_t size = std::max<std::size_t>(16, (bound[i].data.size() + 15) / 16 * 16);
    WGPUBufferDescriptor bd{};
    bd.size = size;
    bd.usage = WGPUBufferUsage_MapRead | WGPUBufferUsage_CopyDst;
    WGPUBuffer staging = wgpuDeviceCreateBuffer(m.device, &bd);
    WGPUCommandEncoder enc = wgpuDeviceCreateCommandEncoder(m.device, nullptr);
    wgpuCommandEncoderCopyBufferToBuffer(enc, buffers[i], 0, staging, 0, size);
    WGPUCommandBuffer cmd = wgpuCommandEncoderFinish(enc, nullptr);
    wgpuQueueSubmit(m.queue, 1, &cmd);
    wgpuCommandBufferRelease(cmd);
    wgpuCommandEncoderRelease(enc);
    bool mapped = false;
    WGPUBufferMapCallbackInfo mcb{};
    mcb.mode = WGPUCallbackMode_AllowProcessEvents;
    mcb.callback = [](WGPUMapAsyncStatus status, WGPUStringView, void* u1, void*) { *static_cast<bool*>(u1) = status == WGPUMapAsyncStatus_Success; };
    mcb.userdata1 = &mapped;
    wgpuBufferMapAsync(staging, WGPUMapMode_Read, 0, size, mcb);
    for (int w = 0; w < 1000 && !mapped; ++w) m.wait();
    if (!mapped) {
      err = "mapping a result buffer failed";
    } else {
      const auto* p = static_cast<const std::byte*>(wgpuBufferGetConstMappedRange(staging, 0, size));
      Arg& a = args[bound[i].arg];
      if (bound[i].downcast) {
        for (std::size_t e = 0; e < a.bytes.size() / 8; ++e) {
          float f;
          std::memcpy(&f, p + 4 * e, 4);
          const double d = f;
          std::memcpy(a.bytes.data() + 8 * e, &d, 8);
        }
      } else {
        std::memcpy(a.bytes.data(), p, a.bytes.size());
      }
      wgpuBufferUnmap(staging);
    }
    wgpuBufferRelease(staging);
  }
  if (group != nullptr) wgpuBindGroupRelease(group);
  if (pipe != nullptr) wgpuComputePipelineRelease(pipe);
  if (pl != nullptr) wgpuPipelineLayoutRelease(pl);
  if (bgl != nullptr) wgpuBindGroupLayoutRelease(bgl);
  for (auto b : buffers) wgpuBufferRelease(b);
  wgpuShaderModuleRelease(module);
  return err;
}

#endif

} // namespace rkt
