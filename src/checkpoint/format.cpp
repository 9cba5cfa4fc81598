// The checkpoint binary format (docs/checkpoint-format.md): encoder, validator and decoder.
#include "ringkernel/checkpoint/format.hpp"

#include <zstd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstring>
#include <map>
#include <memory>
#include <thread>
#include <utility>

namespace ringkernel::checkpoint {

static_assert(std::endian::native == std::endian::little,
              "the checkpoint format stores MessageHeader bytes as laid out on little-endian hosts");

namespace {

constexpr std::uint8_t kFileMagic[8] = {'R', 'K', 'C', 'K', 'P', 'T', 0x0D, 0x0A};
constexpr std::uint8_t kTrailerMagic[8] = {'R', 'K', 'C', 'K', 'E', 'N', 'D', 0x00};
constexpr std::uint32_t kFlagDelta = 1;
constexpr std::uint8_t kChunkInherited = 1;

// ---- xxHash64 (written from the published algorithm description) ------------------------------------------
constexpr std::uint64_t P1 = 11400714785074694791ULL;
constexpr std::uint64_t P2 = 14029467366897019727ULL;
constexpr std::uint64_t P3 = 1609587929392839161ULL;
constexpr std::uint64_t P4 = 9650029242287828579ULL;
constexpr std::uint64_t P5 = 2870177450012600261ULL;

inline std::uint64_t rd64(const std::byte* p) noexcept { std::uint64_t v; std::memcpy(&v, p, 8); return v; }
inline std::uint32_t rd32(const std::byte* p) noexcept { std::uint32_t v; std::memcpy(&v, p, 4); return v; }
inline std::uint64_t xround(std::uint64_t acc, std::uint64_t lane) noexcept {
  return std::rotl(acc + lane * P2, 31) * P1;
}
inline std::uint64_t xmerge(std::uint64_t acc, std::uint64_t v) noexcept {
  return (acc ^ xround(0, v)) * P1 + P4;
}

Error corrupt(std::string what) { return make_error(ErrorCode::Corrupt, std::move(what), "checkpoint"); }

// ---- little-endian writer / bounds-checked reader -----------------------------------------------------------
struct Writer {
  std::vector<std::byte> out;
  void raw(const void* p, std::size_t n) {
    const auto* b = static_cast<const std::byte*>(p);
    out.insert(out.end(), b, b + n);
  }
  template <class T>
  void num(T v) { raw(&v, sizeof(T)); }  // host is little-endian (asserted above)
  void str(const std::string& s) { num<std::uint32_t>(static_cast<std::uint32_t>(s.size())); raw(s.data(), s.size()); }
};

struct Reader {
  const std::byte* p;
  std::size_t n;
  std::size_t at = 0;
  bool ok = true;
  bool take(void* dst, std::size_t k) {
    if (!ok || n - at < k) { ok = false; return false; }
    std::memcpy(dst, p + at, k);
    at += k;
    return true;
  }
  template <class T>
  T num() { T v{}; take(&v, sizeof(T)); return v; }
  std::string str() {
    const auto len = num<std::uint32_t>();
    if (!ok || n - at < len) { ok = false; return {}; }
    std::string s(reinterpret_cast<const char*>(p + at), len);
    at += len;
    return s;
  }
  [[nodiscard]] bool done() const { return ok && at == n; }
};

// ---- chunk payloads -----------------------------------------------------------------------------------------
void put_messages(Writer& w, const std::vector<Envelope>& q) {
  w.num<std::uint32_t>(static_cast<std::uint32_t>(q.size()));
  for (const Envelope& e : q) {
    w.raw(&e.header, sizeof(MessageHeader));
    w.raw(e.payload.data(), e.payload.size());
  }
}

bool get_messages(Reader& r, std::vector<Envelope>& q) {
  const auto count = r.num<std::uint32_t>();
  if (!r.ok || count > (r.n - r.at) / sizeof(MessageHeader)) return false;
  q.resize(count);
  for (Envelope& e : q) {
    if (!r.take(&e.header, sizeof(MessageHeader))) return false;
    e.payload.resize(e.header.payload_len);
    if (!r.take(e.payload.data(), e.payload.size())) return false;
  }
  return true;
}

void put_actor(Writer& w, const ActorSnapshot& a, std::uint32_t segments) {
  w.num<std::uint32_t>(a.id);
  w.num<std::uint32_t>(a.parent);
  w.str(a.name);
  w.str(a.type_key);
  w.num<std::uint32_t>(static_cast<std::uint32_t>(a.state));
  w.num<std::uint8_t>(a.suspended ? 1 : 0);
  const LaunchOptions& o = a.opts;
  w.num<std::uint32_t>(o.mailbox_capacity);
  w.num<std::uint32_t>(o.slot_size);
  w.num<std::uint32_t>(o.outbox_capacity);
  w.num<std::uint8_t>(o.auto_activate ? 1 : 0);
  w.num<std::int32_t>(o.worker);
  w.num<std::uint16_t>(o.tenant);
  w.num<std::uint8_t>(o.restartable ? 1 : 0);
  w.num<std::uint8_t>(static_cast<std::uint8_t>(o.supervision.strategy));
  w.num<std::uint32_t>(o.supervision.max_restarts);
  w.num<std::int64_t>(o.supervision.window.count());
  w.num<std::uint8_t>(static_cast<std::uint8_t>(o.backpressure.policy));
  w.num<double>(o.backpressure.high_water);
  w.num<double>(o.backpressure.low_water);
  w.num<std::int64_t>(o.backpressure.block_timeout.count());
  w.num<std::uint32_t>(a.cb.last_error);
  w.num<std::uint32_t>(a.cb.restarts);
  w.num<std::uint64_t>(a.cb.processed);
  w.num<std::uint64_t>(a.cb.errors);
  w.num<std::uint64_t>(a.cb.hlc);
  w.num<std::uint64_t>(a.state_bytes.size());
  w.num<std::uint32_t>(segments);
}

bool get_actor(Reader& r, ActorSnapshot& a, std::uint64_t& state_size, std::uint32_t& segments) {
  a.id = r.num<std::uint32_t>();
  a.parent = r.num<std::uint32_t>();
  a.name = r.str();
  a.type_key = r.str();
  a.state = static_cast<ActorState>(r.num<std::uint32_t>());
  a.suspended = r.num<std::uint8_t>() != 0;
  LaunchOptions& o = a.opts;
  o.mailbox_capacity = r.num<std::uint32_t>();
  o.slot_size = r.num<std::uint32_t>();
  o.outbox_capacity = r.num<std::uint32_t>();
  o.auto_activate = r.num<std::uint8_t>() != 0;
  o.worker = r.num<std::int32_t>();
  o.tenant = r.num<std::uint16_t>();
  o.restartable = r.num<std::uint8_t>() != 0;
  const auto strategy = r.num<std::uint8_t>();
  if (strategy > static_cast<std::uint8_t>(SupervisionStrategy::Escalate)) return false;
  o.supervision.strategy = static_cast<SupervisionStrategy>(strategy);
  o.supervision.max_restarts = r.num<std::uint32_t>();
  o.supervision.window = std::chrono::milliseconds(r.num<std::int64_t>());
  const auto policy = r.num<std::uint8_t>();
  if (policy > static_cast<std::uint8_t>(OverflowPolicy::DropToDeadLetter)) return false;
  o.backpressure.policy = static_cast<OverflowPolicy>(policy);
  o.backpressure.high_water = r.num<double>();
  o.backpressure.low_water = r.num<double>();
  o.backpressure.block_timeout = std::chrono::milliseconds(r.num<std::int64_t>());
  a.cb = ControlBlock{};
  a.cb.state = static_cast<std::uint32_t>(a.state);
  a.cb.actor_id = a.id;
  a.cb.last_error = r.num<std::uint32_t>();
  a.cb.restarts = r.num<std::uint32_t>();
  a.cb.processed = r.num<std::uint64_t>();
  a.cb.errors = r.num<std::uint64_t>();
  a.cb.hlc = r.num<std::uint64_t>();
  state_size = r.num<std::uint64_t>();
  segments = r.num<std::uint32_t>();
  return r.done();
}

// A chunk on its way out: raw content (owned or borrowed), then hashed and maybe compressed in parallel.
struct OutChunk {
  ChunkType type = ChunkType::Runtime;
  std::uint64_t key = 0;
  std::vector<std::byte> owned;
  std::span<const std::byte> raw;
  std::uint64_t content_hash = 0;
  bool inherited = false;
  Compression compression = Compression::None;
  std::vector<std::byte> compressed;
  std::uint64_t stored_hash = 0;
  std::string error;
  [[nodiscard]] std::span<const std::byte> stored() const {
    if (inherited) return {};
    return compression == Compression::Zstd ? std::span<const std::byte>(compressed) : raw;
  }
};

template <class Fn>
void parallel_for(std::size_t n, unsigned threads, Fn&& fn) {
  unsigned t = threads != 0 ? threads : std::max(1u, std::thread::hardware_concurrency());
  t = static_cast<unsigned>(std::min<std::size_t>(t, n));
  if (t <= 1) {
    for (std::size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<std::size_t> next{0};
  std::vector<std::thread> pool;
  pool.reserve(t);
  for (unsigned k = 0; k < t; ++k) {
    pool.emplace_back([&] {
      for (std::size_t i = next.fetch_add(1); i < n; i = next.fetch_add(1)) fn(i);
    });
  }
  for (auto& th : pool) th.join();
}

std::uint64_t chunk_id(ChunkType type, std::uint64_t key) {
  return (static_cast<std::uint64_t>(type) << 56) ^ key;
}

struct Parsed {
  CheckpointInfo info;
  std::vector<std::size_t> offsets;  // of each chunk's stored bytes
};

Result<Parsed> parse(std::span<const std::byte> bytes) {
  Parsed out;
  CheckpointInfo& info = out.info;
  if (bytes.size() < kFileHeaderSize + kTrailerSize) {
    return corrupt("truncated: " + std::to_string(bytes.size()) + " bytes is smaller than a header and a trailer");
  }
  const std::byte* h = bytes.data();
  if (std::memcmp(h, kFileMagic, 8) != 0) return corrupt("bad magic: not a RingKernel checkpoint");
  if (rd64(h + 56) != xxh64(h, 56)) return corrupt("file header checksum mismatch");
  info.version = rd32(h + 8);
  if (info.version != kFormatVersion) {
    return corrupt("unsupported checkpoint format version " + std::to_string(info.version) + " (this build reads " +
                   std::to_string(kFormatVersion) + ")");
  }
  if (rd32(h + 12) != kFileHeaderSize) return corrupt("unexpected file header size");
  const std::uint32_t flags = rd32(h + 16);
  const std::uint32_t count = rd32(h + 20);
  info.sequence = rd64(h + 24);
  info.created_unix_ms = rd64(h + 32);
  info.parent_sequence = rd64(h + 40);
  info.parent_digest = rd64(h + 48);
  info.delta = (flags & kFlagDelta) != 0;
  const std::byte* t = bytes.data() + bytes.size() - kTrailerSize;
  if (std::memcmp(t, kTrailerMagic, 8) != 0 || rd64(t + 24) != xxh64(t, 24)) {
    return corrupt("truncated or damaged: no valid trailer at the end");
  }
  info.total_bytes = rd64(t + 8);
  if (info.total_bytes != bytes.size()) {
    return corrupt("size mismatch: trailer says " + std::to_string(info.total_bytes) + " bytes, got " +
                   std::to_string(bytes.size()));
  }
  std::uint64_t digest_state = xxh64(h, 56);
  std::size_t at = kFileHeaderSize;
  const std::size_t end = bytes.size() - kTrailerSize;
  info.chunks.reserve(std::min<std::size_t>(count, end / kChunkHeaderSize));
  for (std::uint32_t i = 0; i < count; ++i) {
    if (end - at < kChunkHeaderSize) return corrupt("truncated chunk header " + std::to_string(i));
    const std::byte* c = bytes.data() + at;
    digest_state = xxh64(c, kChunkHeaderSize, digest_state);
    ChunkInfo ci;
    std::uint16_t type = 0;
    std::memcpy(&type, c, 2);
    if (type < 1 || type > 6) return corrupt("chunk " + std::to_string(i) + " has unknown type " + std::to_string(type));
    ci.type = static_cast<ChunkType>(type);
    const auto comp = static_cast<std::uint8_t>(c[2]);
    if (comp > 1) return corrupt("chunk " + std::to_string(i) + " has unknown compression " + std::to_string(comp));
    ci.compression = static_cast<Compression>(comp);
    ci.inherited = (static_cast<std::uint8_t>(c[3]) & kChunkInherited) != 0;
    ci.key = rd64(c + 8);
    ci.raw_size = rd64(c + 16);
    ci.stored_size = rd64(c + 24);
    ci.content_hash = rd64(c + 32);
    const std::uint64_t stored_hash = rd64(c + 40);
    at += kChunkHeaderSize;
    if (ci.inherited && (!info.delta || ci.stored_size != 0)) return corrupt("inherited chunk in a non-delta file");
    if (ci.stored_size > end - at) return corrupt("truncated chunk " + std::to_string(i) + " payload");
    if (!ci.inherited && xxh64(bytes.data() + at, ci.stored_size) != stored_hash) {
      return corrupt("chunk " + std::to_string(i) + " checksum mismatch (data corrupted)");
    }
    if (!ci.inherited && ci.compression == Compression::None &&
        (ci.stored_size != ci.raw_size || ci.content_hash != stored_hash)) {
      return corrupt("chunk " + std::to_string(i) + " size or hash mismatch");
    }
    out.offsets.push_back(at);
    at += ci.stored_size;
    info.raw_bytes += ci.raw_size;
    info.stored_bytes += ci.stored_size;
    info.chunks.push_back(ci);
  }
  if (at != end) return corrupt("trailing bytes after the last chunk");
  info.digest = rd64(t + 16);
  if (digest_state != info.digest) return corrupt("digest mismatch (header or chunk directory corrupted)");
  return out;
}

// A chunk's content: a view into an input buffer (raw chunks) or decompressed bytes it owns.
struct ChunkData {
  std::shared_ptr<std::vector<std::byte>> owned;
  std::span<const std::byte> view;
};
using ChunkMap = std::map<std::uint64_t, ChunkData>;

// Chunk contents keyed by chunk_id, after verifying content hashes; follows delta parents, whose bytes are kept in
// `keep` because views point into them.
Result<ChunkMap> load_chunks(std::span<const std::byte> bytes, const ParentLoader& loader, unsigned depth,
                             CheckpointInfo* info_out, std::vector<std::vector<std::byte>>& keep) {
  auto parsed = parse(bytes);
  if (!parsed) return parsed.error();
  const CheckpointInfo& info = parsed->info;
  ChunkMap parent_chunks;
  if (info.delta) {
    if (!loader) return corrupt("delta checkpoint " + std::to_string(info.sequence) + " needs its parent");
    if (depth >= kMaxDeltaDepth) return corrupt("delta chain deeper than " + std::to_string(kMaxDeltaDepth));
    auto pbytes = loader(info.parent_sequence);
    if (!pbytes) return pbytes.error().with_context("loading parent " + std::to_string(info.parent_sequence));
    keep.push_back(std::move(pbytes).value());
    CheckpointInfo pinfo;
    auto p = load_chunks(keep.back(), loader, depth + 1, &pinfo, keep);
    if (!p) return p.error().with_context("parent " + std::to_string(info.parent_sequence));
    if (pinfo.digest != info.parent_digest || pinfo.sequence != info.parent_sequence) {
      return corrupt("wrong parent: checkpoint " + std::to_string(info.sequence) + " was written against parent " +
                     std::to_string(info.parent_sequence) + " with a different digest");
    }
    parent_chunks = std::move(p).value();
  }
  ChunkMap chunks;
  for (std::size_t i = 0; i < info.chunks.size(); ++i) {
    const ChunkInfo& ci = info.chunks[i];
    const std::uint64_t id = chunk_id(ci.type, ci.key);
    ChunkData data;
    if (ci.inherited) {
      auto it = parent_chunks.find(id);
      if (it == parent_chunks.end()) return corrupt("inherited chunk " + std::to_string(i) + " is not in the parent");
      data = it->second;
      if (data.view.size() != ci.raw_size || xxh64(data.view.data(), data.view.size()) != ci.content_hash) {
        return corrupt("inherited chunk " + std::to_string(i) + " differs from the parent's");
      }
    } else if (ci.compression == Compression::Zstd) {
      // zstd expands at most ~32768:1 (RLE blocks): a larger claim is corrupt, and is refused before allocating.
      if (ci.raw_size > ci.stored_size * 65536 + 65536) {
        return corrupt("chunk " + std::to_string(i) + " claims an impossible uncompressed size");
      }
      const std::byte* src = bytes.data() + parsed->offsets[i];
      const unsigned long long frame = ZSTD_getFrameContentSize(src, ci.stored_size);
      if (frame != ci.raw_size) return corrupt("chunk " + std::to_string(i) + " compressed size header mismatch");
      data.owned = std::make_shared<std::vector<std::byte>>(ci.raw_size);
      std::vector<std::byte>& raw = *data.owned;
      const std::size_t got = ZSTD_decompress(raw.data(), raw.size(), src, ci.stored_size);
      if (ZSTD_isError(got) != 0 || got != ci.raw_size) {
        return corrupt("chunk " + std::to_string(i) + " does not decompress");
      }
      if (xxh64(raw.data(), raw.size()) != ci.content_hash) {
        return corrupt("chunk " + std::to_string(i) + " content hash mismatch");
      }
      data.view = raw;
    } else {
      // parse() checked the stored hash, which equals the content hash for raw chunks.
      data.view = bytes.subspan(parsed->offsets[i], ci.stored_size);
    }
    if (!chunks.emplace(id, std::move(data)).second) return corrupt("duplicate chunk " + std::to_string(i));
  }
  if (info_out != nullptr) *info_out = info;
  return chunks;
}

} // namespace

std::uint64_t xxh64(const void* data, std::size_t len, std::uint64_t seed) noexcept {
  const auto* p = static_cast<const std::byte*>(data);
  const std::byte* const end = p + len;
  std::uint64_t h = 0;
  if (len >= 32) {
    std::uint64_t v1 = seed + P1 + P2;
    std::uint64_t v2 = seed + P2;
    std::uint64_t v3 = seed;
    std::uint64_t v4 = seed - P1;
    const std::byte* const limit = end - 32;
    do {
      v1 = xround(v1, rd64(p));
      v2 = xround(v2, rd64(p + 8));
      v3 = xround(v3, rd64(p + 16));
      v4 = xround(v4, rd64(p + 24));
      p += 32;
    } while (p <= limit);
    h = std::rotl(v1, 1) + std::rotl(v2, 7) + std::rotl(v3, 12) + std::rotl(v4, 18);
    h = xmerge(h, v1);
    h = xmerge(h, v2);
    h = xmerge(h, v3);
    h = xmerge(h, v4);
  } else {
    h = seed + P5;
  }
  h += static_cast<std::uint64_t>(len);
  while (end - p >= 8) {
    h ^= xround(0, rd64(p));
    h = std::rotl(h, 27) * P1 + P4;
    p += 8;
  }
  if (end - p >= 4) {
    h ^= static_cast<std::uint64_t>(rd32(p)) * P1;
    h = std::rotl(h, 23) * P2 + P3;
    p += 4;
  }
  while (p < end) {
    h ^= static_cast<std::uint64_t>(static_cast<std::uint8_t>(*p)) * P5;
    h = std::rotl(h, 11) * P1;
    ++p;
  }
  h ^= h >> 33;
  h *= P2;
  h ^= h >> 29;
  h *= P3;
  h ^= h >> 32;
  return h;
}

Result<std::vector<std::byte>> encode(const SystemSnapshot& snap, const EncodeOptions& opts) {
  if (opts.segment_bytes == 0) return make_error(ErrorCode::InvalidArgument, "segment_bytes must be > 0", "encode");
  if (opts.zstd_level < 1 || opts.zstd_level > ZSTD_maxCLevel()) {
    return make_error(ErrorCode::InvalidArgument, "zstd_level must be in [1, " + std::to_string(ZSTD_maxCLevel()) + "]",
                      "encode");
  }
  std::vector<OutChunk> chunks;
  auto add = [&](ChunkType type, std::uint64_t key, std::vector<std::byte> owned) {
    OutChunk c;
    c.type = type;
    c.key = key;
    c.owned = std::move(owned);
    chunks.push_back(std::move(c));
  };
  {
    Writer w;
    w.num<std::uint16_t>(snap.node_id);
    w.num<std::uint8_t>(snap.backend);
    w.num<std::uint64_t>(snap.hlc);
    w.num<std::uint32_t>(snap.next_actor_id);
    w.num<std::uint64_t>(snap.next_message_id);
    w.num<std::uint64_t>(snap.created_unix_ms);
    w.num<std::uint32_t>(static_cast<std::uint32_t>(snap.actors.size()));
    add(ChunkType::Runtime, 0, std::move(w.out));
  }
  {
    Writer w;
    w.num<std::uint32_t>(static_cast<std::uint32_t>(snap.metadata.size()));
    for (const auto& [k, v] : snap.metadata) { w.str(k); w.str(v); }
    add(ChunkType::Metadata, 0, std::move(w.out));
  }
  for (const ActorSnapshot& a : snap.actors) {
    const std::size_t n = a.state_bytes.size();
    const auto segments = static_cast<std::uint32_t>((n + opts.segment_bytes - 1) / opts.segment_bytes);
    Writer w;
    put_actor(w, a, segments);
    add(ChunkType::Actor, a.id, std::move(w.out));
    for (std::uint32_t s = 0; s < segments; ++s) {
      const std::size_t off = std::size_t{s} * opts.segment_bytes;
      OutChunk c;
      c.type = ChunkType::ActorState;
      c.key = (std::uint64_t{a.id} << 32) | s;
      c.raw = std::span<const std::byte>(a.state_bytes).subspan(off, std::min(opts.segment_bytes, n - off));
      chunks.push_back(std::move(c));
    }
    Writer in;
    put_messages(in, a.inbox);
    add(ChunkType::Inbox, a.id, std::move(in.out));
    Writer out;
    put_messages(out, a.outbox);
    add(ChunkType::Outbox, a.id, std::move(out.out));
  }
  std::map<std::uint64_t, const ChunkInfo*> parent;
  if (opts.parent != nullptr) {
    for (const ChunkInfo& ci : opts.parent->chunks) parent[chunk_id(ci.type, ci.key)] = &ci;
  }
  for (OutChunk& c : chunks) {
    if (!c.owned.empty()) c.raw = c.owned;
  }
  parallel_for(chunks.size(), opts.threads, [&](std::size_t i) {
    OutChunk& c = chunks[i];
    c.content_hash = xxh64(c.raw.data(), c.raw.size());
    if (auto it = parent.find(chunk_id(c.type, c.key));
        it != parent.end() && it->second->content_hash == c.content_hash && it->second->raw_size == c.raw.size()) {
      c.inherited = true;
      return;
    }
    if (opts.compression == Compression::Zstd && !c.raw.empty()) {
      c.compressed.resize(ZSTD_compressBound(c.raw.size()));
      const std::size_t k = ZSTD_compress(c.compressed.data(), c.compressed.size(), c.raw.data(), c.raw.size(),
                                          opts.zstd_level);
      if (ZSTD_isError(k) != 0) {
        c.error = ZSTD_getErrorName(k);
      } else if (k < c.raw.size()) {  // keep incompressible chunks raw
        c.compressed.resize(k);
        c.compression = Compression::Zstd;
      }
      if (c.compression != Compression::Zstd) c.compressed = {};
    }
    // Stored raw, the stored bytes are the content: one hash serves both fields.
    const auto st = c.stored();
    c.stored_hash = c.compression == Compression::None ? c.content_hash : xxh64(st.data(), st.size());
  });
  std::size_t total = kFileHeaderSize + kTrailerSize;
  for (const OutChunk& c : chunks) {
    if (!c.error.empty()) return make_error(ErrorCode::Internal, "zstd: " + c.error, "encode");
    total += kChunkHeaderSize + c.stored().size();
  }
  std::vector<std::byte> out(total);
  std::byte* h = out.data();
  std::memcpy(h, kFileMagic, 8);
  auto put32 = [](std::byte* p, std::uint32_t v) { std::memcpy(p, &v, 4); };
  auto put64 = [](std::byte* p, std::uint64_t v) { std::memcpy(p, &v, 8); };
  put32(h + 8, kFormatVersion);
  put32(h + 12, kFileHeaderSize);
  put32(h + 16, opts.parent != nullptr ? kFlagDelta : 0);
  put32(h + 20, static_cast<std::uint32_t>(chunks.size()));
  put64(h + 24, opts.sequence);
  put64(h + 32, snap.created_unix_ms);
  put64(h + 40, opts.parent != nullptr ? opts.parent->sequence : 0);
  put64(h + 48, opts.parent != nullptr ? opts.parent->digest : 0);
  put64(h + 56, xxh64(h, 56));
  std::uint64_t digest = xxh64(h, 56);
  std::size_t at = kFileHeaderSize;
  for (const OutChunk& c : chunks) {
    std::byte* ch = out.data() + at;
    const auto st = c.stored();
    const auto type = static_cast<std::uint16_t>(c.type);
    std::memcpy(ch, &type, 2);
    ch[2] = static_cast<std::byte>(c.compression);
    ch[3] = static_cast<std::byte>(c.inherited ? kChunkInherited : 0);
    put32(ch + 4, 0);
    put64(ch + 8, c.key);
    put64(ch + 16, c.raw.size());
    put64(ch + 24, st.size());
    put64(ch + 32, c.content_hash);
    put64(ch + 40, c.inherited ? 0 : c.stored_hash);
    digest = xxh64(ch, kChunkHeaderSize, digest);
    at += kChunkHeaderSize;
    if (!st.empty()) std::memcpy(out.data() + at, st.data(), st.size());
    at += st.size();
  }
  std::byte* t = out.data() + at;
  std::memcpy(t, kTrailerMagic, 8);
  put64(t + 8, total);
  put64(t + 16, digest);
  put64(t + 24, xxh64(t, 24));
  return out;
}

Result<CheckpointInfo> inspect(std::span<const std::byte> bytes) {
  auto p = parse(bytes);
  if (!p) return p.error();
  return std::move(p->info);
}

Result<SystemSnapshot> decode(std::span<const std::byte> bytes, const ParentLoader& parent) {
  CheckpointInfo info;
  std::vector<std::vector<std::byte>> keep;
  auto loaded = load_chunks(bytes, parent, 0, &info, keep);
  if (!loaded) return loaded.error();
  auto& chunks = *loaded;
  auto find = [&](ChunkType t, std::uint64_t key) -> const std::span<const std::byte>* {
    auto it = chunks.find(chunk_id(t, key));
    return it == chunks.end() ? nullptr : &it->second.view;
  };
  SystemSnapshot snap;
  const auto* rt = find(ChunkType::Runtime, 0);
  if (rt == nullptr) return corrupt("no runtime chunk");
  Reader r{rt->data(), rt->size()};
  snap.node_id = r.num<std::uint16_t>();
  snap.backend = r.num<std::uint8_t>();
  snap.hlc = r.num<std::uint64_t>();
  snap.next_actor_id = r.num<std::uint32_t>();
  snap.next_message_id = r.num<std::uint64_t>();
  snap.created_unix_ms = r.num<std::uint64_t>();
  const auto actors = r.num<std::uint32_t>();
  if (!r.done()) return corrupt("malformed runtime chunk");
  std::size_t used = 1;
  if (const auto* md = find(ChunkType::Metadata, 0); md != nullptr) {
    ++used;
    Reader m{md->data(), md->size()};
    const auto n = m.num<std::uint32_t>();
    for (std::uint32_t i = 0; i < n && m.ok; ++i) {
      std::string k = m.str();
      snap.metadata[k] = m.str();
    }
    if (!m.done()) return corrupt("malformed metadata chunk");
  }
  for (const auto& [id, data] : chunks) {
    if ((id >> 56) != static_cast<std::uint64_t>(ChunkType::Actor)) continue;
    const auto& raw = data.view;
    ActorSnapshot a;
    std::uint64_t state_size = 0;
    std::uint32_t segments = 0;
    Reader ar{raw.data(), raw.size()};
    if (!get_actor(ar, a, state_size, segments)) return corrupt("malformed actor chunk");
    if (chunk_id(ChunkType::Actor, a.id) != id) return corrupt("actor chunk key does not match its actor id");
    if (state_size > (std::uint64_t{1} << 40)) return corrupt("actor '" + a.name + "' claims an absurd state size");
    std::uint64_t have = 0;
    for (std::uint32_t s = 0; s < segments; ++s) {
      const auto* seg = find(ChunkType::ActorState, (std::uint64_t{a.id} << 32) | s);
      if (seg == nullptr) return corrupt("actor '" + a.name + "' is missing state segment " + std::to_string(s));
      have += seg->size();
    }
    if (have != state_size) return corrupt("actor '" + a.name + "' state size mismatch");
    a.state_bytes.resize(state_size);
    std::size_t at = 0;
    for (std::uint32_t s = 0; s < segments; ++s) {
      const auto* seg = find(ChunkType::ActorState, (std::uint64_t{a.id} << 32) | s);
      if (!seg->empty()) std::memcpy(a.state_bytes.data() + at, seg->data(), seg->size());
      at += seg->size();
    }
    const auto* in = find(ChunkType::Inbox, a.id);
    const auto* out = find(ChunkType::Outbox, a.id);
    if (in == nullptr || out == nullptr) return corrupt("actor '" + a.name + "' is missing a queue chunk");
    Reader ir{in->data(), in->size()};
    Reader orr{out->data(), out->size()};
    if (!get_messages(ir, a.inbox) || !ir.done() || !get_messages(orr, a.outbox) || !orr.done()) {
      return corrupt("actor '" + a.name + "' has a malformed queue chunk");
    }
    used += 3 + segments;
    snap.actors.push_back(std::move(a));
  }
  if (snap.actors.size() != actors) return corrupt("actor count does not match the runtime chunk");
  if (used != chunks.size()) return corrupt("checkpoint holds chunks that belong to no actor");
  return snap;
}

} // namespace ringkernel::checkpoint
