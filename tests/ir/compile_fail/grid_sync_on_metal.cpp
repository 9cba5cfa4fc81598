// EXPECT: capability 'grid_sync' is not supported by backend 'msl \(metal-apple\)'
#include "ringkernel/ir/dsl.hpp"
namespace dsl = ringkernel::ir::dsl;
#ifdef RK_CONTROL
using Targets = dsl::targets<dsl::TargetId::CudaSm80>;
#else
using Targets = dsl::targets<dsl::TargetId::CudaSm80, dsl::TargetId::MetalApple>;
#endif
auto k = dsl::kernel<Targets>("k", {64, 1, 1}, [](auto& k) { k.grid_sync(); });
int main() { return k.ok() ? 0 : 1; }
