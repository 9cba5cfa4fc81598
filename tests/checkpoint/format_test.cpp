// The binary format: round trips of every chunk type, compression, deltas, and rejection of bad input.
#include <gtest/gtest.h>

#include <ringkernel/checkpoint/format.hpp>

#include <cstring>

#include "ckpt_actors.hpp"

namespace ck = ringkernel::checkpoint;
namespace rk = ringkernel;

namespace {

std::vector<std::byte> bytes_of(const std::string& s) {
  std::vector<std::byte> v(s.size());
  std::memcpy(v.data(), s.data(), s.size());
  return v;
}

rk::SystemSnapshot sample(std::size_t state_bytes = 3000) {
  rk::SystemSnapshot s;
  s.node_id = 7;
  s.hlc = rk::hlc_pack(1700000000000ull, 42);
  s.next_actor_id = 5;
  s.next_message_id = 99;
  s.created_unix_ms = 1700000000123ull;
  s.backend = 1;
  s.metadata["app"] = "test";
  s.metadata["version"] = "1.2.3";
  for (rk::ActorId id : {1u, 2u, 4u}) {
    rk::ActorSnapshot a;
    a.id = id;
    a.parent = id == 4 ? 2 : rk::kHostActor;
    a.name = "actor." + std::to_string(id);
    a.type_key = "TypeKey" + std::to_string(id);
    a.state = id == 2 ? rk::ActorState::Deactivated : rk::ActorState::Active;
    a.suspended = id == 4;
    a.opts.mailbox_capacity = 64;
    a.opts.worker = static_cast<int>(id) - 2;
    a.opts.tenant = static_cast<rk::TenantId>(id);
    a.opts.supervision.strategy = rk::SupervisionStrategy::RestForOne;
    a.opts.backpressure.policy = rk::OverflowPolicy::DropOldest;
    a.opts.backpressure.high_water = 0.75;
    a.cb.processed = 1000 + id;
    a.cb.errors = id;
    a.cb.restarts = 2;
    a.cb.hlc = rk::hlc_pack(1700000000000ull, id);
    a.state_bytes.resize(state_bytes * id);
    for (std::size_t i = 0; i < a.state_bytes.size(); ++i) a.state_bytes[i] = static_cast<std::byte>((i / 7) & 0xff);
    for (std::uint64_t m = 0; m < id; ++m) {
      auto e = rk::Envelope::of(ckpt_test::Add{m}, rk::kHostActor, id);
      e.header.message_id = m + 10;
      a.inbox.push_back(e);
    }
    if (id == 1) a.outbox.push_back(rk::Envelope::of(ckpt_test::Echo{5}, id, rk::kHostActor));
    s.actors.push_back(a);
  }
  return s;
}

void expect_equal(const rk::SystemSnapshot& a, const rk::SystemSnapshot& b) {
  EXPECT_EQ(a.node_id, b.node_id);
  EXPECT_EQ(a.hlc, b.hlc);
  EXPECT_EQ(a.next_actor_id, b.next_actor_id);
  EXPECT_EQ(a.next_message_id, b.next_message_id);
  EXPECT_EQ(a.created_unix_ms, b.created_unix_ms);
  EXPECT_EQ(a.backend, b.backend);
  EXPECT_EQ(a.metadata, b.metadata);
  ASSERT_EQ(a.actors.size(), b.actors.size());
  for (std::size_t i = 0; i < a.actors.size(); ++i) {
    const auto& x = a.actors[i];
    const auto& y = b.actors[i];
    EXPECT_EQ(x.id, y.id);
    EXPECT_EQ(x.parent, y.parent);
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.type_key, y.type_key);
    EXPECT_EQ(x.state, y.state);
    EXPECT_EQ(x.suspended, y.suspended);
    EXPECT_EQ(x.opts.mailbox_capacity, y.opts.mailbox_capacity);
    EXPECT_EQ(x.opts.worker, y.opts.worker);
    EXPECT_EQ(x.opts.tenant, y.opts.tenant);
    EXPECT_EQ(x.opts.supervision.strategy, y.opts.supervision.strategy);
    EXPECT_EQ(x.opts.backpressure.policy, y.opts.backpressure.policy);
    EXPECT_EQ(x.opts.backpressure.high_water, y.opts.backpressure.high_water);
    EXPECT_EQ(x.cb.processed, y.cb.processed);
    EXPECT_EQ(x.cb.errors, y.cb.errors);
    EXPECT_EQ(x.cb.restarts, y.cb.restarts);
    EXPECT_EQ(x.cb.hlc, y.cb.hlc);
    EXPECT_EQ(x.state_bytes, y.state_bytes);
    ASSERT_EQ(x.inbox.size(), y.inbox.size());
    for (std::size_t m = 0; m < x.inbox.size(); ++m) {
      EXPECT_EQ(0, std::memcmp(&x.inbox[m].header, &y.inbox[m].header, sizeof(rk::MessageHeader)));
      EXPECT_EQ(x.inbox[m].payload, y.inbox[m].payload);
    }
    ASSERT_EQ(x.outbox.size(), y.outbox.size());
  }
}

void put64(std::vector<std::byte>& v, std::size_t at, std::uint64_t x) { std::memcpy(v.data() + at, &x, 8); }

} // namespace

TEST(Format, Xxh64MatchesReferenceVectors) {
  EXPECT_EQ(ck::xxh64(nullptr, 0), 0xef46db3751d8e999ull);
  EXPECT_EQ(ck::xxh64("a", 1), 0xd24ec4f1a98c6e5bull);
  EXPECT_EQ(ck::xxh64("abc", 3), 0x44bc2cf5ad770999ull);
  std::vector<unsigned char> v(100);
  for (int i = 0; i < 100; ++i) v[i] = static_cast<unsigned char>(i);
  EXPECT_EQ(ck::xxh64(v.data(), v.size()), 0x6ac1e58032166597ull);
  std::vector<unsigned char> w(1280);
  for (int i = 0; i < 1280; ++i) w[i] = static_cast<unsigned char>(i % 256);
  EXPECT_EQ(ck::xxh64(w.data(), w.size()), 0xafc184ad7938a354ull);
}

TEST(Format, RoundTripEveryChunkTypeWithAndWithoutCompression) {
  const auto snap = sample();
  for (auto comp : {ck::Compression::None, ck::Compression::Zstd}) {
    ck::EncodeOptions o;
    o.compression = comp;
    o.segment_bytes = 1000;  // several state segments per actor
    o.sequence = 12;
    auto bytes = ck::encode(snap, o);
    ASSERT_TRUE(bytes) << bytes.error().describe();
    auto info = ck::inspect(*bytes);
    ASSERT_TRUE(info) << info.error().describe();
    EXPECT_EQ(info->sequence, 12u);
    EXPECT_FALSE(info->delta);
    std::set<ck::ChunkType> types;
    for (const auto& c : info->chunks) types.insert(c.type);
    EXPECT_EQ(types.size(), 6u);
    if (comp == ck::Compression::Zstd) {
      EXPECT_LT(info->stored_bytes, info->raw_bytes / 2) << "repetitive state should compress";
    } else {
      EXPECT_EQ(info->stored_bytes, info->raw_bytes);
    }
    auto back = ck::decode(*bytes);
    ASSERT_TRUE(back) << back.error().describe();
    expect_equal(snap, *back);
  }
}

TEST(Format, EmptySystemAndBadOptions) {
  rk::SystemSnapshot empty;
  auto bytes = ck::encode(empty);
  ASSERT_TRUE(bytes);
  auto back = ck::decode(*bytes);
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->actors.empty());
  ck::EncodeOptions o;
  o.segment_bytes = 0;
  EXPECT_EQ(ck::encode(empty, o).error().code(), rk::ErrorCode::InvalidArgument);
  o.segment_bytes = 10;
  o.zstd_level = 0;
  EXPECT_EQ(ck::encode(empty, o).error().code(), rk::ErrorCode::InvalidArgument);
  o.zstd_level = -1000000;
  EXPECT_EQ(ck::encode(empty, o).error().code(), rk::ErrorCode::InvalidArgument);
  o.zstd_level = 23;
  EXPECT_EQ(ck::encode(empty, o).error().code(), rk::ErrorCode::InvalidArgument);
  o.zstd_level = -5;  // a fast level
  EXPECT_TRUE(ck::encode(empty, o));
}

TEST(Format, EveryTruncationIsRejected) {
  ck::EncodeOptions o;
  o.compression = ck::Compression::Zstd;
  o.segment_bytes = 512;
  auto bytes = ck::encode(sample(300), o);
  ASSERT_TRUE(bytes);
  for (std::size_t n = 0; n < bytes->size(); ++n) {
    auto r = ck::decode(std::span<const std::byte>(bytes->data(), n));
    ASSERT_FALSE(r) << "prefix of " << n << " bytes accepted";
    ASSERT_EQ(r.error().code(), rk::ErrorCode::Corrupt);
  }
  auto longer = *bytes;
  longer.push_back(std::byte{0});
  EXPECT_FALSE(ck::decode(longer));
}

TEST(Format, EveryCorruptedByteIsRejected) {
  for (auto comp : {ck::Compression::None, ck::Compression::Zstd}) {
    ck::EncodeOptions o;
    o.compression = comp;
    o.segment_bytes = 256;
    auto bytes = ck::encode(sample(200), o);
    ASSERT_TRUE(bytes);
    for (std::size_t i = 0; i < bytes->size(); ++i) {
      auto bad = *bytes;
      bad[i] ^= std::byte{0x5a};
      auto r = ck::decode(bad);
      ASSERT_FALSE(r) << "flip at byte " << i << " accepted";
      ASSERT_EQ(r.error().code(), rk::ErrorCode::Corrupt);
    }
  }
}

TEST(Format, WrongVersionAndMagicHaveClearErrors) {
  auto bytes = ck::encode(sample(10));
  ASSERT_TRUE(bytes);
  auto v2 = *bytes;
  const std::uint32_t two = 2;
  std::memcpy(v2.data() + 8, &two, 4);
  put64(v2, 56, ck::xxh64(v2.data(), 56));  // a well-formed header of another version
  auto r = ck::decode(v2);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("unsupported checkpoint format version 2"), std::string::npos)
      << r.error().describe();
  auto text = bytes_of(std::string(200, 'x'));
  auto m = ck::decode(text);
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message().find("magic"), std::string::npos);
}

TEST(Format, DeltaStoresOnlyChangedChunksAndVerifiesParent) {
  auto base = sample(4000);
  ck::EncodeOptions o;
  o.segment_bytes = 1000;
  o.sequence = 1;
  auto full = ck::encode(base, o);
  ASSERT_TRUE(full);
  auto full_info = ck::inspect(*full);
  ASSERT_TRUE(full_info);

  auto next = base;
  next.actors[2].state_bytes[2500] = std::byte{0xEE};  // one segment of one actor
  next.actors[0].inbox.clear();
  next.hlc += 5;
  o.sequence = 2;
  o.parent = &*full_info;
  auto delta = ck::encode(next, o);
  ASSERT_TRUE(delta);
  auto dinfo = ck::inspect(*delta);
  ASSERT_TRUE(dinfo);
  EXPECT_TRUE(dinfo->delta);
  EXPECT_EQ(dinfo->parent_sequence, 1u);
  EXPECT_EQ(dinfo->parent_digest, full_info->digest);
  std::size_t stored = 0;
  for (const auto& c : dinfo->chunks) stored += c.inherited ? 0 : 1;
  EXPECT_EQ(stored, 3u);  // runtime chunk, one state segment, one inbox
  EXPECT_LT(delta->size(), full->size() / 4);

  auto loader = [&](std::uint64_t seq) -> rk::Result<std::vector<std::byte>> {
    if (seq == 1) return *full;
    return rk::make_error(rk::ErrorCode::ActorNotFound, "no such checkpoint");
  };
  auto back = ck::decode(*delta, loader);
  ASSERT_TRUE(back) << back.error().describe();
  expect_equal(next, *back);

  // A delta of a delta.
  auto third = next;
  third.actors[1].name = "renamed";
  o.sequence = 3;
  o.parent = &*dinfo;
  auto delta2 = ck::encode(third, o);
  ASSERT_TRUE(delta2);
  auto loader2 = [&](std::uint64_t seq) -> rk::Result<std::vector<std::byte>> {
    if (seq == 2) return *delta;
    return loader(seq);
  };
  auto back2 = ck::decode(*delta2, loader2);
  ASSERT_TRUE(back2) << back2.error().describe();
  expect_equal(third, *back2);

  // No parent available, or the wrong parent: rejected.
  EXPECT_EQ(ck::decode(*delta).error().code(), rk::ErrorCode::Corrupt);
  auto other = base;
  other.node_id = 8;
  o.sequence = 1;
  o.parent = nullptr;
  auto impostor = ck::encode(other, o);
  ASSERT_TRUE(impostor);
  auto wrong = ck::decode(*delta, [&](std::uint64_t) -> rk::Result<std::vector<std::byte>> { return *impostor; });
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().message().find("wrong parent"), std::string::npos) << wrong.error().describe();
  auto missing = ck::decode(*delta, [&](std::uint64_t) -> rk::Result<std::vector<std::byte>> {
    return rk::make_error(rk::ErrorCode::ActorNotFound, "gone");
  });
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), rk::ErrorCode::ActorNotFound);
  // A corrupted parent is rejected too.
  auto bad_parent = *full;
  bad_parent[bad_parent.size() / 2] ^= std::byte{1};
  EXPECT_FALSE(ck::decode(*delta, [&](std::uint64_t) -> rk::Result<std::vector<std::byte>> { return bad_parent; }));
}

TEST(Format, RuntimeCheckpointRestoreThroughBytes) {
  const auto cat = ckpt_test::catalog();
  auto rt = ckpt_test::make_runtime(1);
  auto c = rt.launch<ckpt_test::Counter>("c");
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send(ckpt_test::Add{41}));
  ASSERT_TRUE(c->deactivate());
  ASSERT_TRUE(c->send(ckpt_test::Add{1}));
  ASSERT_TRUE(c->wait_for(rk::ActorState::Deactivated, std::chrono::seconds(2)));
  auto snap = rt.snapshot(cat);
  ASSERT_TRUE(snap);
  ck::EncodeOptions o;
  o.compression = ck::Compression::Zstd;
  auto bytes = ck::encode(*snap, o);
  ASSERT_TRUE(bytes);
  auto rt2 = ckpt_test::make_runtime(1);
  auto snap2 = ck::decode(*bytes);
  ASSERT_TRUE(snap2);
  ASSERT_TRUE(rt2.restore_snapshot(*snap2, cat));
  auto c2 = rt2.find("c");
  ASSERT_TRUE(c2);
  ASSERT_TRUE(c2->activate());
  auto s = c2->call<ckpt_test::Sum>(ckpt_test::Get{0}, std::chrono::seconds(2));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->total, 42u);
}
