// CheckpointManager: deltas, retention that keeps parents, listing, restore-latest skipping damaged
// checkpoints, periodic checkpoints.
#include <gtest/gtest.h>

#include <ringkernel/checkpoint/checkpoint.hpp>

#include <unistd.h>

#include <filesystem>

#include "ckpt_actors.hpp"

namespace ck = ringkernel::checkpoint;
namespace rk = ringkernel;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

fs::path temp_dir(const std::string& name) {
  auto p = fs::temp_directory_path() / ("rk-mgr-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(p);
  return p;
}

std::uint64_t total_of(rk::Runtime& rt, const std::string& name) {
  auto h = rt.find(name);
  if (!h) return ~0ull;
  auto s = h->call<ckpt_test::Sum>(ckpt_test::Get{0}, 2s);
  return s ? s->total : ~0ull;
}

} // namespace

TEST(Manager, DeltasRetentionAndRestoreLatest) {
  const auto dir = temp_dir("delta");
  ck::FileStorage disk(dir);
  ck::ManagerOptions mo;
  mo.keep = 2;
  mo.full_every = 3;  // full, delta, delta, full, ...
  mo.encode.compression = ck::Compression::Zstd;
  ck::CheckpointManager mgr(disk, mo);
  const auto cat = ckpt_test::catalog();
  auto rt = ckpt_test::make_runtime(1);
  auto c = rt.launch<ckpt_test::Counter>("counter");
  auto j = rt.launch<ckpt_test::Journal>("journal");
  ASSERT_TRUE(c && j);
  std::vector<bool> deltas;
  for (std::uint64_t i = 1; i <= 5; ++i) {
    ASSERT_TRUE(c->send(ckpt_test::Add{i}));
    ASSERT_TRUE(j->send(ckpt_test::Add{i * 10}));
    ASSERT_EQ(total_of(rt, "journal"), 0 + 10 * i * (i + 1) / 2);
    auto info = mgr.checkpoint_now(rt, cat);
    ASSERT_TRUE(info) << info.error().describe();
    EXPECT_EQ(info->sequence, i);
    deltas.push_back(info->delta);
  }
  EXPECT_EQ(deltas, (std::vector<bool>{false, true, true, false, true}));
  // keep = 2 keeps 4 (full) and 5 (delta of 4); 1..3 are gone.
  auto l = mgr.list();
  ASSERT_TRUE(l);
  ASSERT_EQ(l->size(), 2u);
  EXPECT_EQ((*l)[0].sequence, 4u);
  EXPECT_EQ((*l)[1].sequence, 5u);
  auto rt2 = ckpt_test::make_runtime(1);
  auto seq = mgr.restore_latest(rt2, cat);
  ASSERT_TRUE(seq) << seq.error().describe();
  EXPECT_EQ(*seq, 5u);
  EXPECT_EQ(total_of(rt2, "counter"), 15u);
  EXPECT_EQ(total_of(rt2, "journal"), 150u);
  fs::remove_all(dir);
}

TEST(Manager, RetentionKeepsParentsOfKeptDeltas) {
  const auto dir = temp_dir("parents");
  ck::FileStorage disk(dir);
  ck::ManagerOptions mo;
  mo.keep = 1;
  mo.full_every = 4;
  ck::CheckpointManager mgr(disk, mo);
  const auto cat = ckpt_test::catalog();
  auto rt = ckpt_test::make_runtime(1);
  auto c = rt.launch<ckpt_test::Counter>("counter");
  ASSERT_TRUE(c);
  for (std::uint64_t i = 1; i <= 3; ++i) {
    ASSERT_TRUE(c->send(ckpt_test::Add{i}));
    ASSERT_NE(total_of(rt, "counter"), ~0ull);
    ASSERT_TRUE(mgr.checkpoint_now(rt, cat));
  }
  // 3 is a delta of 2, a delta of 1: all three must stay.
  EXPECT_EQ(mgr.list()->size(), 3u);
  // A second manager (a restarted process) loads the chain from storage alone.
  ck::CheckpointManager again(disk, mo);
  auto latest = again.load_latest();
  ASSERT_TRUE(latest) << latest.error().describe();
  EXPECT_EQ(latest->first, 3u);
  // Its next checkpoint continues the numbering and is full (it has no parent of its own).
  auto info = again.checkpoint_now(rt, cat);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->sequence, 4u);
  EXPECT_FALSE(info->delta);
  EXPECT_EQ(again.list()->size(), 1u);
  fs::remove_all(dir);
}

TEST(Manager, DamagedNewestIsSkippedOnRestore) {
  const auto dir = temp_dir("damaged");
  ck::FileStorage disk(dir);
  ck::CheckpointManager mgr(disk, {});
  const auto cat = ckpt_test::catalog();
  auto rt = ckpt_test::make_runtime(1);
  auto c = rt.launch<ckpt_test::Counter>("counter");
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->send(ckpt_test::Add{7}));
  ASSERT_EQ(total_of(rt, "counter"), 7u);
  ASSERT_TRUE(mgr.checkpoint_now(rt, cat));
  ASSERT_TRUE(c->send(ckpt_test::Add{1}));
  ASSERT_EQ(total_of(rt, "counter"), 8u);
  ASSERT_TRUE(mgr.checkpoint_now(rt, cat));
  // Tear the newest (as a non-atomic copy would).
  auto bytes = disk.get(mgr.name_of(2));
  ASSERT_TRUE(bytes);
  bytes->resize(bytes->size() / 2);
  ASSERT_TRUE(disk.put(mgr.name_of(2), *bytes));
  std::vector<rk::Error> skipped;
  auto latest = mgr.load_latest(&skipped);
  ASSERT_TRUE(latest);
  EXPECT_EQ(latest->first, 1u);
  ASSERT_EQ(skipped.size(), 1u);
  EXPECT_EQ(skipped[0].code(), rk::ErrorCode::Corrupt);
  auto rt2 = ckpt_test::make_runtime(1);
  ASSERT_TRUE(mgr.restore_latest(rt2, cat));
  EXPECT_EQ(total_of(rt2, "counter"), 7u);
  // Nothing valid at all: a clear error.
  ck::FileStorage empty(temp_dir("empty"));
  ck::CheckpointManager none(empty, {});
  auto r = none.load_latest();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), rk::ErrorCode::ActorNotFound);
  fs::remove_all(dir);
}

TEST(Manager, PeriodicCheckpoints) {
  const auto dir = temp_dir("periodic");
  ck::FileStorage disk(dir);
  ck::ManagerOptions mo;
  mo.interval = 20ms;
  mo.keep = 2;
  ck::CheckpointManager mgr(disk, mo);
  const auto cat = ckpt_test::catalog();
  auto rt = ckpt_test::make_runtime(1);
  auto c = rt.launch<ckpt_test::Counter>("counter");
  ASSERT_TRUE(c);
  ASSERT_TRUE(mgr.start_periodic(rt, cat));
  EXPECT_EQ(mgr.start_periodic(rt, cat).error().code(), rk::ErrorCode::InvalidArgument);
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(c->send(ckpt_test::Add{1}));
  ASSERT_TRUE(ckpt_test::eventually([&] { return mgr.periodic_written() >= 3; }));
  mgr.stop_periodic();
  EXPECT_EQ(mgr.periodic_failed(), 0u);
  EXPECT_EQ(mgr.list()->size(), 2u);
  auto rt2 = ckpt_test::make_runtime(1);
  ASSERT_TRUE(mgr.restore_latest(rt2, cat));
  EXPECT_LE(total_of(rt2, "counter"), 50u);
  fs::remove_all(dir);
}
