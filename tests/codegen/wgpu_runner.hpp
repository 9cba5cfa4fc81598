// Validates and runs generated WGSL through wgpu-native (naga validation; any adapter, Mesa lavapipe on
// machines without a GPU). Compiled to stubs that report "unavailable" when wgpu-native was not found.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "codegen/parity.hpp"
#include "ringkernel/ir/codegen.hpp"

namespace rkt {

class WgpuRunner {
public:
  // The process-wide runner (adapter and device are created once); nullptr with `why` when unavailable.
  static WgpuRunner* get(std::string* why);

  bool has_subgroups() const { return subgroups_; }
  std::uint32_t subgroup_min() const { return sg_min_; }
  std::uint32_t subgroup_max() const { return sg_max_; }
  const std::string& adapter_name() const { return adapter_; }

  // "" when the WGSL is accepted (shader module and compute pipeline creation), else the validation error.
  std::string validate(const std::string& wgsl, const std::string& entry);
  // Runs generated code over `grid` with `args` (updated in place); "" on success.
  std::string run(const ringkernel::ir::GeneratedCode& code, const ringkernel::ir::Kernel& lowered, std::array<std::uint32_t, 3> grid,
                  std::vector<Arg>& args);

  struct Impl;
  ~WgpuRunner();

private:
  WgpuRunner() = default;
  Impl* impl_ = nullptr;
  bool subgroups_ = false;
  std::uint32_t sg_min_ = 0, sg_max_ = 0;
  std::string adapter_;
};

} // namespace rkt
