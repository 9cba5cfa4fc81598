// Local file storage: atomic replace, listing, and a writer killed mid-write never destroying the previous
// good checkpoint.
#include <gtest/gtest.h>

#include <ringkernel/checkpoint/checkpoint.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "ckpt_actors.hpp"

namespace ck = ringkernel::checkpoint;
namespace rk = ringkernel;
namespace fs = std::filesystem;

namespace {

fs::path temp_dir(const std::string& name) {
  auto p = fs::temp_directory_path() / ("rk-ckpt-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(p);
  return p;
}

std::vector<std::byte> filled(std::size_t n, std::uint8_t v) { return std::vector<std::byte>(n, std::byte{v}); }

} // namespace

TEST(FileStorage, PutGetListRemove) {
  const auto dir = temp_dir("basic");
  ck::FileStorage s(dir);
  EXPECT_TRUE(s.list("")->empty());  // no directory yet
  ASSERT_TRUE(s.put("b.rkc", filled(10, 1)));
  ASSERT_TRUE(s.put("a.rkc", filled(20, 2)));
  ASSERT_TRUE(s.put("a.rkc", filled(5, 3)));
  auto l = s.list("");
  ASSERT_TRUE(l);
  ASSERT_EQ(l->size(), 2u);
  EXPECT_EQ((*l)[0].name, "a.rkc");
  EXPECT_EQ((*l)[0].size, 5u);
  EXPECT_EQ(*s.get("a.rkc"), filled(5, 3));
  EXPECT_EQ(s.list("b")->size(), 1u);
  ASSERT_TRUE(s.remove("b.rkc"));
  ASSERT_TRUE(s.remove("b.rkc"));
  EXPECT_EQ(s.get("b.rkc").error().code(), rk::ErrorCode::ActorNotFound);
  EXPECT_EQ(s.put("", filled(1, 1)).error().code(), rk::ErrorCode::InvalidArgument);
  EXPECT_EQ(s.put(".hidden", filled(1, 1)).error().code(), rk::ErrorCode::InvalidArgument);
  EXPECT_EQ(s.put("a/b", filled(1, 1)).error().code(), rk::ErrorCode::InvalidArgument);
  EXPECT_EQ(s.get("../etc").error().code(), rk::ErrorCode::InvalidArgument);
  // A directory where the storage root should be: a clear I/O error, not a crash.
  ck::FileStorage broken(dir / "a.rkc");
  auto st = broken.put("x.rkc", filled(1, 1));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().code(), rk::ErrorCode::Internal);
  fs::remove_all(dir);
}

// A writer process is killed while it writes a new checkpoint: the previous one stays intact and is what
// restore-latest returns; the half-written temporary file is never listed.
TEST(FileStorage, CrashDuringWriteKeepsPreviousCheckpoint) {
  const auto dir = temp_dir("crash");
  ck::FileStorage disk(dir);
  ck::ManagerOptions mo;
  ck::CheckpointManager mgr(disk, mo);
  const auto cat = ckpt_test::catalog();
  {
    auto rt = ckpt_test::make_runtime(1);
    auto c = rt.launch<ckpt_test::Counter>("counter");
    ASSERT_TRUE(c);
    ASSERT_TRUE(c->send(ckpt_test::Add{123}));
    ASSERT_TRUE(c->call<ckpt_test::Sum>(ckpt_test::Get{0}, std::chrono::seconds(2)));
    ASSERT_TRUE(mgr.checkpoint_now(rt, cat));
  }
  const std::string next_name = mgr.name_of(2);
  const auto big = filled(std::size_t{192} << 20, 0xAB);
  bool killed_mid_write = false;
  for (int attempt = 0; attempt < 5 && !killed_mid_write; ++attempt) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ck::FileStorage child(dir);
      (void)child.put(next_name, big);
      ::_exit(0);
    }
    // Kill as soon as the temporary file has some but not all bytes.
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < end && !killed_mid_write) {
      std::error_code ec;
      for (const auto& e : fs::directory_iterator(dir, ec)) {
        const auto n = e.path().filename().string();
        const auto size = e.is_regular_file(ec) ? e.file_size(ec) : 0;
        if (n.front() == '.' && size > 0 && size < big.size()) {
          ::kill(pid, SIGKILL);
          killed_mid_write = true;
          break;
        }
      }
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!killed_mid_write) (void)disk.remove(next_name);  // the writer won the race: try again
  }
  ASSERT_TRUE(killed_mid_write) << "could not catch the writer mid-write";
  auto l = mgr.list();
  ASSERT_TRUE(l);
  // Listing swept the dead writer's temporary file.
  for (const auto& e : fs::directory_iterator(dir)) {
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
  }
  ASSERT_EQ(l->size(), 1u);
  EXPECT_EQ((*l)[0].sequence, 1u);
  auto rt2 = ckpt_test::make_runtime(1);
  auto seq = mgr.restore_latest(rt2, cat);
  ASSERT_TRUE(seq) << seq.error().describe();
  EXPECT_EQ(*seq, 1u);
  auto sum = rt2.find("counter")->call<ckpt_test::Sum>(ckpt_test::Get{0}, std::chrono::seconds(2));
  ASSERT_TRUE(sum);
  EXPECT_EQ(sum->total, 123u);
  fs::remove_all(dir);
}
