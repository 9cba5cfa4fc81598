// hello_actor: the smallest complete RingKernel program.
//
// 1. Define messages: plain structs with a stable `type_id` (a hash of a name you choose).
// 2. Define an actor: some state plus one `handle(ctx, const Msg&)` overload per message it accepts.
// 3. Build a runtime, launch the actor, and talk to it with `call` (request/reply).
//
// Exits 0 when every reply is what we expect, 1 otherwise (it also runs as a ctest).
#include <cstdio>
#include <cstring>
#include <string>

#include "ringkernel/runtime.hpp"

using namespace ringkernel;
using namespace std::chrono_literals;

// Messages travel by value through fixed-size queue slots, so they hold fixed-size data, not std::string.
struct Greet {
  static constexpr auto type_id = message_type("hello.Greet");
  char name[32];
};
struct Greeting {
  static constexpr auto type_id = message_type("hello.Greeting");
  char text[96];
  std::uint32_t count;  // how many greetings this actor has made so far: shows that state persists
};

// The actor. `handle` takes the context as `auto&` so the same code can also compile for a GPU backend.
struct Greeter {
  using messages = message_list<Greet>;
  std::uint32_t greeted = 0;

  void handle(auto& ctx, const Greet& g) {
    Greeting out{};
    ++greeted;
    std::snprintf(out.text, sizeof out.text, "Hello, %.*s!", static_cast<int>(strnlen(g.name, sizeof g.name)),
                  g.name);
    out.count = greeted;
    ctx.reply(out);  // goes back to whoever sent the Greet (here: the host's pending call)
  }
};

static Greet greet(const char* name) {
  Greet g{};
  std::snprintf(g.name, sizeof g.name, "%s", name);
  return g;
}

int main() {
  // Backend::Auto picks the best backend available (CPU worker threads on a machine without a GPU).
  auto rt = Runtime::builder().backend(Backend::Auto).workers(2).build();
  if (!rt) {
    std::fprintf(stderr, "cannot build runtime: %s\n", rt.error().describe().c_str());
    return 1;
  }
  std::printf("runtime on backend '%s' with %u workers\n", std::string(to_string(rt->backend())).c_str(),
              rt->workers());

  auto greeter = rt->launch<Greeter>("greeter");
  if (!greeter) {
    std::fprintf(stderr, "launch failed: %s\n", greeter.error().describe().c_str());
    return 1;
  }

  int failures = 0;
  const char* names[] = {"world", "RingKernel", "actors"};
  for (std::uint32_t i = 0; i < 3; ++i) {
    // `call` sends the request and waits (up to the timeout) for the reply correlated with it.
    auto reply = greeter->call<Greeting>(greet(names[i]), 1s);
    if (!reply) {
      std::fprintf(stderr, "call failed: %s\n", reply.error().describe().c_str());
      return 1;
    }
    const std::string expected = std::string("Hello, ") + names[i] + "!";
    const bool ok = reply->text == expected && reply->count == i + 1;
    std::printf("%-24s (greeting #%u) %s\n", reply->text, reply->count, ok ? "ok" : "MISMATCH");
    failures += ok ? 0 : 1;
  }

  // Errors are values: asking for the wrong reply type is reported, not undefined behaviour.
  auto wrong = greeter->call<Greet>(greet("typo"), 1s);
  if (wrong || wrong.error().code() != ErrorCode::UnknownMessageType) {
    std::fprintf(stderr, "expected an UnknownMessageType error for a mistyped reply\n");
    ++failures;
  } else {
    std::printf("mistyped reply rejected: %s\n", wrong.error().describe().c_str());
  }

  auto done = rt->shutdown();
  std::printf("shutdown: %s\n", done ? "ok" : done.error().describe().c_str());
  return failures == 0 && done ? 0 : 1;
}
