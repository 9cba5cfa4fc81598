// Smoke test of an installed RingKernel: push and pop one message through an MPSC heap ring and tick a
// hybrid logical clock. Exits non-zero, saying why, on any failure.
#include <ringkernel/hlc.hpp>
#include <ringkernel/ring.hpp>

#include <cstdint>
#include <cstdio>
#include <cstring>

namespace {

struct Ping {
  static constexpr auto type_id = ringkernel::message_type("consumer.Ping");
  std::uint64_t value;
};

int fail(const char* what) {
  std::fprintf(stderr, "consumer: FAILED: %s\n", what);
  return 1;
}

} // namespace

int main() {
  using namespace ringkernel;

  auto ring = OwnedRing::create(RingKind::Mpsc, 8, 128);
  if (!ring) return fail(ring.error().describe().c_str());

  HlcClock clock(7);
  const HlcTimestamp first = clock.tick();
  const HlcTimestamp second = clock.tick();
  if (!(first < second) || second.node != 7) return fail("HLC did not advance monotonically");

  const Ping sent{0x5EED'1234'ABCDULL};
  MessageHeader header = make_header<Ping>(kHostActor, 1);
  header.hlc = second.packed;

  MpscProducer producer(ring->view());
  if (producer.try_push(header, &sent) != ErrorCode::Ok) return fail("try_push");

  MpscConsumer consumer(ring->view());
  Ping received{};
  std::uint64_t received_hlc = 0;
  const std::uint32_t popped = consumer.pop_batch(4, [&](const MessageHeader& h, const std::byte* payload) {
    if (h.valid() && h.type_id == Ping::type_id && h.payload_len == sizeof(Ping)) {
      std::memcpy(&received, payload, sizeof(Ping));
      received_hlc = h.hlc;
    }
  });
  if (popped != 1) return fail("pop_batch did not return exactly one message");
  if (received.value != sent.value || received_hlc != second.packed) return fail("payload or HLC mismatch");

  std::printf("consumer: ok (RingKernel ring + HLC, hlc=%llu)\n", static_cast<unsigned long long>(received_hlc));
  return 0;
}
