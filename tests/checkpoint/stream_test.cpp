// Streaming checkpoint and restore (checkpoint_to / restore_from, encode_to / decode_from, ObjectWriter /
// ObjectReader): states larger than a segment and not a multiple of it, compression on and off, deltas, a consistent
// cut while states stream, corruption and truncation rejected with nothing launched, aborted writers leaving the
// previous checkpoint intact.
#include <gtest/gtest.h>

#include <ringkernel/checkpoint/checkpoint.hpp>

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "ckpt_actors.hpp"

namespace ck = ringkernel::checkpoint;
namespace rk = ringkernel;
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using namespace ckpt_test;

namespace {

fs::path temp_dir(const std::string& name) {
  auto p = fs::temp_directory_path() / ("rk-stream-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(p);
  return p;
}

DigestIs digest_of(rk::Runtime& rt, const std::string& name) {
  auto h = rt.find(name);
  if (!h) return DigestIs{};
  auto r = h->call<DigestIs>(Digest{0}, 10s);
  EXPECT_TRUE(r.ok()) << (r ? "" : r.error().describe());
  return r ? *r : DigestIs{};
}

std::uint64_t total_of(rk::Runtime& rt, const std::string& name) {
  auto h = rt.find(name);
  if (!h) return ~0ull;
  auto s = h->call<Sum>(Get{0}, 2s);
  return s ? s->total : ~0ull;
}

std::size_t temp_files(const fs::path& dir) {
  std::size_t n = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) n += e.path().filename().string().front() == '.' ? 1 : 0;
  return n;
}

ck::EncodeOptions small_segments(ck::Compression c) {
  ck::EncodeOptions eo;
  eo.compression = c;
  eo.segment_bytes = std::size_t{1} << 20;  // Blob = 3 MiB + 12,345 bytes: 4 segments, the last partial
  eo.threads = 2;
  return eo;
}

// Two blobs, a counter and a journal (custom serializer: not streamed).
rk::Runtime populated() {
  auto rt = make_runtime();
  auto b1 = rt.launch<Blob>("blob.1");
  auto b2 = rt.launch<Blob>("blob.2");
  auto c = rt.launch<Counter>("counter");
  auto j = rt.launch<Journal>("journal");
  EXPECT_TRUE(b1 && b2 && c && j);
  EXPECT_TRUE(b1->send(Fill{1}));
  EXPECT_TRUE(b2->send(Fill{2}));
  EXPECT_TRUE(c->send(Add{41}));
  EXPECT_TRUE(j->send(Add{7}));
  EXPECT_EQ(total_of(rt, "journal"), 7u);
  EXPECT_EQ(total_of(rt, "counter"), 41u);
  return rt;
}

// Fails every write after `limit` bytes (a full disk, a dropped connection).
class FailingStorage final : public ck::Storage {
public:
  FailingStorage(ck::Storage& inner, std::uint64_t limit) : inner_(inner), limit_(limit) {}
  rk::Result<std::unique_ptr<ck::ObjectWriter>> open_writer(const std::string& name) override {
    auto w = inner_.open_writer(name);
    if (!w) return w.error();
    return std::unique_ptr<ck::ObjectWriter>(new Writer(std::move(w).value(), limit_));
  }
  rk::Result<std::unique_ptr<ck::ObjectReader>> open_reader(const std::string& name) override {
    return inner_.open_reader(name);
  }
  rk::Result<std::vector<ck::ObjectInfo>> list(const std::string& prefix) override { return inner_.list(prefix); }
  rk::Status remove(const std::string& name) override { return inner_.remove(name); }

private:
  struct Writer final : ck::ObjectWriter {
    Writer(std::unique_ptr<ck::ObjectWriter> w, std::uint64_t limit) : w(std::move(w)), limit(limit) {}
    rk::Status write(std::span<const std::byte> d) override {
      if (w->written() + d.size() > limit) return rk::make_error(rk::ErrorCode::Internal, "injected: disk full");
      return w->write(d);
    }
    rk::Status commit() override { return w->commit(); }
    void abort() noexcept override { w->abort(); }
    std::uint64_t written() const noexcept override { return w->written(); }
    std::unique_ptr<ck::ObjectWriter> w;
    std::uint64_t limit;
  };
  ck::Storage& inner_;
  std::uint64_t limit_;
};

} // namespace

class StreamRoundTrip : public ::testing::TestWithParam<ck::Compression> {};

TEST_P(StreamRoundTrip, StatesLargerThanASegmentStreamBothWays) {
  const auto dir = temp_dir(GetParam() == ck::Compression::Zstd ? "rt-zstd" : "rt-raw");
  ck::FileStorage disk(dir);
  const auto cat = catalog();
  auto rt = populated();
  const DigestIs d1 = digest_of(rt, "blob.1");
  const DigestIs d2 = digest_of(rt, "blob.2");
  ASSERT_NE(d1.hash, d2.hash);

  ck::StreamStats cs;
  auto info = ck::checkpoint_to(rt, cat, disk, "one.rkc", small_segments(GetParam()), &cs);
  ASSERT_TRUE(info) << info.error().describe();
  EXPECT_GT(cs.state_bytes, 2 * sizeof(Blob));  // both blobs (streamed), the counter and the journal (copied)
  EXPECT_LT(cs.state_bytes, 2 * sizeof(Blob) + 100);
  EXPECT_EQ(cs.file_bytes, info->total_bytes);
  EXPECT_GT(cs.copy_s, 0.0);
  std::size_t segments = 0;
  for (const auto& c : info->chunks) {
    if (c.type != ck::ChunkType::ActorState || (c.key >> 32) != rt.find("blob.1")->id()) continue;
    EXPECT_EQ(c.raw_size, (c.key & 0xffffffffu) < 3 ? (std::size_t{1} << 20) : 12345u);
    ++segments;
  }
  EXPECT_EQ(segments, 4u);
  if (GetParam() == ck::Compression::Zstd) {
    EXPECT_LT(info->stored_bytes, info->raw_bytes);
  } else {
    EXPECT_EQ(info->stored_bytes, info->raw_bytes);
  }
  // The streamed file is an ordinary checkpoint: the in-memory reader agrees with the streaming writer.
  auto bytes = disk.get("one.rkc");
  ASSERT_TRUE(bytes);
  auto inspected = ck::inspect(*bytes);
  ASSERT_TRUE(inspected) << inspected.error().describe();
  EXPECT_EQ(inspected->digest, info->digest);
  EXPECT_EQ(inspected->total_bytes, info->total_bytes);
  auto decoded = ck::decode(*bytes);
  ASSERT_TRUE(decoded) << decoded.error().describe();
  ASSERT_EQ(decoded->actors.size(), 4u);
  EXPECT_EQ(decoded->actors[0].state_bytes.size(), sizeof(Blob));
  // And the in-memory writer produces the same bytes from a materialized snapshot.
  auto snap = rt.snapshot(cat);
  ASSERT_TRUE(snap);
  snap->created_unix_ms = decoded->created_unix_ms;
  auto again = ck::encode(*snap, small_segments(GetParam()));
  ASSERT_TRUE(again);
  EXPECT_EQ(ck::inspect(*again)->chunks.size(), info->chunks.size());

  ck::StreamStats rs;
  auto rt2 = make_runtime();
  auto st = ck::restore_from(rt2, cat, disk, "one.rkc", {}, &rs);
  ASSERT_TRUE(st) << st.error().describe();
  EXPECT_EQ(rs.state_bytes, cs.state_bytes);
  EXPECT_EQ(rs.file_bytes, info->total_bytes);
  EXPECT_EQ(digest_of(rt2, "blob.1").hash, d1.hash);
  EXPECT_EQ(digest_of(rt2, "blob.2").hash, d2.hash);
  EXPECT_EQ(total_of(rt2, "counter"), 41u);
  EXPECT_EQ(total_of(rt2, "journal"), 7u);
  EXPECT_EQ(rt2.find("blob.2")->id(), rt.find("blob.2")->id());
  if (GetParam() == ck::Compression::Zstd) {  // a zstd fast (negative) level round-trips too
    auto eo = small_segments(ck::Compression::Zstd);
    eo.zstd_level = -5;
    auto fast = ck::checkpoint_to(rt, cat, disk, "fast.rkc", eo);
    ASSERT_TRUE(fast) << fast.error().describe();
    auto rt3 = make_runtime();
    ASSERT_TRUE(ck::restore_from(rt3, cat, disk, "fast.rkc"));
    EXPECT_EQ(digest_of(rt3, "blob.1").hash, d1.hash);
  }
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(Compression, StreamRoundTrip, ::testing::Values(ck::Compression::None, ck::Compression::Zstd),
                         [](const auto& p) { return p.param == ck::Compression::Zstd ? "Zstd" : "None"; });

// Host threads keep changing a blob (each Stamp rewrites every page) while its state streams out: every restored
// state carries one stamp throughout, so no checkpoint saw a half-applied handler.
TEST(Stream, CutStaysConsistentWhileStatesStream) {
  const auto dir = temp_dir("cut");
  ck::FileStorage disk(dir);
  const auto cat = catalog();
  auto rt = make_runtime();
  auto blob = rt.launch<Blob>("blob");
  ASSERT_TRUE(blob);
  ASSERT_TRUE(blob->send(Fill{9}));
  // One stamp handled before the first cut: Fill's pages differ, so a cut taken before any stamp (the stamper
  // thread has only just started) would fail the check below without any torn state.
  ASSERT_TRUE(blob->send(Stamp{1}));
  auto stamped = blob->call<DigestIs>(Digest{0}, 10s);
  ASSERT_TRUE(stamped) << stamped.error().describe();
  ASSERT_EQ(stamped->uniform, 1u);
  std::atomic<bool> stop{false};
  std::thread stamper([&] {
    for (std::uint32_t v = 2; !stop.load(); ++v) {
      (void)blob->send(Stamp{v});
      std::this_thread::sleep_for(100us);
    }
  });
  for (int i = 0; i < 3; ++i) {
    auto info = ck::checkpoint_to(rt, cat, disk, "cut-" + std::to_string(i) + ".rkc", small_segments(ck::Compression::None));
    ASSERT_TRUE(info) << info.error().describe();
  }
  stop = true;
  stamper.join();
  for (int i = 0; i < 3; ++i) {
    auto rt2 = make_runtime();
    auto st = ck::restore_from(rt2, cat, disk, "cut-" + std::to_string(i) + ".rkc");
    ASSERT_TRUE(st) << st.error().describe();
    auto h = rt2.find("blob");
    ASSERT_TRUE(h);
    ASSERT_TRUE(h->deactivate());  // the queued stamps would change it again
    ASSERT_TRUE(h->wait_for(rk::ActorState::Deactivated, 5s));
    auto snap = rt2.snapshot(cat);
    ASSERT_TRUE(snap);
    const auto& bytes = snap->actors[0].state_bytes;
    std::uint32_t first = 0;
    std::memcpy(&first, bytes.data(), 4);
    for (std::size_t p = 0; p + 4 <= Blob::kBytes; p += Blob::kPage) {
      std::uint32_t v = 0;
      std::memcpy(&v, bytes.data() + p, 4);
      ASSERT_EQ(v, first) << "checkpoint " << i << " page " << p / Blob::kPage << " is from another stamp";
    }
  }
  fs::remove_all(dir);
}

// Deltas through the manager: only changed segments are stored, the chain restores (streamed) to the latest state.
TEST(Stream, DeltasStoreChangedSegmentsAndRestore) {
  const auto dir = temp_dir("delta");
  ck::FileStorage disk(dir);
  ck::ManagerOptions mo;
  mo.keep = 3;
  mo.full_every = 3;
  mo.encode = small_segments(ck::Compression::Zstd);
  ck::CheckpointManager mgr(disk, mo);
  const auto cat = catalog();
  auto rt = populated();
  auto b1 = rt.find("blob.1");
  ASSERT_TRUE(b1);
  auto full = mgr.checkpoint_now(rt, cat);
  ASSERT_TRUE(full) << full.error().describe();
  EXPECT_FALSE(full->delta);
  // Change 8 bytes in segment 2 of blob.1, then 8 bytes in its last (partial) segment.
  ASSERT_TRUE(b1->send(Poke{(std::uint64_t{2} << 20) + 100, 0x1122334455667788ull}));
  (void)digest_of(rt, "blob.1");
  auto d1 = mgr.checkpoint_now(rt, cat);
  ASSERT_TRUE(d1) << d1.error().describe();
  ASSERT_TRUE(b1->send(Poke{Blob::kBytes - 8, 0x99ull}));
  const DigestIs want = digest_of(rt, "blob.1");
  const DigestIs want2 = digest_of(rt, "blob.2");
  auto d2 = mgr.checkpoint_now(rt, cat);
  ASSERT_TRUE(d2) << d2.error().describe();
  ASSERT_TRUE(d1->delta && d2->delta);
  EXPECT_EQ(d2->parent_sequence, d1->sequence);
  std::size_t stored_segments = 0;
  for (const auto& c : d2->chunks) stored_segments += c.type == ck::ChunkType::ActorState && !c.inherited ? 1 : 0;
  EXPECT_EQ(stored_segments, 1u);  // only the poked last segment
  EXPECT_LT(d2->stored_bytes, std::size_t{64} << 10);

  auto rt2 = make_runtime();
  std::vector<rk::Error> skipped;
  auto seq = mgr.restore_latest(rt2, cat, &skipped);
  ASSERT_TRUE(seq) << seq.error().describe();
  EXPECT_TRUE(skipped.empty());
  EXPECT_EQ(*seq, d2->sequence);
  EXPECT_EQ(digest_of(rt2, "blob.1").hash, want.hash);
  EXPECT_EQ(digest_of(rt2, "blob.2").hash, want2.hash);
  // restore_from with the parent naming, and without it (a delta needs its parent).
  auto rt3 = make_runtime();
  auto st = ck::restore_from(rt3, cat, disk, mgr.name_of(d2->sequence),
                             [&](std::uint64_t s) { return mgr.name_of(s); });
  ASSERT_TRUE(st) << st.error().describe();
  EXPECT_EQ(digest_of(rt3, "blob.1").hash, want.hash);
  auto rt4 = make_runtime();
  auto orphan = ck::restore_from(rt4, cat, disk, mgr.name_of(d2->sequence));
  ASSERT_FALSE(orphan);
  EXPECT_EQ(orphan.error().code(), rk::ErrorCode::Corrupt);
  EXPECT_TRUE(rt4.actors().empty());
  fs::remove_all(dir);
}

// Damaged files are rejected before anything is launched: flipped bytes (state data, a chunk header, the trailer),
// truncation at several points, an appended byte. The same runtime then restores the good file.
TEST(Stream, CorruptionAndTruncationAreRejectedWithoutPartialRestore) {
  const auto dir = temp_dir("corrupt");
  ck::FileStorage disk(dir);
  const auto cat = catalog();
  auto rt = populated();
  const DigestIs d1 = digest_of(rt, "blob.1");
  for (auto comp : {ck::Compression::None, ck::Compression::Zstd}) {
    auto info = ck::checkpoint_to(rt, cat, disk, "good.rkc", small_segments(comp));
    ASSERT_TRUE(info) << info.error().describe();
    const auto good = *disk.get("good.rkc");
    std::vector<std::pair<std::string, std::vector<std::byte>>> bad;
    auto flipped = [&](std::size_t at) {
      auto b = good;
      b[at] ^= std::byte{0x40};
      return b;
    };
    bad.emplace_back("byte in the middle of a state segment", flipped(good.size() / 2));
    bad.emplace_back("byte in the last state segment", flipped(good.size() - 2000));
    bad.emplace_back("file header", flipped(20));
    bad.emplace_back("first chunk header", flipped(64 + 17));
    bad.emplace_back("trailer digest", flipped(good.size() - 16));
    for (std::size_t cut : {std::size_t{10}, good.size() / 3, good.size() - 33, good.size() - 1}) {
      bad.emplace_back("truncated to " + std::to_string(cut), std::vector<std::byte>(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(cut)));
    }
    auto longer = good;
    longer.push_back(std::byte{0});
    bad.emplace_back("one byte appended", longer);
    auto rt2 = make_runtime();
    for (const auto& [what, bytes] : bad) {
      ASSERT_TRUE(disk.put("bad.rkc", bytes));
      auto st = ck::restore_from(rt2, cat, disk, "bad.rkc");
      ASSERT_FALSE(st) << what;
      EXPECT_EQ(st.error().code(), rk::ErrorCode::Corrupt) << what << ": " << st.error().describe();
      EXPECT_TRUE(rt2.actors().empty()) << what;
      // The in-memory reader rejects it too.
      EXPECT_FALSE(ck::decode(bytes)) << what;
    }
    auto ok = ck::restore_from(rt2, cat, disk, "good.rkc");
    ASSERT_TRUE(ok) << ok.error().describe();
    EXPECT_EQ(digest_of(rt2, "blob.1").hash, d1.hash);
    // A runtime that already has actors is refused (and the states built for it are dropped).
    auto twice = ck::restore_from(rt2, cat, disk, "good.rkc");
    ASSERT_FALSE(twice);
    EXPECT_EQ(twice.error().code(), rk::ErrorCode::InvalidArgument);
    EXPECT_EQ(rt2.actors().size(), 4u);
  }
  // An actor type missing from the catalog: nothing launched.
  rk::ActorCatalog partial;
  partial.add<Blob>();
  auto rt3 = make_runtime();
  auto st = ck::restore_from(rt3, partial, disk, "good.rkc");
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), rk::ErrorCode::InvalidArgument);
  EXPECT_TRUE(rt3.actors().empty());
  // A missing object.
  EXPECT_EQ(ck::restore_from(rt3, cat, disk, "absent.rkc").error().code(), rk::ErrorCode::ActorNotFound);
  fs::remove_all(dir);
}

// A writer that fails mid-checkpoint (or is dropped) leaves no object and no temporary file; the previous
// checkpoint under that name stays intact and the actors run on.
TEST(Stream, FailedOrAbortedWriterLeavesPreviousCheckpointIntact) {
  const auto dir = temp_dir("abort");
  ck::FileStorage disk(dir);
  const auto cat = catalog();
  auto rt = populated();
  const DigestIs before = digest_of(rt, "blob.1");
  ASSERT_TRUE(ck::checkpoint_to(rt, cat, disk, "ckpt.rkc", small_segments(ck::Compression::None)));
  const auto good = *disk.get("ckpt.rkc");
  ASSERT_TRUE(rt.find("blob.1")->send(Fill{77}));
  const DigestIs changed = digest_of(rt, "blob.1");
  ASSERT_NE(changed.hash, before.hash);

  FailingStorage failing(disk, std::uint64_t{5} << 20);  // fails partway through the second blob
  auto info = ck::checkpoint_to(rt, cat, failing, "ckpt.rkc", small_segments(ck::Compression::None));
  ASSERT_FALSE(info);
  EXPECT_NE(info.error().message().find("disk full"), std::string::npos) << info.error().describe();
  EXPECT_EQ(*disk.get("ckpt.rkc"), good);
  EXPECT_EQ(temp_files(dir), 0u);
  EXPECT_EQ(disk.list("")->size(), 1u);
  // Every actor runs again.
  ASSERT_TRUE(rt.find("counter")->send(Add{1}));
  EXPECT_EQ(total_of(rt, "counter"), 42u);
  EXPECT_EQ(digest_of(rt, "blob.1").hash, changed.hash);

  // Dropped without commit: same.
  {
    auto w = disk.open_writer("ckpt.rkc");
    ASSERT_TRUE(w);
    ASSERT_TRUE((*w)->write(std::vector<std::byte>(std::size_t{3} << 20, std::byte{1})));
    EXPECT_EQ(temp_files(dir), 1u);
  }
  EXPECT_EQ(temp_files(dir), 0u);
  EXPECT_EQ(*disk.get("ckpt.rkc"), good);
  // Explicit abort, then use after abort.
  auto w = disk.open_writer("other.rkc");
  ASSERT_TRUE(w);
  ASSERT_TRUE((*w)->write(std::vector<std::byte>(100, std::byte{2})));
  EXPECT_EQ((*w)->written(), 100u);
  (*w)->abort();
  EXPECT_FALSE((*w)->commit());
  EXPECT_FALSE((*w)->write(std::vector<std::byte>(1)));
  EXPECT_EQ(disk.get("other.rkc").error().code(), rk::ErrorCode::ActorNotFound);
  // The previous checkpoint restores to the state it captured.
  auto rt2 = make_runtime();
  ASSERT_TRUE(ck::restore_from(rt2, cat, disk, "ckpt.rkc"));
  EXPECT_EQ(digest_of(rt2, "blob.1").hash, before.hash);
  fs::remove_all(dir);
}

// A file writer's small writes are gathered and large ones go straight through; the reader reads it all back.
TEST(Stream, FileWriterAndReaderRoundTripMixedWrites) {
  const auto dir = temp_dir("rw");
  ck::FileStorage disk(dir);
  std::vector<std::byte> expect;
  auto w = disk.open_writer("mixed");
  ASSERT_TRUE(w);
  std::uint32_t x = 5;
  for (std::size_t n : {std::size_t{48}, std::size_t{1}, std::size_t{70000}, std::size_t{48}, std::size_t{5} << 20,
                        std::size_t{0}, std::size_t{65535}, std::size_t{65536}}) {
    std::vector<std::byte> part(n);
    for (auto& b : part) { x = x * 1664525u + 1013904223u; b = static_cast<std::byte>(x >> 24); }
    ASSERT_TRUE((*w)->write(part));
    expect.insert(expect.end(), part.begin(), part.end());
  }
  EXPECT_EQ((*w)->written(), expect.size());
  EXPECT_EQ(disk.list("")->size(), 0u);  // not visible before commit
  ASSERT_TRUE((*w)->commit());
  EXPECT_FALSE((*w)->write(std::vector<std::byte>(1)));  // committed: no more writes
  auto r = disk.open_reader("mixed");
  ASSERT_TRUE(r);
  EXPECT_EQ((*r)->size(), expect.size());
  std::vector<std::byte> got(expect.size() + 10);
  std::size_t at = 0;
  for (;;) {
    auto n = (*r)->read(std::span<std::byte>(got).subspan(at, std::min<std::size_t>(got.size() - at, 1 << 20)));
    ASSERT_TRUE(n);
    if (*n == 0) break;
    at += *n;
  }
  got.resize(at);
  EXPECT_EQ(got, expect);
  EXPECT_EQ(disk.open_reader("missing").error().code(), rk::ErrorCode::ActorNotFound);
  EXPECT_EQ(disk.open_writer("../x").error().code(), rk::ErrorCode::InvalidArgument);
  fs::remove_all(dir);
}

// encode_to/decode_from directly: streamed actors need a StateReader; the streaming decoder without a catalog
// returns state bytes; decode_from over a truncated reader and a delta without a loader fail cleanly.
TEST(Stream, EncoderAndDecoderErrorPaths) {
  const auto cat = catalog();
  auto rt = populated();
  rk::SystemSnapshot captured;
  auto st = rt.snapshot_streamed(cat, 1024, [&](rk::SystemSnapshot& snap, rk::StateReader& states) -> rk::Status {
    // No reader for streamed states.
    auto none = ck::encode(snap);
    EXPECT_FALSE(none);
    EXPECT_EQ(none.error().code(), rk::ErrorCode::InvalidArgument);
    const auto dir = temp_dir("direct");
    ck::FileStorage disk(dir);
    auto w = disk.open_writer("direct.rkc");
    EXPECT_TRUE(w);
    ck::EncodeOptions eo = small_segments(ck::Compression::None);
    eo.staging_buffers = 2;  // the smallest ring: copy and write strictly alternate
    eo.threads = 1;
    auto info = ck::encode_to(snap, &states, **w, eo);
    EXPECT_TRUE(info) << info.error().describe();
    EXPECT_TRUE((*w)->commit());
    auto r = disk.open_reader("direct.rkc");
    EXPECT_TRUE(r);
    auto hdr = ck::read_header(**r);
    EXPECT_TRUE(hdr);
    EXPECT_FALSE(hdr->delta);
    auto r2 = disk.open_reader("direct.rkc");
    ck::DecodeOptions d;
    d.read_block = 100000;  // not a divisor of anything in the file
    auto decoded = ck::decode_from(**r2, {}, d);
    EXPECT_TRUE(decoded) << decoded.error().describe();
    if (decoded) {
      EXPECT_EQ(decoded->actors[0].state_bytes.size(), sizeof(Blob));
      EXPECT_FALSE(decoded->actors[0].prepared);
    }
    // Bad options.
    ck::EncodeOptions zero = eo;
    zero.segment_bytes = 0;
    EXPECT_EQ(ck::encode_to(snap, &states, **w, zero).error().code(), rk::ErrorCode::InvalidArgument);
    fs::remove_all(dir);
    return {};
  });
  ASSERT_TRUE(st) << st.error().describe();
  // Delta decode without a loader.
  auto full = ck::encode(*rt.snapshot(cat));
  ASSERT_TRUE(full);
  auto finfo = ck::inspect(*full);
  ck::EncodeOptions eo;
  eo.parent = &*finfo;
  eo.sequence = 2;
  auto delta = ck::encode(*rt.snapshot(cat), eo);
  ASSERT_TRUE(delta);
  auto no_parent = ck::decode(*delta);
  ASSERT_FALSE(no_parent);
  EXPECT_NE(no_parent.error().message().find("needs its parent"), std::string::npos);
  auto with_parent = ck::decode(*delta, [&](std::uint64_t) -> rk::Result<std::vector<std::byte>> { return *full; });
  ASSERT_TRUE(with_parent) << with_parent.error().describe();
  EXPECT_EQ(with_parent->actors.size(), 4u);
}
