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
  void* memory = alloc.allocate != nullptr ? alloc.allocate(bytes, alloc.ctx)
                                           : ::operator new(bytes, std::align_val_t{kCacheLine}, std::nothrow);
  if (memory == nullptr) {
    return make_error(ErrorCode::Internal,
                      std::string("out of ") + alloc.what + " memory allocating " + std::to_string(bytes) + " bytes",
                      "OwnedRing::create");
  }
  OwnedRing ring;
  ring.memory_ = memory;
  ring.alloc_ = alloc;
  const ErrorCode rc = ring_init(memory, bytes, kind, capacity, slot_size, &ring.view_, alloc.zeroed);
  if (rc != ErrorCode::Ok) return make_error(rc, "ring_init failed (memory not 128-byte aligned?)", "OwnedRing::create");
  return ring;
}

void OwnedRing::reset() noexcept {
  if (memory_ == nullptr) return;
  if (alloc_.release != nullptr) alloc_.release(memory_, alloc_.ctx);
  else ::operator delete(memory_, std::align_val_t{kCacheLine});
  memory_ = nullptr;
}

OwnedRing& OwnedRing::operator=(OwnedRing&& other) noexcept {
  if (this != &other) {
    reset();
    memory_ = other.memory_;
    alloc_ = other.alloc_;
    view_ = other.view_;
    other.memory_ = nullptr;
    other.view_ = {};
  }
  return *this;
}

OwnedRing::~OwnedRing() { reset(); }

} // namespace ringkernel
