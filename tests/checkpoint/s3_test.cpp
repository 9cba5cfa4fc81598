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
  std::unique_ptr<ck::S3Storage> store(const std::string& bucket, const std::string& prefix = "") {
    ck::S3Config c;
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
