// IR actor programs: the batch kernel built from the handlers with the DSL, its WGSL lowering, the CPU
// (interpreter) path and launching through the runtime.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <map>

#include "ringkernel/actor.hpp"
#include "ringkernel/hlc.hpp"
#include "ringkernel/ir/interpreter.hpp"
#include "webgpu/program.hpp"

namespace ringkernel::webgpu {

namespace dsl = ringkernel::ir::dsl;
using ir::Builder;
using ir::CmpPred;
using ir::Op;
using ir::Type;
using ir::Value;

namespace {
std::mutex& registry_mu() {
  static std::mutex mu;
  return mu;
}
std::map<std::string, std::weak_ptr<const ActorProgram>>& registry() {
  static std::map<std::string, std::weak_ptr<const ActorProgram>> m;
  return m;
}
} // namespace

namespace detail {
std::shared_ptr<const ActorProgram> find_program(const std::string& key) {
  std::lock_guard lk(registry_mu());
  auto it = registry().find(key);
  return it == registry().end() ? nullptr : it->second.lock();
}
} // namespace detail

// ---------------------------------------------------------------------------------------------------------
// ActorContext

void ActorContext::misuse(const std::string& what) const {
  if (error_ != nullptr && error_->empty()) *error_ = what;
}

void ActorContext::check_payload(std::uint32_t offset, std::size_t bytes) const {
  if (offset % 4 != 0) misuse("payload offset " + std::to_string(offset) + " is not 4-byte aligned");
  if (offset + bytes > spec_->max_payload_words * 4u) {
    misuse("payload field at byte " + std::to_string(offset) + " lies beyond max_payload_words (" +
         std::to_string(spec_->max_payload_words) + ")");
  }
}

Val<std::uint32_t> ActorContext::header_word(std::uint32_t i) const {
  if (i >= 16 + spec_->max_payload_words) misuse("message word " + std::to_string(i) + " lies beyond the slot");
  return {b_, b_->load(b_->ptr_add(msg_, b_->u32(i)))};
}

Ref<std::uint32_t> ActorContext::state_word(std::uint32_t i) const {
  if (i >= spec_->state_words) {
    misuse("state word " + std::to_string(i) + " is beyond state_words (" + std::to_string(spec_->state_words) + ")");
  }
  return {b_, b_->ptr_add(state_, b_->u32(i))};
}

Val<std::uint64_t> ActorContext::state_u64(std::uint32_t i) const {
  return dsl::cast<std::uint64_t>(state_word(i).load()) |
         (dsl::cast<std::uint64_t>(state_word(i + 1).load()) << std::uint64_t{32});
}

void ActorContext::set_state_u64(std::uint32_t i, Val<std::uint64_t> v) const {
  state_word(i) = dsl::cast<std::uint32_t>(v);
  state_word(i + 1) = dsl::cast<std::uint32_t>(v >> std::uint64_t{32});
}

Ref<std::uint32_t> ActorContext::state_word_at(Val<std::uint32_t> i) const {
  return {b_, b_->ptr_add(state_, b_->binary(Op::Min, i.v, b_->u32(spec_->state_words - 1)))};
}

Val<std::uint64_t> ActorContext::state_u64_at(Val<std::uint32_t> i) const {
  if (spec_->state_words < 2) misuse("state_u64_at needs state_words >= 2");
  const Val<std::uint32_t> at{b_, b_->binary(Op::Min, i.v, b_->u32(std::max(spec_->state_words, 2u) - 2))};
  return dsl::cast<std::uint64_t>(state_word_at(at).load()) |
         (dsl::cast<std::uint64_t>(state_word_at(at + 1u).load()) << std::uint64_t{32});
}

void ActorContext::set_state_u64_at(Val<std::uint32_t> i, Val<std::uint64_t> v) const {
  if (spec_->state_words < 2) misuse("set_state_u64_at needs state_words >= 2");
  const Val<std::uint32_t> at{b_, b_->binary(Op::Min, i.v, b_->u32(std::max(spec_->state_words, 2u) - 2))};
  state_word_at(at) = dsl::cast<std::uint32_t>(v);
  state_word_at(at + 1u) = dsl::cast<std::uint32_t>(v >> std::uint64_t{32});
}

void ActorContext::fail() const { b_->store(failed_, b_->u32(1)); }

void ActorContext::if_(Val<bool> c, const std::function<void()>& then_fn, const std::function<void()>& else_fn) const {
  b_->if_(c.v, then_fn, else_fn);
}

void ActorContext::reply(TypeId type, const std::vector<Val<std::uint32_t>>& words) const {
  emit(source(), type, true, words);
}

void ActorContext::send(Val<std::uint32_t> to, TypeId type, const std::vector<Val<std::uint32_t>>& words) const {
  emit(to, type, false, words);
}

void ActorContext::count(std::uint32_t index, Val<std::uint64_t> amount) const {
  if (index >= spec_->counters) {
    misuse("counter " + std::to_string(index) + " is beyond counters (" + std::to_string(spec_->counters) + ")");
    return;
  }
  // Accumulated privately per thread; the kernel adds it to the shared counter once, after the batch.
  const Value p = b_->ptr_add(pending_, b_->u32(index));
  b_->store(p, b_->binary(Op::Add, b_->load(p), amount.v));
}

void ActorContext::emit(Val<std::uint32_t> dest, TypeId type, bool is_reply,
                        const std::vector<Val<std::uint32_t>>& words) const {
  Builder& b = *b_;
  if (words.size() > spec_->max_payload_words) {
    misuse("an output of " + std::to_string(words.size()) + " words exceeds max_payload_words (" +
         std::to_string(spec_->max_payload_words) + ")");
    return;
  }
  const std::uint32_t slot_words = 16 + spec_->max_payload_words;
  const Value n = b.load(nout_);
  b.if_(b.cmp(CmpPred::Lt, n, b.u32(spec_->max_outputs)), [&] {
    const Value o = b.ptr_add(out_, b.binary(Op::Mul, n, b.u32(slot_words)));
    auto in = [&](std::uint32_t i) { return b.load(b.ptr_add(msg_, b.u32(i))); };
    auto put = [&](std::uint32_t i, Value v) { b.store(b.ptr_add(o, b.u32(i)), v); };
    const Value w0 = in(0);
    // Replies keep the request's priority; both keep the sampled trace bit (the runtime's rules).
    Value flags = b.binary(Op::And, w0, b.u32(is_reply ? 0x01FF0000u : 0x01000000u));
    if (is_reply) flags = b.binary(Op::Or, flags, b.u32(std::uint32_t{msg_flags::kReply} << 24));
    put(0, b.binary(Op::Or, flags, b.u32(kMessageMagic | (std::uint32_t{kMessageVersion} << 8))));
    put(1, b.u32(type));
    const Value stamp = b.hlc_tick(clock_, phys_);
    const Value stamp_lo = b.cast(stamp, Type::u32());
    const Value stamp_hi = b.cast(b.binary(Op::Shr, stamp, b.const_int(Type::u64(), 32)), Type::u32());
    put(2, stamp_lo);  // message id = the stamp: strictly increasing per actor
    put(3, stamp_hi);
    put(4, is_reply ? in(4) : b.u32(0));
    put(5, b.binary(Op::Or, b.binary(Op::And, in(5), b.u32(0xFFFF0000u)), b.u32(static_cast<std::uint32_t>(words.size() * 4))));
    put(6, self_);
    put(7, dest.v);
    put(8, stamp_lo);
    put(9, stamp_hi);
    for (std::uint32_t i = 10; i < 16; ++i) put(i, in(i));
    for (std::uint32_t i = 0; i < words.size(); ++i) put(16 + i, words[i].v);
  });
  // Counted even when dropped, so the host sees that the handler exceeded max_outputs.
  b.store(nout_, b.binary(Op::Add, n, b.u32(1)));
}

Val<std::uint32_t> lo(Val<std::uint64_t> v) { return dsl::cast<std::uint32_t>(v); }
Val<std::uint32_t> hi(Val<std::uint64_t> v) { return dsl::cast<std::uint32_t>(v >> std::uint64_t{32}); }

// ---------------------------------------------------------------------------------------------------------
// ActorProgram

ActorProgram::ActorProgram(ActorSpec spec, ir::Kernel portable, ir::GeneratedCode portable_wgsl, bool has_subgroup,
                           ir::Kernel subgroup, ir::GeneratedCode subgroup_wgsl, std::string key)
    : spec_(std::move(spec)), portable_(std::move(portable)), portable_wgsl_(std::move(portable_wgsl)),
      has_subgroup_(has_subgroup), subgroup_(std::move(subgroup)), subgroup_wgsl_(std::move(subgroup_wgsl)),
      key_(std::move(key)), counters_(spec_.counters, 0) {}

Result<std::uint64_t> ActorProgram::counter(std::uint32_t index) const {
  std::lock_guard lk(mu_);
  if (index >= counters_.size()) {
    return make_error(ErrorCode::InvalidArgument,
                      "counter " + std::to_string(index) + " does not exist (the program has " +
                          std::to_string(counters_.size()) + ")",
                      spec_.name);
  }
  return counters_[index];
}

std::string ActorProgram::counter_path_used() const {
  std::lock_guard lk(mu_);
  return path_used_;
}

void ActorProgram::publish_counters(const std::uint64_t* values, std::uint32_t n, std::string_view path) const {
  std::lock_guard lk(mu_);
  for (std::uint32_t i = 0; i < n && i < counters_.size(); ++i) counters_[i] = values[i];
  path_used_ = std::string(path);
}

void ActorProgram::add_counters(const std::uint64_t* deltas, std::uint32_t n) const {
  std::lock_guard lk(mu_);
  for (std::uint32_t i = 0; i < n && i < counters_.size(); ++i) counters_[i] += deltas[i];
}

// ---------------------------------------------------------------------------------------------------------
// The batch kernel

namespace {

// Thread t handles the messages of desc[t]; counters are summed privately and added to the shared 64-bit
// counters once per thread (Atomics) or once per subgroup after a subgroup reduction (Subgroups).
template <class Targets>
Result<ir::Kernel> build_kernel(const ActorSpec& spec, bool subgroups) {
  dsl::KernelBuilder<Targets> k(spec.name, {detail::kWorkgroup, 1, 1});
  Builder& b = k.ir();
  const auto g32 = Type::ptr(ir::AddressSpace::Global, Type::u32());
  const Value staging = b.param("staging", g32);
  const Value desc = b.param("desc", g32);
  const Value state = b.param("state", g32);
  const Value clocks = b.param("clocks", Type::ptr(ir::AddressSpace::Global, Type::u64()));
  const Value out = b.param("out", g32);
  const Value meta = b.param("meta", g32);
  const Value counters = b.param("counters", Type::ptr(ir::AddressSpace::Global, Type::u64()));
  const Value phys = b.param("phys_ms", Type::u64());
  const Value n_actors = b.param("n_actors", Type::u32());
  const std::uint32_t slot_words = 16 + spec.max_payload_words;
  const Value pending = b.var(Type::u64(), std::max(1u, spec.counters), "pending");
  const Value nout = b.var(Type::u32(), 1, "nout");
  const Value handled = b.var(Type::u32(), 1, "handled");
  const Value fail_msg = b.var(Type::u32(), 1, "fail_msg");  // set by ActorContext::fail for this message
  const Value stopped = b.var(Type::u32(), 1, "stopped");    // the actor failed earlier in this batch
  const Value t = b.builtin(Op::GlobalId, ir::Dim::X);
  std::string error;
  b.if_(b.cmp(CmpPred::Lt, t, n_actors), [&] {
    const Value d = b.ptr_add(desc, b.binary(Op::Mul, t, b.u32(detail::kDescWords)));
    const Value slot = b.load(d);
    const Value first = b.load(b.ptr_add(d, b.u32(1)));
    const Value count = b.load(b.ptr_add(d, b.u32(2)));
    const Value self = b.load(b.ptr_add(d, b.u32(3)));
    const Value st = b.ptr_add(state, b.binary(Op::Mul, slot, b.u32(spec.state_words)));
    const Value clk = b.ptr_add(clocks, slot);
    b.store(stopped, b.u32(0));
    b.for_(b.u32(0), count, b.u32(1), [&](Value j) {
      const Value idx = b.binary(Op::Add, first, j);
      // After a failure the actor's remaining messages are not run: the host keeps them for the restarted
      // instance, as the CPU backend leaves the messages behind a failure in the inbox.
      b.if_(
          b.cmp(CmpPred::Ne, b.load(stopped), b.u32(0)),
          [&] { b.store(b.ptr_add(meta, idx), b.u32(detail::kSkipped)); },
          [&] {
            const Value msg = b.ptr_add(staging, b.binary(Op::Mul, idx, b.u32(slot_words)));
            const Value o = b.ptr_add(out, b.binary(Op::Mul, idx, b.u32(slot_words * spec.max_outputs)));
            b.store(nout, b.u32(0));
            b.store(handled, b.u32(0));
            b.store(fail_msg, b.u32(0));
            const Value w8 = b.cast(b.load(b.ptr_add(msg, b.u32(8))), Type::u64());
            const Value w9 = b.cast(b.load(b.ptr_add(msg, b.u32(9))), Type::u64());
            b.hlc_update(clk, b.binary(Op::Or, w8, b.binary(Op::Shl, w9, b.const_int(Type::u64(), 32))), phys);
            const Value type = b.load(b.ptr_add(msg, b.u32(1)));
            for (const auto& h : spec.handlers) {
              b.if_(b.cmp(CmpPred::Eq, type, b.u32(h.type_id)), [&] {
                b.store(handled, b.u32(1));
                ActorContext ctx(&b, msg, o, st, clk, phys, self, nout, pending, fail_msg, &spec, &error);
                h.body(ctx);
              });
            }
            const Value miss = b.select(b.cmp(CmpPred::Eq, b.load(handled), b.u32(0)), b.u32(detail::kUnhandled), b.u32(0));
            const Value n = b.load(nout);
            const Value failed = b.cmp(CmpPred::Ne, b.load(fail_msg), b.u32(0));
            const Value fbit = b.select(failed, b.u32(detail::kFailed), b.u32(0));
            b.store(b.ptr_add(meta, idx), b.binary(Op::Or, b.binary(Op::Or, n, miss), fbit));
            // Exceeding max_outputs is a failure too.
            b.if_(b.binary(Op::Or, failed, b.cmp(CmpPred::Gt, n, b.u32(spec.max_outputs))), [&] { b.store(stopped, b.u32(1)); });
          });
    });
  });
  for (std::uint32_t c = 0; c < spec.counters; ++c) {
    const Value p = b.load(b.ptr_add(pending, b.u32(c)));
    const Value dst = b.ptr_add(counters, b.u32(c));
    if (subgroups) {
      // Reduce 16-bit pieces so no partial sum can overflow 32 bits (subgroups have at most 128 lanes).
      Value total = b.const_int(Type::u64(), 0);
      for (std::uint32_t part = 0; part < 4; ++part) {
        const Value piece = b.cast(b.binary(Op::And, b.binary(Op::Shr, p, b.const_int(Type::u64(), 16 * part)),
                                            b.const_int(Type::u64(), 0xFFFF)),
                                   Type::u32());
        const Value sum = b.reduce(ir::ReduceOp::Add, piece);
        total = b.binary(Op::Add, total, b.binary(Op::Shl, b.cast(sum, Type::u64()), b.const_int(Type::u64(), 16 * part)));
      }
      const Value lane = b.subgroup_builtin(Op::LaneId);
      b.if_(b.binary(Op::And, b.cmp(CmpPred::Eq, lane, b.u32(0)), b.cmp(CmpPred::Ne, total, b.const_int(Type::u64(), 0))),
            [&] { b.atomic(ir::AtomicOp::Add, dst, total); });
    } else {
      b.if_(b.cmp(CmpPred::Ne, p, b.const_int(Type::u64(), 0)), [&] { b.atomic(ir::AtomicOp::Add, dst, p); });
    }
  }
  if (!error.empty()) return make_error(ErrorCode::InvalidArgument, error, "webgpu::compile '" + spec.name + "'");
  return k.finish();
}

} // namespace

Result<std::shared_ptr<const ActorProgram>> compile(const ActorSpec& spec) {
  const std::string ctx = "webgpu::compile '" + spec.name + "'";
  if (spec.name.empty()) return make_error(ErrorCode::InvalidArgument, "actor spec needs a name", ctx);
  if (spec.handlers.empty()) return make_error(ErrorCode::InvalidArgument, "actor spec has no handlers", ctx);
  if (spec.state_words == 0 || spec.state_words > 16384) {
    return make_error(ErrorCode::InvalidArgument, "state_words must be in [1, 16384]", ctx);
  }
  if (spec.initial_state.size() > spec.state_words) {
    return make_error(ErrorCode::InvalidArgument, "initial_state has more words than state_words", ctx);
  }
  if (spec.max_payload_words > (kMaxPayload / 4)) {
    return make_error(ErrorCode::InvalidArgument, "max_payload_words exceeds the 64 KiB payload limit", ctx);
  }
  if (spec.max_outputs == 0 || spec.max_outputs > 64) {
    return make_error(ErrorCode::InvalidArgument, "max_outputs must be in [1, 64]", ctx);
  }
  if (spec.counters > 64) return make_error(ErrorCode::InvalidArgument, "at most 64 counters", ctx);
  if (spec.max_actors == 0 || spec.batch_per_actor == 0 || spec.max_batch == 0) {
    return make_error(ErrorCode::InvalidArgument, "max_actors, batch_per_actor and max_batch must be > 0", ctx);
  }
  for (std::size_t i = 0; i < spec.handlers.size(); ++i) {
    if (!spec.handlers[i].body) return make_error(ErrorCode::InvalidArgument, "handler " + std::to_string(i) + " has no body", ctx);
    for (std::size_t j = 0; j < i; ++j) {
      if (spec.handlers[j].type_id == spec.handlers[i].type_id) {
        return make_error(ErrorCode::InvalidArgument, "two handlers for type " + std::to_string(spec.handlers[i].type_id), ctx);
      }
    }
  }
  for (const auto& h : spec.handlers) {
    if (h.type_id == kOnStartType || h.type_id == kOnStopType) {
      return make_error(ErrorCode::InvalidArgument, "type ids kOnStartType/kOnStopType are reserved for the hooks", ctx);
    }
  }
  // The hooks run as handlers of reserved synthetic messages that the executor (or the CPU path) injects.
  ActorSpec full = spec;
  if (spec.on_start) full.handlers.push_back({kOnStartType, spec.on_start});
  if (spec.on_stop) full.handlers.push_back({kOnStopType, spec.on_stop});
  using Portable = dsl::targets<ir::TargetId::WebGpu>;
  using WithSubgroups = dsl::targets<ir::TargetId::WebGpuSubgroups>;
  auto portable = build_kernel<Portable>(full, false);
  if (!portable) return portable.error();
  auto low = ir::lower(*portable, ir::target_preset(ir::TargetId::WebGpu));
  if (!low) return low.error().with_context(ctx);
  if (low->on_cpu) return make_error(ErrorCode::BackendUnavailable, "the handlers cannot be lowered to WGSL", ctx);
  const bool want_sg = spec.counters > 0 && spec.counter_path != CounterPath::Atomics;
  ir::Kernel sg_kernel;
  ir::GeneratedCode sg_code;
  if (want_sg) {
    auto sg = build_kernel<WithSubgroups>(full, true);
    if (!sg) return sg.error();
    auto sl = ir::lower(*sg, ir::target_preset(ir::TargetId::WebGpuSubgroups));
    if (!sl) return sl.error().with_context(ctx);
    sg_kernel = std::move(*sg);
    sg_code = std::move(sl->code);
  }
  static std::atomic<std::uint64_t> next{1};
  std::string key = "ringkernel.webgpu:" + spec.name + "#" + std::to_string(next.fetch_add(1));
  auto program = std::make_shared<const ActorProgram>(spec, std::move(*portable), std::move(low->code), want_sg,
                                                      std::move(sg_kernel), std::move(sg_code), key);
  {
    std::lock_guard lk(registry_mu());
    for (auto it = registry().begin(); it != registry().end();) {  // forget programs nobody holds any more
      it = it->second.expired() ? registry().erase(it) : std::next(it);
    }
    registry()[key] = program;
  }
  return program;
}

// ---------------------------------------------------------------------------------------------------------
// The CPU path and launching

namespace {

using detail::HostState;

std::uint64_t wall_ms() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

// One message through the portable kernel on the reference interpreter (the CPU backend's path).
ErrorCode run_on_interpreter(const ActorProgram& p, HostState& s, Context& ctx, const MessageHeader& h,
                             const std::byte* payload) {
  const ActorSpec& spec = p.spec();
  const std::uint32_t sw = p.slot_words();
  if (h.payload_len > spec.max_payload_words * 4u) return ErrorCode::InvalidArgument;
  std::vector<std::uint32_t> staging(sw, 0);
  std::memcpy(staging.data(), &h, sizeof h);
  if (h.payload_len != 0) std::memcpy(staging.data() + 16, payload, h.payload_len);
  std::vector<std::uint32_t> desc{0, 0, 1, ctx.self()};
  std::vector<std::uint64_t> clocks{std::max(s.clock, ctx.now().packed)};
  std::vector<std::uint32_t> out(std::size_t{sw} * spec.max_outputs, 0);
  std::vector<std::uint32_t> meta(1, 0);
  std::vector<std::uint64_t> counters(std::max(1u, spec.counters), 0);
  ir::KernelArgs args;
  args.buffer(staging).buffer(desc).buffer(s.words).buffer(clocks).buffer(out).buffer(meta).buffer(counters);
  args.scalar(wall_ms()).scalar(std::uint32_t{1});
  if (auto st = ir::interpret(p.portable_kernel(), {1, 1, 1}, args); !st) {
    ctx.fail("interpreter: " + st.error().describe());
    return ErrorCode::Ok;
  }
  s.clock = clocks[0];
  p.add_counters(counters.data(), spec.counters);
  if ((meta[0] & detail::kUnhandled) != 0) return ErrorCode::UnknownMessageType;
  const std::uint32_t n = meta[0] & detail::kOutputMask;
  for (std::uint32_t i = 0; i < std::min(n, spec.max_outputs); ++i) {
    const std::uint32_t* w = out.data() + std::size_t{i} * sw;
    MessageHeader oh;
    std::memcpy(&oh, w, sizeof oh);
    const bool reply = (oh.flags & msg_flags::kReply) != 0;
    (void)ringkernel::detail::context_send(ctx, oh.destination, oh.type_id, w + 16, oh.payload_len, {},
                                           reply ? oh.correlation_id : 0, reply ? msg_flags::kReply : 0);
  }
  if (n > spec.max_outputs) {
    ctx.fail("handler emitted " + std::to_string(n) + " outputs, max_outputs is " + std::to_string(spec.max_outputs));
  } else if ((meta[0] & detail::kFailed) != 0) {
    ctx.fail("handler of '" + spec.name + "' called fail()");
  }
  return ErrorCode::Ok;
}

void run_hook_on_interpreter(HostState& s, Context& ctx, TypeId hook) {
  const MessageHeader h = detail::hook_message(hook, ctx.self());
  (void)run_on_interpreter(*s.program, s, ctx, h, nullptr);
}

} // namespace

ActorType actor_type(std::shared_ptr<const ActorProgram> program, std::vector<std::uint32_t> initial_state) {
  ActorType t;
  t.type_name = program->spec().name;
  t.type_key = program->key();
  // The words every (re)start loads: the spec's initial state with the launch's words over its start.
  std::vector<std::uint32_t> words(program->spec().state_words, 0);
  std::copy(program->spec().initial_state.begin(), program->spec().initial_state.end(), words.begin());
  std::copy_n(initial_state.begin(), std::min(initial_state.size(), words.size()), words.begin());
  t.create = [program, words = std::move(words)]() -> void* {
    auto* s = new HostState();
    s->program = program;
    s->words = words;
    return s;
  };
  t.destroy = [](void* p) noexcept { delete static_cast<HostState*>(p); };
  // Hooks on the CPU backend: the same synthetic message the WebGPU executor injects, on the interpreter.
  if (program->spec().on_start) {
    t.on_start = [](void* st, Context& ctx) { run_hook_on_interpreter(*static_cast<HostState*>(st), ctx, kOnStartType); };
  }
  if (program->spec().on_stop) {
    t.on_stop = [](void* st, Context& ctx) { run_hook_on_interpreter(*static_cast<HostState*>(st), ctx, kOnStopType); };
  }
  // Host dispatch (CPU backend): the state carries its program, since dispatch is a plain function pointer.
  t.dispatch = [](void* st, Context& ctx, const MessageHeader& h, const std::byte* payload) -> ErrorCode {
    auto* s = static_cast<HostState*>(st);
    return run_on_interpreter(*s->program, *s, ctx, h, payload);
  };
  t.largest_message = std::size_t{program->spec().max_payload_words} * 4;
  return t;
}

Result<ActorHandle> launch(Runtime& rt, std::string_view name, std::shared_ptr<const ActorProgram> program,
                           LaunchOptions opts, std::vector<std::uint32_t> initial_state) {
  if (!program) return make_error(ErrorCode::InvalidArgument, "null program", "webgpu::launch");
  if (initial_state.size() > program->spec().state_words) {
    return make_error(ErrorCode::InvalidArgument,
                      "initial_state has " + std::to_string(initial_state.size()) + " words; '" +
                          program->spec().name + "' has state_words " + std::to_string(program->spec().state_words),
                      "webgpu::launch");
  }
  const std::uint32_t need = (program->slot_words() * 4 + 63) / 64 * 64;
  if (opts.slot_size < need) opts.slot_size = need;
  return rt.launch_type(name, opts, actor_type(std::move(program), std::move(initial_state)));
}

} // namespace ringkernel::webgpu
