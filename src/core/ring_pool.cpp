// Heap memory for the slots of the runtime's host rings, recycled between actors.
#include <cstddef>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include "core/runtime_state.hpp"

namespace ringkernel::detail {
namespace {

// Slots a terminated actor handed back (OwnedRing::release_slots) wait here for the next ring of their size,
// instead of going back to the system: a default receive queue is 256 KiB, which malloc maps fresh and the
// ring faults in page by page (about 10 us of every actor creation, measured). Bounded: beyond kMaxPooled the
// memory is freed.
class SlotPool {
public:
  static constexpr std::size_t kMaxPooled = std::size_t{64} << 20;

  void* take(std::size_t bytes) {
    {
      std::lock_guard lk(mu_);
      auto it = free_.find(bytes);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        pooled_ -= bytes;
        return p;
      }
    }
    auto* block = static_cast<std::byte*>(::operator new(kPrefix + bytes, std::align_val_t{kCacheLine}, std::nothrow));
    if (block == nullptr) return nullptr;
    *reinterpret_cast<std::size_t*>(block) = bytes;
    return block + kPrefix;
  }

  void give(void* p) {
    auto* block = static_cast<std::byte*>(p) - kPrefix;
    const std::size_t bytes = *reinterpret_cast<const std::size_t*>(block);
    {
      std::lock_guard lk(mu_);
      if (pooled_ + bytes <= kMaxPooled) {
        free_[bytes].push_back(p);
        pooled_ += bytes;
        return;
      }
    }
    ::operator delete(block, std::align_val_t{kCacheLine});
  }

private:
  // Each block starts with its size (give() gets only the pointer); a whole line keeps the slots aligned.
  static constexpr std::size_t kPrefix = kCacheLine;
  std::mutex mu_;
  std::unordered_map<std::size_t, std::vector<void*>> free_;
  std::size_t pooled_ = 0;
};

SlotPool& pool() {
  // Never destroyed: rings of a runtime held in a static may be freed after static destructors ran.
  static auto* p = new SlotPool();  // NOLINT(cppcoreguidelines-owning-memory): process lifetime
  return *p;
}

}  // namespace

RingAllocator pooled_heap_rings() {
  RingAllocator a;
  a.allocate = [](std::size_t bytes, void*) { return pool().take(bytes); };
  a.release = [](void* p, void*) { pool().give(p); };
  a.what = "heap";
  // Control blocks stay with their cells; only the slots circulate.
  a.allocate_control = [](std::size_t bytes, void*) -> void* {
    return ::operator new(bytes, std::align_val_t{kCacheLine}, std::nothrow);
  };
  a.release_control = [](void* p, void*) { ::operator delete(p, std::align_val_t{kCacheLine}); };
  return a;
}

}  // namespace ringkernel::detail
