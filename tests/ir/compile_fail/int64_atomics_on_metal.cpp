// EXPECT: capability 'int64_atomics' is not supported by backend 'msl \(metal-apple\)'
// A 64-bit atomic whose old value is used cannot be emulated with two 32-bit words; accumulation can.
#include <cstdint>
#include "ringkernel/ir/dsl.hpp"
namespace dsl = ringkernel::ir::dsl;
auto k = dsl::kernel<dsl::targets<dsl::TargetId::MetalApple>>("k", {64, 1, 1}, [](auto& k) {
  auto c = k.template buffer<std::uint64_t>("counter");
#ifdef RK_CONTROL
  k.atomic_accumulate(c[0u], std::uint64_t{1});
#else
  auto old = k.atomic(ringkernel::ir::AtomicOp::Add, c[0u], std::uint64_t{1});
  c[1u] = old;
#endif
});
int main() { return k.ok() ? 0 : 1; }
