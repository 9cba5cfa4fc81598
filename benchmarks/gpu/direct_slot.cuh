// One slot of actor_kernel<A> driven without the host runtime: the LL inbox and K2H rings in mapped memory,
// the control block and descriptor written by hand, Load and Activate acknowledged. Row 3b of gpu_bench.cu and
// probes/kernel_stages.cu time request -> reply through it; the gap to a runtime call() is host-runtime cost.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "ringkernel/cuda/actor_kernel.cuh"

namespace rk_bench {

template <class A>
class DirectSlot {
public:
  DirectSlot() = default;
  DirectSlot(const DirectSlot&) = delete;
  DirectSlot& operator=(const DirectSlot&) = delete;
  ~DirectSlot() { (void)stop(); }

  // Launches actor_kernel<A> with one slot (actor id 1) holding `proto`, loaded and active; false (after
  // saying why) on failure.
  bool start(const A& proto, std::uint32_t capacity = 1024, std::uint32_t slot_size = 256) {
    using namespace ringkernel;
    using namespace ringkernel::cuda;
    const void* kernel = reinterpret_cast<const void*>(&actor_kernel<A>);
    KernelShape shape = KernelShape::make(1, sizeof(A), alignof(A));
    const std::uint64_t in_bytes = ring_storage_bytes(RingKind::MpscLl, capacity, slot_size);
    const std::uint64_t out_bytes = ring_storage_bytes(RingKind::SpscLl, capacity, slot_size);
    if (!ok(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                 static_cast<int>(shape.block_bytes())), "shared memory size") ||
        !ok(cudaHostAlloc(&in_mem_, in_bytes, cudaHostAllocMapped), "inbox") ||
        !ok(cudaHostAlloc(&out_mem_, out_bytes, cudaHostAllocMapped), "K2H ring") ||
        !ok(cudaHostAlloc(&ctl_mem_, sizeof(SlotControl), cudaHostAllocMapped), "control block")) {
      return false;
    }
    std::memset(ctl_mem_, 0, sizeof(SlotControl));
    if (ring_init(in_mem_, in_bytes, RingKind::MpscLl, capacity, slot_size, &in_) != ErrorCode::Ok ||
        ring_init(out_mem_, out_bytes, RingKind::SpscLl, capacity, slot_size, &out_) != ErrorCode::Ok) {
      std::fprintf(stderr, "direct slot: ring_init failed\n");
      return false;
    }
    ctl_ = static_cast<SlotControl*>(ctl_mem_);
    ctl_->limit = UINT64_MAX;
    ctl_->actor_id = 1;
    ctl_->load_flags = ringkernel::cuda::kLoadInitK2k;  // a new actor: its rings start at position 0
    // Whole 16-byte vectors: the block copies states with 16-byte loads.
    const std::size_t bytes = (sizeof(A) + 15) / 16 * 16;
    if (!ok(cudaMalloc(&state_, bytes), "state") || !ok(cudaMalloc(&init_, bytes), "initial state") ||
        !ok(cudaMemcpy(init_, &proto, sizeof(A), cudaMemcpyHostToDevice), "initial state copy")) {
      return false;
    }
    ctl_->init_state = init_;
    SlotDescriptor d{};
    d.control = ctl_;  // UVA: mapped host pointers are valid device pointers
    d.inbox = in_;
    d.outbox = out_;
    d.state = state_;
    if (!ok(cudaMalloc(reinterpret_cast<void**>(&desc_), sizeof(d)), "descriptor") ||
        !ok(cudaMemcpy(desc_, &d, sizeof(d), cudaMemcpyHostToDevice), "descriptor copy") ||
        !ok(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "stream")) {
      return false;
    }
    SlotControl* ctl_arg = ctl_;
    RingView* no_routes = nullptr;
    ClusterRoute* no_croutes = nullptr;
    std::uint32_t* no_tenants = nullptr;
    std::uint32_t no_route_count = 0;
    void* args[] = {&desc_, &ctl_arg, &no_routes, &no_croutes, &no_tenants, &no_route_count, &shape};
    if (!ok(cudaLaunchKernel(kernel, dim3(1), dim3(32), args, shape.block_bytes(), stream_), "launch")) return false;
    running_ = true;
    k2h_ = SpscConsumer(out_);
    command(SlotCommand::Load);
    command(SlotCommand::Activate);
    return true;
  }

  // Sends `req` to the actor as the host would and spins until its reply lands in `reply`; false when the
  // inbox is full or the reply has another size.
  template <class Req, class Rep>
  bool request(const Req& req, Rep& reply) {
    using namespace ringkernel;
    if (MpscProducer(in_).try_push(make_header<Req>(kHostActor, 1), &req) != ErrorCode::Ok) return false;
    bool fits = false;
    // Bounded: a slot that stopped serving makes the benchmark fail, not hang.
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (k2h_.pop_batch(1, [&](const MessageHeader& h, const std::byte* payload) {
             fits = h.payload_len == sizeof(Rep);
             if (fits) std::memcpy(&reply, payload, sizeof(Rep));
           }) == 0) {
      if (std::chrono::steady_clock::now() > give_up) return false;
    }
    return fits;
  }

  // Streams `total` requests through the slot, at most `window` unanswered at a time, as one host thread
  // would: `make(i)` builds request i, `check(i, reply)` says whether reply i is right. Returns messages per
  // second, or 0 (after saying why) on a wrong reply or when nothing moved for 2 s.
  template <class Req, class Rep, class Make, class Check>
  double stream(std::uint64_t total, std::uint32_t window, Make&& make, Check&& check) {
    using namespace ringkernel;
    MpscProducer producer(in_);
    const MessageHeader header = make_header<Req>(kHostActor, 1);
    std::uint64_t sent = 0, got = 0;
    bool bad = false;
    const auto t0 = std::chrono::steady_clock::now();
    auto last = t0;
    while (got < total && !bad) {
      if (sent < total && sent - got < window) {
        const std::uint64_t room = std::min<std::uint64_t>(total - sent, window - (sent - got));
        sent += producer.push_batch(static_cast<std::uint32_t>(std::min<std::uint64_t>(room, 256)),
                                    [&](std::byte* slot, std::uint32_t i) {
                                      const Req r = make(sent + i);
                                      MessageHeader h = header;
                                      ring_write_slot(slot, h, &r);
                                    });
      }
      const std::uint32_t n = k2h_.pop_batch(4096, [&](const MessageHeader& h, const std::byte* payload) {
        Rep rep{};
        if (h.payload_len != sizeof(Rep)) {
          bad = true;
          return;
        }
        std::memcpy(&rep, payload, sizeof(Rep));
        if (!check(got, rep)) bad = true;
        ++got;
      });
      const auto now = std::chrono::steady_clock::now();
      if (n != 0) last = now;
      else if (now - last > std::chrono::seconds(2)) {
        std::fprintf(stderr, "direct slot stream: stalled at %llu of %llu replies\n",
                     static_cast<unsigned long long>(got), static_cast<unsigned long long>(total));
        return 0;
      }
    }
    if (bad) {
      std::fprintf(stderr, "direct slot stream: wrong reply %llu\n", static_cast<unsigned long long>(got));
      return 0;
    }
    return static_cast<double>(total) / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }

  // Restarts the actor as the CUDA backend does (SlotCommand::Reload: on_stop, then the initial state loaded
  // again and on_start), waiting for the acknowledgement; its rings keep their positions.
  void reload() {
    // Not a new actor (its rings keep their positions); active again once loaded, as the runtime's restart.
    ringkernel::detail::store_relaxed(&ctl_->load_flags, std::uint32_t{ringkernel::cuda::kLoadActivate});
    command(ringkernel::cuda::SlotCommand::Reload);
  }

  // Tells the kernel to leave, waits for it and frees everything; false on a CUDA error.
  bool stop() {
    bool good = true;
    if (running_) {
      command(ringkernel::cuda::SlotCommand::Exit);
      good = ok(cudaStreamSynchronize(stream_), "kernel");
      running_ = false;
    }
    if (stream_ != nullptr) (void)cudaStreamDestroy(stream_);
    for (void* p : {static_cast<void*>(desc_), state_, init_}) {
      if (p != nullptr) (void)cudaFree(p);
    }
    for (void* p : {in_mem_, out_mem_, ctl_mem_}) {
      if (p != nullptr) (void)cudaFreeHost(p);
    }
    stream_ = nullptr;
    desc_ = nullptr;
    state_ = init_ = in_mem_ = out_mem_ = ctl_mem_ = nullptr;
    return good;
  }

private:
  static bool ok(cudaError_t e, const char* what) {
    if (e == cudaSuccess) return true;
    std::fprintf(stderr, "direct slot: %s: %s\n", what, cudaGetErrorString(e));
    return false;
  }
  // Publishes a slot command and waits for the block's acknowledgement.
  void command(ringkernel::cuda::SlotCommand c) {
    const std::uint64_t next = ringkernel::cuda::next_command_word(ctl_->cmd_seq, c);
    ringkernel::detail::store_release(&ctl_->cmd_seq, next);
    while (ringkernel::detail::load_acquire(&ctl_->ack_seq) < next) {
    }
  }

  void *in_mem_ = nullptr, *out_mem_ = nullptr, *ctl_mem_ = nullptr, *state_ = nullptr, *init_ = nullptr;
  ringkernel::RingView in_{}, out_{};
  ringkernel::SpscConsumer k2h_{ringkernel::RingView{}};
  ringkernel::cuda::SlotControl* ctl_ = nullptr;
  ringkernel::cuda::SlotDescriptor* desc_ = nullptr;
  cudaStream_t stream_ = nullptr;
  bool running_ = false;
};

} // namespace rk_bench
