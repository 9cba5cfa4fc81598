// Multi-tenant isolation on the CPU backend.
#include "test_actors.hpp"

namespace rkt {
namespace {

struct SendTo {
  static constexpr auto type_id = message_type("t.SendTo");
  ActorId target;
};
/// Tries to send Inc{1} to `target` and replies with the resulting error code.
struct Relay {
  using messages = message_list<SendTo>;
  void handle(auto& ctx, const SendTo& m) {
    auto r = ctx.send(m.target, Inc{1});
    ctx.reply(Outcome{static_cast<std::uint32_t>(r.ok() ? ErrorCode::Ok : r.error().code()), ctx.tenant()});
  }
};

LaunchOptions tenant(TenantId t) {
  LaunchOptions o;
  o.tenant = t;
  return o;
}

struct TenantFixture : ::testing::Test {
  Runtime rt = make_runtime(2);
  ActorHandle a1 = *rt.launch<Relay>("t1/relay", tenant(1));
  ActorHandle c1 = *rt.launch<Counter>("t1/counter", tenant(1));
  ActorHandle c2 = *rt.launch<Counter>("t2/counter", tenant(2));
  ActorHandle sys = *rt.launch<Counter>("sys/counter", tenant(kSystemTenant));
  ActorHandle sys_relay = *rt.launch<Relay>("sys/relay", tenant(kSystemTenant));

  ErrorCode relay(ActorHandle& from, ActorHandle& to) {
    auto r = from.call<Outcome>(SendTo{to.id()}, kLong);
    EXPECT_TRUE(r.ok()) << r.error().describe();
    return r.ok() ? static_cast<ErrorCode>(r->code) : ErrorCode::Internal;
  }
};

TEST_F(TenantFixture, CrossTenantActorSendIsRejectedCountedAndDeadLettered) {
  EXPECT_EQ(relay(a1, c2), ErrorCode::TenantViolation);
  EXPECT_EQ(rt.metrics().tenant_violations, 1u);
  EXPECT_EQ(c2.metrics()->tenant_violations, 1u);
  auto dl = letters(rt, DeadLetterReason::TenantViolation);
  ASSERT_EQ(dl.size(), 1u);
  EXPECT_EQ(dl[0].envelope.header.source, a1.id());
  EXPECT_EQ(dl[0].envelope.header.destination, c2.id());
  EXPECT_EQ(dl[0].envelope.header.tenant, 1u);
  EXPECT_EQ(c2.call<Sum>(Get{}, kLong)->total, 0u);
}

TEST_F(TenantFixture, SameTenantAndSystemTenantAreAllowed) {
  EXPECT_EQ(relay(a1, c1), ErrorCode::Ok);
  EXPECT_EQ(relay(a1, sys), ErrorCode::Ok);
  EXPECT_EQ(relay(sys_relay, c2), ErrorCode::Ok);
  EXPECT_EQ(c1.call<Sum>(Get{}, kLong)->total, 1u);
  EXPECT_EQ(sys.call<Sum>(Get{}, kLong)->total, 1u);
  EXPECT_EQ(c2.call<Sum>(Get{}, kLong)->total, 1u);
  EXPECT_EQ(rt.metrics().tenant_violations, 0u);
}

TEST_F(TenantFixture, HostSendAsTenant) {
  SendOptions as2;
  as2.tenant = 2;
  auto bad = c1.send(Inc{5}, as2);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ErrorCode::TenantViolation);
  EXPECT_EQ(rt.metrics().tenant_violations, 1u);
  EXPECT_EQ(c1.metrics()->tenant_violations, 1u);
  ASSERT_TRUE(c2.send(Inc{5}, as2).ok());
  ASSERT_TRUE(sys.send(Inc{5}, as2).ok());
  ASSERT_TRUE(c1.send(Inc{5}).ok());  // host as the system tenant
  auto call = c1.call<Sum>(Get{}, kLong, as2);
  ASSERT_FALSE(call.ok());
  EXPECT_EQ(call.error().code(), ErrorCode::TenantViolation);
  EXPECT_EQ(c1.call<Sum>(Get{}, kLong)->total, 5u);
  EXPECT_EQ(c2.call<Sum>(Get{}, kLong)->total, 5u);
  EXPECT_EQ(sys.call<Sum>(Get{}, kLong)->total, 5u);
  // send_many as a foreign tenant accepts nothing.
  std::vector<Inc> batch(3, Inc{1});
  auto many = c1.send_many(std::span<const Inc>(batch), as2);
  ASSERT_FALSE(many.ok());
  EXPECT_EQ(many.error().code(), ErrorCode::TenantViolation);
}

TEST_F(TenantFixture, MessagesCarryTheSendersTenant) {
  SendOptions as2;
  as2.tenant = 2;
  ASSERT_TRUE(sys.send(Unknown{1}, as2).ok());
  ASSERT_TRUE(eventually([&] { return letters(rt, DeadLetterReason::UnknownMessageType).size() == 1; }));
  EXPECT_EQ(letters(rt, DeadLetterReason::UnknownMessageType)[0].envelope.header.tenant, 2u);
  ASSERT_TRUE(c1.send(Unknown{2}).ok());
  ASSERT_TRUE(eventually([&] { return letters(rt, DeadLetterReason::UnknownMessageType).size() == 2; }));
  EXPECT_EQ(letters(rt, DeadLetterReason::UnknownMessageType)[1].envelope.header.tenant, 1u);
}

}  // namespace
}  // namespace rkt
