/// @file serve.hpp
/// @brief `ringkernel serve`: the demo's actor system running behind the operations server.
#pragma once

#include <cstdio>
#include <string_view>
#include <vector>

namespace ringkernel::cli {

/// Prints the help of `ringkernel serve`.
void print_serve_usage(std::FILE* out);
/// Parses the arguments after `serve` and runs until SIGINT/SIGTERM (or --seconds); returns the exit code
/// (0 ok, 1 runtime/server error, 2 usage error).
int cmd_serve(const std::vector<std::string_view>& args);

}  // namespace ringkernel::cli
