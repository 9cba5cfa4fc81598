// S3-compatible storage against a real S3 API server on loopback (moto_server, started here; the test fails
// rather than skips when it is missing: scripts/requirements.txt installs it), plus error paths.
#include <gtest/gtest.h>

#include <ringkernel/checkpoint/checkpoint.hpp>

#include <memory>

#include "ckpt_actors.hpp"
#include "s3_helpers.hpp"

namespace ck = ringkernel::checkpoint;
namespace rk = ringkernel;
using ckpt_test::ServerProcess;

namespace {

std::unique_ptr<ServerProcess> g_moto;

class S3 : public ::testing::Test {
protected:
  static void SetUpTestSuite() {
    const int port = ckpt_test::free_port();
    g_moto = std::make_unique<ServerProcess>(
        std::vector<std::string>{RK_PYTHON3, "-m", "moto.server", "-H", "127.0.0.1", "-p", std::to_string(port)}, port);
  }
  static void TearDownTestSuite() { g_moto.reset(); }
  void SetUp() override {
    ASSERT_TRUE(g_moto && g_moto->up())
        << "moto_server did not start: pip install -r scripts/requirements.txt (moto[server])";
  }
  std::unique_ptr<ck::S3Storage> store(const std::string& bucket, const std::string& prefix = "",
                                       unsigned upload_concurrency = 4) {
    ck::S3Config c;
    c.upload_concurrency = upload_concurrency;
    c.endpoint = g_moto->endpoint();
    c.bucket = bucket;
    c.access_key = "testing";
    c.secret_key = "testing";
    c.prefix = prefix;
    c.part_size = std::size_t{5} << 20;
    c.multipart_threshold = std::size_t{6} << 20;
    auto s = ck::S3Storage::create(c);
    EXPECT_TRUE(s) << s.error().describe();
    EXPECT_TRUE(s.value()->create_bucket());
    return std::move(s).value();
  }
};

std::vector<std::byte> pattern(std::size_t n, unsigned seed) {
  std::vector<std::byte> v(n);
  std::uint32_t x = seed * 2654435761u + 1;
  for (auto& b : v) { x = x * 1664525u + 1013904223u; b = static_cast<std::byte>(x >> 24); }
  return v;
}

} // namespace

TEST_F(S3, PutGetListDelete) {
  auto s = store("ckpt-basic", "cluster-a/");
  const auto a = pattern(1000, 1);
  const auto b = pattern(10, 2);
  ASSERT_TRUE(s->put("one.rkc", a));
  ASSERT_TRUE(s->put("two.rkc", b));
  ASSERT_TRUE(s->put("two.rkc", a));  // replace
  auto got = s->get("two.rkc");
  ASSERT_TRUE(got) << got.error().describe();
  EXPECT_EQ(*got, a);
  auto l = s->list("");
  ASSERT_TRUE(l) << l.error().describe();
  ASSERT_EQ(l->size(), 2u);
  EXPECT_EQ((*l)[0].name, "one.rkc");
  EXPECT_EQ((*l)[1].size, 1000u);
  auto lt = s->list("tw");
  ASSERT_TRUE(lt);
  EXPECT_EQ(lt->size(), 1u);
  ASSERT_TRUE(s->remove("one.rkc"));
  ASSERT_TRUE(s->remove("one.rkc"));  // deleting a missing object is fine
  auto missing = s->get("one.rkc");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), rk::ErrorCode::ActorNotFound);
  EXPECT_EQ(s->list("")->size(), 1u);
  EXPECT_EQ(s->put("../x", a).error().code(), rk::ErrorCode::InvalidArgument);
}

TEST_F(S3, MultipartUpload) {
  auto s = store("ckpt-multipart");
  const auto big = pattern((std::size_t{11} << 20) + 123, 3);  // 3 parts of 5 MiB, 5 MiB, 1 MiB + 123
  const auto before = s->requests();
  ASSERT_TRUE(s->put("big.rkc", big));
  EXPECT_EQ(s->requests() - before, 5u);  // initiate + 3 parts + complete
  auto got = s->get("big.rkc");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->size(), big.size());
  EXPECT_TRUE(*got == big);
}

// Parts upload concurrently (each on its own connection) and the object is still assembled in part order; one
// part at a time gives the same object and the same number of requests.
TEST_F(S3, MultipartPartsUploadConcurrentlyInOrder) {
  const auto big = pattern((std::size_t{26} << 20) + 777, 9);  // 5 parts of 5 MiB + 1 MiB + 777
  for (unsigned concurrency : {1u, 3u, 8u}) {
    auto s = store("ckpt-concurrent-" + std::to_string(concurrency), "", concurrency);
    const auto before = s->requests();
    ASSERT_TRUE(s->put("big.rkc", big)) << concurrency;
    EXPECT_EQ(s->requests() - before, 8u) << concurrency;  // initiate + 6 parts + complete
    auto got = s->get("big.rkc");
    ASSERT_TRUE(got);
    EXPECT_TRUE(*got == big) << "parts out of order with " << concurrency << " in flight";
  }
  ck::S3Config bad;
  bad.endpoint = "http://127.0.0.1:1";
  bad.bucket = "b";
  bad.access_key = "k";
  bad.secret_key = "s";
  bad.upload_concurrency = 0;
  auto refused = ck::S3Storage::create(bad);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message().find("upload_concurrency"), std::string::npos);
}

TEST_F(S3, ListByPrefixIsSorted) {
  auto s = store("ckpt-many");
  for (int i = 19; i >= 0; --i) ASSERT_TRUE(s->put("obj-" + std::to_string(100 + i), pattern(3, i)));
  ASSERT_TRUE(s->put("other", pattern(3, 0)));
  auto l = s->list("obj-");
  ASSERT_TRUE(l);
  ASSERT_EQ(l->size(), 20u);
  EXPECT_EQ(l->front().name, "obj-100");
  EXPECT_EQ(l->back().name, "obj-119");
}

TEST_F(S3, ManagerCheckpointsAndRestoresThroughS3) {
  auto s = store("ckpt-manager");
  const auto cat = ckpt_test::catalog();
  auto rt = ckpt_test::make_runtime(1);
  auto c = rt.launch<ckpt_test::Counter>("counter");
  ASSERT_TRUE(c);
  ck::ManagerOptions mo;
  mo.keep = 2;
  mo.full_every = 2;
  mo.encode.compression = ck::Compression::Zstd;
  ck::CheckpointManager mgr(*s, mo);
  for (std::uint64_t i = 1; i <= 4; ++i) {
    ASSERT_TRUE(c->send(ckpt_test::Add{i}));
    ASSERT_TRUE(c->call<ckpt_test::Sum>(ckpt_test::Get{0}, std::chrono::seconds(2)));
    auto info = mgr.checkpoint_now(rt, cat);
    ASSERT_TRUE(info) << info.error().describe();
  }
  auto l = mgr.list();
  ASSERT_TRUE(l);
  EXPECT_EQ(l->size(), 2u);
  auto rt2 = ckpt_test::make_runtime(1);
  auto seq = mgr.restore_latest(rt2, cat);
  ASSERT_TRUE(seq) << seq.error().describe();
  EXPECT_EQ(*seq, 4u);
  auto sum = rt2.find("counter")->call<ckpt_test::Sum>(ckpt_test::Get{0}, std::chrono::seconds(2));
  ASSERT_TRUE(sum);
  EXPECT_EQ(sum->total, 10u);
}

// checkpoint_to streams into a multipart upload (parts sent as they fill) and restore_from reads the object back in
// ranged GETs; the streamed state is larger than a part and not a multiple of it.
TEST_F(S3, StreamingCheckpointUploadsPartsAndRestoresWithRangedReads) {
  auto s = store("ckpt-stream");
  const auto cat = ckpt_test::catalog();
  auto rt = ckpt_test::make_runtime();
  auto b1 = rt.launch<ckpt_test::Blob>("blob.1");
  auto b2 = rt.launch<ckpt_test::Blob>("blob.2");
  ASSERT_TRUE(b1 && b2);
  ASSERT_TRUE(b1->send(ckpt_test::Fill{1}));
  ASSERT_TRUE(b2->send(ckpt_test::Fill{2}));
  const auto d1 = b1->call<ckpt_test::DigestIs>(ckpt_test::Digest{0}, std::chrono::seconds(10));
  const auto d2 = b2->call<ckpt_test::DigestIs>(ckpt_test::Digest{0}, std::chrono::seconds(10));
  ASSERT_TRUE(d1 && d2);
  ck::EncodeOptions eo;
  eo.segment_bytes = std::size_t{1} << 20;
  const auto before = s->requests();
  ck::StreamStats stats;
  auto info = ck::checkpoint_to(rt, cat, *s, "stream.rkc", eo, &stats);
  ASSERT_TRUE(info) << info.error().describe();
  ASSERT_GT(info->total_bytes, std::size_t{6} << 20);
  ASSERT_LT(info->total_bytes, std::size_t{10} << 20);
  // 6.02 MiB: past the 6 MiB threshold, so initiate + a 5 MiB part + the last part + complete.
  EXPECT_EQ(s->requests() - before, 4u);
  auto listed = s->list("stream");
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].size, info->total_bytes);

  const auto before_read = s->requests();
  auto rt2 = ckpt_test::make_runtime();
  auto st = ck::restore_from(rt2, cat, *s, "stream.rkc");
  ASSERT_TRUE(st) << st.error().describe();
  EXPECT_EQ(s->requests() - before_read, 3u);  // HEAD + two ranged GETs of at most 5 MiB
  auto r1 = rt2.find("blob.1")->call<ckpt_test::DigestIs>(ckpt_test::Digest{0}, std::chrono::seconds(10));
  auto r2 = rt2.find("blob.2")->call<ckpt_test::DigestIs>(ckpt_test::Digest{0}, std::chrono::seconds(10));
  ASSERT_TRUE(r1 && r2);
  EXPECT_EQ(r1->hash, d1->hash);
  EXPECT_EQ(r2->hash, d2->hash);
  // A missing object.
  EXPECT_EQ(s->open_reader("absent.rkc").error().code(), rk::ErrorCode::ActorNotFound);
}

// A delta larger than one read-ahead block: restoring it opens the parent while this file's read-ahead thread is
// still fetching ranges, so both use the storage's HTTP client at once (they must take turns).
TEST_F(S3, DeltaLargerThanAReadBlockRestoresThroughS3) {
  auto s = store("ckpt-big-delta");
  const auto cat = ckpt_test::catalog();
  auto rt = ckpt_test::make_runtime();
  std::vector<rk::ActorHandle> blobs;
  for (int i = 0; i < 4; ++i) {
    auto b = rt.launch<ckpt_test::Blob>("blob." + std::to_string(i));
    ASSERT_TRUE(b);
    blobs.push_back(*b);
  }
  auto fill = [&](std::uint32_t round) {
    for (std::size_t i = 0; i < blobs.size(); ++i) ASSERT_TRUE(blobs[i].send(ckpt_test::Fill{round * 10 + static_cast<std::uint32_t>(i)}));
  };
  ck::ManagerOptions mo;
  mo.keep = 2;
  mo.full_every = 2;  // a full checkpoint, then a delta
  mo.encode.compression = ck::Compression::None;
  ck::CheckpointManager mgr(*s, mo);
  fill(1);
  ASSERT_TRUE(blobs[0].call<ckpt_test::DigestIs>(ckpt_test::Digest{0}, std::chrono::seconds(10)));
  ASSERT_TRUE(mgr.checkpoint_now(rt, cat));
  fill(2);  // every state changes: the delta stores about 12 MiB, more than the 8 MiB read-ahead block
  std::vector<std::uint64_t> want;
  for (auto& b : blobs) {
    auto d = b.call<ckpt_test::DigestIs>(ckpt_test::Digest{0}, std::chrono::seconds(10));
    ASSERT_TRUE(d);
    want.push_back(d->hash);
  }
  auto info = mgr.checkpoint_now(rt, cat);
  ASSERT_TRUE(info) << info.error().describe();
  ASSERT_GT(info->total_bytes, std::size_t{8} << 20);
  auto rt2 = ckpt_test::make_runtime();
  auto seq = mgr.restore_latest(rt2, cat);
  ASSERT_TRUE(seq) << seq.error().describe();
  EXPECT_EQ(*seq, 2u);
  for (std::size_t i = 0; i < blobs.size(); ++i) {
    auto d = rt2.find("blob." + std::to_string(i))->call<ckpt_test::DigestIs>(ckpt_test::Digest{0}, std::chrono::seconds(10));
    ASSERT_TRUE(d);
    EXPECT_EQ(d->hash, want[i]) << i;
  }
}

// A multipart writer dropped before commit aborts its upload: the object keeps its previous content.
TEST_F(S3, DroppedMultipartWriterLeavesPreviousObject) {
  auto s = store("ckpt-abort", "", 1);  // parts upload in the writing thread: request counts are exact
  const auto old = pattern(1000, 4);
  ASSERT_TRUE(s->put("obj.rkc", old));
  const auto before = s->requests();
  {
    auto w = s->open_writer("obj.rkc");
    ASSERT_TRUE(w);
    const auto big = pattern((std::size_t{12} << 20) + 7, 5);
    ASSERT_TRUE((*w)->write(std::span<const std::byte>(big).first(1000)));
    EXPECT_EQ(s->requests(), before);  // still buffered
    ASSERT_TRUE((*w)->write(std::span<const std::byte>(big).subspan(1000)));
    EXPECT_EQ(s->requests() - before, 3u);  // initiate + two 5 MiB parts; 2 MiB + 7 still buffered
  }
  EXPECT_EQ(s->requests() - before, 4u);  // + abort
  auto got = s->get("obj.rkc");
  ASSERT_TRUE(got);
  EXPECT_EQ(*got, old);
  // Small objects still go in one PUT at commit.
  auto w = s->open_writer("small.rkc");
  ASSERT_TRUE(w);
  ASSERT_TRUE((*w)->write(pattern(100, 6)));
  ASSERT_TRUE((*w)->write(pattern(50, 7)));
  const auto at_commit = s->requests();
  ASSERT_TRUE((*w)->commit());
  EXPECT_EQ(s->requests() - at_commit, 1u);
  EXPECT_EQ(s->get("small.rkc")->size(), 150u);
}

TEST(S3Errors, NetworkFailureIsRetriedThenReported) {
  ck::S3Config c;
  c.endpoint = "http://127.0.0.1:" + std::to_string(ckpt_test::free_port());  // nothing listens here
  c.bucket = "b";
  c.access_key = "k";
  c.secret_key = "s";
  c.max_retries = 2;
  c.retry_backoff = std::chrono::milliseconds(1);
  auto s = ck::S3Storage::create(c);
  ASSERT_TRUE(s);
  auto r = (*s)->get("x.rkc");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), rk::ErrorCode::BackendUnavailable);
  EXPECT_NE(r.error().message().find("network failure"), std::string::npos) << r.error().describe();
  EXPECT_NE(r.error().message().find("after 3 attempts"), std::string::npos) << r.error().describe();
  EXPECT_EQ((*s)->requests(), 3u);
}

TEST(S3Errors, ServerErrorsRetryAndAuthErrorsDoNot) {
  const int port = ckpt_test::free_port();
  ServerProcess stub({RK_PYTHON3, std::string(RK_CKPT_TEST_DIR) + "/fake_s3_errors.py", std::to_string(port)}, port);
  ASSERT_TRUE(stub.up());
  auto make = [&](const std::string& bucket) {
    ck::S3Config c;
    c.endpoint = stub.endpoint();
    c.bucket = bucket;
    c.access_key = "k";
    c.secret_key = "s";
    c.max_retries = 3;
    c.retry_backoff = std::chrono::milliseconds(1);
    return std::move(ck::S3Storage::create(c)).value();
  };
  auto down = make("down");
  auto r = down->get("x.rkc");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), rk::ErrorCode::BackendUnavailable);
  EXPECT_NE(r.error().message().find("SlowDown"), std::string::npos) << r.error().describe();
  EXPECT_EQ(down->requests(), 4u);

  auto auth = make("auth");
  auto a = auth->put("x.rkc", pattern(10, 1));
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code(), rk::ErrorCode::InvalidArgument);
  EXPECT_NE(a.error().message().find("access denied"), std::string::npos) << a.error().describe();
  EXPECT_NE(a.error().message().find("SignatureDoesNotMatch"), std::string::npos);
  EXPECT_EQ(auth->requests(), 1u);
  ASSERT_FALSE(auth->open_reader("x.rkc"));

  // A streaming checkpoint into a store that refuses it fails cleanly and the actors run on.
  {
    const auto cat = ckpt_test::catalog();
    auto rt = ckpt_test::make_runtime(1);
    auto blob = rt.launch<ckpt_test::Blob>("blob");
    ASSERT_TRUE(blob);
    auto refused = ck::checkpoint_to(rt, cat, *auth, "x.rkc");
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code(), rk::ErrorCode::InvalidArgument) << refused.error().describe();
    EXPECT_TRUE(blob->call<ckpt_test::DigestIs>(ckpt_test::Digest{0}, std::chrono::seconds(10)));
    // The multipart path: initiation refused on the first part boundary.
    auto w = auth->open_writer("big.rkc");
    ASSERT_TRUE(w);
    auto wr = (*w)->write(pattern(std::size_t{17} << 20, 8));
    ASSERT_FALSE(wr);
    EXPECT_EQ(wr.error().code(), rk::ErrorCode::InvalidArgument);
    EXPECT_FALSE((*w)->commit());
  }

  auto flaky = make("flaky");
  auto f = flaky->get("x.rkc");
  ASSERT_TRUE(f) << f.error().describe();
  EXPECT_EQ(f->size(), 5u);
  EXPECT_EQ(flaky->requests(), 3u);
}

TEST(S3Config, EndpointsAndValidation) {
  auto gcs = ck::S3Config::gcs("my-bucket", "GOOG1EXAMPLE", "secret");
  gcs.prefix = "prod/";
  auto g = ck::S3Storage::create(gcs);
  ASSERT_TRUE(g);
  EXPECT_EQ((*g)->url_for("checkpoint-1.rkc"), "https://my-bucket.storage.googleapis.com/prod/checkpoint-1.rkc");
  EXPECT_EQ((*g)->sigv4_param(), "aws:amz:auto:s3");

  ck::S3Config minio;
  minio.endpoint = "http://minio.local:9000/";
  minio.region = "eu-west-1";
  minio.bucket = "ckpts";
  minio.access_key = "a";
  minio.secret_key = "b";
  auto m = ck::S3Storage::create(minio);
  ASSERT_TRUE(m);
  EXPECT_EQ((*m)->url_for("a b+c.rkc"), "http://minio.local:9000/ckpts/a%20b%2Bc.rkc");
  EXPECT_EQ((*m)->url_for(""), "http://minio.local:9000/ckpts");
  EXPECT_EQ((*m)->sigv4_param(), "aws:amz:eu-west-1:s3");

  auto bad = minio;
  bad.endpoint = "minio.local";
  EXPECT_EQ(ck::S3Storage::create(bad).error().code(), rk::ErrorCode::InvalidArgument);
  bad = minio;
  bad.bucket = "";
  EXPECT_EQ(ck::S3Storage::create(bad).error().code(), rk::ErrorCode::InvalidArgument);
  bad = minio;
  bad.secret_key = "";
  EXPECT_EQ(ck::S3Storage::create(bad).error().code(), rk::ErrorCode::InvalidArgument);
  bad = minio;
  bad.part_size = 1 << 20;
  EXPECT_EQ(ck::S3Storage::create(bad).error().code(), rk::ErrorCode::InvalidArgument);
}
