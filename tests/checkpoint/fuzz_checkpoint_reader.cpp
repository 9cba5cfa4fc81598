// libFuzzer target: the checkpoint reader must reject any malformed input with an Error, never crash, hang or
// allocate without bound. Deltas are exercised by serving the input itself as every parent.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "ringkernel/checkpoint/format.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace ck = ringkernel::checkpoint;
  const std::span<const std::byte> in(reinterpret_cast<const std::byte*>(data), size);
  (void)ck::inspect(in);
  const std::vector<std::byte> copy(in.begin(), in.end());
  auto parent = [&](std::uint64_t) -> ringkernel::Result<std::vector<std::byte>> { return copy; };
  auto snap = ck::decode(in, parent);
  if (snap) {
    // Whatever decodes must encode again.
    auto again = ck::encode(*snap);
    if (!again) __builtin_trap();
  }
  return 0;
}
