// Dashboard files compiled into the library (generated from src/server/assets/ by embed_assets.cmake), so the
// page works without network access or files next to the binary.
#pragma once

#include <string_view>

namespace ringkernel::server::detail {

struct Asset {
  std::string_view name;          ///< "index.html", "app.js", ...
  std::string_view content_type;  ///< MIME type with charset.
  std::string_view body;          ///< File contents.
};

/// The embedded file called `name`, or nullptr.
const Asset* asset(std::string_view name) noexcept;

} // namespace ringkernel::server::detail
