// Private to the WebGPU component: shared between the program compiler and the executor.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ringkernel/webgpu/webgpu.hpp"

namespace ringkernel::webgpu::detail {

// Words of one `desc` entry per dispatched thread: slot, first message, message count, actor id.
inline constexpr std::uint32_t kDescWords = 4;
// Bits of a message's meta word: no handler matched its type; the handler called fail(); the message was not
// run because the actor failed earlier in the batch. The low bits count the outputs the handler emitted.
inline constexpr std::uint32_t kUnhandled = 0x80000000u;
inline constexpr std::uint32_t kFailed = 0x40000000u;
inline constexpr std::uint32_t kSkipped = 0x20000000u;
inline constexpr std::uint32_t kOutputMask = 0x0FFFFFFFu;
// Threads per workgroup of the batch kernel.
inline constexpr std::uint32_t kWorkgroup = 64;

// An IR actor's host-side state (ActorCell::state): its program, the state words used to (re)load the GPU
// slot (and run on the interpreter on the CPU backend), and its HLC word on the CPU path.
struct HostState {
  std::shared_ptr<const ActorProgram> program;
  std::vector<std::uint32_t> words;
  std::uint64_t clock = 0;
};

// The synthetic message that runs hook `type` (kOnStartType/kOnStopType) for actor `self`: from the host (so a
// hook's reply() reaches the actor's host receive queue), no payload, no clock stamp.
inline MessageHeader hook_message(TypeId type, ActorId self) {
  MessageHeader h{};
  h.magic = kMessageMagic;
  h.version = kMessageVersion;
  h.type_id = type;
  h.source = kHostActor;
  h.destination = self;
  return h;
}
inline bool is_hook(TypeId type) { return type == kOnStartType || type == kOnStopType; }

// The program registered under `key` by actor_type(), or nullptr.
std::shared_ptr<const ActorProgram> find_program(const std::string& key);

} // namespace ringkernel::webgpu::detail
