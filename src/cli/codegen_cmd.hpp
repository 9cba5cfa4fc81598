// `ringkernel codegen` and `ringkernel check`: the kernel IR's lowerings from the command line.
#pragma once

#include <cstdio>
#include <string_view>
#include <vector>

namespace ringkernel::cli {

/// Prints generated code for one kernel of an IR text file; returns the process exit code.
int cmd_codegen(const std::vector<std::string_view>& args);
/// Reports which targets can run each kernel of an IR text file, and why not; returns the exit code.
int cmd_check(const std::vector<std::string_view>& args);
/// Usage text of both commands.
void print_codegen_usage(std::FILE* out);

}  // namespace ringkernel::cli
