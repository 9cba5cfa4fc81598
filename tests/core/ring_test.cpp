// Single-threaded tests for ringkernel/ring.hpp: geometry, init/attach validation, SPSC and MPSC semantics.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <cstring>
#include <deque>
#include <memory>
#include <new>
#include <vector>

#include "core/runtime_state.hpp"  // detail::peek_ring (snapshots of queued messages)
#include "ringkernel/ring.hpp"

namespace rk = ringkernel;
using rk::ErrorCode;
using rk::RingKind;

namespace {

struct Seq {
  static constexpr auto type_id = rk::message_type("test.Seq");
  std::uint64_t value;
};

// 128-byte aligned owned buffer for ring_init tests.
struct AlignedBuffer {
  explicit AlignedBuffer(std::size_t n) : size(n), data(static_cast<std::byte*>(::operator new(n, std::align_val_t{128}))) {}
  ~AlignedBuffer() { ::operator delete(data, std::align_val_t{128}); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  std::size_t size;
  std::byte* data;
};

rk::MessageHeader header_for(std::uint64_t seq, std::uint16_t payload_len = 0) {
  rk::MessageHeader h = rk::make_header<Seq>(1, 2);
  h.message_id = seq;
  h.payload_len = payload_len;
  return h;
}

// Uniform access to both ring kinds so every behaviour is checked on SPSC and MPSC alike.
template <RingKind K>
struct Ops;

template <>
struct Ops<RingKind::Spsc> {
  using Producer = rk::SpscProducer;
  using Consumer = rk::SpscConsumer;
};
template <>
struct Ops<RingKind::Mpsc> {
  using Producer = rk::MpscProducer;
  using Consumer = rk::MpscConsumer;
};
template <>
struct Ops<RingKind::SpscLl> : Ops<RingKind::Spsc> {};
template <>
struct Ops<RingKind::MpscLl> : Ops<RingKind::Mpsc> {};

template <class KindTag>
class RingTest : public ::testing::Test {
protected:
  static constexpr RingKind kKind = KindTag::value;
  using Producer = typename Ops<kKind>::Producer;
  using Consumer = typename Ops<kKind>::Consumer;

  static rk::OwnedRing make(std::uint32_t capacity, std::uint32_t slot_size = 128) {
    auto r = rk::OwnedRing::create(kKind, capacity, slot_size);
    EXPECT_TRUE(r.ok());
    return std::move(r).value();
  }

  // Pushes a message whose payload is the 8-byte sequence number (slot must be >= 128) or header only.
  static ErrorCode push(Producer& p, std::uint64_t seq, bool with_payload = true) {
    const rk::MessageHeader h = header_for(seq, with_payload ? sizeof(std::uint64_t) : 0);
    return p.try_push(h, with_payload ? &seq : nullptr);
  }

  // Pops up to `max` messages, checking header/payload consistency; returns the sequence numbers.
  static std::vector<std::uint64_t> pop(Consumer& c, std::uint32_t max) {
    std::vector<std::uint64_t> out;
    const std::uint32_t n = c.pop_batch(max, [&](const rk::MessageHeader& h, const std::byte* payload) {
      EXPECT_TRUE(h.valid());
      EXPECT_EQ(h.type_id, Seq::type_id);
      if (h.payload_len == sizeof(std::uint64_t)) {
        std::uint64_t v;
        std::memcpy(&v, payload, sizeof v);
        EXPECT_EQ(v, h.message_id);
      }
      out.push_back(h.message_id);
    });
    EXPECT_EQ(n, out.size());
    return out;
  }

  // Pops until a pop returns nothing.
  static std::vector<std::uint64_t> drain(Consumer& c) {
    std::vector<std::uint64_t> all;
    for (;;) {
      auto part = pop(c, 1000);
      if (part.empty()) return all;
      all.insert(all.end(), part.begin(), part.end());
    }
  }
};

using Kinds = ::testing::Types<std::integral_constant<RingKind, RingKind::Spsc>,
                               std::integral_constant<RingKind, RingKind::Mpsc>,
                               std::integral_constant<RingKind, RingKind::SpscLl>,
                               std::integral_constant<RingKind, RingKind::MpscLl>>;
struct KindNames {
  template <class T>
  static std::string GetName(int) {
    switch (T::value) {
      case RingKind::Spsc: return "Spsc";
      case RingKind::Mpsc: return "Mpsc";
      case RingKind::SpscLl: return "SpscLl";
      case RingKind::MpscLl: return "MpscLl";
    }
    return "?";
  }
};
TYPED_TEST_SUITE(RingTest, Kinds, KindNames);

} // namespace

// ---------------------------------------------------------------------------------------------------------
// Geometry and storage
// ---------------------------------------------------------------------------------------------------------

static_assert(rk::ring_check_geometry(2, 64) == ErrorCode::Ok);
static_assert(rk::ring_check_geometry(3, 64) == ErrorCode::InvalidArgument);
static_assert(rk::ring_storage_bytes(RingKind::Spsc, 4, 64) == 384 + 4 * 64);

TEST(RingGeometryTest, AcceptsValidGeometry) {
  EXPECT_EQ(rk::ring_check_geometry(2, 64), ErrorCode::Ok);
  EXPECT_EQ(rk::ring_check_geometry(1024, 128), ErrorCode::Ok);
  EXPECT_EQ(rk::ring_check_geometry(rk::kMaxRingCapacity, rk::kMinSlotSize), ErrorCode::Ok);
  EXPECT_EQ(rk::ring_check_geometry(2, rk::kMaxSlotSize), ErrorCode::Ok);
}

TEST(RingGeometryTest, RejectsCapacityNotPowerOfTwo) {
  for (std::uint32_t c : {3u, 5u, 6u, 7u, 12u, 1000u, 1023u, 1025u}) {
    EXPECT_EQ(rk::ring_check_geometry(c, 64), ErrorCode::InvalidArgument) << c;
  }
}

TEST(RingGeometryTest, RejectsCapacityTooSmallOrTooBig) {
  EXPECT_EQ(rk::ring_check_geometry(0, 64), ErrorCode::InvalidArgument);
  EXPECT_EQ(rk::ring_check_geometry(1, 64), ErrorCode::InvalidArgument);
  EXPECT_EQ(rk::ring_check_geometry(rk::kMaxRingCapacity * 2, 64), ErrorCode::InvalidArgument);
  EXPECT_EQ(rk::ring_check_geometry(0x80000000u, 64), ErrorCode::InvalidArgument);
}

TEST(RingGeometryTest, RejectsBadSlotSize) {
  EXPECT_EQ(rk::ring_check_geometry(8, 0), ErrorCode::InvalidArgument);
  EXPECT_EQ(rk::ring_check_geometry(8, 32), ErrorCode::InvalidArgument);   // smaller than a header
  EXPECT_EQ(rk::ring_check_geometry(8, 65), ErrorCode::InvalidArgument);   // not a multiple of 64
  EXPECT_EQ(rk::ring_check_geometry(8, 96), ErrorCode::InvalidArgument);   // not a multiple of 64
  EXPECT_EQ(rk::ring_check_geometry(8, 100), ErrorCode::InvalidArgument);
  EXPECT_EQ(rk::ring_check_geometry(8, rk::kMaxSlotSize + 64), ErrorCode::InvalidArgument);  // too big
}

TEST(RingGeometryTest, StorageBytes) {
  EXPECT_EQ(sizeof(rk::RingControl), 384u);
  EXPECT_EQ(rk::ring_storage_bytes(RingKind::Spsc, 8, 64), 384u + 8 * 64);
  EXPECT_EQ(rk::ring_storage_bytes(RingKind::Spsc, 1024, 256), 384u + 1024 * 256);
  // MPSC adds one u64 sequence word per slot, rounded up to a 128-byte line.
  EXPECT_EQ(rk::ring_storage_bytes(RingKind::Mpsc, 8, 64), 384u + 128 + 8 * 64);     // 64 B -> 128
  EXPECT_EQ(rk::ring_storage_bytes(RingKind::Mpsc, 16, 64), 384u + 128 + 16 * 64);   // 128 B exactly
  EXPECT_EQ(rk::ring_storage_bytes(RingKind::Mpsc, 2, 64), 384u + 128 + 2 * 64);     // 16 B -> 128
  EXPECT_EQ(rk::ring_storage_bytes(RingKind::Mpsc, 1024, 128), 384u + 8192 + 1024 * 128);
  // Invalid geometry: 0.
  EXPECT_EQ(rk::ring_storage_bytes(RingKind::Spsc, 3, 64), 0u);
  EXPECT_EQ(rk::ring_storage_bytes(RingKind::Mpsc, 8, 65), 0u);
}

TEST(RingGeometryTest, LayoutMatchesInitWithoutTouchingMemory) {
  for (RingKind kind : {RingKind::Spsc, RingKind::Mpsc}) {
    const std::uint64_t bytes = rk::ring_storage_bytes(kind, 64, 192);
    AlignedBuffer buf(bytes);
    std::memset(buf.data, 0xAB, bytes);
    const rk::RingView planned = rk::ring_layout(buf.data, kind, 64, 192);
    EXPECT_EQ(static_cast<unsigned char>(buf.data[0]), 0xABu);  // layout computed, nothing written
    rk::RingView v{};
    ASSERT_EQ(rk::ring_init(buf.data, bytes, kind, 64, 192, &v), ErrorCode::Ok);
    EXPECT_EQ(planned.control, v.control);
    EXPECT_EQ(planned.seq, v.seq);
    EXPECT_EQ(planned.slots, v.slots);
    EXPECT_EQ(planned.mask, v.mask);
    EXPECT_EQ(planned.slot_size, v.slot_size);
    EXPECT_EQ(v.slots + 64 * 192, buf.data + bytes);  // the last slot ends where the storage does
  }
}

TEST(RingGeometryTest, InitOfZeroedMemorySkipsClearingButIsEquivalent) {
  const std::uint64_t bytes = rk::ring_storage_bytes(RingKind::Mpsc, 16, 128);
  AlignedBuffer buf(bytes);
  std::memset(buf.data, 0, bytes);
  rk::RingView v{};
  ASSERT_EQ(rk::ring_init(buf.data, bytes, RingKind::Mpsc, 16, 128, &v, /*zeroed=*/true), ErrorCode::Ok);
  rk::RingView attached{};
  ASSERT_EQ(rk::ring_attach(buf.data, RingKind::Mpsc, &attached), ErrorCode::Ok);
  EXPECT_EQ(attached.seq, v.seq);
  Seq m{7};
  ASSERT_EQ(rk::MpscProducer(v).try_push(rk::make_header<Seq>(1, 2), &m), ErrorCode::Ok);
  rk::MpscConsumer c(v);
  std::uint64_t got = 0;
  EXPECT_EQ(c.pop_batch(4, [&](const rk::MessageHeader&, const std::byte* p) { std::memcpy(&got, p, 8); }), 1u);
  EXPECT_EQ(got, 7u);
}

TEST(RingGeometryTest, AlignHelper) {
  EXPECT_EQ(rk::ring_align(0), 0u);
  EXPECT_EQ(rk::ring_align(1), 128u);
  EXPECT_EQ(rk::ring_align(128), 128u);
  EXPECT_EQ(rk::ring_align(129), 256u);
}

// ---------------------------------------------------------------------------------------------------------
// ring_init / ring_attach
// ---------------------------------------------------------------------------------------------------------

TEST(RingInitTest, InitialisesViewAndControl) {
  for (RingKind kind : {RingKind::Spsc, RingKind::Mpsc}) {
    const std::uint64_t need = rk::ring_storage_bytes(kind, 16, 128);
    AlignedBuffer buf(need);
    std::memset(buf.data, 0xCD, buf.size);  // garbage: init must not depend on zeroed memory
    rk::RingView v;
    ASSERT_EQ(rk::ring_init(buf.data, need, kind, 16, 128, &v), ErrorCode::Ok);
    EXPECT_TRUE(v.valid());
    EXPECT_EQ(v.capacity(), 16u);
    EXPECT_EQ(v.mask, 15u);
    EXPECT_EQ(v.slot_size, 128u);
    EXPECT_EQ(v.max_payload(), 64u);
    EXPECT_EQ(v.size_approx(), 0u);
    EXPECT_EQ(reinterpret_cast<std::byte*>(v.control), buf.data);
    EXPECT_EQ(v.control->magic, rk::kRingMagic);
    EXPECT_EQ(v.control->kind, static_cast<std::uint32_t>(kind));
    EXPECT_EQ(v.control->head, 0u);
    EXPECT_EQ(v.control->tail, 0u);
    EXPECT_EQ(v.slots + 16 * 128, buf.data + need);  // slots end exactly at the storage end
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(v.slots) % rk::kCacheLine, 0u);
    if (kind == RingKind::Mpsc) {
      ASSERT_NE(v.seq, nullptr);
      for (int i = 0; i < 16; ++i) EXPECT_EQ(v.seq[i], 0u) << i;
    } else {
      EXPECT_EQ(v.seq, nullptr);
    }
    EXPECT_EQ(v.slot(0), v.slots);
    EXPECT_EQ(v.slot(17), v.slots + 128);  // wraps with the mask
  }
}

TEST(RingInitTest, RejectsBadArguments) {
  const std::uint64_t need = rk::ring_storage_bytes(RingKind::Mpsc, 8, 64);
  AlignedBuffer buf(need + 256);
  rk::RingView v;
  EXPECT_EQ(rk::ring_init(nullptr, need, RingKind::Spsc, 8, 64, &v), ErrorCode::InvalidArgument);
  EXPECT_EQ(rk::ring_init(buf.data, need, RingKind::Spsc, 8, 64, nullptr), ErrorCode::InvalidArgument);
  // Misaligned memory (64-byte aligned is not enough).
  EXPECT_EQ(rk::ring_init(buf.data + 64, need, RingKind::Spsc, 8, 64, &v), ErrorCode::InvalidArgument);
  EXPECT_EQ(rk::ring_init(buf.data + 8, need, RingKind::Spsc, 8, 64, &v), ErrorCode::InvalidArgument);
  // Too few bytes.
  EXPECT_EQ(rk::ring_init(buf.data, need - 1, RingKind::Mpsc, 8, 64, &v), ErrorCode::InvalidArgument);
  EXPECT_EQ(rk::ring_init(buf.data, rk::ring_storage_bytes(RingKind::Spsc, 8, 64) - 1, RingKind::Spsc, 8, 64, &v),
            ErrorCode::InvalidArgument);
  // The MPSC sequence array is accounted for: SPSC-sized memory is too small for MPSC.
  EXPECT_EQ(rk::ring_init(buf.data, rk::ring_storage_bytes(RingKind::Spsc, 8, 64), RingKind::Mpsc, 8, 64, &v),
            ErrorCode::InvalidArgument);
  // Bad geometry.
  EXPECT_EQ(rk::ring_init(buf.data, need, RingKind::Spsc, 6, 64, &v), ErrorCode::InvalidArgument);
  EXPECT_EQ(rk::ring_init(buf.data, need, RingKind::Spsc, 8, 72, &v), ErrorCode::InvalidArgument);
  // Unknown kind.
  EXPECT_EQ(rk::ring_init(buf.data, need, static_cast<RingKind>(7), 8, 64, &v), ErrorCode::InvalidArgument);
  EXPECT_FALSE(v.valid());  // nothing was written to the view on failure
  // More memory than needed is fine.
  EXPECT_EQ(rk::ring_init(buf.data, need + 256, RingKind::Mpsc, 8, 64, &v), ErrorCode::Ok);
}

TEST(RingAttachTest, AttachSeesTheSameRing) {
  for (RingKind kind : {RingKind::Spsc, RingKind::Mpsc}) {
    const std::uint64_t need = rk::ring_storage_bytes(kind, 8, 128);
    AlignedBuffer buf(need);
    rk::RingView a, b;
    ASSERT_EQ(rk::ring_init(buf.data, need, kind, 8, 128, &a), ErrorCode::Ok);
    ASSERT_EQ(rk::ring_attach(buf.data, kind, &b), ErrorCode::Ok);
    EXPECT_EQ(a.control, b.control);
    EXPECT_EQ(a.seq, b.seq);
    EXPECT_EQ(a.slots, b.slots);
    EXPECT_EQ(a.mask, b.mask);
    EXPECT_EQ(a.slot_size, b.slot_size);
    // Produce through one view, consume through the other.
    const std::uint64_t payload = 99;
    const rk::MessageHeader h = header_for(5, sizeof payload);
    std::uint64_t got = 0;
    std::uint32_t n = 0;
    if (kind == RingKind::Spsc) {
      rk::SpscProducer p(a);
      ASSERT_EQ(p.try_push(h, &payload), ErrorCode::Ok);
      rk::SpscConsumer c(b);
      n = c.pop_batch(8, [&](const rk::MessageHeader&, const std::byte* pl) { std::memcpy(&got, pl, 8); });
    } else {
      rk::MpscProducer p(a);
      ASSERT_EQ(p.try_push(h, &payload), ErrorCode::Ok);
      rk::MpscConsumer c(b);
      n = c.pop_batch(8, [&](const rk::MessageHeader&, const std::byte* pl) { std::memcpy(&got, pl, 8); });
    }
    EXPECT_EQ(n, 1u);
    EXPECT_EQ(got, 99u);
  }
}

TEST(RingAttachTest, RejectsBadMemory) {
  const std::uint64_t need = rk::ring_storage_bytes(RingKind::Mpsc, 8, 64);
  AlignedBuffer buf(need);
  rk::RingView v;
  EXPECT_EQ(rk::ring_attach(nullptr, RingKind::Spsc, &v), ErrorCode::InvalidArgument);
  EXPECT_EQ(rk::ring_attach(buf.data, RingKind::Spsc, nullptr), ErrorCode::InvalidArgument);
  // Uninitialised (bad magic).
  std::memset(buf.data, 0, buf.size);
  EXPECT_EQ(rk::ring_attach(buf.data, RingKind::Spsc, &v), ErrorCode::Corrupt);
  // Initialised as MPSC, attached as SPSC (wrong kind) and vice versa.
  ASSERT_EQ(rk::ring_init(buf.data, need, RingKind::Mpsc, 8, 64, &v), ErrorCode::Ok);
  rk::RingView w;
  EXPECT_EQ(rk::ring_attach(buf.data, RingKind::Spsc, &w), ErrorCode::Corrupt);
  EXPECT_FALSE(w.valid());
  EXPECT_EQ(rk::ring_attach(buf.data, RingKind::Mpsc, &w), ErrorCode::Ok);
  // Corrupted magic.
  v.control->magic ^= 1;
  EXPECT_EQ(rk::ring_attach(buf.data, RingKind::Mpsc, &w), ErrorCode::Corrupt);
  v.control->magic ^= 1;
  // Corrupted geometry.
  v.control->capacity = 6;
  EXPECT_EQ(rk::ring_attach(buf.data, RingKind::Mpsc, &w), ErrorCode::Corrupt);
  v.control->capacity = 8;
  v.control->slot_size = 100;
  EXPECT_EQ(rk::ring_attach(buf.data, RingKind::Mpsc, &w), ErrorCode::Corrupt);
}

// ---------------------------------------------------------------------------------------------------------
// OwnedRing
// ---------------------------------------------------------------------------------------------------------

TEST(OwnedRingTest, CreateRejectsBadGeometryWithDescriptiveError) {
  const auto r = rk::OwnedRing::create(RingKind::Spsc, 100, 64);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::InvalidArgument);
  EXPECT_EQ(r.error().context(), "OwnedRing::create");
  EXPECT_NE(r.error().message().find("100"), std::string::npos) << r.error().message();
  const auto s = rk::OwnedRing::create(RingKind::Mpsc, 8, 70);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message().find("70"), std::string::npos) << s.error().message();
}

TEST(OwnedRingTest, CreateAndMove) {
  auto r = rk::OwnedRing::create(RingKind::Mpsc, 32, 192);
  ASSERT_TRUE(r.ok());
  rk::OwnedRing ring = std::move(r).value();
  EXPECT_TRUE(ring.view().valid());
  EXPECT_EQ(ring.view().capacity(), 32u);
  EXPECT_EQ(ring.view().max_payload(), 128u);
  const auto* control = ring.view().control;

  rk::OwnedRing moved(std::move(ring));
  EXPECT_EQ(moved.view().control, control);
  EXPECT_FALSE(ring.view().valid());  // NOLINT(bugprone-use-after-move): moved-from state is specified

  auto other = rk::OwnedRing::create(RingKind::Spsc, 4, 64);
  ASSERT_TRUE(other.ok());
  other.value() = std::move(moved);  // releases the old SPSC ring, takes the MPSC one
  EXPECT_EQ(other->view().control, control);
  EXPECT_FALSE(moved.view().valid());  // NOLINT(bugprone-use-after-move)
  rk::RingView attached;
  EXPECT_EQ(rk::ring_attach(other->view().control, RingKind::Mpsc, &attached), ErrorCode::Ok);
}

// An allocator that records what it hands out and gets back (for split rings).
struct CountingAllocator {
  std::vector<std::pair<void*, std::size_t>> live;
  int control_taken = 0, control_freed = 0, slots_taken = 0, slots_freed = 0;
  static void* take(std::size_t n, CountingAllocator* self) {
    void* p = ::operator new(n, std::align_val_t{128});
    std::memset(p, 0xA5, n);  // not zeroed: init must clear what it relies on
    self->live.emplace_back(p, n);
    return p;
  }
  static void give(void* p, CountingAllocator* self) {
    std::erase_if(self->live, [&](const auto& e) { return e.first == p; });
    ::operator delete(p, std::align_val_t{128});
  }
  rk::RingAllocator allocator() {
    rk::RingAllocator a;
    a.ctx = this;
    a.allocate = [](std::size_t n, void* c) {
      ++static_cast<CountingAllocator*>(c)->slots_taken;
      return take(n, static_cast<CountingAllocator*>(c));
    };
    a.release = [](void* p, void* c) {
      ++static_cast<CountingAllocator*>(c)->slots_freed;
      give(p, static_cast<CountingAllocator*>(c));
    };
    a.allocate_control = [](std::size_t n, void* c) {
      ++static_cast<CountingAllocator*>(c)->control_taken;
      return take(n, static_cast<CountingAllocator*>(c));
    };
    a.release_control = [](void* p, void* c) {
      ++static_cast<CountingAllocator*>(c)->control_freed;
      give(p, static_cast<CountingAllocator*>(c));
    };
    return a;
  }
};

TEST(OwnedRingTest, SplitRingKeepsItsControlBlockReadableAfterItsSlotsGoBack) {
  for (const RingKind kind : {RingKind::Mpsc, RingKind::MpscLl, RingKind::SpscLl}) {
    SCOPED_TRACE(static_cast<int>(kind));
    CountingAllocator counts;
    {
      auto r = rk::OwnedRing::create(kind, 8, 128, counts.allocator());
      ASSERT_TRUE(r.ok()) << r.error().describe();
      ASSERT_EQ(counts.live.size(), 2u);
      // The control block (and an MPSC ring's sequence words) and the slots are the two allocations.
      EXPECT_EQ(counts.live[0].second, rk::ring_control_bytes(kind, 8));
      EXPECT_EQ(counts.live[0].second + counts.live[1].second, rk::ring_storage_bytes(kind, 8, 128));
      EXPECT_EQ(static_cast<void*>(r->view().control), counts.live[0].first);
      EXPECT_EQ(static_cast<void*>(r->view().slots), counts.live[1].first);
      // A working ring on memory that was not zeroed.
      const rk::RingView& v = r->view();
      if (kind == RingKind::SpscLl) {
        rk::SpscProducer p(v);
        ASSERT_EQ(p.try_push(header_for(7), nullptr), ErrorCode::Ok);
        rk::SpscConsumer c(v);
        EXPECT_EQ(c.pop_batch(8, [](const rk::MessageHeader& h, const std::byte*) { EXPECT_EQ(h.message_id, 7u); }), 1u);
      } else {
        rk::MpscProducer p(v);
        for (std::uint64_t i = 1; i <= 3; ++i) ASSERT_EQ(p.try_push(header_for(i), nullptr), ErrorCode::Ok);
        rk::MpscConsumer c(v);
        std::vector<std::uint64_t> got;
        EXPECT_EQ(c.pop_batch(2, [&](const rk::MessageHeader& h, const std::byte*) { got.push_back(h.message_id); }), 2u);
        EXPECT_EQ(got, (std::vector<std::uint64_t>{1, 2}));
      }
      const std::uint64_t depth = v.size_approx();
      EXPECT_TRUE(r->release_slots());
      EXPECT_EQ(counts.slots_freed, 1);
      EXPECT_EQ(counts.control_freed, 0);
      EXPECT_FALSE(r->release_slots()) << "only once";
      EXPECT_EQ(counts.slots_freed, 1);
      // Head and tail stay readable: the control block is still the ring's.
      EXPECT_EQ(r->view().size_approx(), depth);
      EXPECT_EQ(r->view().capacity(), 8u);
      rk::OwnedRing moved(std::move(r).value());
      EXPECT_EQ(moved.view().size_approx(), depth);
    }
    EXPECT_EQ(counts.control_taken, 1);
    EXPECT_EQ(counts.control_freed, 1) << "the destructor gives the control block back";
    EXPECT_EQ(counts.slots_freed, 1) << "and not the slots twice";
    EXPECT_TRUE(counts.live.empty());
  }
}

TEST(OwnedRingTest, ReleaseSlotsOfARingInOneAllocationDoesNothing) {
  auto r = rk::OwnedRing::create(RingKind::Mpsc, 8, 64);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->release_slots());
  EXPECT_TRUE(r->view().valid());
  rk::MpscProducer p(r->view());
  EXPECT_EQ(p.try_push(header_for(1), nullptr), ErrorCode::Ok) << "the slots are still the ring's";
}

TEST(OwnedRingTest, PooledHeapRingsHandSlotsToTheNextRingOfTheirSize) {
  const rk::RingAllocator pooled = rk::detail::pooled_heap_rings();
  // An unusual geometry, so that no slots of this size wait in the process-wide pool already.
  auto a = rk::OwnedRing::create(RingKind::Mpsc, 64, 448, pooled);
  ASSERT_TRUE(a.ok());
  std::byte* const slots = a->view().slots;
  EXPECT_EQ(rk::MpscProducer(a->view()).try_push(header_for(1), nullptr), ErrorCode::Ok);
  EXPECT_TRUE(a->release_slots());
  auto other = rk::OwnedRing::create(RingKind::Mpsc, 32, 448, pooled);  // another size: other slots
  ASSERT_TRUE(other.ok());
  EXPECT_NE(other->view().slots, slots);
  auto b = rk::OwnedRing::create(RingKind::Mpsc, 64, 448, pooled);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->view().slots, slots) << "the slots went back to the system instead of to the next ring";
  EXPECT_NE(b->view().control, a->view().control) << "a's control block is still a's";
  // b starts empty although its slots hold a's message: the sequence words in its own control block decide.
  rk::MpscConsumer c(b->view());
  EXPECT_EQ(c.pop_batch(8, [](const rk::MessageHeader&, const std::byte*) {}), 0u);
  EXPECT_EQ(a->view().size_approx(), 1u) << "a's head and tail stay readable";
}

TEST(RingInitTest, SplitInitRejectsBadArguments) {
  AlignedBuffer control(rk::ring_control_bytes(RingKind::Mpsc, 8) + 128);
  AlignedBuffer slots(8 * 64 + 128);
  rk::RingView v;
  EXPECT_EQ(rk::ring_init_split(nullptr, slots.data, RingKind::Mpsc, 8, 64, &v), ErrorCode::InvalidArgument);
  EXPECT_EQ(rk::ring_init_split(control.data, nullptr, RingKind::Mpsc, 8, 64, &v), ErrorCode::InvalidArgument);
  EXPECT_EQ(rk::ring_init_split(control.data, slots.data + 64, RingKind::Mpsc, 8, 64, &v), ErrorCode::InvalidArgument)
      << "misaligned slots";
  EXPECT_EQ(rk::ring_init_split(control.data, slots.data, RingKind::Mpsc, 6, 64, &v), ErrorCode::InvalidArgument);
  ASSERT_EQ(rk::ring_init_split(control.data, slots.data, RingKind::Mpsc, 8, 64, &v), ErrorCode::Ok);
  EXPECT_EQ(static_cast<void*>(v.control), static_cast<void*>(control.data));
  EXPECT_EQ(static_cast<void*>(v.slots), static_cast<void*>(slots.data));
  EXPECT_EQ(static_cast<void*>(v.seq), static_cast<void*>(control.data + sizeof(rk::RingControl)));
}

// ---------------------------------------------------------------------------------------------------------
// Behaviour common to SPSC and MPSC
// ---------------------------------------------------------------------------------------------------------

TYPED_TEST(RingTest, EmptyRingPopsNothing) {
  auto ring = this->make(8);
  typename TestFixture::Consumer c(ring.view());
  EXPECT_TRUE(this->pop(c, 8).empty());
  EXPECT_EQ(ring.view().size_approx(), 0u);
}

TYPED_TEST(RingTest, FullRingReportsQueueFullAndRecovers) {
  auto ring = this->make(4);
  typename TestFixture::Producer p(ring.view());
  typename TestFixture::Consumer c(ring.view());
  for (std::uint64_t i = 0; i < 4; ++i) ASSERT_EQ(this->push(p, i), ErrorCode::Ok) << i;
  EXPECT_EQ(ring.view().size_approx(), 4u);
  EXPECT_EQ(this->push(p, 4), ErrorCode::QueueFull);
  EXPECT_EQ(this->push(p, 4), ErrorCode::QueueFull);  // stays full, nothing half-written
  EXPECT_EQ(ring.view().size_approx(), 4u);
  EXPECT_EQ(this->pop(c, 1), std::vector<std::uint64_t>{0});
  EXPECT_EQ(this->push(p, 4), ErrorCode::Ok);
  EXPECT_EQ(this->push(p, 5), ErrorCode::QueueFull);
  EXPECT_EQ(this->drain(c), (std::vector<std::uint64_t>{1, 2, 3, 4}));
  EXPECT_TRUE(this->pop(c, 100).empty());
}

TYPED_TEST(RingTest, MessageTooLargeIsRejectedWithoutSideEffects) {
  auto ring = this->make(4, 128);  // 64 bytes of payload per slot
  typename TestFixture::Producer p(ring.view());
  typename TestFixture::Consumer c(ring.view());
  std::byte big[200]{};
  EXPECT_EQ(p.try_push(header_for(0, 65), big), ErrorCode::MessageTooLarge);
  EXPECT_EQ(p.try_push(header_for(0, 200), big), ErrorCode::MessageTooLarge);
  EXPECT_EQ(p.try_push(header_for(0, 0xFFFF), big), ErrorCode::MessageTooLarge);
  EXPECT_EQ(ring.view().size_approx(), 0u);
  // Exactly the slot's payload capacity fits.
  std::byte exact[64];
  for (int i = 0; i < 64; ++i) exact[i] = static_cast<std::byte>(i);
  ASSERT_EQ(p.try_push(header_for(7, 64), exact), ErrorCode::Ok);
  std::uint32_t n = c.pop_batch(4, [&](const rk::MessageHeader& h, const std::byte* pl) {
    EXPECT_EQ(h.payload_len, 64);
    EXPECT_EQ(std::memcmp(pl, exact, 64), 0);
  });
  EXPECT_EQ(n, 1u);
  // A header-only ring takes no payload at all.
  auto tiny = this->make(4, 64);
  typename TestFixture::Producer tp(tiny.view());
  EXPECT_EQ(tp.try_push(header_for(0, 1), big), ErrorCode::MessageTooLarge);
  EXPECT_EQ(tp.try_push(header_for(0, 0), nullptr), ErrorCode::Ok);
  // MessageTooLarge takes precedence over QueueFull.
  for (int i = 0; i < 3; ++i) ASSERT_EQ(tp.try_push(header_for(0, 0), nullptr), ErrorCode::Ok);
  EXPECT_EQ(tp.try_push(header_for(0, 0), nullptr), ErrorCode::QueueFull);
  EXPECT_EQ(tp.try_push(header_for(0, 1), big), ErrorCode::MessageTooLarge);
}

TYPED_TEST(RingTest, HeaderIsCopiedVerbatim) {
  auto ring = this->make(2, 64);
  typename TestFixture::Producer p(ring.view());
  typename TestFixture::Consumer c(ring.view());
  rk::MessageHeader h = header_for(42, 0);
  h.priority = 200;
  h.flags = rk::msg_flags::kReply | rk::msg_flags::kTraceSampled;
  h.correlation_id = 0x12345678;
  h.tenant = 9;
  h.hlc = 0xABCDEF0123456789ull;
  for (int i = 0; i < 16; ++i) h.trace_id[i] = static_cast<std::uint8_t>(i * 3);
  for (int i = 0; i < 8; ++i) h.span_id[i] = static_cast<std::uint8_t>(255 - i);
  ASSERT_EQ(p.try_push(h, nullptr), ErrorCode::Ok);
  ASSERT_EQ(c.pop_batch(1, [&](const rk::MessageHeader& got, const std::byte*) {
              EXPECT_EQ(std::memcmp(&got, &h, sizeof h), 0);
            }),
            1u);
}

TYPED_TEST(RingTest, FifoOrder) {
  auto ring = this->make(64);
  typename TestFixture::Producer p(ring.view());
  typename TestFixture::Consumer c(ring.view());
  for (std::uint64_t i = 0; i < 50; ++i) ASSERT_EQ(this->push(p, i, i % 2 == 0), ErrorCode::Ok);
  std::vector<std::uint64_t> got;
  while (true) {
    auto part = this->pop(c, 7);
    if (part.empty()) break;
    got.insert(got.end(), part.begin(), part.end());
  }
  ASSERT_EQ(got.size(), 50u);
  for (std::uint64_t i = 0; i < 50; ++i) EXPECT_EQ(got[i], i);
}

TYPED_TEST(RingTest, PopBatchRespectsMax) {
  auto ring = this->make(16);
  typename TestFixture::Producer p(ring.view());
  typename TestFixture::Consumer c(ring.view());
  for (std::uint64_t i = 0; i < 10; ++i) ASSERT_EQ(this->push(p, i), ErrorCode::Ok);
  EXPECT_TRUE(this->pop(c, 0).empty());
  EXPECT_EQ(this->pop(c, 3), (std::vector<std::uint64_t>{0, 1, 2}));
  EXPECT_EQ(ring.view().size_approx(), 7u);
  EXPECT_EQ(this->pop(c, 100).size(), 7u);
  EXPECT_EQ(ring.view().size_approx(), 0u);
}

TYPED_TEST(RingTest, PushBatchIsPartialWhenNearlyFull) {
  auto ring = this->make(8);
  typename TestFixture::Producer p(ring.view());
  typename TestFixture::Consumer c(ring.view());
  std::uint64_t next = 0;
  std::uint64_t batch_base = 0;
  auto fill = [&](std::byte* slot, std::uint32_t i) {
    EXPECT_EQ(i, next - batch_base);  // indices are 0..k-1 in order within each batch
    const std::uint64_t seq = next++;
    const rk::MessageHeader h = header_for(seq, sizeof seq);
    rk::ring_write_slot(slot, h, &seq);
    return true;
  };
  auto batch = [&](std::uint32_t n) { batch_base = next; return p.push_batch(n, fill); };
  EXPECT_EQ(batch(5), 5u);
  EXPECT_EQ(ring.view().size_approx(), 5u);
  EXPECT_EQ(batch(5), 3u);  // only 3 slots left
  EXPECT_EQ(ring.view().size_approx(), 8u);
  EXPECT_EQ(batch(5), 0u);  // full
  EXPECT_EQ(batch(0), 0u);
  EXPECT_EQ(next, 8u);      // fill was called exactly once per landed message
  EXPECT_EQ(this->pop(c, 2), (std::vector<std::uint64_t>{0, 1}));
  EXPECT_EQ(batch(10), 2u);
  EXPECT_EQ(this->drain(c), (std::vector<std::uint64_t>{2, 3, 4, 5, 6, 7, 8, 9}));
}

TYPED_TEST(RingTest, PushBatchPassesSequentialIndices) {
  auto ring = this->make(16);
  typename TestFixture::Producer p(ring.view());
  typename TestFixture::Consumer c(ring.view());
  std::vector<std::uint32_t> indices;
  const std::uint32_t n = p.push_batch(6, [&](std::byte* slot, std::uint32_t i) {
    indices.push_back(i);
    rk::ring_write_slot(slot, header_for(100 + i), nullptr);
    return true;
  });
  EXPECT_EQ(n, 6u);
  EXPECT_EQ(indices, (std::vector<std::uint32_t>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(this->pop(c, 16), (std::vector<std::uint64_t>{100, 101, 102, 103, 104, 105}));
}

TYPED_TEST(RingTest, WrapAroundOverManyLaps) {
  constexpr std::uint32_t kCap = 8;
  auto ring = this->make(kCap);
  typename TestFixture::Producer p(ring.view());
  typename TestFixture::Consumer c(ring.view());
  std::uint64_t pushed = 0, popped = 0;
  // Uneven push/pop sizes so the occupied window drifts across the wrap point in every phase.
  for (int round = 0; round < 2000; ++round) {
    const int want = 1 + round % 7;
    for (int i = 0; i < want; ++i) {
      const ErrorCode rc = this->push(p, pushed);
      if (rc == ErrorCode::QueueFull) {
        ASSERT_EQ(pushed - popped, kCap);
        break;
      }
      ASSERT_EQ(rc, ErrorCode::Ok);
      ++pushed;
    }
    ASSERT_EQ(ring.view().size_approx(), pushed - popped);
    for (std::uint64_t v : this->pop(c, 1 + round % 5)) ASSERT_EQ(v, popped++);
  }
  for (std::uint64_t v : this->pop(c, kCap)) ASSERT_EQ(v, popped++);
  EXPECT_EQ(pushed, popped);
  EXPECT_GT(pushed / kCap, 500u) << "should have lapped the ring many times";
  EXPECT_EQ(ring.view().control->head, pushed);
  EXPECT_EQ(ring.view().control->tail, popped);
}

TYPED_TEST(RingTest, ReattachedEndpointsResumeFromSharedIndices) {
  auto ring = this->make(8);
  {
    typename TestFixture::Producer p(ring.view());
    for (std::uint64_t i = 0; i < 5; ++i) ASSERT_EQ(this->push(p, i), ErrorCode::Ok);
  }
  {
    typename TestFixture::Consumer c(ring.view());
    EXPECT_EQ(this->pop(c, 2), (std::vector<std::uint64_t>{0, 1}));
  }
  // New endpoints pick up head/tail from the ring memory.
  typename TestFixture::Producer p(ring.view());
  typename TestFixture::Consumer c(ring.view());
  for (std::uint64_t i = 5; i < 10; ++i) ASSERT_EQ(this->push(p, i), ErrorCode::Ok);
  EXPECT_EQ(this->push(p, 10), ErrorCode::QueueFull);
  EXPECT_EQ(this->drain(c), (std::vector<std::uint64_t>{2, 3, 4, 5, 6, 7, 8, 9}));
}

// ---------------------------------------------------------------------------------------------------------
// SPSC specifics
// ---------------------------------------------------------------------------------------------------------

TEST(SpscRingTest, FreeSlotsAndAvailable) {
  auto r = rk::OwnedRing::create(RingKind::Spsc, 8, 64);
  ASSERT_TRUE(r.ok());
  rk::SpscProducer p(r->view());
  rk::SpscConsumer c(r->view());
  EXPECT_EQ(p.free_slots(), 8u);
  EXPECT_EQ(c.available(), 0u);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(p.try_push(header_for(i), nullptr), ErrorCode::Ok);
  EXPECT_EQ(p.free_slots(), 5u);
  EXPECT_EQ(c.available(), 3u);
  EXPECT_EQ(c.pop_batch(2, [](const rk::MessageHeader&, const std::byte*) {}), 2u);
  EXPECT_EQ(c.available(), 1u);
  // The producer's cached tail is stale until it needs more room than it thinks it has.
  EXPECT_EQ(p.free_slots(1), 5u);
  EXPECT_EQ(p.free_slots(6), 7u);
}

TEST(SpscRingTest, BatchPopRefreshesTheProducerIndexWhenItsCachedViewIsShort) {
  auto r = rk::OwnedRing::create(RingKind::Spsc, 8, 64);
  ASSERT_TRUE(r.ok());
  rk::SpscProducer p(r->view());
  rk::SpscConsumer c(r->view());
  auto none = [](const rk::MessageHeader&, const std::byte*) {};
  for (int i = 0; i < 3; ++i) ASSERT_EQ(p.try_push(header_for(i), nullptr), ErrorCode::Ok);
  EXPECT_EQ(c.pop_batch(1, none), 1u);  // caches head = 3
  for (int i = 3; i < 6; ++i) ASSERT_EQ(p.try_push(header_for(i), nullptr), ErrorCode::Ok);
  EXPECT_EQ(c.pop_batch(8, none), 5u);  // cached view (2) is short of 8: refresh -> messages 1..5
  EXPECT_EQ(c.pop_batch(8, none), 0u);
}

TEST(SpscRingTest, PushBatchStopsWhenFillReturnsFalse) {
  auto r = rk::OwnedRing::create(RingKind::Spsc, 16, 128);
  ASSERT_TRUE(r.ok());
  rk::SpscProducer p(r->view());
  rk::SpscConsumer c(r->view());
  // Messages 0..9 where #4 is "too large": fill refuses it, the batch stops there.
  int calls = 0;
  const std::uint32_t n = p.push_batch(10, [&](std::byte* slot, std::uint32_t i) {
    ++calls;
    if (i == 4) return false;
    rk::ring_write_slot(slot, header_for(i), nullptr);
    return true;
  });
  EXPECT_EQ(n, 4u);
  EXPECT_EQ(calls, 5);
  EXPECT_EQ(r->view().size_approx(), 4u);
  // Refusing the very first message publishes nothing.
  EXPECT_EQ(p.push_batch(3, [](std::byte*, std::uint32_t) { return false; }), 0u);
  EXPECT_EQ(r->view().size_approx(), 4u);
  std::vector<std::uint64_t> got;
  c.pop_batch(16, [&](const rk::MessageHeader& h, const std::byte*) { got.push_back(h.message_id); });
  EXPECT_EQ(got, (std::vector<std::uint64_t>{0, 1, 2, 3}));
  // The slot the refused fill touched is reused by the next push.
  ASSERT_EQ(p.try_push(header_for(77), nullptr), ErrorCode::Ok);
  got.clear();
  c.pop_batch(16, [&](const rk::MessageHeader& h, const std::byte*) { got.push_back(h.message_id); });
  EXPECT_EQ(got, std::vector<std::uint64_t>{77});
}

// ---------------------------------------------------------------------------------------------------------
// MPSC specifics
// ---------------------------------------------------------------------------------------------------------

TEST(MpscRingTest, ReadyTracksThePublishedSlot) {
  auto r = rk::OwnedRing::create(RingKind::Mpsc, 4, 64);
  ASSERT_TRUE(r.ok());
  rk::MpscProducer p(r->view());
  rk::MpscConsumer c(r->view());
  EXPECT_FALSE(c.ready());
  ASSERT_EQ(p.try_push(header_for(1), nullptr), ErrorCode::Ok);
  EXPECT_TRUE(c.ready());
  EXPECT_EQ(r->view().seq[0], 1u);  // position 0 published as 1
  EXPECT_EQ(c.pop_batch(4, [](const rk::MessageHeader&, const std::byte*) {}), 1u);
  EXPECT_FALSE(c.ready());
}

TEST(MpscRingTest, ConsumerStopsAtUnpublishedSlot) {
  // Simulate a producer that claimed a position but has not published it yet: the consumer must stop there
  // even though later positions are published.
  auto r = rk::OwnedRing::create(RingKind::Mpsc, 8, 64);
  ASSERT_TRUE(r.ok());
  const rk::RingView& v = r->view();
  rk::MpscProducer p(v);
  rk::MpscConsumer c(v);
  ASSERT_EQ(p.try_push(header_for(0), nullptr), ErrorCode::Ok);
  ASSERT_EQ(p.try_push(header_for(1), nullptr), ErrorCode::Ok);
  ASSERT_EQ(p.try_push(header_for(2), nullptr), ErrorCode::Ok);
  v.seq[1] = 0;  // un-publish position 1
  std::vector<std::uint64_t> got;
  auto collect = [&](const rk::MessageHeader& h, const std::byte*) { got.push_back(h.message_id); };
  EXPECT_EQ(c.pop_batch(8, collect), 1u);
  EXPECT_EQ(got, std::vector<std::uint64_t>{0});
  EXPECT_FALSE(c.ready());
  EXPECT_EQ(c.pop_batch(8, collect), 0u);
  EXPECT_EQ(v.size_approx(), 2u);  // claimed-but-unpublished counts as queued
  v.seq[1] = 2;  // publish it
  EXPECT_EQ(c.pop_batch(8, collect), 2u);
  EXPECT_EQ(got, (std::vector<std::uint64_t>{0, 1, 2}));
}

TEST(MpscRingTest, PublishedCountsThePrefixAndItsNewestStampWithoutConsuming) {
  for (const RingKind kind : {RingKind::Mpsc, RingKind::MpscLl}) {
    auto r = rk::OwnedRing::create(kind, 8, 64);
    ASSERT_TRUE(r.ok());
    const rk::RingView& v = r->view();
    rk::MpscProducer p(v);
    rk::MpscConsumer c(v);
    std::uint64_t newest = 99;
    EXPECT_EQ(c.published(8, &newest), 0u) << "empty ring";
    EXPECT_EQ(newest, 0u);
    // Stamps out of order: the newest is not the last.
    for (const std::uint64_t stamp : {30u, 50u, 40u}) {
      rk::MessageHeader h = header_for(stamp);
      h.hlc = stamp;
      ASSERT_EQ(p.try_push(h, nullptr), ErrorCode::Ok);
    }
    EXPECT_EQ(c.published(8, &newest), 3u);
    EXPECT_EQ(newest, 50u);
    EXPECT_EQ(c.published(1, &newest), 1u) << "only the first `max` messages";
    EXPECT_EQ(newest, 30u);
    if (kind == RingKind::Mpsc) {
      v.seq[1] = 0;  // position 1 claimed but not published: the prefix ends before it
      EXPECT_EQ(c.published(8, &newest), 1u);
      EXPECT_EQ(newest, 30u);
      v.seq[1] = 2;
    }
    // Nothing was consumed: the pop sees all three, in order.
    std::vector<std::uint64_t> got;
    EXPECT_EQ(c.pop_batch(8, [&](const rk::MessageHeader& h, const std::byte*) { got.push_back(h.hlc); }), 3u);
    EXPECT_EQ(got, (std::vector<std::uint64_t>{30, 50, 40}));
    EXPECT_EQ(c.published(8, &newest), 0u) << "consumed";
  }
}

TEST(MpscRingTest, StaleSequenceFromPreviousLapIsNotMistakenForPublished) {
  auto r = rk::OwnedRing::create(RingKind::Mpsc, 4, 64);
  ASSERT_TRUE(r.ok());
  rk::MpscProducer p(r->view());
  rk::MpscConsumer c(r->view());
  auto drop = [](const rk::MessageHeader&, const std::byte*) {};
  for (int i = 0; i < 4; ++i) ASSERT_EQ(p.try_push(header_for(i), nullptr), ErrorCode::Ok);
  EXPECT_EQ(c.pop_batch(4, drop), 4u);
  // Slot 0 still holds seq 1 from lap 0; position 4 needs seq 5.
  EXPECT_FALSE(c.ready());
  EXPECT_EQ(c.pop_batch(4, drop), 0u);
  ASSERT_EQ(p.try_push(header_for(4), nullptr), ErrorCode::Ok);
  EXPECT_EQ(r->view().seq[0], 5u);
  EXPECT_TRUE(c.ready());
}

TEST(MpscRingTest, PushBatchTellsAThreeArgumentFillHowManyWereClaimed) {
  for (const RingKind kind : {RingKind::Mpsc, RingKind::MpscLl}) {
    auto r = rk::OwnedRing::create(kind, 8, 64);
    ASSERT_TRUE(r.ok());
    rk::MpscProducer p(r->view());
    ASSERT_EQ(p.try_push(header_for(0), nullptr), ErrorCode::Ok);
    ASSERT_EQ(p.try_push(header_for(1), nullptr), ErrorCode::Ok);
    // 10 wanted, 6 free: every call sees k = 6, and the fill numbers the messages from it.
    std::vector<std::uint32_t> seen;
    std::uint64_t base = 0;
    const std::uint32_t n = p.push_batch(10, [&](std::byte* slot, std::uint32_t i, std::uint32_t k) {
      seen.push_back(k);
      if (i == 0) base = 100 + k;
      rk::ring_write_slot(slot, header_for(base + i), nullptr);
    });
    EXPECT_EQ(n, 6u);
    EXPECT_EQ(seen, std::vector<std::uint32_t>(6, 6u));
    // Now full: no fill is called at all.
    EXPECT_EQ(p.push_batch(2, [](std::byte*, std::uint32_t, std::uint32_t) { ADD_FAILURE() << "fill on a full ring"; }),
              0u);
    std::vector<std::uint64_t> got;
    rk::MpscConsumer c(r->view());
    c.pop_batch(8, [&](const rk::MessageHeader& h, const std::byte*) { got.push_back(h.message_id); });
    EXPECT_EQ(got, (std::vector<std::uint64_t>{0, 1, 106, 107, 108, 109, 110, 111}));
  }
}

TEST(MpscRingTest, SeveralProducerObjectsShareOneRing) {
  auto r = rk::OwnedRing::create(RingKind::Mpsc, 8, 64);
  ASSERT_TRUE(r.ok());
  rk::MpscProducer a(r->view()), b(r->view());
  rk::MpscConsumer c(r->view());
  ASSERT_EQ(a.try_push(header_for(0), nullptr), ErrorCode::Ok);
  ASSERT_EQ(b.try_push(header_for(1), nullptr), ErrorCode::Ok);
  EXPECT_EQ(a.push_batch(10, [](std::byte* s, std::uint32_t i) { rk::ring_write_slot(s, header_for(2 + i), nullptr); }),
            6u);
  EXPECT_EQ(b.try_push(header_for(99), nullptr), ErrorCode::QueueFull);
  EXPECT_EQ(b.push_batch(3, [](std::byte*, std::uint32_t) { ADD_FAILURE() << "fill called on a full ring"; }), 0u);
  std::vector<std::uint64_t> got;
  c.pop_batch(8, [&](const rk::MessageHeader& h, const std::byte*) { got.push_back(h.message_id); });
  EXPECT_EQ(got, (std::vector<std::uint64_t>{0, 1, 2, 3, 4, 5, 6, 7}));
}

// ---------------------------------------------------------------------------------------------------------
// Model-based property: any sequence of operations behaves like a bounded FIFO.
// ---------------------------------------------------------------------------------------------------------

namespace {
template <RingKind K>
void check_against_model() {
  using P = typename Ops<K>::Producer;
  using C = typename Ops<K>::Consumer;
  const std::uint32_t cap = 1u << *rc::gen::inRange(1, 6);
  auto made = rk::OwnedRing::create(K, cap, 128);
  RC_ASSERT(made.ok());
  const rk::OwnedRing ring = std::move(made).value();
  P p(ring.view());
  C c(ring.view());
  std::deque<std::uint64_t> model;
  std::uint64_t next = 0;
  const auto ops = *rc::gen::container<std::vector<std::pair<int, std::uint32_t>>>(
      rc::gen::pair(rc::gen::inRange(0, 3), rc::gen::inRange<std::uint32_t>(0, 2 * cap + 1)));
  for (const auto& [op, n] : ops) {
    if (op == 0) {  // single push
      const std::uint64_t seq = next;
      const ErrorCode rc = p.try_push(header_for(seq, 8), &seq);
      if (model.size() == cap) {
        RC_ASSERT(rc == ErrorCode::QueueFull);
      } else {
        RC_ASSERT(rc == ErrorCode::Ok);
        model.push_back(next++);
      }
    } else if (op == 1) {  // batch push
      const std::uint32_t expect = std::min<std::uint32_t>(n, cap - static_cast<std::uint32_t>(model.size()));
      const std::uint32_t got = p.push_batch(n, [&](std::byte* slot, std::uint32_t) {
        const std::uint64_t seq = next++;
        rk::ring_write_slot(slot, header_for(seq, 8), &seq);
        model.push_back(seq);
        return true;
      });
      RC_ASSERT(got == expect);
    } else {  // batch pop
      std::vector<std::uint64_t> got;
      c.pop_batch(n, [&](const rk::MessageHeader& h, const std::byte* pl) {
        std::uint64_t v;
        std::memcpy(&v, pl, 8);
        RC_ASSERT(v == h.message_id);
        got.push_back(v);
      });
      const std::size_t most = std::min<std::size_t>(n, model.size());
      // Both consumers return everything published, up to the batch size (SPSC refreshes its cached
      // producer index whenever the cached view is shorter than the batch).
      RC_ASSERT(got.size() == most);
      for (std::uint64_t v : got) {
        RC_ASSERT(v == model.front());
        model.pop_front();
      }
    }
    RC_ASSERT(ring.view().size_approx() == model.size());
  }
}
} // namespace

RC_GTEST_PROP(RingModelProp, SpscBehavesLikeBoundedFifo, ()) { check_against_model<RingKind::Spsc>(); }
RC_GTEST_PROP(RingModelProp, MpscBehavesLikeBoundedFifo, ()) { check_against_model<RingKind::Mpsc>(); }

// Producers keep a consumed count they saw (tail_seen) on their own line and read the consumer's tail only when
// that one leaves too little room: it may lag, but must never cost room (a batch cut short is a message lost
// for a caller that dead-letters what did not fit) nor let a producer overwrite an unread slot.
TEST(MpscRingTest, ProducersReadTheConsumersTailOnlyWhenTheirsLeavesTooLittleRoom) {
  const std::uint64_t bytes = rk::ring_storage_bytes(RingKind::Mpsc, 8, 128);
  AlignedBuffer buf(bytes);
  rk::RingView v{};
  ASSERT_EQ(rk::ring_init(buf.data, bytes, RingKind::Mpsc, 8, 128, &v), ErrorCode::Ok);
  rk::MpscProducer p(v);
  auto fill = [](std::byte* slot, std::uint32_t i) {
    Seq m{i};
    rk::ring_write_slot(slot, header_for(i, sizeof m), &m);
  };
  ASSERT_EQ(p.push_batch(6, fill), 6u);
  rk::MpscConsumer c(v);
  ASSERT_EQ(c.pop_batch(4, [](const rk::MessageHeader&, const std::byte*) {}), 4u);
  EXPECT_EQ(v.control->tail_seen, 0u);  // nobody needed the consumer's position yet
  const Seq six{6};
  ASSERT_EQ(p.try_push(header_for(6, sizeof six), &six), ErrorCode::Ok);  // room by the old count: no refresh
  EXPECT_EQ(v.control->tail_seen, 0u);
  EXPECT_EQ(p.push_batch(8, fill), 5u);  // all 5 free slots, though the old count says 1
  EXPECT_EQ(v.control->tail_seen, 4u);   // passed on to the next producer
  EXPECT_EQ(p.push_batch(1, fill), 0u);  // full: nothing unread is handed out
  EXPECT_EQ(v.control->head, 12u);
}

// kRingClosed in head (a consumer that stops for good, e.g. a terminated GPU actor): every later push is refused
// as full, with nothing written, while what was published before stays readable in order.
TEST(RingCloseTest, ClosedMpscRingRefusesProducersAndKeepsWhatWasQueued) {
  const std::uint64_t bytes = rk::ring_storage_bytes(RingKind::Mpsc, 16, 128);
  AlignedBuffer buf(bytes);
  rk::RingView v{};
  ASSERT_EQ(rk::ring_init(buf.data, bytes, RingKind::Mpsc, 16, 128, &v), ErrorCode::Ok);
  rk::MpscProducer p(v);
  for (std::uint64_t i = 0; i < 3; ++i) {
    Seq m{i};
    ASSERT_EQ(p.try_push(header_for(i, sizeof m), &m), ErrorCode::Ok);
  }
  v.control->head |= rk::kRingClosed;
  Seq late{99};
  EXPECT_EQ(p.try_push(header_for(99, sizeof late), &late), ErrorCode::QueueFull);
  EXPECT_EQ(p.push_batch(4, [](std::byte*, std::uint32_t) { ADD_FAILURE() << "a closed ring handed out a slot"; }), 0u);
  EXPECT_EQ(v.control->head, 3u | rk::kRingClosed);
  rk::MpscConsumer c(v);
  std::vector<std::uint64_t> got;
  while (c.pop_batch(8, [&](const rk::MessageHeader&, const std::byte* pl) {
    Seq s{};
    std::memcpy(&s, pl, sizeof s);
    got.push_back(s.value);
  }) != 0) {
  }
  EXPECT_EQ(got, (std::vector<std::uint64_t>{0, 1, 2}));
}

// ---------------------------------------------------------------------------------------------------------
// LL slots (self-validating words)
// ---------------------------------------------------------------------------------------------------------

namespace {
// Writes `words` LL words of a message at `pos` by hand, as a producer part-way through its stores would have.
void write_ll_words(const rk::RingView& v, std::uint64_t pos, const rk::MessageHeader& h, const void* payload,
                    std::uint32_t first, std::uint32_t count) {
  std::vector<std::byte> image(v.slot_size, std::byte{0});
  std::memcpy(image.data(), &h, sizeof h);
  if (payload != nullptr) std::memcpy(image.data() + sizeof h, payload, h.payload_len);
  auto* w = reinterpret_cast<std::uint64_t*>(v.slot(pos));
  for (std::uint32_t i = first; i < first + count; ++i) {
    std::uint32_t d;
    std::memcpy(&d, image.data() + 4 * i, 4);
    w[i] = std::uint64_t{d} | std::uint64_t{rk::ll_flag(v, pos)} << 32;
  }
}
} // namespace

TEST(LlRingTest, AMessageIsReadOnlyOnceEveryWordOfItIsWritten) {
  auto ring = rk::OwnedRing::create(RingKind::MpscLl, 4, 128).value();
  const rk::RingView& v = ring.view();
  const std::uint64_t value = 0x1122334455667788ull;
  const rk::MessageHeader h = header_for(5, sizeof value);
  const std::uint32_t words = rk::ll_words(sizeof h) + rk::ll_words(sizeof value);
  v.control->head = 1;  // position 0 claimed, as MpscProducer would
  rk::MpscConsumer c(v);
  for (std::uint32_t written = 0; written < words; ++written) {
    // Every prefix (and the header without its payload) reads as not there yet.
    write_ll_words(v, 0, h, &value, 0, written);
    EXPECT_FALSE(c.ready()) << written << " of " << words << " words";
    EXPECT_EQ(c.pop_batch(1, [](const rk::MessageHeader&, const std::byte*) { ADD_FAILURE(); }), 0u);
  }
  // Only the last word completes the message.
  write_ll_words(v, 0, h, &value, words - 1, 1);
  ASSERT_TRUE(c.ready());
  EXPECT_EQ(c.pop_batch(1, [&](const rk::MessageHeader& got, const std::byte* p) {
              EXPECT_EQ(got.message_id, 5u);
              std::uint64_t x;
              std::memcpy(&x, p, sizeof x);
              EXPECT_EQ(x, value);
            }),
            1u);
}

TEST(LlRingTest, WordsOfThePreviousLapAreNotMistakenForNewOnes) {
  auto ring = rk::OwnedRing::create(RingKind::MpscLl, 2, 128).value();
  const rk::RingView& v = ring.view();
  rk::MpscProducer p(v);
  rk::MpscConsumer c(v);
  std::uint64_t x = 1;
  for (std::uint64_t i = 0; i < 2; ++i) ASSERT_EQ(p.try_push(header_for(i, sizeof x), &x), ErrorCode::Ok);
  EXPECT_EQ(c.pop_batch(2, [](const rk::MessageHeader&, const std::byte*) {}), 2u);
  // Position 2 reuses slot 0: with only its header rewritten, the payload words are still lap 0's.
  v.control->head = 3;
  write_ll_words(v, 2, header_for(2, sizeof x), &x, 0, rk::ll_words(sizeof(rk::MessageHeader)));
  EXPECT_FALSE(c.ready());
  write_ll_words(v, 2, header_for(2, sizeof x), &x, rk::ll_words(sizeof(rk::MessageHeader)), rk::ll_words(sizeof x));
  EXPECT_TRUE(c.ready());
  EXPECT_NE(rk::ll_flag(v, 0), rk::ll_flag(v, 2));
  EXPECT_EQ(rk::ll_flag(v, 0) % 2, 1u) << "flags are odd: zeroed memory never matches";
}

TEST(LlRingTest, InitClearsMemoryThatHeldAnotherRing) {
  // Memory that held another LL ring of the same geometry: every word carries lap 0's flag, so without clearing
  // each slot would read as a complete header-only message.
  const std::uint64_t bytes = rk::ring_storage_bytes(RingKind::MpscLl, 4, 128);
  ASSERT_EQ(bytes, 384u + 4 * 128 * 2);
  AlignedBuffer buf(bytes);
  auto* words = reinterpret_cast<std::uint64_t*>(buf.data);
  for (std::size_t i = 0; i < bytes / 8; ++i) words[i] = std::uint64_t{1} << 32;  // flag 1, data 0
  {
    rk::RingView stale = rk::ring_layout(buf.data, RingKind::MpscLl, 4, 128);
    std::vector<std::byte> out(128);
    ASSERT_TRUE(rk::ll_read_message(stale, 0, out.data())) << "the stale image must look like a message";
  }
  rk::RingView v;
  ASSERT_EQ(rk::ring_init(buf.data, bytes, RingKind::MpscLl, 4, 128, &v), ErrorCode::Ok);
  EXPECT_EQ(v.ll, 1);
  EXPECT_EQ(v.seq, nullptr);
  v.control->head = 4;  // even claimed, nothing is readable
  EXPECT_FALSE(rk::MpscConsumer(v).ready());
  rk::RingView attached;
  ASSERT_EQ(rk::ring_attach(buf.data, RingKind::MpscLl, &attached), ErrorCode::Ok);
  EXPECT_EQ(attached.slots, v.slots);
  EXPECT_EQ(attached.lap_shift, 2);
  EXPECT_EQ(rk::ring_attach(buf.data, RingKind::Mpsc, &attached), ErrorCode::Corrupt);
}

TEST(LlRingTest, EveryPayloadLengthRoundTrips) {
  auto ring = rk::OwnedRing::create(RingKind::SpscLl, 8, 192).value();
  rk::SpscProducer p(ring.view());
  rk::SpscConsumer c(ring.view());
  std::byte payload[128];
  for (std::uint32_t len = 0; len <= 128; ++len) {
    for (std::uint32_t i = 0; i < len; ++i) payload[i] = static_cast<std::byte>(len * 7 + i);
    ASSERT_EQ(p.try_push(header_for(len, static_cast<std::uint16_t>(len)), payload), ErrorCode::Ok);
    ASSERT_EQ(c.pop_batch(1, [&](const rk::MessageHeader& h, const std::byte* got) {
                EXPECT_EQ(h.payload_len, len);
                EXPECT_EQ(h.message_id, len);
                EXPECT_EQ(std::memcmp(got, payload, len), 0) << len;
              }),
              1u);
  }
}

TEST(LlRingTest, PeekIntoDecodesAsManyAsTheBufferHolds) {
  auto ring = rk::OwnedRing::create(RingKind::SpscLl, 8, 128).value();
  rk::SpscProducer p(ring.view());
  rk::SpscConsumer c(ring.view());
  for (std::uint64_t i = 0; i < 5; ++i) {
    ASSERT_EQ(p.try_stage(header_for(i, sizeof i), &i), ErrorCode::Ok);
  }
  EXPECT_EQ(p.publish(), 5u);
  std::vector<std::byte> buf(3 * 128);
  const std::byte* out[8];
  ASSERT_EQ(c.peek_into(8, buf.data(), buf.size(), out), 3u);
  for (std::uint64_t i = 0; i < 3; ++i) {
    EXPECT_EQ(reinterpret_cast<const rk::MessageHeader*>(out[i])->message_id, i);
    EXPECT_GE(out[i], buf.data());
  }
  c.consume(3);
  ASSERT_EQ(c.peek_into(8, buf.data(), buf.size(), out), 2u);
  EXPECT_EQ(reinterpret_cast<const rk::MessageHeader*>(out[1])->message_id, 4u);
  EXPECT_EQ(c.peek(8, out), 0u) << "an LL ring cannot be read in place";
}

TEST(LlRingTest, AHeaderClaimingMoreThanTheSlotReadsAsIncomplete) {
  auto ring = rk::OwnedRing::create(RingKind::MpscLl, 2, 128).value();
  const rk::RingView& v = ring.view();
  // Every word of both slots carries position 0's flag (lap 0), so only the length check can refuse a header
  // whose payload would run into the next slot.
  auto* w = reinterpret_cast<std::uint64_t*>(v.slot(0));
  for (std::uint32_t i = 0; i < 2 * 2 * 128 / 8; ++i) w[i] = std::uint64_t{rk::ll_flag(v, 0)} << 32;
  rk::MessageHeader h = header_for(1, 0);
  h.payload_len = 65;  // max payload of a 128-byte slot is 64
  v.control->head = 1;
  write_ll_words(v, 0, h, nullptr, 0, rk::ll_words(sizeof h));
  EXPECT_FALSE(rk::MpscConsumer(v).ready());
  h.payload_len = 64;  // the same words with a length that fits: complete
  write_ll_words(v, 0, h, nullptr, 0, rk::ll_words(sizeof h));
  EXPECT_TRUE(rk::MpscConsumer(v).ready());
}

TEST(LlRingTest, AHeaderWithoutItsPayloadStillCompletesWithZeros) {
  // A producer given a length but no payload bytes (e.g. a restored envelope) writes zero words: the message
  // completes instead of blocking the ring forever.
  auto ring = rk::OwnedRing::create(RingKind::MpscLl, 2, 128).value();
  rk::MpscProducer p(ring.view());
  rk::MpscConsumer c(ring.view());
  ASSERT_EQ(p.try_push(header_for(3, 24), nullptr), ErrorCode::Ok);
  EXPECT_EQ(c.pop_batch(1, [](const rk::MessageHeader& h, const std::byte* payload) {
              EXPECT_EQ(h.payload_len, 24);
              for (int i = 0; i < 24; ++i) EXPECT_EQ(payload[i], std::byte{0});
            }),
            1u);
}

namespace {

// Snapshots read queued messages in place (detail::peek_ring): the CUDA backend's mapped inboxes are LL rings,
// and a copy of a device inbox is parsed the same way. In order, across a lap, without consuming, and only up to
// a position claimed but not yet (completely) written - what follows it is left for the next snapshot.
TEST(LlRingTest, PeekReadsQueuedMessagesAcrossALapAndStopsAtAnIncompleteSlot) {
  auto ring = rk::OwnedRing::create(RingKind::MpscLl, 8, 128).value();
  const rk::RingView& v = ring.view();
  rk::MpscProducer p(v);
  rk::MpscConsumer c(v);
  std::uint64_t next = 0;
  auto push = [&] {
    const std::uint64_t value = next * 1000 + 7;
    ASSERT_EQ(p.try_push(header_for(next, sizeof value), &value), ErrorCode::Ok);
    ++next;
  };
  // Lap 0 filled and drained but for two, then the ring wraps: positions 6..12 are queued.
  for (int i = 0; i < 8; ++i) push();
  ASSERT_EQ(c.pop_batch(6, [](const rk::MessageHeader&, const std::byte*) {}), 6u);
  for (int i = 0; i < 5; ++i) push();
  auto check = [&](const std::vector<rk::Envelope>& got, std::uint64_t first, std::size_t count) {
    ASSERT_EQ(got.size(), count);
    for (std::size_t k = 0; k < count; ++k) {
      const std::uint64_t id = first + k;
      EXPECT_EQ(got[k].header.message_id, id);
      ASSERT_EQ(got[k].payload.size(), sizeof(std::uint64_t));
      std::uint64_t value = 0;
      std::memcpy(&value, got[k].payload.data(), sizeof value);
      EXPECT_EQ(value, id * 1000 + 7);
    }
  };
  check(rk::detail::peek_ring(v), 6, 7);
  check(rk::detail::peek_ring(v), 6, 7);  // nothing was consumed
  // A producer that has claimed position 13 but written only its header; position 14 is complete after it.
  const std::uint64_t claimed = v.control->head;
  v.control->head = claimed + 1;
  const rk::MessageHeader partial = header_for(claimed, sizeof(std::uint64_t));
  write_ll_words(v, claimed, partial, nullptr, 0, rk::ll_words(sizeof partial));
  ASSERT_EQ(c.pop_batch(4, [](const rk::MessageHeader&, const std::byte*) {}), 4u);  // 6..9
  next = claimed + 1;
  push();
  check(rk::detail::peek_ring(v), 10, 3);
}

} // namespace
