// Private to the WebGPU component: shared between the program compiler and the executor.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ringkernel/webgpu/webgpu.hpp"

namespace ringkernel::webgpu::detail {

// Words of one `desc` entry per dispatched thread: slot, first message, message count, actor id.
inline constexpr std::uint32_t kDescWords = 4;
// Set in a message's meta word when no handler matched its type.
inline constexpr std::uint32_t kUnhandled = 0x80000000u;
// Threads per workgroup of the batch kernel.
inline constexpr std::uint32_t kWorkgroup = 64;

// An IR actor's host-side state (ActorCell::state): its program, the state words used to (re)load the GPU
// slot (and run on the interpreter on the CPU backend), and its HLC word on the CPU path.
struct HostState {
  std::shared_ptr<const ActorProgram> program;
  std::vector<std::uint32_t> words;
  std::uint64_t clock = 0;
};

// The program registered under `key` by actor_type(), or nullptr.
std::shared_ptr<const ActorProgram> find_program(const std::string& key);

} // namespace ringkernel::webgpu::detail
