// Private helpers shared by the registry and the topic broker: the character set of name/topic segments and a
// safe rendering of user input for error messages.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace ringkernel::detail {

/// Characters allowed in a registry-name or topic segment.
inline bool is_path_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
         c == '-';
}

/// Printable, length-capped rendering of user input for error messages (a hostile name cannot blow up a log).
inline std::string quote(std::string_view s) {
  constexpr std::size_t kShown = 64;
  std::string out = "\"";
  for (std::size_t i = 0; i < s.size() && i < kShown; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  if (s.size() > kShown) out += "...";
  out += '"';
  return out;
}

} // namespace ringkernel::detail
