// WebGPU backend, host side: the process-wide wgpu-native device, and the executor that emulates persistent
// actors. Each IR program launched in a runtime gets a group of GPU buffers (state, HLC clocks, staging,
// outputs, counters) with one slot per actor; a pump thread repeatedly takes the pending messages of every
// active actor out of its runtime inbox (respecting the lifecycle limit), packs them into the staging buffer
// in the core message layout, runs one dispatch for the whole group, reads the outputs back and routes them
// (replies complete calls, host-bound messages fill receive queues, K2K sends enter inboxes for the next batch).
#include <webgpu/webgpu.h>
#include <webgpu/wgpu.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/runtime_state.hpp"
#include "webgpu/program.hpp"

namespace ringkernel::webgpu {
namespace {
WGPUStringView sv(const std::string& s) { return {s.data(), s.size()}; }
std::string str(WGPUStringView v) {
  if (v.data == nullptr) return {};
  return std::string(v.data, v.length == WGPU_STRLEN ? std::strlen(v.data) : v.length);
}

std::string backend_name(WGPUBackendType t) {
  switch (t) {
    case WGPUBackendType_Vulkan: return "vulkan";
    case WGPUBackendType_Metal: return "metal";
    case WGPUBackendType_D3D12: return "d3d12";
    case WGPUBackendType_D3D11: return "d3d11";
    case WGPUBackendType_OpenGL: return "opengl";
    case WGPUBackendType_OpenGLES: return "opengles";
    default: return "other";
  }
}

// The process-wide device. wgpu-native reports asynchronous failures through callbacks; they are recorded
// here (never fatal: without an uncaptured-error callback wgpu-native would panic) and turned into Errors.
struct Device {
  WGPUInstance instance = nullptr;
  WGPUAdapter adapter = nullptr;
  WGPUDevice device = nullptr;
  WGPUQueue queue = nullptr;
  DeviceInfo info;
  std::mutex err_mu;
  std::string uncaptured;  // first uncaptured error since it was last taken
  std::atomic<bool> lost{false};
  std::string lost_reason;

  void wait() {
    wgpuDevicePoll(device, true, nullptr);
    wgpuInstanceProcessEvents(instance);
  }
  std::string take_error() {
    std::lock_guard lk(err_mu);
    std::string e;
    e.swap(uncaptured);
    if (lost.load()) e = "device lost: " + lost_reason + (e.empty() ? "" : "; " + e);
    return e;
  }
  // Runs `fn` in a validation error scope; the captured message, "" when none.
  template <class Fn>
  std::string scoped(Fn&& fn) {
    wgpuDevicePushErrorScope(device, WGPUErrorFilter_Validation);
    fn();
    std::string msg;
    bool done = false;
    WGPUPopErrorScopeCallbackInfo cb{};
    cb.mode = WGPUCallbackMode_AllowProcessEvents;
    cb.callback = [](WGPUPopErrorScopeStatus, WGPUErrorType type, WGPUStringView m, void* u1, void* u2) {
      if (type != WGPUErrorType_NoError) *static_cast<std::string*>(u1) = str(m).empty() ? "validation error" : str(m);
      *static_cast<bool*>(u2) = true;
    };
    cb.userdata1 = &msg;
    cb.userdata2 = &done;
    wgpuDevicePopErrorScope(device, cb);
    for (int i = 0; i < 1000 && !done; ++i) wait();
    if (!done && msg.empty()) msg = "error scope never completed";
    return msg;
  }
};

Result<Device*> device() {
  static std::string failure;
  static Device* dev = []() -> Device* {
    auto* d = new Device();  // process lifetime: drivers may not be torn down safely at exit
    d->instance = wgpuCreateInstance(nullptr);
    if (d->instance == nullptr) {
      failure = "wgpuCreateInstance failed";
      return nullptr;
    }
    WGPURequestAdapterOptions opts{};
    opts.powerPreference = WGPUPowerPreference_HighPerformance;
    WGPURequestAdapterCallbackInfo acb{};
    acb.mode = WGPUCallbackMode_AllowProcessEvents;
    acb.callback = [](WGPURequestAdapterStatus status, WGPUAdapter a, WGPUStringView msg, void* u1, void* u2) {
      if (status == WGPURequestAdapterStatus_Success) *static_cast<WGPUAdapter*>(u1) = a;
      else *static_cast<std::string*>(u2) = "no WebGPU adapter: " + str(msg);
    };
    acb.userdata1 = &d->adapter;
    acb.userdata2 = &failure;
    wgpuInstanceRequestAdapter(d->instance, &opts, acb);
    for (int i = 0; i < 1000 && d->adapter == nullptr && failure.empty(); ++i) wgpuInstanceProcessEvents(d->instance);
    if (d->adapter == nullptr) {
      if (failure.empty()) failure = "no WebGPU adapter (on machines without a GPU install mesa-vulkan-drivers for lavapipe)";
      return nullptr;
    }
    WGPUAdapterInfo ai{};
    if (wgpuAdapterGetInfo(d->adapter, &ai) == WGPUStatus_Success) {
      d->info.adapter = str(ai.device) + " (" + str(ai.description) + ")";
      d->info.backend = backend_name(ai.backendType);
      d->info.subgroup_min = ai.subgroupMinSize;
      d->info.subgroup_max = ai.subgroupMaxSize;
      wgpuAdapterInfoFreeMembers(ai);
    }
    WGPULimits lim{};
    if (wgpuAdapterGetLimits(d->adapter, &lim) != WGPUStatus_Success) {
      failure = "wgpuAdapterGetLimits failed";
      return nullptr;
    }
    std::vector<WGPUFeatureName> features;
    // wgpu-native may expose subgroups only as its native feature.
    for (auto f : {WGPUFeatureName_Subgroups, static_cast<WGPUFeatureName>(WGPUNativeFeature_Subgroup)}) {
      if (wgpuAdapterHasFeature(d->adapter, f)) {
        features.push_back(f);
        d->info.subgroups = true;
      }
    }
    WGPUDeviceDescriptor dd{};
    dd.requiredFeatureCount = features.size();
    dd.requiredFeatures = features.data();
    dd.requiredLimits = &lim;  // ask for everything the adapter offers (defaults are far lower)
    dd.uncapturedErrorCallbackInfo.callback = [](WGPUDevice const*, WGPUErrorType type, WGPUStringView m, void* u1, void*) {
      auto* self = static_cast<Device*>(u1);
      std::lock_guard lk(self->err_mu);
      if (self->uncaptured.empty()) self->uncaptured = "WebGPU error " + std::to_string(static_cast<int>(type)) + ": " + str(m);
    };
    dd.uncapturedErrorCallbackInfo.userdata1 = d;
    dd.deviceLostCallbackInfo.mode = WGPUCallbackMode_AllowProcessEvents;
    dd.deviceLostCallbackInfo.callback = [](WGPUDevice const*, WGPUDeviceLostReason reason, WGPUStringView m, void* u1, void*) {
      auto* self = static_cast<Device*>(u1);
      std::lock_guard lk(self->err_mu);
      self->lost_reason = "reason " + std::to_string(static_cast<int>(reason)) + ": " + str(m);
      self->lost.store(true);
    };
    dd.deviceLostCallbackInfo.userdata1 = d;
    WGPURequestDeviceCallbackInfo dcb{};
    dcb.mode = WGPUCallbackMode_AllowProcessEvents;
    dcb.callback = [](WGPURequestDeviceStatus status, WGPUDevice dv, WGPUStringView msg, void* u1, void* u2) {
      if (status == WGPURequestDeviceStatus_Success) *static_cast<WGPUDevice*>(u1) = dv;
      else *static_cast<std::string*>(u2) = "WebGPU device request failed: " + str(msg);
    };
    dcb.userdata1 = &d->device;
    dcb.userdata2 = &failure;
    wgpuAdapterRequestDevice(d->adapter, &dd, dcb);
    for (int i = 0; i < 1000 && d->device == nullptr && failure.empty(); ++i) wgpuInstanceProcessEvents(d->instance);
    if (d->device == nullptr) {
      if (failure.empty()) failure = "WebGPU device request did not complete";
      return nullptr;
    }
    if (wgpuDeviceGetLimits(d->device, &lim) == WGPUStatus_Success) {
      d->info.max_storage_binding = lim.maxStorageBufferBindingSize;
      d->info.max_buffer_size = lim.maxBufferSize;
      d->info.max_storage_buffers = lim.maxStorageBuffersPerShaderStage;
      d->info.max_workgroup_size_x = lim.maxComputeWorkgroupSizeX;
      d->info.max_invocations = lim.maxComputeInvocationsPerWorkgroup;
      d->info.max_workgroups_per_dim = lim.maxComputeWorkgroupsPerDimension;
    }
    d->queue = wgpuDeviceGetQueue(d->device);
    return d;
  }();
  if (dev == nullptr) return make_error(ErrorCode::BackendUnavailable, failure, "webgpu");
  return dev;
}

std::uint64_t wall_ms() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

std::uint64_t align4(std::uint64_t n) { return (n + 3) / 4 * 4; }

std::atomic<std::uint64_t> g_batches{0}, g_messages{0}, g_busy_ns{0}, g_gpu_ns{0}, g_overlapped{0};

} // namespace

BatchStats batch_stats() noexcept {
  return {g_batches.load(std::memory_order_relaxed), g_messages.load(std::memory_order_relaxed),
          g_busy_ns.load(std::memory_order_relaxed), g_gpu_ns.load(std::memory_order_relaxed),
          g_overlapped.load(std::memory_order_relaxed)};
}

Result<DeviceInfo> probe() {
  auto d = device();
  if (!d) return d.error();
  return (*d)->info;
}

} // namespace ringkernel::webgpu

namespace ringkernel::detail {
namespace {

using webgpu::ActorProgram;
using webgpu::Device;
using webgpu::detail::HostState;
using webgpu::sv;
using webgpu::align4;
using webgpu::wall_ms;

thread_local bool t_in_drain = false;  // set on the pump thread and while a drain runs inside schedule()

struct Group;

struct Failure {
  ActorCell* cell;
  std::string reason;
  std::vector<std::byte> message;
};

// One of a group's two batches in flight: its readback buffer and the host images needed to route it.
struct Frame {
  WGPUBuffer readback = nullptr;
  std::vector<std::uint32_t> staging, desc;
  std::vector<ActorCell*> cells;
  std::vector<std::byte> data;
  std::uint32_t total = 0;
  bool inflight = false;
  std::uint64_t t_start = 0, t_submit = 0;
};

struct Slot {
  Group* group = nullptr;
  std::uint32_t index = 0;
  bool active = false;                       // under batch_mu_
  std::atomic<std::uint64_t> limit{UINT64_MAX};  // inbox position the device must not consume beyond
};

enum Buf { kStaging, kDesc, kState, kClocks, kOut, kMeta, kCounters, kScalars, kBufCount };

struct Group {
  std::shared_ptr<const ActorProgram> program;
  bool subgroup_path = false;
  std::uint32_t slots = 0, sw = 0, max_batch = 0;
  WGPUBuffer buf[kBufCount]{};
  std::uint64_t size[kBufCount]{};
  Frame frames[2];
  int next = 0;
  std::uint64_t readback_size = 0, off_meta = 0, off_clk = 0, off_cnt = 0;
  std::uint32_t scalar_offset[2] = {0, 2};  // words of phys_ms and n_actors in the scalar block
  WGPUBindGroupLayout bgl = nullptr;
  WGPUPipelineLayout pl = nullptr;
  WGPUComputePipeline pipe = nullptr;
  WGPUBindGroup bind = nullptr;
  std::vector<ActorCell*> occupant;

  ~Group() {
    if (bind) wgpuBindGroupRelease(bind);
    if (pipe) wgpuComputePipelineRelease(pipe);
    if (pl) wgpuPipelineLayoutRelease(pl);
    if (bgl) wgpuBindGroupLayoutRelease(bgl);
    for (auto* b : buf) if (b) wgpuBufferRelease(b);
    for (auto& f : frames) if (f.readback) wgpuBufferRelease(f.readback);
  }
};

class WebGpuExecutor final : public Executor {
public:
  WebGpuExecutor(RuntimeState& rt, Device* dev) : rt_(rt), dev_(dev) {}
  ~WebGpuExecutor() override { stop(std::chrono::steady_clock::now() + std::chrono::seconds(2)); }

  void start() { pump_ = std::thread([this] { pump(); }); }

  [[nodiscard]] unsigned workers() const noexcept override { return 1; }
  [[nodiscard]] bool hosts_handlers() const noexcept override { return false; }
  void attach(ActorCell& /*cell*/) override {}

  void schedule(ActorCell& cell) override {
    // Due lifecycle commands are applied in the calling thread (launch() returns with the actor loaded and
    // active); commands waiting for a barrier are applied by the pump once the batch reached it.
    if (cell.pending_commands.load() != 0 && !t_in_drain && !stopping_.load()) {
      t_in_drain = true;
      (void)rt_.drain(cell, 0);
      t_in_drain = false;
    }
    wake_.store(true, std::memory_order_release);
    if (sleeping_.load(std::memory_order_acquire)) cv_.notify_one();
  }

  Status prepare(ActorCell& cell) override {
    auto program = webgpu::detail::find_program(cell.type.type_key);
    if (!program || cell.state == nullptr) {
      return make_error(ErrorCode::BackendUnavailable,
                        "actor type '" + cell.type.type_name +
                            "' has no WebGPU program: define it with ringkernel::webgpu::compile() and launch it with "
                            "ringkernel::webgpu::launch()",
                        "webgpu");
    }
    std::lock_guard lk(batch_mu_);
    auto g = group_for(program);
    if (!g) return g.error();
    Group& group = **g;
    auto it = std::find(group.occupant.begin(), group.occupant.end(), nullptr);
    if (it == group.occupant.end()) {
      return make_error(ErrorCode::QueueFull,
                        "all " + std::to_string(group.slots) + " GPU slots of '" + program->spec().name +
                            "' are in use (ActorSpec::max_actors)",
                        "webgpu");
    }
    auto* s = new Slot();
    s->group = &group;
    s->index = static_cast<std::uint32_t>(it - group.occupant.begin());
    *it = &cell;
    cell.device = s;
    live_.push_back(&cell);
    return {};
  }

  Status device_command(ActorCell& cell, int command, const void* host_state) override {
    auto* s = static_cast<Slot*>(cell.device);
    if (s == nullptr) return make_error(ErrorCode::Internal, "cell has no GPU slot", cell.name);
    std::lock_guard lk(batch_mu_);  // never in the middle of a batch
    complete_inflight();            // and what the actor sent before this step is delivered first
    if (command == kDeviceLoad) {
      const auto* hs = static_cast<const HostState*>(host_state);
      if (hs == nullptr) return make_error(ErrorCode::Internal, "no state to load", cell.name);
      Group& g = *s->group;
      const std::uint32_t words = g.program->spec().state_words;
      wgpuQueueWriteBuffer(dev_->queue, g.buf[kState], std::uint64_t{s->index} * words * 4, hs->words.data(),
                           std::size_t{words} * 4);
      // The device owns the clock between batches; a (re)load starts it from the actor's host-side clock.
      const std::uint64_t clk = load_relaxed(&cell.cb.hlc);
      wgpuQueueWriteBuffer(dev_->queue, g.buf[kClocks], std::uint64_t{s->index} * 8, &clk, sizeof clk);
      if (auto e = dev_->take_error(); !e.empty()) return make_error(ErrorCode::BackendUnavailable, e, cell.name);
    } else if (command == kDeviceActivate) {
      s->active = true;
    } else if (command == kDeviceDeactivate || command == kDeviceUnload) {
      s->active = false;
    }
    wake_.store(true);
    return {};
  }

  void set_limit(ActorCell& cell, std::uint64_t limit) override {
    if (auto* s = static_cast<Slot*>(cell.device)) s->limit.store(limit, std::memory_order_release);
  }

  void release(ActorCell& cell) override {
    auto* s = static_cast<Slot*>(cell.device);
    if (s == nullptr) return;
    std::lock_guard lk(batch_mu_);
    complete_inflight();
    s->group->occupant[s->index] = nullptr;
    std::erase(live_, &cell);
    cell.device = nullptr;
    delete s;
  }

  Status sync_state_to_host(ActorCell& cell) override {
    auto* s = static_cast<Slot*>(cell.device);
    auto* hs = static_cast<HostState*>(cell.state);
    if (s == nullptr || hs == nullptr) return {};
    std::lock_guard lk(batch_mu_);
    complete_inflight();
    Group& g = *s->group;
    const std::uint64_t bytes = std::uint64_t{g.program->spec().state_words} * 4;
    std::vector<std::byte> tmp;
    auto st = read_back(g.buf[kState], std::uint64_t{s->index} * bytes, bytes, tmp);
    if (!st) return st;
    std::memcpy(hs->words.data(), tmp.data(), bytes);
    return {};
  }

  bool stop(std::chrono::steady_clock::time_point /*deadline*/) override {
    if (stopping_.exchange(true)) return true;
    running_.store(false);
    cv_.notify_all();
    if (pump_.joinable()) pump_.join();
    std::lock_guard lk(batch_mu_);
    complete_inflight();
    groups_.clear();
    return true;
  }

private:
  Result<Group*> group_for(const std::shared_ptr<const ActorProgram>& program) {
    for (auto& g : groups_) {
      if (g->program == program) return g.get();
    }
    const auto& spec = program->spec();
    const auto& info = dev_->info;
    const std::string ctx = "webgpu group '" + spec.name + "'";
    auto g = std::make_unique<Group>();
    g->program = program;
    if (spec.counter_path == webgpu::CounterPath::Subgroups && !info.subgroups) {
      return make_error(ErrorCode::BackendUnavailable,
                        "counter_path Subgroups needs the 'subgroups' feature, which adapter " + info.adapter + " lacks",
                        ctx);
    }
    g->subgroup_path = program->has_subgroup_variant() && info.subgroups;
    const ir::GeneratedCode& code = g->subgroup_path ? program->subgroup_wgsl() : program->portable_wgsl();
    g->slots = spec.max_actors;
    g->sw = program->slot_words();
    g->max_batch = spec.max_batch;
    const std::uint32_t workgroups = (g->slots + webgpu::detail::kWorkgroup - 1) / webgpu::detail::kWorkgroup;
    if (webgpu::detail::kWorkgroup > info.max_workgroup_size_x || webgpu::detail::kWorkgroup > info.max_invocations) {
      return make_error(ErrorCode::InvalidArgument, "the adapter does not allow 64-thread workgroups", ctx);
    }
    if (workgroups > info.max_workgroups_per_dim) {
      return make_error(ErrorCode::InvalidArgument,
                        "max_actors " + std::to_string(g->slots) + " needs " + std::to_string(workgroups) +
                            " workgroups; the adapter allows " + std::to_string(info.max_workgroups_per_dim),
                        ctx);
    }
    if (info.max_storage_buffers < kBufCount) {
      return make_error(ErrorCode::InvalidArgument,
                        "the batch kernel binds 8 storage buffers; the adapter allows " +
                            std::to_string(info.max_storage_buffers) + " per shader stage",
                        ctx);
    }
    g->size[kStaging] = std::uint64_t{g->max_batch} * g->sw * 4;
    g->size[kDesc] = std::uint64_t{g->slots} * webgpu::detail::kDescWords * 4;
    g->size[kState] = std::uint64_t{g->slots} * spec.state_words * 4;
    g->size[kClocks] = std::uint64_t{g->slots} * 8;
    g->size[kOut] = std::uint64_t{g->max_batch} * spec.max_outputs * g->sw * 4;
    g->size[kMeta] = std::uint64_t{g->max_batch} * 4;
    g->size[kCounters] = std::uint64_t{std::max(1u, spec.counters)} * 8;
    g->size[kScalars] = std::uint64_t{std::max(4u, code.scalar_block_words)} * 4;
    static constexpr const char* kNames[] = {"staging", "desc", "state", "clocks", "out", "meta", "counters", "scalars"};
    for (int i = 0; i < kBufCount; ++i) {
      g->size[i] = std::max<std::uint64_t>(16, (g->size[i] + 15) / 16 * 16);
      if (g->size[i] > info.max_storage_binding || g->size[i] > info.max_buffer_size) {
        return make_error(ErrorCode::InvalidArgument,
                          std::string("the ") + kNames[i] + " buffer needs " + std::to_string(g->size[i]) +
                              " bytes; the adapter's maxStorageBufferBindingSize is " +
                              std::to_string(info.max_storage_binding) + " (lower max_batch, max_outputs or max_actors)",
                          ctx);
      }
    }
    g->off_meta = g->size[kOut];
    g->off_clk = g->off_meta + g->size[kMeta];
    g->off_cnt = g->off_clk + g->size[kClocks];
    g->readback_size = g->off_cnt + g->size[kCounters];
    std::vector<WGPUBindGroupLayoutEntry> le;
    std::vector<WGPUBindGroupEntry> ge;
    std::string err = dev_->scoped([&] {
      for (int i = 0; i < kBufCount; ++i) {
        WGPUBufferDescriptor bd{};
        bd.size = g->size[i];
        bd.usage = WGPUBufferUsage_Storage | WGPUBufferUsage_CopyDst | WGPUBufferUsage_CopySrc;
        g->buf[i] = wgpuDeviceCreateBuffer(dev_->device, &bd);
      }
      WGPUBufferDescriptor rd{};
      rd.size = g->readback_size;
      rd.usage = WGPUBufferUsage_MapRead | WGPUBufferUsage_CopyDst;
      for (auto& f : g->frames) f.readback = wgpuDeviceCreateBuffer(dev_->device, &rd);
    });
    if (!err.empty()) return make_error(ErrorCode::BackendUnavailable, "creating buffers: " + err, ctx);
    // Zero state, clocks and counters (writeBuffer of zeros: mapped-at-creation is not needed for this size).
    for (Buf b : {kState, kClocks, kCounters}) {
      std::vector<std::byte> zero(g->size[b]);
      wgpuQueueWriteBuffer(dev_->queue, g->buf[b], 0, zero.data(), zero.size());
    }
    for (const auto& pb : code.bindings) {
      if (pb.scalar) continue;
      WGPUBindGroupLayoutEntry e{};
      e.binding = pb.slot;
      e.visibility = WGPUShaderStage_Compute;
      e.buffer.type = WGPUBufferBindingType_Storage;
      le.push_back(e);
      WGPUBindGroupEntry b{};
      b.binding = pb.slot;
      b.buffer = g->buf[pb.param];  // parameters 0..6 are the buffers in Buf order
      b.size = g->size[pb.param];
      ge.push_back(b);
    }
    if (code.scalar_block_slot >= 0) {
      WGPUBindGroupLayoutEntry e{};
      e.binding = static_cast<std::uint32_t>(code.scalar_block_slot);
      e.visibility = WGPUShaderStage_Compute;
      e.buffer.type = WGPUBufferBindingType_ReadOnlyStorage;
      le.push_back(e);
      WGPUBindGroupEntry b{};
      b.binding = e.binding;
      b.buffer = g->buf[kScalars];
      b.size = g->size[kScalars];
      ge.push_back(b);
    }
    for (const auto& pb : code.bindings) {
      if (pb.scalar) g->scalar_offset[pb.param == 7 ? 0 : 1] = pb.word_offset;  // params 7, 8: phys_ms, n_actors
    }
    WGPUShaderModule module = nullptr;
    err = dev_->scoped([&] {
      WGPUShaderSourceWGSL src{};
      src.chain.sType = WGPUSType_ShaderSourceWGSL;
      src.code = sv(code.source);
      WGPUShaderModuleDescriptor md{};
      md.nextInChain = &src.chain;
      module = wgpuDeviceCreateShaderModule(dev_->device, &md);
      WGPUBindGroupLayoutDescriptor ld{};
      ld.entryCount = le.size();
      ld.entries = le.data();
      g->bgl = wgpuDeviceCreateBindGroupLayout(dev_->device, &ld);
      WGPUPipelineLayoutDescriptor pld{};
      pld.bindGroupLayoutCount = 1;
      pld.bindGroupLayouts = &g->bgl;
      g->pl = wgpuDeviceCreatePipelineLayout(dev_->device, &pld);
      WGPUComputePipelineDescriptor pd{};
      pd.layout = g->pl;
      pd.compute.module = module;
      pd.compute.entryPoint = sv(code.entry);
      g->pipe = wgpuDeviceCreateComputePipeline(dev_->device, &pd);
      WGPUBindGroupDescriptor gd{};
      gd.layout = g->bgl;
      gd.entryCount = ge.size();
      gd.entries = ge.data();
      g->bind = wgpuDeviceCreateBindGroup(dev_->device, &gd);
    });
    if (module != nullptr) wgpuShaderModuleRelease(module);
    if (!err.empty()) return make_error(ErrorCode::BackendUnavailable, "pipeline: " + err, ctx);
    g->occupant.assign(g->slots, nullptr);
    groups_.push_back(std::move(g));
    return groups_.back().get();
  }

  // Copies [offset, offset+bytes) of `src` to the host (caller holds batch_mu_).
  Status read_back(WGPUBuffer src, std::uint64_t offset, std::uint64_t bytes, std::vector<std::byte>& out) {
    const std::uint64_t size = std::max<std::uint64_t>(4, align4(bytes));
    WGPUBufferDescriptor bd{};
    bd.size = size;
    bd.usage = WGPUBufferUsage_MapRead | WGPUBufferUsage_CopyDst;
    WGPUBuffer tmp = wgpuDeviceCreateBuffer(dev_->device, &bd);
    WGPUCommandEncoder enc = wgpuDeviceCreateCommandEncoder(dev_->device, nullptr);
    wgpuCommandEncoderCopyBufferToBuffer(enc, src, offset, tmp, 0, size);
    WGPUCommandBuffer cmd = wgpuCommandEncoderFinish(enc, nullptr);
    wgpuQueueSubmit(dev_->queue, 1, &cmd);
    wgpuCommandBufferRelease(cmd);
    wgpuCommandEncoderRelease(enc);
    auto st = map_read(tmp, size);
    if (st) {
      const auto* p = static_cast<const std::byte*>(wgpuBufferGetConstMappedRange(tmp, 0, size));
      out.assign(p, p + bytes);
      wgpuBufferUnmap(tmp);
    }
    wgpuBufferRelease(tmp);
    return st;
  }

  Status map_read(WGPUBuffer b, std::uint64_t size) {
    int state = 0;  // 0 pending, 1 mapped, 2 failed
    WGPUBufferMapCallbackInfo mcb{};
    mcb.mode = WGPUCallbackMode_AllowProcessEvents;
    mcb.callback = [](WGPUMapAsyncStatus status, WGPUStringView, void* u1, void*) {
      *static_cast<int*>(u1) = status == WGPUMapAsyncStatus_Success ? 1 : 2;
    };
    mcb.userdata1 = &state;
    wgpuBufferMapAsync(b, WGPUMapMode_Read, 0, size, mcb);
    for (int i = 0; i < 10000 && state == 0 && !dev_->lost.load(); ++i) dev_->wait();
    if (state != 1) {
      std::string e = dev_->take_error();
      return make_error(ErrorCode::BackendUnavailable, e.empty() ? "mapping a result buffer failed" : e, "webgpu");
    }
    return {};
  }

  // Packs the pending messages of the group's active actors into frame `f` and submits its dispatch (plus
  // the copies of outputs, meta, clocks and counters into the frame's readback buffer); false when there was
  // nothing to run. Caller holds batch_mu_. Buffers shared by both frames (staging, desc, out, scalars) are
  // safe to rewrite while the other frame is in flight: WebGPU orders writeBuffer after earlier submissions.
  bool pack_and_submit(Group& g, Frame& f) {
    const auto& spec = g.program->spec();
    const std::uint32_t sw = g.sw;
    f.t_start = steady_ns();
    f.staging.resize(std::size_t{g.max_batch} * sw);
    f.desc.clear();
    f.cells.clear();
    std::uint32_t total = 0;
    for (std::uint32_t i = 0; i < g.slots && total < g.max_batch; ++i) {
      ActorCell* c = g.occupant[i];
      if (c == nullptr) continue;
      auto* s = static_cast<Slot*>(c->device);
      // A failed actor left failed by its supervisor (restart limit) must not run any more messages.
      if (!s->active || control_state(c->cb) != ActorState::Active) continue;
      std::unique_lock ck(c->consumer_mu, std::try_to_lock);  // a DropOldest evictor holds it briefly
      if (!ck.owns_lock()) continue;
      const std::uint64_t tail = load_acquire(&c->inbox.view().control->tail);
      const std::uint64_t limit = s->limit.load(std::memory_order_acquire);
      std::uint64_t room = std::min<std::uint64_t>(spec.batch_per_actor, g.max_batch - total);
      room = std::min<std::uint64_t>(room, limit > tail ? limit - tail : 0);
      if (room == 0) continue;
      const std::uint32_t first = total;
      MpscConsumer(c->inbox.view()).pop_batch(static_cast<std::uint32_t>(room), [&](const MessageHeader& h, const std::byte* p) {
        if (h.payload_len > spec.max_payload_words * 4u) {
          rt_.dead_letter(h, p, DeadLetterReason::UnknownMessageType,
                          "actor '" + c->name + "' (" + spec.name + ") handles payloads of at most " +
                              std::to_string(spec.max_payload_words * 4) + " bytes, got " + std::to_string(h.payload_len));
          return;
        }
        std::uint32_t* dst = f.staging.data() + std::size_t{total} * sw;
        std::fill(dst + 16, dst + sw, 0u);  // handlers may read fields past a short payload: they read zero
        std::memcpy(dst, &h, sizeof h);
        std::memcpy(dst + 16, p, h.payload_len);
        ++total;
      });
      if (total == first) continue;
      f.desc.insert(f.desc.end(), {i, first, total - first, c->id});
      f.cells.push_back(c);
    }
    if (total == 0) return false;
    f.total = total;
    const auto n_actors = static_cast<std::uint32_t>(f.cells.size());
    std::uint32_t scalars[4] = {0, 0, 0, 0};
    const std::uint64_t now = wall_ms();
    scalars[g.scalar_offset[0]] = static_cast<std::uint32_t>(now);
    scalars[g.scalar_offset[0] + 1] = static_cast<std::uint32_t>(now >> 32);
    scalars[g.scalar_offset[1]] = n_actors;
    wgpuQueueWriteBuffer(dev_->queue, g.buf[kStaging], 0, f.staging.data(), std::size_t{total} * sw * 4);
    wgpuQueueWriteBuffer(dev_->queue, g.buf[kDesc], 0, f.desc.data(), f.desc.size() * 4);
    wgpuQueueWriteBuffer(dev_->queue, g.buf[kScalars], 0, scalars, sizeof scalars);
    const std::uint64_t out_bytes = std::uint64_t{total} * spec.max_outputs * sw * 4;
    const std::uint64_t meta_bytes = std::uint64_t{total} * 4;
    WGPUCommandEncoder enc = wgpuDeviceCreateCommandEncoder(dev_->device, nullptr);
    WGPUComputePassEncoder pass = wgpuCommandEncoderBeginComputePass(enc, nullptr);
    wgpuComputePassEncoderSetPipeline(pass, g.pipe);
    wgpuComputePassEncoderSetBindGroup(pass, 0, g.bind, 0, nullptr);
    wgpuComputePassEncoderDispatchWorkgroups(pass, (n_actors + webgpu::detail::kWorkgroup - 1) / webgpu::detail::kWorkgroup, 1, 1);
    wgpuComputePassEncoderEnd(pass);
    wgpuComputePassEncoderRelease(pass);
    wgpuCommandEncoderCopyBufferToBuffer(enc, g.buf[kOut], 0, f.readback, 0, out_bytes);
    wgpuCommandEncoderCopyBufferToBuffer(enc, g.buf[kMeta], 0, f.readback, g.off_meta, meta_bytes);
    wgpuCommandEncoderCopyBufferToBuffer(enc, g.buf[kClocks], 0, f.readback, g.off_clk, g.size[kClocks]);
    wgpuCommandEncoderCopyBufferToBuffer(enc, g.buf[kCounters], 0, f.readback, g.off_cnt, g.size[kCounters]);
    WGPUCommandBuffer cmd = wgpuCommandEncoderFinish(enc, nullptr);
    wgpuQueueSubmit(dev_->queue, 1, &cmd);
    wgpuCommandBufferRelease(cmd);
    wgpuCommandEncoderRelease(enc);
    f.t_submit = steady_ns();
    f.inflight = true;
    return true;
  }

  // Waits for frame `f`'s readback (mapAsync), then routes its outputs; returns the messages it ran.
  // Caller holds batch_mu_; failures are handed to the pump (supervision must not run under the lock).
  std::uint32_t complete(Group& g, Frame& f) {
    if (!f.inflight) return 0;
    f.inflight = false;
    const auto& spec = g.program->spec();
    const std::uint32_t sw = g.sw;
    const std::uint32_t total = f.total;
    Status st = map_read(f.readback, g.readback_size);
    webgpu::g_gpu_ns.fetch_add(steady_ns() - f.t_submit, std::memory_order_relaxed);
    if (st) {
      if (auto e = dev_->take_error(); !e.empty()) {
        wgpuBufferUnmap(f.readback);
        st = make_error(ErrorCode::BackendUnavailable, e, "webgpu batch");
      }
    }
    if (!st) {
      // The batch's messages are lost with the device: each actor in it fails (supervision decides).
      for (ActorCell* c : f.cells) failures_.push_back({c, st.error().describe(), {}});
      return total;
    }
    const auto* base = static_cast<const std::byte*>(wgpuBufferGetConstMappedRange(f.readback, 0, g.readback_size));
    f.data.assign(base, base + g.readback_size);
    wgpuBufferUnmap(f.readback);
    const auto* out = reinterpret_cast<const std::uint32_t*>(f.data.data());
    const auto* meta = reinterpret_cast<const std::uint32_t*>(f.data.data() + g.off_meta);
    const auto* clocks = reinterpret_cast<const std::uint64_t*>(f.data.data() + g.off_clk);
    std::vector<std::uint64_t> counters(std::max(1u, spec.counters));
    std::memcpy(counters.data(), f.data.data() + g.off_cnt, counters.size() * 8);
    g.program->publish_counters(counters.data(), spec.counters, g.subgroup_path ? "subgroups" : "atomics");
    for (std::size_t e = 0; e < f.desc.size(); e += 4) {
      ActorCell& c = *f.cells[e / 4];
      const std::uint32_t slot = f.desc[e], first = f.desc[e + 1], count = f.desc[e + 2];
      // The actor's clock first, so host-side stamps of the messages routed below follow the device's.
      std::uint64_t cur = load_relaxed(&c.cb.hlc);
      while (cur < clocks[slot] && !cas(&c.cb.hlc, cur, clocks[slot])) {
      }
      // Counted before the outputs are delivered: whoever sees a reply also sees its message as processed.
      fetch_add_relaxed(&c.cb.processed, std::uint64_t{count});
      store_relaxed(&c.cb.heartbeat_ns, steady_ns());
      for (std::uint32_t m = first; m < first + count; ++m) {
        const std::uint32_t* in = f.staging.data() + std::size_t{m} * sw;
        MessageHeader ih;
        std::memcpy(&ih, in, sizeof ih);
        if ((meta[m] & webgpu::detail::kUnhandled) != 0) {
          rt_.dead_letter(ih, reinterpret_cast<const std::byte*>(in + 16), DeadLetterReason::UnknownMessageType,
                          "actor '" + c.name + "' (" + spec.name + ") has no handler for type " + std::to_string(ih.type_id));
          continue;
        }
        const std::uint32_t n = meta[m];
        for (std::uint32_t o = 0; o < std::min(n, spec.max_outputs); ++o) route(c, out + (std::size_t{m} * spec.max_outputs + o) * sw);
        if (n > spec.max_outputs) {
          Failure fl{&c, "handler emitted " + std::to_string(n) + " outputs, max_outputs is " + std::to_string(spec.max_outputs), {}};
          const auto* b = reinterpret_cast<const std::byte*>(in);
          fl.message.assign(b, b + 64 + ih.payload_len);
          failures_.push_back(std::move(fl));
        }
      }
    }
    webgpu::g_batches.fetch_add(1, std::memory_order_relaxed);
    webgpu::g_messages.fetch_add(total, std::memory_order_relaxed);
    webgpu::g_busy_ns.fetch_add(steady_ns() - f.t_start, std::memory_order_relaxed);
    return total;
  }

  // Routes the outputs of every batch still in flight (caller holds batch_mu_): lifecycle steps and releases
  // call it so that what an actor sent before a state change is delivered before the change is visible.
  void complete_inflight() {
    const bool was = t_in_drain;
    t_in_drain = true;  // routing may schedule other actors: never drain them inline under batch_mu_
    for (auto& g : groups_) {
      for (Frame& f : g->frames) {
        if (f.inflight) (void)complete(*g, f);
      }
    }
    t_in_drain = was;
  }

  // One pipelined step of a group: submit the next batch (if any) before waiting for the one in flight, so
  // the host packs batch N+1 and the GPU runs it while batch N's outputs are mapped and routed.
  std::uint32_t step(Group& g) {
    Frame& next = g.frames[g.next];
    Frame& prev = g.frames[1 - g.next];
    const bool submitted = pack_and_submit(g, next);
    if (submitted && prev.inflight) webgpu::g_overlapped.fetch_add(1, std::memory_order_relaxed);
    const std::uint32_t done = complete(g, prev);
    if (submitted) g.next = 1 - g.next;
    return done + (submitted ? 1u : 0u);
  }

  void route(ActorCell& from, const std::uint32_t* words) {
    MessageHeader h;
    std::memcpy(&h, words, sizeof h);
    const auto* payload = reinterpret_cast<const std::byte*>(words + 16);
    if (h.destination == kHostActor) {
      (void)rt_.deliver_to_host(from, h, payload);
      return;
    }
    const bool reply = (h.flags & msg_flags::kReply) != 0;
    TraceContext tc;
    std::memcpy(tc.trace_id, h.trace_id, sizeof tc.trace_id);
    std::memcpy(tc.span_id, h.span_id, sizeof tc.span_id);
    SendOptions o;
    o.priority = h.priority;
    o.trace = &tc;
    o.sampled = (h.flags & msg_flags::kTraceSampled) != 0;
    // The runtime's own send: tenant checks, back-pressure and dead letters apply to device K2K as well; the
    // message runs in the destination's next batch.
    (void)rt_.send(&from, h.destination, h.type_id, payload, h.payload_len, o, reply ? h.correlation_id : 0,
                   reply ? msg_flags::kReply : 0);
  }

  void pump() {
    t_in_drain = true;  // drains issued from the pump's own loop only
    std::vector<Failure> failures;
    while (running_.load()) {
      std::uint32_t ran = 0;
      {
        std::lock_guard lk(batch_mu_);
        for (auto& g : groups_) ran += step(*g);
        cells_copy_ = live_;
        failures.swap(failures_);
      }
      for (auto& f : failures) rt_.device_failed(*f.cell, f.message.empty() ? nullptr : f.message.data(), f.reason);
      failures.clear();
      // Commands waiting for a barrier the batch just reached (deactivate/terminate after earlier messages).
      for (ActorCell* c : cells_copy_) {
        if (c->pending_commands.load() != 0) rt_.drain(*c, 0);
      }
      if (ran != 0 || wake_.exchange(false)) continue;
      std::unique_lock lk(mu_);
      sleeping_.store(true, std::memory_order_release);
      cv_.wait_for(lk, std::chrono::milliseconds(1), [&] { return !running_.load() || wake_.load(); });
      sleeping_.store(false, std::memory_order_release);
    }
  }

  static bool cas(std::uint64_t* p, std::uint64_t& expected, std::uint64_t desired) {
    return std::atomic_ref<std::uint64_t>(*p).compare_exchange_weak(expected, desired);
  }

  RuntimeState& rt_;
  Device* dev_;
  std::mutex batch_mu_;  // one batch at a time; lifecycle steps and releases wait for the batch in flight
  std::vector<std::unique_ptr<Group>> groups_;
  std::vector<ActorCell*> live_, cells_copy_;
  std::vector<Failure> failures_;  // found under batch_mu_, handed to supervision by the pump without it
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<bool> wake_{false}, sleeping_{false}, running_{true}, stopping_{false};
  std::thread pump_;
};

bool webgpu_probe() { return static_cast<bool>(webgpu::probe()); }
[[maybe_unused]] const bool webgpu_probe_registered = (g_webgpu_probe = &webgpu_probe, true);

} // namespace

Result<std::unique_ptr<Executor>> make_webgpu_executor(RuntimeState& rt) {
  auto d = webgpu::device();
  if (!d) return d.error();
  auto ex = std::make_unique<WebGpuExecutor>(rt, *d);
  ex->start();
  return std::unique_ptr<Executor>(std::move(ex));
}

} // namespace ringkernel::detail
