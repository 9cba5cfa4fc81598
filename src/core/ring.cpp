#include "ringkernel/ring.hpp"

#include <new>
#include <string>

namespace ringkernel {

Result<OwnedRing> OwnedRing::create(RingKind kind, std::uint32_t capacity, std::uint32_t slot_size,
                                    const RingAllocator& alloc) {
  const std::uint64_t bytes = ring_storage_bytes(kind, capacity, slot_size);
  if (bytes == 0) {
    return make_error(ErrorCode::InvalidArgument,
                      "ring geometry invalid: capacity " + std::to_string(capacity) +
                          " must be a power of two in [2, " + std::to_string(kMaxRingCapacity) + "], slot size " +
                          std::to_string(slot_size) + " must be a multiple of 64 in [64, " +
                          std::to_string(kMaxSlotSize) + "]",
                      "OwnedRing::create");
  }
  const auto take = [&](std::size_t n) {
    return alloc.allocate != nullptr ? alloc.allocate(n, alloc.ctx)
                                     : ::operator new(n, std::align_val_t{kCacheLine}, std::nothrow);
  };
  const auto out_of_memory = [&](std::size_t n) {
    return make_error(ErrorCode::Internal,
                      std::string("out of ") + alloc.what + " memory allocating " + std::to_string(n) + " bytes",
                      "OwnedRing::create");
  };
  OwnedRing ring;
  ring.alloc_ = alloc;
  ErrorCode rc = ErrorCode::Ok;
  if (alloc.allocate_control != nullptr) {
    const std::uint64_t control_bytes = ring_control_bytes(kind, capacity);
    ring.memory_ = alloc.allocate_control(control_bytes, alloc.ctx);
    if (ring.memory_ == nullptr) return out_of_memory(control_bytes);
    ring.slots_memory_ = take(bytes - control_bytes);  // ring's destructor gives the control block back on failure
    if (ring.slots_memory_ == nullptr) return out_of_memory(bytes - control_bytes);
    rc = ring_init_split(ring.memory_, ring.slots_memory_, kind, capacity, slot_size, &ring.view_, alloc.zeroed);
  } else {
    ring.memory_ = take(bytes);
    if (ring.memory_ == nullptr) return out_of_memory(bytes);
    rc = ring_init(ring.memory_, bytes, kind, capacity, slot_size, &ring.view_, alloc.zeroed);
  }
  if (rc != ErrorCode::Ok) return make_error(rc, "ring_init failed (memory not 128-byte aligned?)", "OwnedRing::create");
  return ring;
}

bool OwnedRing::release_slots() noexcept {
  if (slots_memory_ == nullptr) return false;
  if (alloc_.release != nullptr) alloc_.release(slots_memory_, alloc_.ctx);
  else ::operator delete(slots_memory_, std::align_val_t{kCacheLine});
  slots_memory_ = nullptr;
  return true;
}

void OwnedRing::reset() noexcept {
  (void)release_slots();
  if (memory_ == nullptr) return;
  if (alloc_.allocate_control != nullptr) {
    if (alloc_.release_control != nullptr) alloc_.release_control(memory_, alloc_.ctx);
  } else if (alloc_.release != nullptr) {
    alloc_.release(memory_, alloc_.ctx);
  } else {
    ::operator delete(memory_, std::align_val_t{kCacheLine});
  }
  memory_ = nullptr;
  view_ = {};
}

OwnedRing& OwnedRing::operator=(OwnedRing&& other) noexcept {
  if (this != &other) {
    reset();
    memory_ = other.memory_;
    slots_memory_ = other.slots_memory_;
    alloc_ = other.alloc_;
    view_ = other.view_;
    other.memory_ = nullptr;
    other.slots_memory_ = nullptr;
    other.view_ = {};
  }
  return *this;
}

OwnedRing::~OwnedRing() { reset(); }

} // namespace ringkernel
