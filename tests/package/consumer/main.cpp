// Smoke test of an installed RingKernel: push and pop one message through an MPSC heap ring, tick a hybrid
// logical clock, and run a real actor on the CPU backend (launch, call, reply). Exits non-zero, saying why,
// on any failure.
#include <ringkernel/ringkernel.hpp>

#include <chrono>

#include <cstdint>
#include <cstdio>
#include <cstring>

namespace {

struct Ping {
  static constexpr auto type_id = ringkernel::message_type("consumer.Ping");
  std::uint64_t value;
};

struct Doubled {
  static constexpr auto type_id = ringkernel::message_type("consumer.Doubled");
  std::uint64_t value;
};

// An actor with state: replies with twice the sum of everything it received.
struct Doubler {
  using messages = ringkernel::message_list<Ping>;
  std::uint64_t sum = 0;
  void handle(auto& ctx, const Ping& p) {
    sum += p.value;
    (void)ctx.reply(Doubled{sum * 2});
  }
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

  auto rt = Runtime::builder().backend(Backend::Cpu).workers(1).build();
  if (!rt) return fail(rt.error().describe().c_str());
  auto actor = rt->launch<Doubler>("doubler");
  if (!actor) return fail(actor.error().describe().c_str());
  std::uint64_t last = 0;
  for (std::uint64_t i = 1; i <= 3; ++i) {
    auto r = actor->call<Doubled>(Ping{i}, std::chrono::seconds(2));
    if (!r) return fail(r.error().describe().c_str());
    last = r->value;
  }
  if (last != 12) return fail("actor state or reply wrong (expected 2 * (1 + 2 + 3))");
  if (auto st = rt->shutdown(std::chrono::seconds(2)); !st) return fail(st.error().describe().c_str());

  std::printf("consumer: ok (ring + HLC, hlc=%llu; actor call -> %llu)\n", static_cast<unsigned long long>(received_hlc),
              static_cast<unsigned long long>(last));
  return 0;
}
