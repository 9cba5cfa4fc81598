/// @file webgpu/webgpu.hpp
/// @brief WebGPU backend (wgpu-native): actors written once in the kernel IR DSL, persistent by emulation.
///
/// WebGPU cannot run an endless kernel, so an actor's state lives in GPU storage buffers between dispatches
/// and a pump thread drives batches: it takes the pending messages of every active actor of a program out of
/// their runtime inboxes, packs them into one staging buffer (64-byte MessageHeader + payload per slot, the
/// core message layout), runs one dispatch in which thread i handles actor i's messages in order, and reads
/// the outputs back (replies complete calls or fill host receive queues; K2K sends enter the destination's
/// inbox and run in the next batch).
///
/// @code
/// namespace wg = ringkernel::webgpu;
/// wg::ActorSpec spec;
/// spec.name = "adder";
/// spec.state_words = 2;
/// spec.handlers.push_back({Add::type_id, [](wg::ActorContext& m) {
///   auto total = m.state_u64(0) + m.payload<std::uint64_t>(offsetof(Add, value));
///   m.set_state_u64(0, total);
///   m.reply(Sum::type_id, {wg::lo(total), wg::hi(total)});
/// }});
/// auto program = wg::compile(spec);                        // IR -> WGSL (and the interpreter for the CPU)
/// auto rt = ringkernel::Runtime::builder().backend(ringkernel::Backend::WebGpu).build();
/// auto adder = wg::launch(*rt, "adder", *program);          // an ActorHandle like any other
/// auto sum = adder->call<Sum>(Add{5}, std::chrono::milliseconds(500));
/// @endcode
///
/// The same program also launches on the CPU backend, where each message runs the same IR on the reference
/// interpreter: one handler definition, identical results on both (the parity test checks it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "ringkernel/error.hpp"
#include "ringkernel/ir/dsl.hpp"
#include "ringkernel/message.hpp"
#include "ringkernel/runtime.hpp"

/// The WebGPU backend.
namespace ringkernel::webgpu {

/// DSL value of element type T (ringkernel::ir::dsl::Val).
template <class T>
using Val = ir::dsl::Val<T>;
/// DSL memory reference (ringkernel::ir::dsl::Ref).
template <class T>
using Ref = ir::dsl::Ref<T>;

/// What the adapter offers, read once per process.
struct DeviceInfo {
  std::string adapter;                          ///< Device name and driver description.
  std::string backend;                          ///< Native API under WebGPU ("vulkan", "metal", ...).
  bool hardware = false;                        ///< A discrete or integrated GPU (false: CPU renderer or unknown).
  bool subgroups = false;                       ///< The subgroups feature is available (and requested).
  std::uint32_t subgroup_min = 0;               ///< Smallest subgroup size the adapter reports.
  std::uint32_t subgroup_max = 0;               ///< Largest subgroup size the adapter reports.
  std::uint64_t max_storage_binding = 0;        ///< maxStorageBufferBindingSize.
  std::uint64_t max_buffer_size = 0;            ///< maxBufferSize.
  std::uint32_t max_storage_buffers = 0;        ///< maxStorageBuffersPerShaderStage.
  std::uint32_t max_workgroup_size_x = 0;       ///< maxComputeWorkgroupSizeX.
  std::uint32_t max_invocations = 0;            ///< maxComputeInvocationsPerWorkgroup.
  std::uint32_t max_workgroups_per_dim = 0;     ///< maxComputeWorkgroupsPerDimension.
};

/// Creates (once per process) the WebGPU instance, adapter and device and describes them; BackendUnavailable
/// with the reason when wgpu-native finds no adapter (install mesa-vulkan-drivers for lavapipe on CPU machines)
/// or the device was lost. The adapter is the best one found: a discrete GPU, else an integrated one, else any
/// other, CPU renderers last (Vulkan first among equals). The environment variable RINGKERNEL_WEBGPU_BACKEND
/// (vulkan, gl, metal, dx12, all) restricts the native APIs considered.
Result<DeviceInfo> probe();

/// Process-wide counters of the batches the WebGPU executors ran (for benchmarks and diagnostics).
struct BatchStats {
  std::uint64_t batches = 0;   ///< Dispatches run.
  std::uint64_t messages = 0;  ///< Messages handled in them.
  std::uint64_t busy_ns = 0;   ///< Time from packing a batch to its outputs being routed, summed.
  std::uint64_t gpu_ns = 0;    ///< Of that, submit to readback mapped (dispatch + copies + map), summed.
  std::uint64_t overlapped = 0;  ///< Batches submitted while the previous one was still being read back.
  std::uint64_t submits = 0;     ///< Queue submissions carrying batches (one may carry several programs' batches).
};
/// Snapshot of the batch counters since the process started.
BatchStats batch_stats() noexcept;

/// How handlers' 64-bit counters are accumulated in a batch.
enum class CounterPath : std::uint8_t {
  Auto,       ///< Subgroups when the device has them, else Atomics.
  Subgroups,  ///< Subgroup reduction, then one emulated 64-bit atomic add per subgroup (needs the feature).
  Atomics,    ///< One emulated 64-bit atomic add (two 32-bit words with carry) per thread.
};

class ActorContext;

/// One message handler: the message type and the code run for it.
struct Handler {
  TypeId type_id = 0;                              ///< ringkernel::message_type(...) of the message.
  std::function<void(ActorContext&)> body;         ///< Emits the handler's IR.
};

/// An actor type written with the IR DSL.
struct ActorSpec {
  std::string name;                        ///< Type name (status, errors, kernel name).
  std::uint32_t state_words = 4;           ///< 32-bit words of persistent state per actor.
  std::vector<std::uint32_t> initial_state;  ///< Initial words (the rest are zero); used on every (re)start.
  std::uint32_t max_payload_words = 12;    ///< Largest payload handled, in 32-bit words (slot = header + this).
  std::uint32_t max_outputs = 2;           ///< Replies/sends one message may emit (more is a handler failure).
  std::uint32_t counters = 0;              ///< Program-wide 64-bit counters (ActorContext::count).
  std::uint32_t max_actors = 64;           ///< Actors of this program per runtime (GPU slots).
  std::uint32_t batch_per_actor = 256;     ///< Messages one actor handles per dispatch at most.
  std::uint32_t max_batch = 4096;          ///< Messages per dispatch at most (staging size).
  CounterPath counter_path = CounterPath::Auto;  ///< How counters are accumulated.
  std::vector<Handler> handlers;           ///< The handlers.
  /// Runs on the GPU when the actor starts and after every restart, before any message (the counterpart of a
  /// C++ actor's on_start). `reply()` in a hook goes to the actor's host receive queue. A hook that fails
  /// records HandlerFailed as the actor's last error (no restart), as on the CPU backend.
  std::function<void(ActorContext&)> on_start;
  /// Runs on the GPU when the actor terminates, or is restarted while healthy (not after a failure), after its
  /// last message and before the slot is released (the counterpart of on_stop).
  std::function<void(ActorContext&)> on_stop;
};

/// Message type ids of the synthetic messages that run ActorSpec::on_start / on_stop in a batch (reserved).
inline constexpr TypeId kOnStartType = message_type("ringkernel.webgpu.on_start");
/// See kOnStartType.
inline constexpr TypeId kOnStopType = message_type("ringkernel.webgpu.on_stop");

/// What a handler sees for one message, inside one GPU thread. Every method emits IR.
class ActorContext {
public:
  /// Built by compile(); `b` is the kernel builder, the values are the current message's pointers.
  ActorContext(ir::Builder* b, ir::Value msg, ir::Value out, ir::Value state, ir::Value clock, ir::Value phys,
               ir::Value self, ir::Value nout, ir::Value pending, ir::Value failed, const ActorSpec* spec,
               std::string* error)
      : b_(b), msg_(msg), out_(out), state_(state), clock_(clock), phys_(phys), self_(self), nout_(nout),
        pending_(pending), failed_(failed), spec_(spec), error_(error) {}

  /// Header word `i` (0..15) of the message (layout of ringkernel::MessageHeader).
  [[nodiscard]] Val<std::uint32_t> header_word(std::uint32_t i) const;
  /// Payload value of type T (4 or 8 bytes) at byte `offset` (4-byte aligned, e.g. `offsetof(Msg, field)`).
  template <class T>
  [[nodiscard]] Val<T> payload(std::uint32_t offset) const {
    static_assert(sizeof(T) == 4 || sizeof(T) == 8, "payload fields are 32 or 64 bits");
    check_payload(offset, sizeof(T));
    const std::uint32_t w = 16 + offset / 4;
    if constexpr (sizeof(T) == 4) {
      return ir::dsl::bitcast<T>(header_word(w));
    } else {
      Val<std::uint64_t> lo = ir::dsl::cast<std::uint64_t>(header_word(w));
      Val<std::uint64_t> hi = ir::dsl::cast<std::uint64_t>(header_word(w + 1));
      return ir::dsl::bitcast<T>(lo | (hi << std::uint64_t{32}));
    }
  }
  /// Records an error when a payload field lies outside the program's slot or is misaligned.
  void check_payload(std::uint32_t offset, std::size_t bytes) const;
  /// The sender's actor id (0 = the host).
  [[nodiscard]] Val<std::uint32_t> source() const { return header_word(6); }
  /// This actor's id.
  [[nodiscard]] Val<std::uint32_t> self() const { return {b_, self_}; }
  /// State word `i` of this actor (persistent across batches).
  [[nodiscard]] Ref<std::uint32_t> state_word(std::uint32_t i) const;
  /// 64-bit state value at words i, i+1 (low first).
  [[nodiscard]] Val<std::uint64_t> state_u64(std::uint32_t i) const;
  /// Stores a 64-bit state value at words i, i+1.
  void set_state_u64(std::uint32_t i, Val<std::uint64_t> v) const;
  /// State word at a computed index (e.g. from the message). The index is clamped to the last state word,
  /// so a bad index can never reach another actor's slot.
  [[nodiscard]] Ref<std::uint32_t> state_word_at(Val<std::uint32_t> i) const;
  /// 64-bit state value at computed words i, i+1 (clamped like state_word_at).
  [[nodiscard]] Val<std::uint64_t> state_u64_at(Val<std::uint32_t> i) const;
  /// Stores a 64-bit state value at computed words i, i+1 (clamped like state_word_at).
  void set_state_u64_at(Val<std::uint32_t> i, Val<std::uint64_t> v) const;
  /// Replies to the sender (completes a host call, or reaches the sending actor in the next batch).
  void reply(TypeId type, const std::vector<Val<std::uint32_t>>& words) const;
  /// Sends to actor `to` (K2K, delivered in the next batch; 0 = this actor's host receive queue).
  void send(Val<std::uint32_t> to, TypeId type, const std::vector<Val<std::uint32_t>>& words) const;
  /// Adds `amount` to the program-wide 64-bit counter `index` (shared by every actor of the program:
  /// contended; accumulated per the program's CounterPath). Read it with ActorProgram::counter().
  void count(std::uint32_t index, Val<std::uint64_t> amount) const;
  /// The handler fails on this message (the counterpart of Context::fail on the CPU): outputs it emitted before
  /// are still delivered, the message is dead-lettered (HandlerFailed), the actor runs no further message in
  /// this batch (they stay queued for the restarted instance) and its supervisor decides (restart reloads the
  /// initial state). Usually called under a condition: `m.if_(cond, [&] { m.fail(); })`.
  void fail() const;
  /// `if (c) then_fn(); else else_fn();` in the handler's IR.
  void if_(Val<bool> c, const std::function<void()>& then_fn, const std::function<void()>& else_fn = {}) const;
  /// A 32-bit constant (for reply and send words).
  [[nodiscard]] Val<std::uint32_t> u32(std::uint32_t v) const { return {b_, b_->u32(v)}; }
  /// The IR builder, for operations the context does not wrap.
  [[nodiscard]] ir::Builder& ir() const { return *b_; }

private:
  void emit(Val<std::uint32_t> dest, TypeId type, bool reply, const std::vector<Val<std::uint32_t>>& words) const;
  ir::Builder* b_;
  ir::Value msg_, out_, state_, clock_, phys_, self_, nout_, pending_, failed_;
  void misuse(const std::string& what) const;
  const ActorSpec* spec_;
  std::string* error_;  // first misuse found while building (reported by compile())
};

/// Low 32 bits of a 64-bit value (for reply words).
Val<std::uint32_t> lo(Val<std::uint64_t> v);
/// High 32 bits of a 64-bit value.
Val<std::uint32_t> hi(Val<std::uint64_t> v);

/// A compiled actor program: its IR (portable and subgroup variants) and their WGSL. Shared by launches.
class ActorProgram {
public:
  /// The specification it was built from.
  [[nodiscard]] const ActorSpec& spec() const noexcept { return spec_; }
  /// Words per staging/output slot (16 header words + max_payload_words).
  [[nodiscard]] std::uint32_t slot_words() const noexcept { return 16 + spec_.max_payload_words; }
  /// The kernel without subgroup operations (the interpreter and the fallback path run it).
  [[nodiscard]] const ir::Kernel& portable_kernel() const noexcept { return portable_; }
  /// The WGSL of the portable kernel.
  [[nodiscard]] const ir::GeneratedCode& portable_wgsl() const noexcept { return portable_wgsl_; }
  /// True when a subgroup variant was built (counters > 0 and CounterPath allows it).
  [[nodiscard]] bool has_subgroup_variant() const noexcept { return has_subgroup_; }
  /// The WGSL of the subgroup variant (valid when has_subgroup_variant()).
  [[nodiscard]] const ir::GeneratedCode& subgroup_wgsl() const noexcept { return subgroup_wgsl_; }
  /// Key under which launches find this program (ActorType::type_key).
  [[nodiscard]] const std::string& key() const noexcept { return key_; }
  /// Latest value of counter `index` as last read back after a batch (WebGPU) or updated by a handler (CPU).
  [[nodiscard]] Result<std::uint64_t> counter(std::uint32_t index) const;
  /// Which path the last WebGPU batch used ("subgroups" or "atomics"; empty before any batch).
  [[nodiscard]] std::string counter_path_used() const;

  /// Records counter values (used by the backends).
  void publish_counters(const std::uint64_t* values, std::uint32_t n, std::string_view path) const;
  /// Adds to the CPU-side counters (CPU backend path).
  void add_counters(const std::uint64_t* deltas, std::uint32_t n) const;

  /// Built by compile().
  ActorProgram(ActorSpec spec, ir::Kernel portable, ir::GeneratedCode portable_wgsl, bool has_subgroup,
               ir::Kernel subgroup, ir::GeneratedCode subgroup_wgsl, std::string key);

private:
  ActorSpec spec_;
  ir::Kernel portable_;
  ir::GeneratedCode portable_wgsl_;
  bool has_subgroup_ = false;
  ir::Kernel subgroup_;
  ir::GeneratedCode subgroup_wgsl_;
  std::string key_;
  mutable std::mutex mu_;
  mutable std::vector<std::uint64_t> counters_;
  mutable std::string path_used_;
};

/// Builds and validates the handler kernel(s) and lowers them to WGSL; errors name the offending handler
/// or limit. Needs no GPU.
Result<std::shared_ptr<const ActorProgram>> compile(const ActorSpec& spec);

/// The type-erased ActorType of a program: on the WebGPU backend it runs in GPU batches, on the CPU backend
/// each message runs the same IR on the reference interpreter. `initial_state` (the launch arguments of an IR
/// actor, e.g. the ids of the actors it forwards to) replaces the first words of ActorSpec::initial_state for
/// actors of this type; every (re)start loads the result, as a restart re-runs a C++ actor's constructor.
ActorType actor_type(std::shared_ptr<const ActorProgram> program, std::vector<std::uint32_t> initial_state = {});

/// Launches an actor of `program` (Runtime::launch_type with actor_type(program, initial_state)). The slot
/// size is raised to fit the program's largest message when `opts` leaves it smaller. InvalidArgument when
/// `initial_state` has more words than the program's state.
Result<ActorHandle> launch(Runtime& rt, std::string_view name, std::shared_ptr<const ActorProgram> program,
                           LaunchOptions opts = {}, std::vector<std::uint32_t> initial_state = {});

/// Fault injection for tests of the error paths (validation errors, device loss). Never use in production:
/// losing the device is permanent for the process.
namespace testing {
/// A fault the executor applies once, the next time it reaches the matching step.
enum class Fault : std::uint8_t {
  None,               ///< No fault armed.
  BadBinding,         ///< The next group created binds its state buffer past its end (pipeline validation error).
  OversizedDispatch,  ///< The next batch dispatches more workgroups than maxComputeWorkgroupsPerDimension.
};
/// Arms `f` (replaces any fault still armed).
void inject(Fault f) noexcept;
/// Destroys the process-wide device (wgpuDeviceDestroy) and waits, bounded, for the device-lost callback.
/// Afterwards every WebGPU operation of the process fails with BackendUnavailable naming the loss.
Status destroy_device();
}  // namespace testing

} // namespace ringkernel::webgpu
