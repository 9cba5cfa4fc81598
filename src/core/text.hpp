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

/// Allocation-free iteration over the segments of a '/'-separated path. A position past the end means "no
/// more segments"; an empty path has none.
struct Segments {
  std::string_view s;  ///< The path.
  std::size_t pos;     ///< Start of the current segment.

  explicit Segments(std::string_view str) noexcept : s(str), pos(str.empty() ? 1 : 0) {}
  [[nodiscard]] bool done() const noexcept { return pos > s.size(); }
  [[nodiscard]] std::size_t end_of_current() const noexcept {
    const std::size_t e = s.find('/', pos);
    return e == std::string_view::npos ? s.size() : e;
  }
  [[nodiscard]] std::string_view current() const noexcept { return s.substr(pos, end_of_current() - pos); }
  void advance() noexcept { pos = end_of_current() + 1; }
};

} // namespace ringkernel::detail
