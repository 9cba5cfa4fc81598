#include "ringkernel/registry.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace rk = ringkernel;
using rk::ErrorCode;
using rk::Registry;
using rk::RegistryEvent;

namespace {

void expect_error(const rk::Status& st, ErrorCode code) {
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code(), code);
  EXPECT_FALSE(st.error().message().empty());
  EXPECT_FALSE(st.error().context().empty());
}

} // namespace

TEST(RegistryValidate, AcceptsWellFormedNames) {
  const std::string longest(Registry::kMaxNameLength, 'x');
  for (const std::string& n : {std::string("a"), std::string("svc"), std::string("svc/orders/worker-1"),
                               std::string("A.b_c-D/9"), longest}) {
    EXPECT_TRUE(Registry::validate_name(n).ok()) << n;
  }
}

TEST(RegistryValidate, RejectsMalformedNames) {
  const std::string too_long(256, 'x');
  for (const std::string& n : {std::string(), std::string("/a"), std::string("a/"), std::string("a//b"),
                               std::string("a b"), std::string("a*"), std::string("a?"), std::string("caf\xc3\xa9"),
                               std::string("a\0b", 3), too_long}) {
    SCOPED_TRACE(n);
    expect_error(Registry::validate_name(n), ErrorCode::NameInvalid);
  }
}

TEST(RegistryValidate, ErrorMessagePointsAtTheProblem) {
  auto st = Registry::validate_name("svc/bad name");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("offset 7"), std::string::npos) << st.error().message();
  auto empty_seg = Registry::validate_name("a//b");
  ASSERT_FALSE(empty_seg.ok());
  EXPECT_NE(empty_seg.error().message().find("empty segment"), std::string::npos);
}

TEST(RegistryValidate, Patterns) {
  for (const char* p : {"a/*", "**", "**/x", "a/**/b", "a/**", "w?r*", "*", "a*b?c"}) {
    EXPECT_TRUE(Registry::validate_pattern(p).ok()) << p;
  }
  for (const char* p : {"", "a/***", "a**", "**b/c", "a//*", "/**", "a/#", "a b"}) {
    SCOPED_TRACE(p);
    expect_error(Registry::validate_pattern(p), ErrorCode::NameInvalid);
  }
}

TEST(RegistryGlob, SingleStarStaysInsideSegment) {
  EXPECT_TRUE(Registry::glob_match("svc/*", "svc/orders"));
  EXPECT_TRUE(Registry::glob_match("svc/*", "svc/x"));
  EXPECT_FALSE(Registry::glob_match("svc/*", "svc/orders/w1"));
  EXPECT_FALSE(Registry::glob_match("*", "a/b"));
  EXPECT_TRUE(Registry::glob_match("svc/ord*", "svc/ord"));
  EXPECT_TRUE(Registry::glob_match("svc/*ers", "svc/orders"));
  EXPECT_TRUE(Registry::glob_match("*-*-*", "a-b-c"));
  EXPECT_FALSE(Registry::glob_match("*-*-*", "a-b"));
  EXPECT_TRUE(Registry::glob_match("a*b*c", "aXbYbZc"));
  EXPECT_FALSE(Registry::glob_match("a*b*c", "aXbYbZ"));
}

TEST(RegistryGlob, QuestionMarkIsOneCharNotSlash) {
  EXPECT_TRUE(Registry::glob_match("w?", "w1"));
  EXPECT_FALSE(Registry::glob_match("w?", "w"));
  EXPECT_FALSE(Registry::glob_match("w?", "w12"));
  EXPECT_FALSE(Registry::glob_match("a?b", "a/b"));
  EXPECT_TRUE(Registry::glob_match("?" "?/?", "ab/c"));
}

TEST(RegistryGlob, DoubleStarAtStartMiddleEnd) {
  // Start.
  EXPECT_TRUE(Registry::glob_match("**/w", "w"));
  EXPECT_TRUE(Registry::glob_match("**/w", "a/b/w"));
  EXPECT_FALSE(Registry::glob_match("**/w", "a/b/w/x"));
  // Middle.
  EXPECT_TRUE(Registry::glob_match("a/**/z", "a/z"));
  EXPECT_TRUE(Registry::glob_match("a/**/z", "a/b/c/z"));
  EXPECT_FALSE(Registry::glob_match("a/**/z", "a/b/c"));
  EXPECT_FALSE(Registry::glob_match("a/**/z", "b/a/z"));
  // End.
  EXPECT_TRUE(Registry::glob_match("a/**", "a"));
  EXPECT_TRUE(Registry::glob_match("a/**", "a/b/c"));
  EXPECT_FALSE(Registry::glob_match("a/**", "ab/c"));
  // Alone and repeated.
  EXPECT_TRUE(Registry::glob_match("**", "x/y/z"));
  EXPECT_TRUE(Registry::glob_match("**/**", "x"));
  EXPECT_TRUE(Registry::glob_match("**/b/**/d", "a/b/c/b/x/d"));
  EXPECT_FALSE(Registry::glob_match("**/b/**/d", "a/b/c/x/e"));
}

TEST(RegistryGlob, BacktrackingAcrossSegmentsAndWithinThem) {
  // The first "b" candidate leads to a dead end; the matcher must retry later ones.
  EXPECT_TRUE(Registry::glob_match("**/b/c", "b/b/b/c"));
  EXPECT_TRUE(Registry::glob_match("**/b*/c", "bx/by/q/bz/c"));
  EXPECT_FALSE(Registry::glob_match("**/b*/c", "bx/by/q/z/c"));
  EXPECT_TRUE(Registry::glob_match("**/w-?", "a/w-1/b/w-2"));
  // Literal equality without wildcards.
  EXPECT_TRUE(Registry::glob_match("a/b", "a/b"));
  EXPECT_FALSE(Registry::glob_match("a/b", "a/bc"));
  EXPECT_FALSE(Registry::glob_match("a/b", "a"));
}

TEST(Registry, BindLookupUnbind) {
  Registry r;
  ASSERT_TRUE(r.bind("svc/orders", 7).ok());
  ASSERT_TRUE(r.bind("svc/orders-alias", 7).ok());
  ASSERT_TRUE(r.bind("svc/billing", 9).ok());
  EXPECT_EQ(r.size(), 3u);
  auto id = r.lookup("svc/orders");
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, 7u);
  EXPECT_EQ(r.names_of(7), (std::vector<std::string>{"svc/orders", "svc/orders-alias"}));

  ASSERT_TRUE(r.unbind("svc/orders").ok());
  auto gone = r.lookup("svc/orders");
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code(), ErrorCode::ActorNotFound);
  EXPECT_EQ(r.names_of(7), (std::vector<std::string>{"svc/orders-alias"}));
  EXPECT_EQ(r.size(), 2u);
}

TEST(Registry, BindErrors) {
  Registry r;
  ASSERT_TRUE(r.bind("a", 1).ok());
  expect_error(r.bind("a", 2), ErrorCode::NameTaken);
  expect_error(r.bind("a", 1), ErrorCode::NameTaken);
  expect_error(r.bind("a/", 1), ErrorCode::NameInvalid);
  expect_error(r.bind("a/*", 1), ErrorCode::NameInvalid);
  EXPECT_EQ(*r.lookup("a"), 1u);  // The failed binds changed nothing.
  EXPECT_EQ(r.size(), 1u);
  expect_error(r.unbind("nope"), ErrorCode::ActorNotFound);
  expect_error(r.unbind("bad name"), ErrorCode::NameInvalid);
  auto bad = r.lookup("bad//name");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ErrorCode::NameInvalid);
}

TEST(Registry, NameTakenMessageNamesTheOwner) {
  Registry r;
  ASSERT_TRUE(r.bind("svc/x", 42).ok());
  auto st = r.bind("svc/x", 5);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("42"), std::string::npos) << st.error().message();
}

TEST(Registry, UnbindActorRemovesAllItsNames) {
  Registry r;
  ASSERT_TRUE(r.bind("a", 1).ok());
  ASSERT_TRUE(r.bind("b", 1).ok());
  ASSERT_TRUE(r.bind("c", 2).ok());
  EXPECT_EQ(r.unbind_actor(1), 2u);
  EXPECT_EQ(r.unbind_actor(1), 0u);
  EXPECT_EQ(r.size(), 1u);
  EXPECT_TRUE(r.names_of(1).empty());
  EXPECT_EQ(*r.lookup("c"), 2u);
  // The freed names can be reused.
  EXPECT_TRUE(r.bind("a", 3).ok());
}

TEST(Registry, MatchIsSortedAndFiltered) {
  Registry r;
  ASSERT_TRUE(r.bind("svc/z", 1).ok());
  ASSERT_TRUE(r.bind("svc/a", 2).ok());
  ASSERT_TRUE(r.bind("svc/m/deep", 3).ok());
  ASSERT_TRUE(r.bind("svcx/a", 4).ok());
  ASSERT_TRUE(r.bind("other", 5).ok());

  auto one = r.match("svc/*");
  ASSERT_TRUE(one.ok());
  using V = std::vector<std::pair<std::string, rk::ActorId>>;
  EXPECT_EQ(*one, (V{{"svc/a", 2}, {"svc/z", 1}}));

  auto deep = r.match("svc/**");
  ASSERT_TRUE(deep.ok());
  EXPECT_EQ(*deep, (V{{"svc/a", 2}, {"svc/m/deep", 3}, {"svc/z", 1}}));

  auto all = r.match("**");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 5u);

  auto exact = r.match("svcx/a");
  ASSERT_TRUE(exact.ok());
  EXPECT_EQ(*exact, (V{{"svcx/a", 4}}));

  auto none = r.match("nothing/*");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());

  auto bad = r.match("svc/**x");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ErrorCode::NameInvalid);
}

TEST(RegistryWatch, FiresForMatchingNamesOnly) {
  Registry r;
  std::vector<std::string> seen;
  auto w = r.watch("svc/**", [&](const RegistryEvent& e) {
    seen.push_back(std::string(e.kind == RegistryEvent::Kind::Bound ? "+" : "-") + e.name + "@" +
                   std::to_string(e.id));
  });
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(r.bind("svc/a", 1).ok());
  ASSERT_TRUE(r.bind("other/a", 2).ok());
  ASSERT_TRUE(r.bind("svc/b/c", 3).ok());
  ASSERT_TRUE(r.unbind("svc/a").ok());
  ASSERT_TRUE(r.unbind("other/a").ok());
  EXPECT_EQ(r.unbind_actor(3), 1u);
  EXPECT_EQ(seen, (std::vector<std::string>{"+svc/a@1", "+svc/b/c@3", "-svc/a@1", "-svc/b/c@3"}));
}

TEST(RegistryWatch, FailedOperationsDoNotFire) {
  Registry r;
  int calls = 0;
  ASSERT_TRUE(r.watch("**", [&](const RegistryEvent&) { ++calls; }).ok());
  ASSERT_TRUE(r.bind("a", 1).ok());
  EXPECT_FALSE(r.bind("a", 2).ok());
  EXPECT_FALSE(r.unbind("b").ok());
  EXPECT_EQ(calls, 1);
}

TEST(RegistryWatch, UnwatchStopsEvents) {
  Registry r;
  int calls = 0;
  auto w = r.watch("*", [&](const RegistryEvent&) { ++calls; });
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(r.bind("a", 1).ok());
  ASSERT_TRUE(r.unwatch(*w).ok());
  ASSERT_TRUE(r.bind("b", 1).ok());
  EXPECT_EQ(calls, 1);
  expect_error(r.unwatch(*w), ErrorCode::InvalidArgument);
}

TEST(RegistryWatch, RejectsBadPatternAndEmptyCallback) {
  Registry r;
  auto bad = r.watch("a//b", [](const RegistryEvent&) {});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ErrorCode::NameInvalid);
  auto empty = r.watch("a", Registry::WatchFn{});
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().code(), ErrorCode::InvalidArgument);
}

TEST(RegistryWatch, CallbackMayReenterTheRegistry) {
  Registry r;
  // Mirror every "live/*" binding under "mirror/*" from inside the callback, and unwatch itself after the
  // first unbind: all of this would deadlock if callbacks ran under the registry's lock.
  std::uint64_t self = 0;
  std::vector<std::string> mirrored;
  auto w = r.watch("live/*", [&](const RegistryEvent& e) {
    const std::string mirror = "mirror/" + e.name.substr(5);
    if (e.kind == RegistryEvent::Kind::Bound) {
      EXPECT_TRUE(r.bind(mirror, e.id).ok());
      auto found = r.lookup(e.name);
      EXPECT_TRUE(found.ok());
      mirrored.push_back(mirror);
    } else {
      EXPECT_TRUE(r.unbind(mirror).ok());
      EXPECT_TRUE(r.unwatch(self).ok());
    }
  });
  ASSERT_TRUE(w.ok());
  self = *w;
  ASSERT_TRUE(r.bind("live/a", 1).ok());
  ASSERT_TRUE(r.bind("live/b", 2).ok());
  EXPECT_EQ(*r.lookup("mirror/a"), 1u);
  EXPECT_EQ(*r.lookup("mirror/b"), 2u);
  ASSERT_TRUE(r.unbind("live/a").ok());
  EXPECT_FALSE(r.lookup("mirror/a").ok());
  ASSERT_TRUE(r.unbind("live/b").ok());  // Watcher is gone: mirror/b stays.
  EXPECT_TRUE(r.lookup("mirror/b").ok());
  EXPECT_EQ(mirrored.size(), 2u);
}

TEST(RegistryConcurrency, ParallelBindsAreAllCountedExactly) {
  Registry r;
  constexpr int kThreads = 8;
  constexpr int kPerThread = 300;
  std::atomic<int> bound_events{0};
  std::atomic<int> unbound_events{0};
  ASSERT_TRUE(r.watch("t*/**", [&](const RegistryEvent& e) {
                 (e.kind == RegistryEvent::Kind::Bound ? bound_events : unbound_events).fetch_add(1);
               }).ok());
  std::vector<int> wins(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const auto id = static_cast<rk::ActorId>(t + 1);
      for (int i = 0; i < kPerThread; ++i) {
        EXPECT_TRUE(r.bind("t" + std::to_string(t) + "/n" + std::to_string(i), id).ok());
        // Everyone races for the same shared names; exactly one thread may win each.
        auto st = r.bind("shared/" + std::to_string(i), id);
        if (st.ok()) {
          ++wins[static_cast<std::size_t>(t)];
        } else {
          EXPECT_EQ(st.error().code(), ErrorCode::NameTaken);
        }
        EXPECT_TRUE(r.lookup("shared/" + std::to_string(i)).ok());
        (void)r.match("t" + std::to_string(t) + "/*");
      }
    });
  }
  for (auto& th : threads) th.join();
  threads.clear();
  int total_wins = 0;
  for (int w : wins) total_wins += w;
  EXPECT_EQ(total_wins, kPerThread);
  EXPECT_EQ(bound_events.load(), kThreads * kPerThread);
  EXPECT_EQ(r.size(), static_cast<std::size_t>((kThreads + 1) * kPerThread));

  // Phase 2: even actors are removed while odd threads keep reading.
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const auto id = static_cast<rk::ActorId>(t + 1);
      if (t % 2 == 0) {
        EXPECT_EQ(r.unbind_actor(id), static_cast<std::size_t>(kPerThread + wins[static_cast<std::size_t>(t)]));
      } else {
        for (int i = 0; i < kPerThread; ++i) {
          EXPECT_EQ(r.names_of(id).size(), static_cast<std::size_t>(kPerThread + wins[static_cast<std::size_t>(t)]));
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  int odd_wins = 0;
  for (int t = 1; t < kThreads; t += 2) odd_wins += wins[static_cast<std::size_t>(t)];
  EXPECT_EQ(unbound_events.load(), (kThreads / 2) * kPerThread);
  EXPECT_EQ(r.size(), static_cast<std::size_t>((kThreads / 2) * kPerThread + odd_wins));
}
