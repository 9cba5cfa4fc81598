// EXPECT: capability 'fp8' is not supported by backend 'cuda \(sm_80\)'
#include "ringkernel/ir/dsl.hpp"
namespace dsl = ringkernel::ir::dsl;
#ifdef RK_CONTROL
using Targets = dsl::targets<dsl::TargetId::CudaSm90>;
#else
using Targets = dsl::targets<dsl::TargetId::CudaSm80, dsl::TargetId::CudaSm90>;
#endif
auto k = dsl::kernel<Targets>("k", {64, 1, 1}, [](auto& k) { (void)k.template buffer<dsl::fp8_e4m3>("x"); });
int main() { return k.ok() ? 0 : 1; }
