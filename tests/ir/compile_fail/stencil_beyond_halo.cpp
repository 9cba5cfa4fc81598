// EXPECT: stencil neighbour offset exceeds the declared halo width
#include "ringkernel/ir/dsl.hpp"
namespace dsl = ringkernel::ir::dsl;
#ifdef RK_CONTROL
constexpr int kReach = 1;
#else
constexpr int kReach = 2;
#endif
auto k = dsl::stencil<dsl::targets<dsl::TargetId::WebGpu>, 1, 1>("k", {64, 1, 1}, [](auto& s) {
  s.output(s.template at<kReach>() + s.center());
});
int main() { return k.ok() ? 0 : 1; }
