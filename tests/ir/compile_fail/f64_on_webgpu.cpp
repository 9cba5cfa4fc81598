// EXPECT: capability 'f64' is not supported by backend 'wgsl \(webgpu\)'
// An f64 kernel declared for WebGPU without a fallback does not compile; with DowncastF64 it does.
#include "ringkernel/ir/dsl.hpp"
namespace dsl = ringkernel::ir::dsl;
#ifdef RK_CONTROL
constexpr auto kFallback = dsl::Fallback::DowncastF64;
#else
constexpr auto kFallback = dsl::Fallback::None;
#endif
auto k = dsl::kernel<dsl::targets<dsl::TargetId::CudaSm90, dsl::TargetId::WebGpu>, kFallback>("k", {64, 1, 1}, [](auto& k) {
  auto x = k.template buffer<double>("x");
  x[k.global_id()] = x[k.global_id()].load() * 2.0;
});
int main() { return k.ok() ? 0 : 1; }
