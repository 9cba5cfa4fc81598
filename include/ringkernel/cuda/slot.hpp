/// @file cuda/slot.hpp
/// @brief Host/device shared layouts of the CUDA backend: one actor slot of a persistent kernel.
///
/// A persistent kernel hosts a fixed number of actor slots (one thread block each). The host drives a slot
/// through `SlotControl`, which lives in pinned mapped host memory: it writes a command and bumps
/// `cmd_seq`; the block applies the command at a message boundary and publishes `ack_seq`. The block
/// reports its state and counters on a separate 128-byte line so host writes and device writes never share
/// a line. Compiled by both g++ and nvcc; sizes and offsets are asserted.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ringkernel/config.hpp"
#include "ringkernel/ring.hpp"

namespace ringkernel::cuda {

/// Commands the host sends to a slot.
enum class SlotCommand : std::uint32_t {
  None = 0,        ///< Nothing pending.
  Load = 1,        ///< Copy the initial state from `init_state`, run on_start; state -> Launched.
  Activate = 2,    ///< state -> Active (process messages up to `limit`).
  Deactivate = 3,  ///< state -> Deactivated (stop processing; messages stay queued; `state` holds the live state).
  Unload = 4,      ///< Run on_stop; state -> Terminated; the slot is free for reuse.
  Exit = 5,        ///< The block leaves the persistent kernel (runtime shutdown).
  Close = 6,       ///< After Unload: close the K2K inboxes (senders find them full) and mirror the cluster inbox,
                   ///< so the host can dead-letter what is still queued.
  Mirror = 7,      ///< Copy the cluster inbox to `cluster_mirror` (a checkpoint reads it there).
  Reload = 8,      ///< Run on_stop, then Load (a restart): one acknowledged command instead of Unload + Load.
};

/// `SlotControl::cmd_seq` carries the command in its low byte and a counter above it, so the read that tells
/// a block a command is pending also tells it which one (a second PCIe round trip otherwise).
constexpr std::uint64_t next_command_word(std::uint64_t previous, SlotCommand c) {
  return (((previous >> 8) + 1) << 8) | static_cast<std::uint64_t>(c);
}
/// The command a `cmd_seq` word carries.
constexpr SlotCommand command_of(std::uint64_t word) { return static_cast<SlotCommand>(word & 0xFFu); }

/// How an idle block waits for work.
enum class IdlePolicy : std::uint32_t {
  Spin = 0,     ///< Poll continuously: lowest latency, one SM partition busy per slot.
  Backoff = 1,  ///< __nanosleep with exponential back-off up to `max_sleep_ns`.
};

/// Options of a Load command (SlotControl::load_flags).
enum LoadFlags : std::uint32_t {
  kLoadInitK2k = 1,      ///< First load of this actor: initialise its K2K inbox and publish its route.
  kLoadStateInPlace = 2, ///< The host copied the state into `state` itself (large states): skip `init_state`.
  kLoadActivate = 4,     ///< Active right after on_start (Launched otherwise), acknowledged once.
  kLoadReopenK2k = 8,    ///< With kLoadInitK2k: the K2K inbox is a terminated actor's (closed): reopen it, not build it.
};

/// Per-slot control block in pinned mapped host memory. Host writes the first line, the device the second.
struct SlotControl {
  // --- written by the host ---
  alignas(kCacheLine) std::uint64_t cmd_seq;  ///< next_command_word(): stored (release) after what the command reads.
  std::uint32_t reserved0;                    ///< Unused (keeps the offsets below).
  std::uint32_t idle_policy;                  ///< IdlePolicy.
  std::uint64_t limit;                        ///< Consume inbox positions below this only (ordering barrier).
  std::uint32_t max_sleep_ns;                 ///< Back-off ceiling.
  std::uint32_t actor_id;                     ///< Actor in this slot.
  std::uint64_t wall_ms_at_launch;            ///< Host wall clock (ms) when the kernel was launched.
  std::uint32_t load_flags;                   ///< LoadFlags for the next Load command.
  std::uint32_t reserved1;                    ///< Unused.
  /// Where a Load copies a small state from (device pointer into mapped memory; null for states the host copies
  /// into the slot itself). Fixed per slot and written before the kernel starts, so the block knows it before
  /// a Load and reads the state in the same round trip as the descriptor.
  const void* init_state;
  // --- written by the device ---
  alignas(kCacheLine) std::uint64_t ack_seq;  ///< Last cmd_seq applied.
  std::uint32_t state;                        ///< ActorState mirror.
  std::uint32_t last_error;                   ///< ErrorCode of the last failure.
  std::uint64_t processed;                    ///< Messages handled.
  std::uint64_t errors;                       ///< Handler failures.
  std::uint64_t heartbeat;                    ///< Device globaltimer (ns) at the last poll.
  std::uint64_t hlc;                          ///< Actor HLC (packed).
  std::uint64_t replies_dropped;              ///< Replies lost to a full K2H ring.
  std::uint64_t unknown_types;                ///< Messages with no handler (skipped).
  std::uint64_t k2k_refused;                  ///< K2K sends refused (full inbox or unknown actor).
  std::uint64_t k2h_counted;                  ///< K2H messages written before the counters above were (stored
                                              ///< after them with a system fence between): the host waits for it
                                              ///< to cover the replies it consumed before it reads the counters.
};
static_assert(offsetof(SlotControl, cmd_seq) == 0);
static_assert(offsetof(SlotControl, limit) == 16);
static_assert(offsetof(SlotControl, wall_ms_at_launch) == 32);
static_assert(offsetof(SlotControl, load_flags) == 40);
static_assert(offsetof(SlotControl, init_state) == 48);
static_assert(offsetof(SlotControl, ack_seq) == 128);
static_assert(offsetof(SlotControl, processed) == 144);
static_assert(offsetof(SlotControl, hlc) == 168);
static_assert(offsetof(SlotControl, k2h_counted) == 200);
static_assert(sizeof(SlotControl) == 256);

/// What a block needs to run its slot: device-visible pointers in mapped memory, written by the host before
/// each Load command (when an actor moves into the slot) and read by the block while it applies Load.
struct SlotDescriptor {
  SlotControl* control;      ///< Device pointer of the mapped control block.
  RingView inbox;            ///< H2K: MPSC LL ring in mapped memory (host producers, this block consumes).
  RingView outbox;           ///< K2H: SPSC LL ring in mapped memory (this block produces, host consumes).
  RingView k2k;              ///< K2K: MPSC ring in device memory (other device actors produce, this block consumes).
  void* state;               ///< Device memory holding the actor's state (a Load copies it from
                             ///< SlotControl::init_state, or the host writes it for large states).
  void* failed_msg;          ///< Mapped memory (failed_capacity bytes): the message a failing handler was given.
  std::uint64_t failed_capacity;  ///< Bytes at failed_msg (at least one slot).
  /// Device memory (KernelShape::cluster_inbox_bytes) the block copies its shared-memory cluster inbox into on
  /// Close and Mirror, where the host's copy engine can read it; null without clusters.
  void* cluster_mirror;
  std::uint32_t tenant;      ///< The actor's tenant (TenantId): device sends to another tenant are refused.
  std::uint32_t reserved[3]; ///< Keeps the size a multiple of 16 (the block copies it with 16-byte loads).
};
static_assert(sizeof(SlotDescriptor) % 16 == 0);

/// What the host needs to run a device actor type (registered by RINGKERNEL_CUDA_ACTOR).
struct DeviceActorEntry {
  const char* type_key = nullptr;  ///< typeid(A).name(): matches ActorType::type_key.
  const void* kernel = nullptr;    ///< actor_kernel<A> (host stub, for cudaLaunchKernel).
  std::size_t state_size = 0;      ///< sizeof(A).
  std::size_t state_align = 0;     ///< alignof(A).
};

/// Registers a device actor type with the CUDA backend (defined in the cuda component).
bool register_device_actor_entry(const DeviceActorEntry& entry);

/// Slots a staging area holds at the largest slot size: a K2K batch takes up to one per lane of the warp (host
/// batches, read as LL words, are smaller: see actor_kernel.cuh, kLlLoads).
inline constexpr std::uint32_t kWarpBatch = 32;
/// Actor states up to this size (and alignment up to 16) are kept in shared memory while the actor runs.
inline constexpr std::size_t kSharedStateMax = 4096;
/// Most actor slots (warps) one block may host.
inline constexpr std::uint32_t kMaxWarpsPerBlock = 8;
/// Most blocks per thread-block cluster (the portable cluster size).
inline constexpr std::uint32_t kMaxClusterSize = 8;
/// Slots of the shared-memory inbox each actor slot has when its kernel runs in clusters (K2K from actors of
/// the same cluster, written through distributed shared memory).
inline constexpr std::uint32_t kClusterInboxSlots = 16;

/// A `route_tenants` entry of an actor id with no published route (0 = kSystemTenant is a tenant).
inline constexpr std::uint32_t kUnroutedTenant = 0xFFFFFFFFu;

/// Where an actor's cluster inbox is, published by its block on Load next to its global K2K route: a sender in
/// the same kernel (`tag`) and cluster writes into that block's shared memory instead of global memory.
struct ClusterRoute {
  std::uint32_t tag;      ///< Kernel (actor group) tag; 0 = no cluster inbox.
  std::uint32_t cluster;  ///< Cluster index within the grid.
  std::uint32_t rank;     ///< Block rank within the cluster.
  std::uint32_t warp;     ///< Warp (slot) within the block.
};
static_assert(sizeof(ClusterRoute) == 16);

/// True when an actor state of this size and alignment lives in shared memory while the actor runs.
constexpr bool state_in_shared(std::size_t size, std::size_t align) {
  return size <= kSharedStateMax && align <= 16;
}

/// How the shared memory of one actor slot (a warp) is laid out; a block hosting W slots holds W of these
/// back to back. Chosen by the host per actor type, passed to the kernel by value.
struct KernelShape {
  std::uint32_t staging_bytes = 0;   ///< Shared memory a batch of inbox slots is staged in (32 of the largest).
  std::uint32_t reply_bytes = 0;     ///< Shared-memory images of a batch's host replies.
  std::uint32_t reply_slots = 0;     ///< Most buffered replies per batch.
  std::uint32_t state_bytes = 0;     ///< Shared-memory copy of a small state (0 when it stays in device memory).
  std::uint32_t warps_per_block = 1; ///< Actor slots per block.
  std::uint32_t cluster_size = 1;    ///< Blocks per thread-block cluster (1 = no clusters).
  std::uint32_t cluster_inbox_bytes = 0;  ///< Shared-memory K2K inbox of a slot (0 without clusters).
  std::uint32_t group_tag = 0;       ///< Identifies the kernel in ClusterRoute (set by the host, non-zero).

  /// Bytes of shared memory one slot takes: the cluster inbox first (128-byte aligned for the ring), then the
  /// staging area, reply images, their destinations and sizes, the Load descriptor and a small state.
  [[nodiscard]] constexpr std::uint32_t slot_bytes() const {
    return round128(cluster_inbox_bytes + staging_bytes + reply_bytes + round16(reply_slots * 8u) +
                    round16(reply_slots * 4u) + round16(static_cast<std::uint32_t>(sizeof(SlotDescriptor))) +
                    round16(state_bytes));
  }
  /// Dynamic shared memory of one block.
  [[nodiscard]] constexpr std::uint32_t block_bytes() const { return slot_bytes() * warps_per_block; }
  /// The shape for `warps` slots per block and a state of `state_size` bytes aligned to `state_align`: a
  /// block-sized slot stages 32 slots of up to 1 KiB; warp-sized slots stage 32 of up to 256 B so that up to
  /// eight fit one block's shared memory.
  static constexpr KernelShape make(std::uint32_t warps, std::size_t state_size, std::size_t state_align,
                                    std::uint32_t cluster = 1) {
    KernelShape k;
    k.warps_per_block = warps;
    k.cluster_size = cluster;
    k.staging_bytes = warps == 1 ? kWarpBatch * 1024u : kWarpBatch * 256u;
    k.reply_bytes = warps == 1 ? 16u * 1024u : 4u * 1024u;
    k.reply_slots = warps == 1 ? 256u : 64u;
    k.state_bytes = state_in_shared(state_size, state_align) ? round16(static_cast<std::uint32_t>(state_size)) : 0u;
    k.cluster_inbox_bytes =
        cluster > 1 ? round128(static_cast<std::uint32_t>(
                          ring_storage_bytes(RingKind::Mpsc, kClusterInboxSlots, k.max_slot_size())))
                    : 0u;
    return k;
  }
  /// Largest inbox slot (bytes) this shape stages a full row of.
  [[nodiscard]] constexpr std::uint32_t max_slot_size() const { return staging_bytes / kWarpBatch; }

private:
  static constexpr std::uint32_t round16(std::uint32_t v) { return (v + 15u) / 16u * 16u; }
  static constexpr std::uint32_t round128(std::uint32_t v) { return (v + 127u) / 128u * 128u; }
};

} // namespace ringkernel::cuda
