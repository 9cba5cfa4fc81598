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
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/runtime_state.hpp"
#include "webgpu/program.hpp"
#include "webgpu/wgpu_util.hpp"

namespace ringkernel::webgpu {
namespace {
using detail::str;
using detail::sv;

// Armed by testing::inject(); taken (once) by the executor step it applies to.
std::atomic<testing::Fault> g_fault{testing::Fault::None};
bool take_fault(testing::Fault f) {
  testing::Fault want = f;
  return g_fault.load(std::memory_order_relaxed) == f && g_fault.compare_exchange_strong(want, testing::Fault::None);
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
  // Records a loss (first reason wins); every later operation fails with lost_error().
  void mark_lost(const std::string& reason) {
    std::lock_guard lk(err_mu);
    if (lost.load()) return;
    lost_reason = reason;
    lost.store(true);
  }
  // wgpu-native reports operations on a lost device as validation errors ("Parent device is lost") without
  // always calling the device-lost callback: such an error marks the device lost too.
  void note_error(const std::string& e) {
    if (e.find("device is lost") != std::string::npos || e.find("Device is lost") != std::string::npos) mark_lost(e);
  }
  std::string take_error() {
    std::string e;
    {
      std::lock_guard lk(err_mu);
      e.swap(uncaptured);
    }
    note_error(e);
    std::lock_guard lk(err_mu);
    if (lost.load()) e = "device lost: " + lost_reason + (e.empty() ? "" : "; " + e);
    return e;
  }
  // Runs `fn` in a validation error scope; the captured message, "" when none.
  template <class Fn>
  std::string scoped(Fn&& fn) {
    std::string e = detail::validation_scope(device, [this] { wait(); }, std::forward<Fn>(fn));
    note_error(e);
    return e;
  }
  // The error to report once the device is lost (every operation after the loss fails with it).
  Error lost_error(const std::string& context) {
    std::lock_guard lk(err_mu);
    return make_error(ErrorCode::BackendUnavailable, "WebGPU device lost (" + lost_reason + ")", context);
  }
};

Result<Device*> device() {
  static std::string failure;
  static Device* dev = []() -> Device* {
    auto* d = new Device();  // process lifetime: drivers may not be torn down safely at exit
    // RINGKERNEL_WEBGPU_BACKEND (vulkan, gl, metal, dx12; default all) limits the native APIs wgpu-native
    // may use, e.g. to keep a machine's OpenGL software renderer out, or to check the no-adapter path.
    WGPUInstanceExtras extras{};
    extras.chain.sType = static_cast<WGPUSType>(WGPUSType_InstanceExtras);
    std::string only;
    if (const char* e = std::getenv("RINGKERNEL_WEBGPU_BACKEND"); e != nullptr && *e != '\0') only = e;
    if (only == "vulkan") extras.backends = WGPUInstanceBackend_Vulkan;
    else if (only == "gl") extras.backends = WGPUInstanceBackend_GL;
    else if (only == "metal") extras.backends = WGPUInstanceBackend_Metal;
    else if (only == "dx12") extras.backends = WGPUInstanceBackend_DX12;
    else if (!only.empty() && only != "all") {
      failure = "RINGKERNEL_WEBGPU_BACKEND='" + only + "' is not one of vulkan, gl, metal, dx12, all";
      return nullptr;
    }
    WGPUInstanceDescriptor idesc{};
    idesc.nextInChain = &extras.chain;
    d->instance = wgpuCreateInstance(&idesc);
    if (d->instance == nullptr) {
      failure = "wgpuCreateInstance failed";
      return nullptr;
    }
    // Every adapter is ranked explicitly, so a hardware GPU is chosen whenever one exists: discrete before
    // integrated before unknown kinds before CPU renderers (lavapipe, llvmpipe); Vulkan first among equals.
    const std::size_t n = wgpuInstanceEnumerateAdapters(d->instance, nullptr, nullptr);
    std::vector<WGPUAdapter> adapters(n);
    if (n != 0) wgpuInstanceEnumerateAdapters(d->instance, nullptr, adapters.data());
    auto rank = [](const WGPUAdapterInfo& ai) {
      const int kind = ai.adapterType == WGPUAdapterType_DiscreteGPU     ? 0
                       : ai.adapterType == WGPUAdapterType_IntegratedGPU ? 1
                       : ai.adapterType == WGPUAdapterType_CPU           ? 3
                                                                         : 2;
      return kind * 2 + (ai.backendType == WGPUBackendType_Vulkan ? 0 : 1);
    };
    int best = 1 << 30;
    for (WGPUAdapter a : adapters) {
      WGPUAdapterInfo ai{};
      const bool ok = wgpuAdapterGetInfo(a, &ai) == WGPUStatus_Success;
      const int r = ok ? rank(ai) : (1 << 29);
      if (r < best) {
        if (d->adapter != nullptr) wgpuAdapterRelease(d->adapter);
        d->adapter = a;
        best = r;
        if (ok) {
          d->info.adapter = str(ai.device) + " (" + str(ai.description) + ")";
          d->info.backend = backend_name(ai.backendType);
          d->info.hardware = ai.adapterType == WGPUAdapterType_DiscreteGPU || ai.adapterType == WGPUAdapterType_IntegratedGPU;
          d->info.subgroup_min = ai.subgroupMinSize;
          d->info.subgroup_max = ai.subgroupMaxSize;
        }
      } else {
        wgpuAdapterRelease(a);
      }
      if (ok) wgpuAdapterInfoFreeMembers(ai);
    }
    if (d->adapter == nullptr) {
      failure = "no WebGPU adapter" + (only.empty() ? std::string() : " for RINGKERNEL_WEBGPU_BACKEND=" + only) +
                " (on machines without a GPU install mesa-vulkan-drivers for lavapipe)";
      return nullptr;
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
      self->mark_lost("reason " + std::to_string(static_cast<int>(reason)) + ": " + str(m));
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
  // A lost device is never used again (wgpu-native cannot revive it); new runtimes and probes say so.
  if (dev->lost.load()) return dev->lost_error("webgpu");
  return dev;
}

std::uint64_t wall_ms() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

std::uint64_t align4(std::uint64_t n) { return (n + 3) / 4 * 4; }

std::atomic<std::uint64_t> g_batches{0}, g_messages{0}, g_busy_ns{0}, g_gpu_ns{0}, g_overlapped{0}, g_submits{0};

} // namespace

BatchStats batch_stats() noexcept {
  return {g_batches.load(std::memory_order_relaxed), g_messages.load(std::memory_order_relaxed),
          g_busy_ns.load(std::memory_order_relaxed), g_gpu_ns.load(std::memory_order_relaxed),
          g_overlapped.load(std::memory_order_relaxed), g_submits.load(std::memory_order_relaxed)};
}

Result<DeviceInfo> probe() {
  auto d = device();
  if (!d) return d.error();
  return (*d)->info;
}

namespace testing {
void inject(Fault f) noexcept { g_fault.store(f); }

Status destroy_device() {
  auto d = device();
  if (!d) return d.error();
  Device& dev = **d;
  wgpuDeviceDestroy(dev.device);
  // Give the device-lost callback a chance (a driver-side loss arrives through it). wgpu-native (checked with
  // v0.32) does not invoke it for an explicit wgpuDeviceDestroy, so the loss is then recorded here: the
  // device is gone either way, and everything after must see it.
  for (int i = 0; i < 20 && !dev.lost.load(); ++i) dev.wait();
  dev.mark_lost("destroyed with wgpuDeviceDestroy (webgpu::testing::destroy_device)");
  return {};
}
}  // namespace testing

} // namespace ringkernel::webgpu

namespace ringkernel::detail {
namespace {

using webgpu::ActorProgram;
using webgpu::Device;
using webgpu::detail::HostState;
using webgpu::sv;
using webgpu::align4;
using webgpu::wall_ms;
using webgpu::take_fault;

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
  std::string failed;  // set when the batch could not be submitted (device lost, injected fault): it fails
  std::uint64_t t_start = 0, t_submit = 0;
};

struct Slot {
  Group* group = nullptr;
  std::uint32_t index = 0;
  bool active = false;                       // under batch_mu_
  // The actor failed in a batch and its slot has not been reloaded yet: no new batch takes its messages, and
  // those of a batch already in flight are not delivered but kept (under batch_mu_).
  bool failed = false;
  // Messages taken from the inbox but not run because the actor failed before them, as staging images in
  // inbox order; the next batch runs them first (under batch_mu_).
  std::vector<std::uint32_t> carry;
  std::uint64_t held = 0;  // recount_held()'s tally (under batch_mu_)
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
    if (dev_->lost.load()) return dev_->lost_error("webgpu launch '" + cell.name + "'");
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
    if ((command & kDeviceReload) != 0) {  // a restart: the running instance stops, then the load below
      if (auto st = device_command(cell, kDeviceUnload, nullptr); !st) return st;
      command &= ~kDeviceReload;
    }
    auto* s = static_cast<Slot*>(cell.device);
    if (s == nullptr) return make_error(ErrorCode::Internal, "cell has no GPU slot", cell.name);
    std::lock_guard lk(batch_mu_);  // never in the middle of a batch
    complete_inflight();            // and what the actor sent before this step is delivered first
    if (command == kDeviceLoad || command == kDeviceLoadActive) {
      const auto* hs = static_cast<const HostState*>(host_state);
      if (hs == nullptr) return make_error(ErrorCode::Internal, "no state to load", cell.name);
      if (dev_->lost.load()) return dev_->lost_error(cell.name);
      Group& g = *s->group;
      const std::uint32_t words = g.program->spec().state_words;
      wgpuQueueWriteBuffer(dev_->queue, g.buf[kState], std::uint64_t{s->index} * words * 4, hs->words.data(),
                           std::size_t{words} * 4);
      // The device owns the clock between batches; a (re)load starts it from the actor's host-side clock.
      const std::uint64_t clk = load_relaxed(&cell.cb.hlc);
      wgpuQueueWriteBuffer(dev_->queue, g.buf[kClocks], std::uint64_t{s->index} * 8, &clk, sizeof clk);
      if (auto e = dev_->take_error(); !e.empty()) return make_error(ErrorCode::BackendUnavailable, e, cell.name);
      s->failed = false;  // a fresh instance: it runs the messages kept behind its failure
      // A fresh instance runs on_start first: a synthetic message ahead of everything kept or queued (a start
      // message of an instance that never ran is replaced).
      std::vector<std::uint32_t> kept;
      for (std::size_t off = 0; off + g.sw <= s->carry.size(); off += g.sw) {
        if (!webgpu::detail::is_hook(s->carry[off + 1])) kept.insert(kept.end(), s->carry.begin() + std::ptrdiff_t(off), s->carry.begin() + std::ptrdiff_t(off + g.sw));
      }
      s->carry.clear();
      if (g.program->spec().on_start) {
        s->carry.assign(g.sw, 0);
        const MessageHeader h = webgpu::detail::hook_message(webgpu::kOnStartType, cell.id);
        std::memcpy(s->carry.data(), &h, sizeof h);
      }
      s->carry.insert(s->carry.end(), kept.begin(), kept.end());
      if (command == kDeviceLoadActive) s->active = true;
    } else if (command == kDeviceActivate) {
      s->active = true;
    } else if (command == kDeviceDeactivate || command == kDeviceUnload) {
      // on_stop runs for a healthy instance only: not after a failure (as on the CPU backend), never on a
      // lost device.
      if (command == kDeviceUnload && has_stop_hook(*s) && !s->failed && !dev_->lost.load()) run_stop_hook(cell, *s);
      s->active = false;
    }
    wake_.store(true);
    return {};
  }

  static bool has_stop_hook(const Slot& s) { return static_cast<bool>(s.group->program->spec().on_stop); }

  void set_limit(ActorCell& cell, std::uint64_t limit) override {
    if (auto* s = static_cast<Slot*>(cell.device)) s->limit.store(limit, std::memory_order_release);
  }

  void release(ActorCell& cell) override {
    auto* s = static_cast<Slot*>(cell.device);
    if (s == nullptr) return;
    std::lock_guard lk(batch_mu_);
    complete_inflight();
    // Messages kept behind a failure that no restarted instance ran: dead letters, like the inbox's rest.
    const DeadLetterReason why = rt_.shutting_down.load() ? DeadLetterReason::Shutdown : DeadLetterReason::ActorTerminated;
    for (std::size_t off = 0; off + s->group->sw <= s->carry.size(); off += s->group->sw) {
      MessageHeader h;
      std::memcpy(&h, s->carry.data() + off, sizeof h);
      if (webgpu::detail::is_hook(h.type_id)) continue;  // a start hook that never ran is no lost message
      cell.dropped.fetch_add(1, std::memory_order_relaxed);
      rt_.dead_letter(h, reinterpret_cast<const std::byte*>(s->carry.data() + off + 16), why, "terminated: " + cell.name);
    }
    s->group->occupant[s->index] = nullptr;
    std::erase(live_, &cell);
    cell.device = nullptr;
    cell.held_back.store(0);
    delete s;
  }

  Status sync_state_to_host(ActorCell& cell) override {
    auto* s = static_cast<Slot*>(cell.device);
    auto* hs = static_cast<HostState*>(cell.state);
    if (s == nullptr || hs == nullptr) return {};
    std::lock_guard lk(batch_mu_);
    complete_inflight();
    if (dev_->lost.load()) return dev_->lost_error(cell.name);
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
    if (dev_->lost.load()) return dev_->lost_error(ctx);
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
      if (pb.param == kState && take_fault(webgpu::testing::Fault::BadBinding)) b.size += 256;  // past the end
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
    // One dispatch with no actors (n_actors is 0 in the zero-initialised scalar block), waited for: drivers
    // such as lavapipe compile the shader at its first dispatch (seconds for a large program), which belongs
    // to the launch, not to the first batch's latency.
    WGPUCommandBuffer warm = nullptr;
    err = dev_->scoped([&] {
      WGPUCommandEncoder enc = wgpuDeviceCreateCommandEncoder(dev_->device, nullptr);
      WGPUComputePassEncoder pass = wgpuCommandEncoderBeginComputePass(enc, nullptr);
      wgpuComputePassEncoderSetPipeline(pass, g->pipe);
      wgpuComputePassEncoderSetBindGroup(pass, 0, g->bind, 0, nullptr);
      wgpuComputePassEncoderDispatchWorkgroups(pass, 1, 1, 1);
      wgpuComputePassEncoderEnd(pass);
      wgpuComputePassEncoderRelease(pass);
      warm = wgpuCommandEncoderFinish(enc, nullptr);
      wgpuCommandEncoderRelease(enc);
    });
    if (err.empty()) wgpuQueueSubmit(dev_->queue, 1, &warm);
    if (warm != nullptr) wgpuCommandBufferRelease(warm);
    if (!err.empty()) return make_error(ErrorCode::BackendUnavailable, "first dispatch: " + err, ctx);
    dev_->wait();
    g->occupant.assign(g->slots, nullptr);
    groups_.push_back(std::move(g));
    return groups_.back().get();
  }

  // Copies [offset, offset+bytes) of `src` to the host (caller holds batch_mu_).
  Status read_back(WGPUBuffer src, std::uint64_t offset, std::uint64_t bytes, std::vector<std::byte>& out) {
    if (dev_->lost.load()) return dev_->lost_error("webgpu read-back");
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

  // Packs the pending messages of the group's active actors into frame `f` and writes them to the group's
  // buffers (submit_all then encodes and submits the dispatch); false when there was nothing to run. Caller
  // holds batch_mu_. Buffers shared by both frames (staging, desc, out, scalars) are
  // safe to rewrite while the other frame is in flight: WebGPU orders writeBuffer after earlier submissions.
  bool pack(Group& g, Frame& f) {
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
      // A failed actor (until its restart reloads the slot, or for good when its supervisor gave up) must not
      // run any more messages.
      if (!s->active || s->failed || control_state(c->cb) != ActorState::Active) continue;
      std::unique_lock ck(c->consumer_mu, std::try_to_lock);  // a DropOldest evictor holds it briefly
      if (!ck.owns_lock()) continue;
      const std::uint32_t first = total;
      std::uint64_t room = std::min<std::uint64_t>(spec.batch_per_actor, g.max_batch - total);
      // Messages kept behind an earlier failure run first: they were taken from the inbox before the rest.
      const std::uint64_t carried = std::min<std::uint64_t>(room, s->carry.size() / sw);
      if (carried != 0) {
        std::copy_n(s->carry.begin(), carried * sw, f.staging.begin() + std::ptrdiff_t(std::size_t{total} * sw));
        s->carry.erase(s->carry.begin(), s->carry.begin() + std::ptrdiff_t(carried * sw));
        total += static_cast<std::uint32_t>(carried);
        room -= carried;
      }
      const std::uint64_t tail = load_acquire(&c->inbox.view().control->tail);
      const std::uint64_t limit = s->limit.load(std::memory_order_acquire);
      room = s->carry.empty() ? std::min<std::uint64_t>(room, limit > tail ? limit - tail : 0) : 0;
      // Counted as held back before the tail moves past them (recount_held() makes it exact after the step).
      if (room != 0) c->held_back.fetch_add(room);
      if (room != 0) MpscConsumer(c->inbox.view()).pop_batch(static_cast<std::uint32_t>(room), [&](const MessageHeader& h, const std::byte* p) {
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
    upload(g, f);
    return true;
  }

  // Writes packed frame `f` (staging, descriptors, scalars) to the group's buffers and marks it in flight; a
  // lost device gets nothing, the frame fails when completed. Caller holds batch_mu_.
  void upload(Group& g, Frame& f) {
    const std::uint32_t sw = g.sw;
    const std::uint32_t total = f.total;
    f.failed.clear();
    if (dev_->lost.load()) {
      // Nothing reaches a lost device: the batch fails when it is completed (its messages are dead-lettered,
      // so pending calls end with the error instead of a timeout).
      f.failed = dev_->lost_error("webgpu batch").describe();
      f.t_submit = steady_ns();
      f.inflight = true;
      return;
    }
    const auto n_actors = static_cast<std::uint32_t>(f.cells.size());
    std::uint32_t scalars[4] = {0, 0, 0, 0};
    const std::uint64_t now = wall_ms();
    scalars[g.scalar_offset[0]] = static_cast<std::uint32_t>(now);
    scalars[g.scalar_offset[0] + 1] = static_cast<std::uint32_t>(now >> 32);
    scalars[g.scalar_offset[1]] = n_actors;
    wgpuQueueWriteBuffer(dev_->queue, g.buf[kStaging], 0, f.staging.data(), std::size_t{total} * sw * 4);
    wgpuQueueWriteBuffer(dev_->queue, g.buf[kDesc], 0, f.desc.data(), f.desc.size() * 4);
    wgpuQueueWriteBuffer(dev_->queue, g.buf[kScalars], 0, scalars, sizeof scalars);
    f.inflight = true;  // encoded and submitted with the other groups' batches of this step (submit_all)
  }

  // Runs the program's on_stop hook for `cell` now, as a batch of one synthetic message, and routes what it
  // emitted (caller holds batch_mu_ and has completed the batches in flight, so both frames are idle).
  void run_stop_hook(ActorCell& cell, Slot& s) {
    Group& g = *s.group;
    Frame& f = g.frames[g.next];
    f.t_start = steady_ns();
    f.staging.assign(g.sw, 0);
    const MessageHeader h = webgpu::detail::hook_message(webgpu::kOnStopType, cell.id);
    std::memcpy(f.staging.data(), &h, sizeof h);
    f.desc.assign({s.index, 0, 1, cell.id});
    f.cells.assign({&cell});
    f.total = 1;
    upload(g, f);
    submit_all({{&g, &f}});
    const bool was = t_in_drain;
    t_in_drain = true;  // routing may schedule other actors: never drain them inline under batch_mu_
    (void)complete(g, f);
    t_in_drain = was;
  }

  // Records frame `f`'s dispatch and the copies of its outputs, meta, clocks and counters into its readback
  // buffer in `enc`.
  void encode(WGPUCommandEncoder enc, Group& g, const Frame& f) {
    const auto& spec = g.program->spec();
    const auto n_actors = static_cast<std::uint32_t>(f.cells.size());
    WGPUComputePassEncoder pass = wgpuCommandEncoderBeginComputePass(enc, nullptr);
    wgpuComputePassEncoderSetPipeline(pass, g.pipe);
    wgpuComputePassEncoderSetBindGroup(pass, 0, g.bind, 0, nullptr);
    std::uint32_t groups = (n_actors + webgpu::detail::kWorkgroup - 1) / webgpu::detail::kWorkgroup;
    if (take_fault(webgpu::testing::Fault::OversizedDispatch)) groups = dev_->info.max_workgroups_per_dim + 1;
    wgpuComputePassEncoderDispatchWorkgroups(pass, groups, 1, 1);
    wgpuComputePassEncoderEnd(pass);
    wgpuComputePassEncoderRelease(pass);
    wgpuCommandEncoderCopyBufferToBuffer(enc, g.buf[kOut], 0, f.readback, 0, std::uint64_t{f.total} * spec.max_outputs * g.sw * 4);
    wgpuCommandEncoderCopyBufferToBuffer(enc, g.buf[kMeta], 0, f.readback, g.off_meta, std::uint64_t{f.total} * 4);
    wgpuCommandEncoderCopyBufferToBuffer(enc, g.buf[kClocks], 0, f.readback, g.off_clk, g.size[kClocks]);
    wgpuCommandEncoderCopyBufferToBuffer(enc, g.buf[kCounters], 0, f.readback, g.off_cnt, g.size[kCounters]);
  }

  // Encodes the batches packed in this step, of every group, into one command buffer and submits it once:
  // one submission (fence, driver call) per step instead of one per program. Encoded in a validation error
  // scope because wgpu-native treats submitting an invalid command buffer as fatal (it aborts the process):
  // an encoding error fails every batch of the step instead. wgpu-native pops the scope synchronously, so it
  // costs no device round trip. Caller holds batch_mu_.
  void submit_all(const std::vector<std::pair<Group*, Frame*>>& packed) {
    WGPUCommandEncoder enc = nullptr;
    WGPUCommandBuffer cmd = nullptr;
    bool any = false;
    const std::string err = dev_->scoped([&] {
      enc = wgpuDeviceCreateCommandEncoder(dev_->device, nullptr);
      for (auto [g, f] : packed) {
        if (!f->failed.empty()) continue;  // not for a lost device
        encode(enc, *g, *f);
        any = true;
      }
      cmd = wgpuCommandEncoderFinish(enc, nullptr);
    });
    if (err.empty() && any) {
      wgpuQueueSubmit(dev_->queue, 1, &cmd);
      webgpu::g_submits.fetch_add(1, std::memory_order_relaxed);
    }
    if (cmd != nullptr) wgpuCommandBufferRelease(cmd);
    if (enc != nullptr) wgpuCommandEncoderRelease(enc);
    const std::uint64_t now = steady_ns();
    for (auto [g, f] : packed) {
      if (!err.empty() && f->failed.empty()) {
        f->failed = "WebGPU error while encoding the batches of this step ('" + g->program->spec().name + "' among them): " + err;
      }
      f->t_submit = now;
    }
  }

  // Waits for frame `f`'s readback (mapAsync), then routes its outputs; returns the messages it ran.
  // Caller holds batch_mu_; failures are handed to the pump (supervision must not run under the lock).
  std::uint32_t complete(Group& g, Frame& f) {
    if (!f.inflight) return 0;
    f.inflight = false;
    const auto& spec = g.program->spec();
    const std::uint32_t sw = g.sw;
    const std::uint32_t total = f.total;
    Status st = f.failed.empty() ? map_read(f.readback, g.readback_size)
                                 : Status(make_error(ErrorCode::BackendUnavailable, f.failed, "webgpu batch"));
    webgpu::g_gpu_ns.fetch_add(steady_ns() - f.t_submit, std::memory_order_relaxed);
    if (st && f.failed.empty()) {
      if (auto e = dev_->take_error(); !e.empty()) {
        wgpuBufferUnmap(f.readback);
        st = make_error(ErrorCode::BackendUnavailable, e, "webgpu batch");
      }
    }
    if (!st) {
      // The batch's results are lost (device lost, validation error): its messages are dead-lettered, which
      // also ends the calls waiting for them with the error, and each actor in it fails (supervision decides;
      // the restart reloads the slot, the state the batch may have left half-written).
      const std::string why = st.error().describe();
      for (std::size_t e = 0; e < f.desc.size(); e += 4) {
        ActorCell& c = *f.cells[e / 4];
        if (auto* s = static_cast<Slot*>(c.device)) s->failed = true;
        for (std::uint32_t m = f.desc[e + 1]; m < f.desc[e + 1] + f.desc[e + 2]; ++m) {
          const std::uint32_t* in = f.staging.data() + std::size_t{m} * sw;
          MessageHeader ih;
          std::memcpy(&ih, in, sizeof ih);
          if (webgpu::detail::is_hook(ih.type_id)) continue;
          rt_.dead_letter(ih, reinterpret_cast<const std::byte*>(in + 16), DeadLetterReason::HandlerFailed,
                          "actor '" + c.name + "': " + why);
        }
        failures_.push_back({&c, why, {}});
      }
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
      auto* s = static_cast<Slot*>(c.device);
      const std::uint32_t slot = f.desc[e], first = f.desc[e + 1], count = f.desc[e + 2];
      // The actor failed in an earlier batch, after this one was submitted: this batch ran on the failed
      // instance's state. Its outputs are dropped and its messages kept for the restarted instance.
      const bool discard = s == nullptr || s->failed;
      // The actor's clock first, so host-side stamps of the messages routed below follow the device's.
      std::uint64_t cur = load_relaxed(&c.cb.hlc);
      while (cur < clocks[slot] && !cas(&c.cb.hlc, cur, clocks[slot])) {
      }
      auto kept = [&](std::uint32_t m) { return discard || (meta[m] & webgpu::detail::kSkipped) != 0; };
      auto hook = [&](std::uint32_t m) { return webgpu::detail::is_hook(f.staging[std::size_t{m} * sw + 1]); };
      std::uint64_t ran = 0;  // hooks are not messages (the CPU backend does not count them either)
      for (std::uint32_t m = first; m < first + count; ++m) ran += kept(m) || hook(m) ? 0 : 1;
      // Counted before the outputs are delivered: whoever sees a reply also sees its message as processed.
      fetch_add_relaxed(&c.cb.processed, ran);
      store_relaxed(&c.cb.heartbeat_ns, steady_ns());
      for (std::uint32_t m = first; m < first + count; ++m) {
        const std::uint32_t* in = f.staging.data() + std::size_t{m} * sw;
        if (kept(m)) {
          if (s != nullptr) s->carry.insert(s->carry.end(), in, in + sw);
          continue;
        }
        MessageHeader ih;
        std::memcpy(&ih, in, sizeof ih);
        if ((meta[m] & webgpu::detail::kUnhandled) != 0) {
          rt_.dead_letter(ih, reinterpret_cast<const std::byte*>(in + 16), DeadLetterReason::UnknownMessageType,
                          "actor '" + c.name + "' (" + spec.name + ") has no handler for type " + std::to_string(ih.type_id));
          continue;
        }
        const std::uint32_t n = meta[m] & webgpu::detail::kOutputMask;
        // Outputs emitted before a failure are delivered, as a CPU handler's sends are before it fails.
        for (std::uint32_t o = 0; o < std::min(n, spec.max_outputs); ++o) route(c, out + (std::size_t{m} * spec.max_outputs + o) * sw);
        const bool failed = n > spec.max_outputs || (meta[m] & webgpu::detail::kFailed) != 0;
        if (failed && hook(m)) {
          // A failing hook is recorded, not supervised (RuntimeState::run_hook does the same for host actors).
          store_relaxed(&c.cb.last_error, static_cast<std::uint32_t>(ErrorCode::HandlerFailed));
        } else if (failed) {
          Failure fl{&c,
                     n > spec.max_outputs ? "handler emitted " + std::to_string(n) + " outputs, max_outputs is " +
                                                std::to_string(spec.max_outputs)
                                          : "handler of '" + spec.name + "' called fail()",
                     {}};
          const auto* b = reinterpret_cast<const std::byte*>(in);
          fl.message.assign(b, b + 64 + ih.payload_len);
          failures_.push_back(std::move(fl));
          s->failed = true;
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
    recount_held();
  }

  // One pipelined step of every group: pack and submit (once, for all groups) the next batches before
  // waiting for the ones in flight, so the host packs batch N+1 and the GPU runs it while batch N's outputs
  // are mapped and routed. Caller holds batch_mu_.
  std::uint32_t step_all() {
    std::vector<std::pair<Group*, Frame*>>& packed = packed_;
    packed.clear();
    for (auto& g : groups_) {
      Frame& next = g->frames[g->next];
      if (pack(*g, next)) packed.emplace_back(g.get(), &next);
    }
    if (!packed.empty()) submit_all(packed);
    std::uint32_t done = 0;
    for (auto& g : groups_) {
      Frame& prev = g->frames[1 - g->next];
      const bool submitted = g->frames[g->next].inflight;
      if (submitted && prev.inflight) webgpu::g_overlapped.fetch_add(1, std::memory_order_relaxed);
      done += complete(*g, prev);
      if (submitted) {
        g->next = 1 - g->next;
        ++done;
      }
    }
    recount_held();
    return done;
  }

  // Sets each actor's ActorCell::held_back to the messages it has taken from its inbox and not run: those in
  // batches in flight and those kept behind a failure (hooks are not messages). Caller holds batch_mu_.
  void recount_held() {
    for (ActorCell* c : live_) {
      if (auto* s = static_cast<Slot*>(c->device)) {
        s->held = 0;
        for (std::size_t off = 0; off + s->group->sw <= s->carry.size(); off += s->group->sw) {
          s->held += webgpu::detail::is_hook(s->carry[off + 1]) ? 0 : 1;
        }
      }
    }
    for (auto& g : groups_) {
      for (const Frame& f : g->frames) {
        if (!f.inflight) continue;
        for (std::size_t e = 0; e < f.desc.size(); e += 4) {
          auto* s = static_cast<Slot*>(f.cells[e / 4]->device);
          if (s == nullptr) continue;
          for (std::uint32_t m = f.desc[e + 1]; m < f.desc[e + 1] + f.desc[e + 2]; ++m) {
            s->held += webgpu::detail::is_hook(f.staging[std::size_t{m} * g->sw + 1]) ? 0 : 1;
          }
        }
      }
    }
    for (ActorCell* c : live_) {
      if (auto* s = static_cast<Slot*>(c->device)) c->held_back.store(s->held);
    }
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
        ran += step_all();
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
  std::vector<std::pair<Group*, Frame*>> packed_;  // step_all's list, kept to reuse its allocation
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
