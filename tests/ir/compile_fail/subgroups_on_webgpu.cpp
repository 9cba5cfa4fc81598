// EXPECT: capability 'subgroups' is not supported by backend 'wgsl \(webgpu\)'
// Subgroup operations need the webgpu-subgroups preset.
#include <cstdint>
#include "ringkernel/ir/dsl.hpp"
namespace dsl = ringkernel::ir::dsl;
#ifdef RK_CONTROL
using Targets = dsl::targets<dsl::TargetId::CudaSm90, dsl::TargetId::WebGpuSubgroups>;
#else
using Targets = dsl::targets<dsl::TargetId::CudaSm90, dsl::TargetId::WebGpu>;
#endif
auto k = dsl::kernel<Targets>("k", {64, 1, 1}, [](auto& k) {
  auto x = k.template buffer<std::uint32_t>("x");
  x[k.global_id()] = k.reduce(ringkernel::ir::ReduceOp::Add, x[k.global_id()].load());
});
int main() { return k.ok() ? 0 : 1; }
