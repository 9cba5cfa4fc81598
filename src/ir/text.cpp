// The textual IR: printer and parser. The parser is written for hostile input: every failure is an Error
// naming line and column, lengths are bounded, and nothing recurses deeper than kMaxDepth.
#include "ringkernel/ir/text.hpp"

#include <cctype>
#include <charconv>
#include <cmath>
#include <map>
#include <optional>
#include <utility>

namespace ringkernel::ir {

// --- printer --------------------------------------------------------------------------------------------

namespace {

std::string imm_text(const Imm& imm, Type type) {
  if (imm.is_float) {
    if (std::isnan(imm.f)) return "nan";
    if (std::isinf(imm.f)) return imm.f > 0 ? "inf" : "-inf";
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), imm.f);
    std::string s(buf, ec == std::errc() ? end : buf);
    // Keep it recognisably floating-point for the parser.
    if (s.find_first_of(".eE") == std::string::npos) s += ".0";
    return s;
  }
  if (type.scalar == ScalarKind::Bool && type.is_scalar()) return imm.i != 0 ? "true" : "false";
  if (type.scalar == ScalarKind::U64) return std::to_string(static_cast<std::uint64_t>(imm.i));
  return std::to_string(imm.i);
}

std::string value_ref(const Kernel& k, ValueId v) { return "%" + std::string(k.name_of(v)); }

void print_region(const Kernel& k, const Region& r, int indent, std::string& out);

void print_one(const Kernel& k, const Inst& inst, int indent, std::string& out) {
  const std::string pad(static_cast<std::size_t>(indent) * 2, ' ');
  out += pad;
  switch (inst.op) {
    case Op::If:
      out += "if " + (inst.operands.empty() ? std::string("%?") : value_ref(k, inst.operands[0])) + " {\n";
      if (!inst.regions.empty()) print_region(k, inst.regions[0], indent + 1, out);
      out += pad + "}";
      if (inst.regions.size() > 1 && !inst.regions[1].insts.empty()) {
        out += " else {\n";
        print_region(k, inst.regions[1], indent + 1, out);
        out += pad + "}";
      }
      out += "\n";
      return;
    case Op::For:
      out += "for " + value_ref(k, inst.region_arg) + " = ";
      for (std::size_t i = 0; i < inst.operands.size(); ++i) {
        static constexpr const char* kSep[] = {"", " to ", " step "};
        out += (i < 3 ? kSep[i] : " ") + value_ref(k, inst.operands[i]);
      }
      out += " {\n";
      if (!inst.regions.empty()) print_region(k, inst.regions[0], indent + 1, out);
      out += pad + "}\n";
      return;
    case Op::Loop:
      out += "loop {\n";
      if (!inst.regions.empty()) print_region(k, inst.regions[0], indent + 1, out);
      out += pad + "}\n";
      return;
    default: break;
  }
  if (inst.result != kNoValue) out += value_ref(k, inst.result) + " = ";
  out += op_name(inst.op);
  if (op_variant_count(inst.op) != 0) {
    out += ".";
    out += op_variant_name(inst.op, inst.variant);
  }
  if (inst.imm.present) out += " " + imm_text(inst.imm, k.type_of(inst.result));
  for (std::size_t i = 0; i < inst.operands.size(); ++i) out += (i == 0 ? " " : ", ") + value_ref(k, inst.operands[i]);
  if (inst.result != kNoValue) out += " : " + to_string(k.type_of(inst.result));
  out += "\n";
}

void print_region(const Kernel& k, const Region& r, int indent, std::string& out) {
  for (const auto& inst : r.insts) print_one(k, inst, indent, out);
}

} // namespace

std::string print_inst(const Kernel& kernel, const Inst& inst) {
  std::string out;
  print_one(kernel, inst, 0, out);
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

std::string print(const Kernel& k) {
  std::string out = "kernel @" + k.name + "(";
  for (std::size_t i = 0; i < k.params.size(); ++i) {
    out += (i == 0 ? "" : ", ") + value_ref(k, k.params[i]) + ": " + to_string(k.type_of(k.params[i]));
  }
  out += ") workgroup(" + std::to_string(k.workgroup[0]) + ", " + std::to_string(k.workgroup[1]) + ", " +
         std::to_string(k.workgroup[2]) + ")";
  if (!k.declared_caps.empty()) {
    out += " requires(";
    bool first = true;
    for (Capability c : k.declared_caps.list()) {
      out += (first ? "" : ", ") + std::string(to_string(c));
      first = false;
    }
    out += ")";
  }
  out += " {\n";
  print_region(k, k.body, 1, out);
  out += "}\n";
  return out;
}

std::string print(const Module& m) {
  std::string out;
  for (std::size_t i = 0; i < m.kernels.size(); ++i) {
    if (i != 0) out += "\n";
    out += print(m.kernels[i]);
  }
  return out;
}

// --- lexer ----------------------------------------------------------------------------------------------

namespace {

constexpr std::size_t kMaxText = 16u << 20;    // refuse absurd inputs up front
constexpr int kMaxDepth = 64;                  // nesting of if/for/loop
constexpr std::size_t kMaxName = 128;

enum class Tok { End, Ident, ValueName, GlobalName, Number, Punct };

struct Token {
  Tok kind = Tok::End;
  std::string text;
  int line = 1;
  int col = 1;
};

bool ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '.'; }

std::string shown(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 40)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out;
}

class Lexer {
public:
  explicit Lexer(std::string_view text) : s_(text) {}

  Result<std::vector<Token>> run() {
    std::vector<Token> out;
    while (true) {
      skip_space();
      Token t;
      t.line = line_;
      t.col = col_;
      if (pos_ >= s_.size()) {
        out.push_back(t);
        return out;
      }
      const char c = s_[pos_];
      if (c == '%' || c == '@') {
        advance();
        std::string name;
        while (pos_ < s_.size() && ident_char(s_[pos_])) name += advance();
        if (name.empty()) return error(t, std::string("expected a name after '") + c + "'");
        if (name.size() > kMaxName) return error(t, "name longer than " + std::to_string(kMaxName) + " characters");
        t.kind = c == '%' ? Tok::ValueName : Tok::GlobalName;
        t.text = std::move(name);
      } else if (std::isdigit(static_cast<unsigned char>(c)) != 0 ||
                 (c == '-' && pos_ + 1 < s_.size() &&
                  (std::isdigit(static_cast<unsigned char>(s_[pos_ + 1])) != 0 || s_[pos_ + 1] == 'i'))) {
        t.kind = Tok::Number;
        t.text += advance();
        while (pos_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[pos_])) != 0 || s_[pos_] == '.' ||
                                    ((s_[pos_] == '-' || s_[pos_] == '+') &&
                                     (t.text.back() == 'e' || t.text.back() == 'E')))) {
          t.text += advance();
          if (t.text.size() > 64) return error(t, "number literal too long");
        }
      } else if (std::isalpha(static_cast<unsigned char>(c)) != 0 || c == '_') {
        t.kind = Tok::Ident;
        while (pos_ < s_.size() && ident_char(s_[pos_])) t.text += advance();
        if (t.text.size() > kMaxName) return error(t, "identifier too long");
      } else if (std::string_view("(){}<>,:=").find(c) != std::string_view::npos) {
        t.kind = Tok::Punct;
        t.text = std::string(1, advance());
      } else {
        std::string what = (c >= 0x20 && c < 0x7f) ? std::string("'") + c + "'" : "byte " + std::to_string(static_cast<unsigned char>(c));
        return error(t, "unexpected character " + what);
      }
      out.push_back(std::move(t));
    }
  }

private:
  static Error error(const Token& t, const std::string& msg) {
    return make_error(ErrorCode::InvalidArgument,
                      "line " + std::to_string(t.line) + ", column " + std::to_string(t.col) + ": " + msg,
                      "ir::parse");
  }
  char advance() {
    const char c = s_[pos_++];
    if (c == '\n') {
      ++line_;
      col_ = 1;
    } else {
      ++col_;
    }
    return c;
  }
  void skip_space() {
    while (pos_ < s_.size()) {
      const char c = s_[pos_];
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
        advance();
      } else if (c == '/' && pos_ + 1 < s_.size() && s_[pos_ + 1] == '/') {
        while (pos_ < s_.size() && s_[pos_] != '\n') advance();
      } else {
        return;
      }
    }
  }
  std::string_view s_;
  std::size_t pos_ = 0;
  int line_ = 1;
  int col_ = 1;
};

// --- parser ---------------------------------------------------------------------------------------------

class Parser {
public:
  explicit Parser(std::vector<Token> toks) : t_(std::move(toks)) {}

  Result<Module> module() {
    Module m;
    while (peek().kind != Tok::End) {
      auto k = kernel();
      if (!k) return k.error();
      for (const auto& other : m.kernels) {
        if (other.name == k->name) return fail(peek(), "kernel @" + k->name + " defined twice");
      }
      m.kernels.push_back(std::move(*k));
    }
    if (m.kernels.empty()) return fail(peek(), "expected 'kernel'");
    return m;
  }

  Result<Type> type_only() {
    auto t = type();
    if (!t) return t.error();
    if (peek().kind != Tok::End) return fail(peek(), "unexpected '" + shown(peek().text) + "' after type");
    return t;
  }

private:
  const Token& peek(std::size_t ahead = 0) const {
    const std::size_t i = pos_ + ahead;
    return i < t_.size() ? t_[i] : t_.back();
  }
  const Token& next() {
    const Token& t = peek();
    if (pos_ < t_.size() - 1) ++pos_;
    return t;
  }
  static Error fail(const Token& t, const std::string& msg) {
    return make_error(ErrorCode::InvalidArgument,
                      "line " + std::to_string(t.line) + ", column " + std::to_string(t.col) + ": " + msg,
                      "ir::parse");
  }
  static std::string describe(const Token& t) {
    switch (t.kind) {
      case Tok::End: return "end of input";
      case Tok::ValueName: return "'%" + shown(t.text) + "'";
      case Tok::GlobalName: return "'@" + shown(t.text) + "'";
      default: return "'" + shown(t.text) + "'";
    }
  }
  bool is_punct(const Token& t, char c) const { return t.kind == Tok::Punct && t.text[0] == c; }
  bool is_word(const Token& t, std::string_view w) const { return t.kind == Tok::Ident && t.text == w; }

  Status expect_punct(char c) {
    if (!is_punct(peek(), c)) return fail(peek(), std::string("expected '") + c + "', found " + describe(peek()));
    next();
    return {};
  }
  Status expect_word(std::string_view w) {
    if (!is_word(peek(), w)) return fail(peek(), "expected '" + std::string(w) + "', found " + describe(peek()));
    next();
    return {};
  }

  Result<std::uint64_t> unsigned_number(std::uint64_t max) {
    const Token& t = peek();
    if (t.kind != Tok::Number) return fail(t, "expected a number, found " + describe(t));
    std::uint64_t v = 0;
    auto [end, ec] = std::from_chars(t.text.data(), t.text.data() + t.text.size(), v);
    if (ec != std::errc() || end != t.text.data() + t.text.size() || v > max) {
      return fail(t, "expected an integer in [0, " + std::to_string(max) + "], found " + describe(t));
    }
    next();
    return v;
  }

  Result<ScalarKind> scalar_kind(const Token& t) {
    static const std::pair<std::string_view, ScalarKind> kinds[] = {
        {"bool", ScalarKind::Bool}, {"i32", ScalarKind::I32},       {"u32", ScalarKind::U32},
        {"i64", ScalarKind::I64},   {"u64", ScalarKind::U64},       {"f16", ScalarKind::F16},
        {"bf16", ScalarKind::BF16}, {"f32", ScalarKind::F32},       {"f64", ScalarKind::F64},
        {"f8e4m3", ScalarKind::F8E4M3}, {"f8e5m2", ScalarKind::F8E5M2}};
    if (t.kind == Tok::Ident) {
      for (const auto& [n, k] : kinds) {
        if (t.text == n) return k;
      }
    }
    return fail(t, "expected a scalar type (bool, i32, u32, i64, u64, f16, bf16, f32, f64, f8e4m3, f8e5m2), found " +
                       describe(t));
  }

  Result<Type> element_type() {
    const Token& t = peek();
    if (t.kind == Tok::Ident && t.text.size() == 4 && t.text.rfind("vec", 0) == 0) {
      const char n = t.text[3];
      if (n < '2' || n > '4') return fail(t, "vectors have 2, 3 or 4 lanes");
      next();
      if (auto s = expect_punct('<'); !s) return s.error();
      auto k = scalar_kind(peek());
      if (!k) return k.error();
      next();
      if (*k == ScalarKind::Bool) return fail(t, "bool vectors are not supported");
      if (auto s = expect_punct('>'); !s) return s.error();
      return Type::vec(*k, static_cast<std::uint8_t>(n - '0'));
    }
    auto k = scalar_kind(t);
    if (!k) return k.error();
    next();
    return Type::scalar_of(*k);
  }

  Result<Type> type() {
    const Token& t = peek();
    if (is_word(t, "void")) {
      next();
      return Type::void_();
    }
    if (is_word(t, "ring")) {
      next();
      return Type::ring();
    }
    if (is_word(t, "ptr")) {
      next();
      if (auto s = expect_punct('<'); !s) return s.error();
      const Token& sp = peek();
      AddressSpace space = AddressSpace::None;
      for (auto a : {AddressSpace::Global, AddressSpace::Shared, AddressSpace::Constant, AddressSpace::Private}) {
        if (is_word(sp, to_string(a))) space = a;
      }
      if (space == AddressSpace::None) {
        return fail(sp, "expected an address space (global, shared, constant, private), found " + describe(sp));
      }
      next();
      if (auto s = expect_punct(','); !s) return s.error();
      auto e = element_type();
      if (!e) return e.error();
      if (e->scalar == ScalarKind::Bool) return fail(sp, "pointers to bool are not supported (store u32)");
      if (auto s = expect_punct('>'); !s) return s.error();
      return Type::ptr(space, *e);
    }
    return element_type();
  }

  Result<Kernel> kernel() {
    if (auto s = expect_word("kernel"); !s) return s.error();
    const Token& name = peek();
    if (name.kind != Tok::GlobalName) return fail(name, "expected '@name' after 'kernel', found " + describe(name));
    next();
    names_.clear();
    Builder b(name.text);
    builder_ = &b;
    if (auto s = expect_punct('('); !s) return s.error();
    while (!is_punct(peek(), ')')) {
      if (!b.kernel().params.empty()) {
        if (auto s = expect_punct(','); !s) return s.error();
      }
      const Token& p = peek();
      if (p.kind != Tok::ValueName) return fail(p, "expected a parameter '%name', found " + describe(p));
      next();
      if (auto s = expect_punct(':'); !s) return s.error();
      auto ty = type();
      if (!ty) return ty.error();
      if (names_.count(p.text) != 0) return fail(p, "parameter %" + shown(p.text) + " defined twice");
      const Value v = b.param(p.text, *ty);
      names_[p.text] = v.id;
    }
    next();
    if (auto s = expect_word("workgroup"); !s) return s.error();
    if (auto s = expect_punct('('); !s) return s.error();
    std::array<std::uint32_t, 3> wg{};
    for (int i = 0; i < 3; ++i) {
      if (i != 0) {
        if (auto s = expect_punct(','); !s) return s.error();
      }
      auto n = unsigned_number(1024);
      if (!n) return n.error();
      wg[static_cast<std::size_t>(i)] = static_cast<std::uint32_t>(*n);
    }
    if (auto s = expect_punct(')'); !s) return s.error();
    if (is_word(peek(), "requires")) {
      next();
      if (auto s = expect_punct('('); !s) return s.error();
      bool first = true;
      while (!is_punct(peek(), ')')) {
        if (!first) {
          if (auto s = expect_punct(','); !s) return s.error();
        }
        first = false;
        const Token& c = peek();
        auto cap = parse_capability(c.kind == Tok::Ident ? std::string_view(c.text) : std::string_view("?"));
        if (!cap) return fail(c, cap.error().message());
        next();
        b.declare(*cap);
      }
      next();
    }
    if (auto s = expect_punct('{'); !s) return s.error();
    if (auto s = region(0); !s) return s.error();
    if (auto s = expect_punct('}'); !s) return s.error();
    Kernel k = b.finish();
    k.workgroup = wg;
    builder_ = nullptr;
    return k;
  }

  Result<Value> use() {
    const Token& t = peek();
    if (t.kind != Tok::ValueName) return fail(t, "expected a value '%name', found " + describe(t));
    auto it = names_.find(t.text);
    if (it == names_.end()) return fail(t, "use of undefined value %" + shown(t.text));
    next();
    return Value{it->second, builder_->kernel().type_of(it->second)};
  }

  Status define(const Token& at, const std::string& name, ValueId id) {
    if (names_.count(name) != 0) return fail(at, "value %" + shown(name) + " defined twice");
    names_[name] = id;
    return {};
  }

  Status region(int depth) {
    if (depth > kMaxDepth) return fail(peek(), "nesting deeper than " + std::to_string(kMaxDepth) + " levels");
    while (!is_punct(peek(), '}')) {
      if (peek().kind == Tok::End) return fail(peek(), "expected '}' before end of input");
      if (auto s = statement(depth); !s) return s;
    }
    return {};
  }

  Status statement(int depth) {
    const Token start = peek();
    Builder& b = *builder_;
    if (is_word(start, "if")) {
      next();
      auto c = use();
      if (!c) return c.error();
      Status then_s, else_s;
      if (auto s = expect_punct('{'); !s) return s;
      bool has_else = false;
      // The builder takes both bodies at once, so parse the else branch from inside the then callback's tail.
      b.if_(*c,
            [&] {
              then_s = region(depth + 1);
              if (!then_s) return;
              then_s = expect_punct('}');
              if (!then_s) return;
              has_else = is_word(peek(), "else");
            },
            [&] {
              if (!then_s || !has_else) return;
              next();
              else_s = expect_punct('{');
              if (!else_s) return;
              else_s = region(depth + 1);
              if (!else_s) return;
              else_s = expect_punct('}');
            });
      if (!then_s) return then_s;
      return else_s;
    }
    if (is_word(start, "for")) {
      next();
      const Token iv = peek();
      if (iv.kind != Tok::ValueName) return fail(iv, "expected the induction variable '%name', found " + describe(iv));
      next();
      if (auto s = expect_punct('='); !s) return s;
      auto lo = use();
      if (!lo) return lo.error();
      if (auto s = expect_word("to"); !s) return s;
      auto hi = use();
      if (!hi) return hi.error();
      if (auto s = expect_word("step"); !s) return s;
      auto st = use();
      if (!st) return st.error();
      if (names_.count(iv.text) != 0) return fail(iv, "value %" + shown(iv.text) + " defined twice");
      Status body_s;
      if (auto s = expect_punct('{'); !s) return s;
      b.for_(*lo, *hi, *st,
             [&](Value i) {
               names_[iv.text] = i.id;
               body_s = region(depth + 1);
             },
             iv.text);
      if (!body_s) return body_s;
      return expect_punct('}');
    }
    if (is_word(start, "loop")) {
      next();
      Status body_s;
      if (auto s = expect_punct('{'); !s) return s;
      b.loop([&] { body_s = region(depth + 1); });
      if (!body_s) return body_s;
      return expect_punct('}');
    }
    // [%r =] op[.variant] [imm] [operands] [: type]
    std::string result_name;
    if (start.kind == Tok::ValueName) {
      result_name = start.text;
      next();
      if (auto s = expect_punct('='); !s) return s;
    }
    const Token opt = peek();
    if (opt.kind != Tok::Ident) return fail(opt, "expected an operation, found " + describe(opt));
    next();
    const std::string& full = opt.text;
    const auto dot = full.find('.');
    const std::string base = full.substr(0, dot);
    const std::string variant = dot == std::string::npos ? std::string() : full.substr(dot + 1);
    Op op = Op::Count_;
    for (unsigned i = 0; i < static_cast<unsigned>(Op::Count_); ++i) {
      if (op_name(static_cast<Op>(i)) == base) op = static_cast<Op>(i);
    }
    if (op == Op::Count_ || op == Op::If || op == Op::For || op == Op::Loop) {
      return fail(opt, "unknown operation '" + shown(full) + "'");
    }
    Inst inst;
    inst.op = op;
    const unsigned nvar = op_variant_count(op);
    if (nvar != 0) {
      bool found = false;
      for (unsigned v = 0; v < nvar; ++v) {
        if (op_variant_name(op, v) == variant) {
          inst.variant = static_cast<std::uint8_t>(v);
          found = true;
        }
      }
      if (!found) {
        std::string known;
        for (unsigned v = 0; v < nvar; ++v) known += (v ? ", " : "") + std::string(op_variant_name(op, v));
        return fail(opt, "'" + base + "' needs a variant: " + base + ".<" + known + ">");
      }
    } else if (dot != std::string::npos) {
      return fail(opt, "'" + base + "' takes no variant");
    }
    // Immediate (same line only).
    const Token& im = peek();
    if (im.line == opt.line &&
        (im.kind == Tok::Number || is_word(im, "true") || is_word(im, "false") || is_word(im, "inf") ||
         is_word(im, "nan"))) {
      inst.imm.present = true;
      if (is_word(im, "true") || is_word(im, "false")) {
        inst.imm.i = im.text == "true" ? 1 : 0;
      } else if (im.text.find_first_of(".eEin") != std::string::npos) {
        inst.imm.is_float = true;
        double d = 0;
        auto [end, ec] = std::from_chars(im.text.data(), im.text.data() + im.text.size(), d);
        if (ec != std::errc() || end != im.text.data() + im.text.size()) return fail(im, "malformed number " + describe(im));
        inst.imm.f = d;
      } else if (im.text[0] == '-') {
        std::int64_t v = 0;
        auto [end, ec] = std::from_chars(im.text.data(), im.text.data() + im.text.size(), v);
        if (ec != std::errc() || end != im.text.data() + im.text.size()) return fail(im, "malformed or out-of-range integer " + describe(im));
        inst.imm.i = v;
      } else {
        std::uint64_t v = 0;
        auto [end, ec] = std::from_chars(im.text.data(), im.text.data() + im.text.size(), v);
        if (ec != std::errc() || end != im.text.data() + im.text.size()) return fail(im, "malformed or out-of-range integer " + describe(im));
        inst.imm.i = static_cast<std::int64_t>(v);
      }
      next();
    }
    // Operands (same line only).
    while (peek().kind == Tok::ValueName && peek().line == opt.line) {
      auto v = use();
      if (!v) return v.error();
      inst.operands.push_back(v->id);
      if (inst.operands.size() > 16) return fail(opt, "too many operands");
      if (!is_punct(peek(), ',') || peek().line != opt.line) break;
      next();
      if (peek().kind != Tok::ValueName) return fail(peek(), "expected an operand after ',', found " + describe(peek()));
    }
    Type ty = Type::void_();
    if (is_punct(peek(), ':') && peek().line == opt.line) {
      next();
      auto t = type();
      if (!t) return t.error();
      ty = *t;
    }
    if (!result_name.empty() && ty.is_void()) return fail(opt, "'%" + shown(result_name) + " = " + shown(full) + "' needs a result type (': type')");
    if (result_name.empty() && !ty.is_void()) return fail(opt, "a typed operation needs a result name ('%name = ...')");
    if (!result_name.empty() && names_.count(result_name) != 0) {
      return fail(start, "value %" + shown(result_name) + " defined twice");
    }
    const Value r = b.emit(std::move(inst), ty, result_name);
    if (r.valid()) names_[result_name] = r.id;
    return {};
  }

  std::vector<Token> t_;
  std::size_t pos_ = 0;
  Builder* builder_ = nullptr;
  std::map<std::string, ValueId> names_;
};

Result<std::vector<Token>> lex(std::string_view text) {
  if (text.size() > kMaxText) {
    return make_error(ErrorCode::InvalidArgument, "input larger than " + std::to_string(kMaxText) + " bytes", "ir::parse");
  }
  return Lexer(text).run();
}

} // namespace

Result<Module> parse_module(std::string_view text) {
  auto toks = lex(text);
  if (!toks) return toks.error();
  return Parser(std::move(*toks)).module();
}

Result<Kernel> parse_kernel(std::string_view text) {
  auto m = parse_module(text);
  if (!m) return m.error();
  if (m->kernels.size() != 1) {
    return make_error(ErrorCode::InvalidArgument,
                      "expected exactly one kernel, found " + std::to_string(m->kernels.size()), "ir::parse");
  }
  return std::move(m->kernels.front());
}

Result<Type> parse_type(std::string_view text) {
  auto toks = lex(text);
  if (!toks) return toks.error();
  return Parser(std::move(*toks)).type_only();
}

} // namespace ringkernel::ir
