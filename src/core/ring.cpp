#include "ringkernel/ring.hpp"

#include <new>
#include <string>

namespace ringkernel {

Result<HeapRing> HeapRing::create(RingKind kind, std::uint32_t capacity, std::uint32_t slot_size) {
  const std::uint64_t bytes = ring_storage_bytes(kind, capacity, slot_size);
  if (bytes == 0) {
    return make_error(ErrorCode::InvalidArgument,
                      "ring geometry invalid: capacity " + std::to_string(capacity) +
                          " must be a power of two in [2, " + std::to_string(kMaxRingCapacity) + "], slot size " +
                          std::to_string(slot_size) + " must be a multiple of 64 in [64, " +
                          std::to_string(kMaxSlotSize) + "]",
                      "HeapRing::create");
  }
  void* memory = ::operator new(bytes, std::align_val_t{kCacheLine}, std::nothrow);
  if (memory == nullptr) {
    return make_error(ErrorCode::Internal, "out of memory allocating " + std::to_string(bytes) + " bytes",
                      "HeapRing::create");
  }
  HeapRing ring;
  ring.memory_ = memory;
  const ErrorCode rc = ring_init(memory, bytes, kind, capacity, slot_size, &ring.view_);
  if (rc != ErrorCode::Ok) return make_error(rc, "ring_init failed", "HeapRing::create");
  return ring;
}

HeapRing& HeapRing::operator=(HeapRing&& other) noexcept {
  if (this != &other) {
    if (memory_ != nullptr) ::operator delete(memory_, std::align_val_t{kCacheLine});
    memory_ = other.memory_;
    view_ = other.view_;
    other.memory_ = nullptr;
    other.view_ = {};
  }
  return *this;
}

HeapRing::~HeapRing() {
  if (memory_ != nullptr) ::operator delete(memory_, std::align_val_t{kCacheLine});
}

} // namespace ringkernel
