// The checkpoint binary format (docs/checkpoint-format.md): encoder, validator and decoder.
#include "ringkernel/checkpoint/format.hpp"

#include <zstd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <system_error>
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

// Decodes chunk `i`'s header and checks what the header alone decides (type, compression, inheritance, and for
// uncompressed chunks that size and hash agree); `stored_hash` receives the stored bytes' checksum.
Result<ChunkInfo> parse_chunk_header(const std::byte* c, std::uint32_t i, bool delta, std::uint64_t& stored_hash) {
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
  stored_hash = rd64(c + 40);
  if (ci.inherited && (!delta || ci.stored_size != 0)) return corrupt("inherited chunk in a non-delta file");
  if (!ci.inherited && ci.compression == Compression::None &&
      (ci.stored_size != ci.raw_size || ci.content_hash != stored_hash)) {
    return corrupt("chunk " + std::to_string(i) + " size or hash mismatch");
  }
  return ci;
}

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

void put_actor(Writer& w, const ActorSnapshot& a, std::uint64_t state_size, std::uint32_t segments) {
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
  w.num<std::uint64_t>(state_size);
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

// The fixed file header, shared by the in-memory and the streaming readers.
Result<CheckpointInfo> parse_header(const std::byte* h) {
  CheckpointInfo info;
  if (std::memcmp(h, kFileMagic, 8) != 0) return corrupt("bad magic: not a RingKernel checkpoint");
  if (rd64(h + 56) != xxh64(h, 56)) return corrupt("file header checksum mismatch");
  info.version = rd32(h + 8);
  if (info.version != kFormatVersion) {
    return corrupt("unsupported checkpoint format version " + std::to_string(info.version) + " (this build reads " +
                   std::to_string(kFormatVersion) + ")");
  }
  if (rd32(h + 12) != kFileHeaderSize) return corrupt("unexpected file header size");
  info.sequence = rd64(h + 24);
  info.created_unix_ms = rd64(h + 32);
  info.parent_sequence = rd64(h + 40);
  info.parent_digest = rd64(h + 48);
  info.delta = (rd32(h + 16) & kFlagDelta) != 0;
  return info;
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
  auto hdr = parse_header(h);
  if (!hdr) return hdr.error();
  info = std::move(hdr).value();
  const std::uint32_t count = rd32(h + 20);
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
    std::uint64_t stored_hash = 0;
    auto parsed = parse_chunk_header(c, i, info.delta, stored_hash);
    if (!parsed) return parsed.error();
    ChunkInfo ci = *parsed;
    at += kChunkHeaderSize;
    if (ci.stored_size > end - at) return corrupt("truncated chunk " + std::to_string(i) + " payload");
    if (!ci.inherited && xxh64(bytes.data() + at, ci.stored_size) != stored_hash) {
      return corrupt("chunk " + std::to_string(i) + " checksum mismatch (data corrupted)");
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

namespace {

using SteadyClock = std::chrono::steady_clock;
double seconds_since(SteadyClock::time_point t0) {
  return std::chrono::duration<double>(SteadyClock::now() - t0).count();
}

unsigned worker_count(unsigned threads) {
  return threads != 0 ? threads : std::max(1u, std::thread::hardware_concurrency());
}

// Joins the threads it holds when it goes out of scope (error paths included).
struct Joiner {
  std::vector<std::thread> threads;
  ~Joiner() {
    for (auto& t : threads) {
      if (t.joinable()) t.join();
    }
  }
};

// One chunk of the file being written, through the pipeline copy -> hash/compress -> write.
struct EncJob {
  enum Stage : std::uint8_t { Waiting, Ready, Taken, Done };
  ChunkType type = ChunkType::Runtime;
  std::uint64_t key = 0;
  std::vector<std::byte> owned;          // small chunks: their content
  std::span<const std::byte> raw;        // the content (owned, state_bytes, or a staging buffer)
  const ActorSnapshot* actor = nullptr;  // streamed segment: which state ...
  std::uint64_t offset = 0;              // ... from where ...
  std::size_t length = 0;                // ... and how much
  int slot = -1;                         // staging slot holding it while in flight
  Stage stage = Ready;
  std::uint64_t content_hash = 0;
  std::uint64_t stored_hash = 0;
  bool inherited = false;
  Compression compression = Compression::None;
  std::vector<std::byte> own_compressed;  // compressed output of non-streamed chunks
  std::span<const std::byte> stored;
};

struct EncSlot {
  std::shared_ptr<std::byte[]> staging;
  std::vector<std::byte> compressed;  // reused for every segment that passes through the slot
};

// Hashes, matches against the parent (delta) and maybe compresses one chunk.
Status process_job(EncJob& j, std::vector<std::byte>& scratch, const EncodeOptions& opts,
                   const std::map<std::uint64_t, const ChunkInfo*>& parent) {
  j.content_hash = xxh64(j.raw.data(), j.raw.size());
  if (auto it = parent.find(chunk_id(j.type, j.key));
      it != parent.end() && it->second->content_hash == j.content_hash && it->second->raw_size == j.raw.size()) {
    j.inherited = true;
    j.stored = {};
    return {};
  }
  j.stored = j.raw;
  j.stored_hash = j.content_hash;  // stored raw, the stored bytes are the content: one hash serves both fields
  if (opts.compression == Compression::Zstd && !j.raw.empty()) {
    scratch.resize(std::max(scratch.size(), ZSTD_compressBound(j.raw.size())));
    const std::size_t k = ZSTD_compress(scratch.data(), scratch.size(), j.raw.data(), j.raw.size(), opts.zstd_level);
    if (ZSTD_isError(k) != 0) return make_error(ErrorCode::Internal, std::string("zstd: ") + ZSTD_getErrorName(k), "encode");
    if (k < j.raw.size()) {  // keep incompressible chunks raw
      j.compression = Compression::Zstd;
      j.stored = std::span<const std::byte>(scratch).first(k);
      j.stored_hash = xxh64(scratch.data(), k);
    }
  }
  return {};
}

void put32(std::byte* p, std::uint32_t v) { std::memcpy(p, &v, 4); }
void put64(std::byte* p, std::uint64_t v) { std::memcpy(p, &v, 8); }

struct VectorWriter final : ObjectWriter {
  std::vector<std::byte> out;
  Status write(std::span<const std::byte> d) override {
    out.insert(out.end(), d.begin(), d.end());
    return {};
  }
  Status commit() override { return {}; }
  void abort() noexcept override {}
  std::uint64_t written() const noexcept override { return out.size(); }
};

} // namespace

Result<CheckpointInfo> encode_to(const SystemSnapshot& snap, StateReader* states, ObjectWriter& out,
                                 const EncodeOptions& opts, StreamStats* stats) {
  const auto t_start = SteadyClock::now();
  if (opts.segment_bytes == 0) return make_error(ErrorCode::InvalidArgument, "segment_bytes must be > 0", "encode");
  // Negative levels are zstd's fast modes (less compression, several times the speed); 0 would mean "default".
  if (opts.zstd_level == 0 || opts.zstd_level < ZSTD_minCLevel() || opts.zstd_level > ZSTD_maxCLevel()) {
    return make_error(ErrorCode::InvalidArgument,
                      "zstd_level must be in [1, " + std::to_string(ZSTD_maxCLevel()) + "] or a fast level in [" +
                          std::to_string(ZSTD_minCLevel()) + ", -1]",
                      "encode");
  }
  // The chunk list, in file order. Every count is known before any state byte is read, so the header (chunk
  // count) can be written first and the file streamed front to back.
  std::vector<EncJob> jobs;
  auto add = [&](ChunkType type, std::uint64_t key, std::vector<std::byte> owned) {
    EncJob j;
    j.type = type;
    j.key = key;
    j.owned = std::move(owned);
    jobs.push_back(std::move(j));
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
  bool any_streamed = false;
  std::uint64_t streamed_bytes = 0;
  std::uint64_t state_bytes = 0;
  for (const ActorSnapshot& a : snap.actors) {
    const bool streamed = a.streamed_size != 0;
    if (streamed && states == nullptr) {
      return make_error(ErrorCode::InvalidArgument, "actor '" + a.name + "' has a streamed state and no StateReader",
                        "encode");
    }
    const std::uint64_t n = streamed ? a.streamed_size : a.state_bytes.size();
    const std::uint64_t segs = (n + opts.segment_bytes - 1) / opts.segment_bytes;
    if (segs > UINT32_MAX) return make_error(ErrorCode::InvalidArgument, "too many state segments", "encode");
    const auto segments = static_cast<std::uint32_t>(segs);
    Writer w;
    put_actor(w, a, n, segments);
    add(ChunkType::Actor, a.id, std::move(w.out));
    for (std::uint32_t s = 0; s < segments; ++s) {
      const std::uint64_t off = std::uint64_t{s} * opts.segment_bytes;
      EncJob j;
      j.type = ChunkType::ActorState;
      j.key = (std::uint64_t{a.id} << 32) | s;
      j.length = static_cast<std::size_t>(std::min<std::uint64_t>(opts.segment_bytes, n - off));
      state_bytes += j.length;
      if (streamed) {
        j.actor = &a;
        j.offset = off;
        j.stage = EncJob::Waiting;
        any_streamed = true;
        streamed_bytes += j.length;
      } else {
        j.raw = std::span<const std::byte>(a.state_bytes).subspan(static_cast<std::size_t>(off), j.length);
      }
      jobs.push_back(std::move(j));
    }
    Writer in;
    put_messages(in, a.inbox);
    add(ChunkType::Inbox, a.id, std::move(in.out));
    Writer outq;
    put_messages(outq, a.outbox);
    add(ChunkType::Outbox, a.id, std::move(outq.out));
  }
  if (jobs.size() > UINT32_MAX) return make_error(ErrorCode::InvalidArgument, "too many chunks", "encode");
  for (EncJob& j : jobs) {
    if (j.actor == nullptr && !j.owned.empty()) j.raw = j.owned;
  }
  std::map<std::uint64_t, const ChunkInfo*> parent;
  if (opts.parent != nullptr) {
    for (const ChunkInfo& ci : opts.parent->chunks) parent[chunk_id(ci.type, ci.key)] = &ci;
  }

  CheckpointInfo info;
  info.sequence = opts.sequence;
  info.created_unix_ms = snap.created_unix_ms;
  info.delta = opts.parent != nullptr;
  info.parent_sequence = info.delta ? opts.parent->sequence : 0;
  info.parent_digest = info.delta ? opts.parent->digest : 0;
  info.chunks.reserve(jobs.size());

  double io_s = 0;
  auto timed_write = [&](std::span<const std::byte> d) -> Status {
    const auto t0 = SteadyClock::now();
    auto st = out.write(d);
    io_s += seconds_since(t0);
    return st;
  };

  std::byte h[kFileHeaderSize] = {};
  std::memcpy(h, kFileMagic, 8);
  put32(h + 8, kFormatVersion);
  put32(h + 12, kFileHeaderSize);
  put32(h + 16, info.delta ? kFlagDelta : 0);
  put32(h + 20, static_cast<std::uint32_t>(jobs.size()));
  put64(h + 24, opts.sequence);
  put64(h + 32, snap.created_unix_ms);
  put64(h + 40, info.parent_sequence);
  put64(h + 48, info.parent_digest);
  put64(h + 56, xxh64(h, 56));
  std::uint64_t digest = xxh64(h, 56);
  std::uint64_t total = kFileHeaderSize;
  if (auto st = timed_write(h); !st) return st.error();

  // Pipeline state, under `mu`: the copy thread fills staging slots with streamed segments in file order; workers
  // take Ready jobs (lowest first), hash and compress them; this thread writes Done jobs in order and frees slots.
  std::mutex mu;
  std::condition_variable cv;
  std::optional<Error> failed;
  std::vector<EncSlot> slots;
  std::vector<int> free_slots;
  const unsigned workers = worker_count(opts.threads);
  double copy_s = 0;
  double hash_s = 0;
  try {
    if (any_streamed) {
      const unsigned n = opts.staging_buffers != 0 ? std::max(2u, opts.staging_buffers) : workers + 2;
      const std::size_t seg = static_cast<std::size_t>(std::min<std::uint64_t>(opts.segment_bytes, streamed_bytes));
      slots.resize(n);
      for (unsigned i = 0; i < n; ++i) {
        slots[i].staging = states->staging(seg);
        free_slots.push_back(static_cast<int>(n - 1 - i));
      }
    }
  } catch (const std::exception& e) {
    return make_error(ErrorCode::Internal, std::string("no staging buffers: ") + e.what(), "encode");
  }
  auto fail = [&](Error e) {
    std::lock_guard lk(mu);
    if (!failed) failed = std::move(e);
    cv.notify_all();
  };
  std::size_t work_cursor = 0;  // every job before it is Taken or Done
  Status result;
  {
    Joiner pool;
    // A thread the system refuses fails the checkpoint (the others then stop) instead of leaving them waiting.
    auto spawn = [&](auto&& body) {
      try {
        pool.threads.emplace_back(std::forward<decltype(body)>(body));
      } catch (const std::system_error& e) {
        fail(make_error(ErrorCode::Internal, std::string("cannot start a checkpoint thread: ") + e.what(), "encode"));
      }
    };
    if (any_streamed) {
      spawn([&] {
        double busy = 0;
        for (EncJob& j : jobs) {
          if (j.actor == nullptr) continue;
          int slot = -1;
          {
            std::unique_lock lk(mu);
            cv.wait(lk, [&] { return failed || !free_slots.empty(); });
            if (failed) break;
            slot = free_slots.back();
            free_slots.pop_back();
          }
          const auto t0 = SteadyClock::now();
          std::span<std::byte> dst(slots[static_cast<std::size_t>(slot)].staging.get(), j.length);
          Status st = make_error(ErrorCode::Internal, "state read threw", "encode");
          try {
            st = states->read(*j.actor, j.offset, dst);
          } catch (const std::exception& e) {
            st = make_error(ErrorCode::Internal, std::string("state read threw: ") + e.what(), "encode");
          }
          busy += seconds_since(t0);
          if (!st) {
            fail(st.error().with_context("checkpoint of '" + j.actor->name + "'"));
            break;
          }
          std::lock_guard lk(mu);
          j.slot = slot;
          j.raw = dst;
          j.stage = EncJob::Ready;
          cv.notify_all();
        }
        std::lock_guard lk(mu);
        copy_s += busy;
      });
    }
    for (unsigned w = 0; w < workers; ++w) {
      spawn([&] {
        double busy = 0;
        std::vector<std::byte> own_scratch;
        for (;;) {
          EncJob* job = nullptr;
          {
            std::unique_lock lk(mu);
            cv.wait(lk, [&] {
              if (failed) return true;
              while (work_cursor < jobs.size() && jobs[work_cursor].stage >= EncJob::Taken) ++work_cursor;
              for (std::size_t i = work_cursor; i < jobs.size(); ++i) {
                if (jobs[i].stage == EncJob::Ready) { job = &jobs[i]; return true; }
              }
              return work_cursor >= jobs.size();
            });
            if (failed || job == nullptr) break;
            job->stage = EncJob::Taken;
          }
          const auto t0 = SteadyClock::now();
          std::vector<std::byte>& scratch =
              job->slot >= 0 ? slots[static_cast<std::size_t>(job->slot)].compressed : own_scratch;
          Status st = make_error(ErrorCode::Internal, "out of memory", "encode");
          try {
            st = process_job(*job, scratch, opts, parent);
            if (st && job->slot < 0 && job->compression == Compression::Zstd) {
              // The scratch buffer is reused by this worker: keep this chunk's output with the chunk.
              job->own_compressed.assign(job->stored.begin(), job->stored.end());
              job->stored = job->own_compressed;
            }
          } catch (const std::bad_alloc&) {
          }
          busy += seconds_since(t0);
          if (!st) { fail(st.error()); break; }
          std::lock_guard lk(mu);
          job->stage = EncJob::Done;
          cv.notify_all();
        }
        std::lock_guard lk(mu);
        hash_s += busy;
      });
    }
    // Writer: this thread, in file order. An exception here must still release the other threads before the
    // Joiner waits for them.
    try {
      for (EncJob& j : jobs) {
        {
          std::unique_lock lk(mu);
          cv.wait(lk, [&] { return failed || j.stage == EncJob::Done; });
          if (failed) break;
        }
        std::byte ch[kChunkHeaderSize] = {};
        const auto type = static_cast<std::uint16_t>(j.type);
        std::memcpy(ch, &type, 2);
        ch[2] = static_cast<std::byte>(j.compression);
        ch[3] = static_cast<std::byte>(j.inherited ? kChunkInherited : 0);
        put64(ch + 8, j.key);
        put64(ch + 16, j.raw.size());
        put64(ch + 24, j.stored.size());
        put64(ch + 32, j.content_hash);
        put64(ch + 40, j.inherited ? 0 : j.stored_hash);
        digest = xxh64(ch, kChunkHeaderSize, digest);
        Status st = timed_write(ch);
        if (st && !j.stored.empty()) st = timed_write(j.stored);
        if (!st) { fail(st.error()); break; }
        total += kChunkHeaderSize + j.stored.size();
        ChunkInfo ci;
        ci.type = j.type;
        ci.key = j.key;
        ci.compression = j.compression;
        ci.inherited = j.inherited;
        ci.raw_size = j.raw.size();
        ci.stored_size = j.stored.size();
        ci.content_hash = j.content_hash;
        info.raw_bytes += ci.raw_size;
        info.stored_bytes += ci.stored_size;
        info.chunks.push_back(ci);
        // Done with this chunk: free its memory, hand its slot back to the copy thread.
        j.owned = {};
        j.own_compressed = {};
        j.raw = {};
        j.stored = {};
        if (j.slot >= 0) {
          std::lock_guard lk(mu);
          free_slots.push_back(j.slot);
          j.slot = -1;
          cv.notify_all();
        }
      }
    } catch (const std::exception& e) {
      fail(make_error(ErrorCode::Internal, std::string("encode: ") + e.what(), "encode"));
    }
    {
      std::lock_guard lk(mu);
      if (failed) result = *failed;
      // Wake idle workers: every job is Done (or the run failed), so they leave.
      cv.notify_all();
    }
  }
  if (!result) return result.error();
  std::byte t[kTrailerSize] = {};
  total += kTrailerSize;
  std::memcpy(t, kTrailerMagic, 8);
  put64(t + 8, total);
  put64(t + 16, digest);
  put64(t + 24, xxh64(t, 24));
  if (auto st = timed_write(t); !st) return st.error();
  info.total_bytes = total;
  info.digest = digest;
  if (stats != nullptr) {
    stats->copy_s = copy_s;
    stats->hash_s = hash_s;
    stats->io_s = io_s;
    stats->wall_s = seconds_since(t_start);
    stats->state_bytes = state_bytes;
    stats->file_bytes = total;
  }
  return info;
}

Result<std::vector<std::byte>> encode(const SystemSnapshot& snap, const EncodeOptions& opts) {
  VectorWriter w;
  auto info = encode_to(snap, nullptr, w, opts);
  if (!info) return info.error();
  return std::move(w.out);
}

Result<CheckpointInfo> inspect(std::span<const std::byte> bytes) {
  auto p = parse(bytes);
  if (!p) return p.error();
  return std::move(p->info);
}

namespace {

// Sequential input over an ObjectReader; with prefetch, a thread reads the next blocks into a ring of buffers
// while the decoder verifies and copies the current one (double buffering).
class Input {
public:
  Input(ObjectReader& r, bool prefetch, std::size_t block) : r_(r), size_(r.size()) {
    if (!prefetch || size_ == 0) return;
    // Whole pages, page-aligned: a reader using O_DIRECT fills them without a bounce copy.
    block = static_cast<std::size_t>(std::min<std::uint64_t>(std::max<std::size_t>(block, 4096), size_));
    block = (block + 4095) / 4096 * 4096;
    for (auto& b : bufs_) {
      void* p = nullptr;
      if (::posix_memalign(&p, 4096, block) != 0) throw std::bad_alloc();
      b.data.reset(static_cast<std::byte*>(p));
      b.capacity = block;
    }
    th_ = std::thread([this] { produce(); });
  }
  ~Input() {
    {
      std::lock_guard lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (th_.joinable()) th_.join();
  }
  Input(const Input&) = delete;
  Input& operator=(const Input&) = delete;

  [[nodiscard]] std::uint64_t size() const noexcept { return size_; }
  [[nodiscard]] std::uint64_t pos() const noexcept { return pos_; }
  [[nodiscard]] double io_seconds() {
    std::lock_guard lk(mu_);
    return io_s_;
  }

  // Exactly dst.size() bytes, or Corrupt (truncated) / the storage's error.
  Status read_exact(std::span<std::byte> dst, const char* what) {
    if (dst.size() > size_ - pos_) return corrupt(std::string("truncated ") + what);
    if (!th_.joinable()) {
      std::size_t done = 0;
      const auto t0 = SteadyClock::now();
      while (done < dst.size()) {
        auto n = r_.read(dst.subspan(done));
        if (!n) return n.error();
        if (*n == 0) return corrupt(std::string("truncated ") + what + " (the object is shorter than it claimed)");
        done += *n;
      }
      io_s_ += seconds_since(t0);
      pos_ += done;
      return {};
    }
    std::size_t done = 0;
    std::unique_lock lk(mu_);
    while (done < dst.size()) {
      Buf& b = bufs_[cons_];
      cv_.wait(lk, [&] { return b.full; });
      if (err_) return *err_;
      const std::size_t k = std::min(dst.size() - done, b.n - at_);
      std::memcpy(dst.data() + done, b.data.get() + at_, k);
      done += k;
      at_ += k;
      if (at_ == b.n) {
        if (b.eof) {
          if (done < dst.size()) return corrupt(std::string("truncated ") + what + " (the object is shorter than it claimed)");
          break;
        }
        b.full = false;
        cons_ = (cons_ + 1) % bufs_.size();
        at_ = 0;
        cv_.notify_all();
      }
    }
    pos_ += done;
    return {};
  }

private:
  struct FreeDeleter {
    void operator()(std::byte* p) const noexcept { std::free(p); }
  };
  struct Buf {
    std::unique_ptr<std::byte, FreeDeleter> data;
    std::size_t capacity = 0;
    std::size_t n = 0;
    bool full = false;
    bool eof = false;
  };
  void produce() {
    std::size_t i = 0;
    double io = 0;
    for (;;) {
      Buf& b = bufs_[i];
      {
        std::unique_lock lk(mu_);
        cv_.wait(lk, [&] { return stop_ || !b.full; });
        if (stop_) break;
      }
      const auto t0 = SteadyClock::now();
      std::size_t done = 0;
      std::optional<Error> e;
      while (done < b.capacity) {
        auto n = r_.read(std::span<std::byte>(b.data.get(), b.capacity).subspan(done));
        if (!n) { e = n.error(); break; }
        if (*n == 0) break;
        done += *n;
      }
      io += seconds_since(t0);
      std::lock_guard lk(mu_);
      b.n = done;
      b.eof = e.has_value() || done < b.capacity;
      b.full = true;
      if (e) err_ = *e;
      io_s_ = io;
      cv_.notify_all();
      if (b.eof) break;
      i = (i + 1) % bufs_.size();
    }
  }

  ObjectReader& r_;
  std::uint64_t size_;
  std::uint64_t pos_ = 0;
  std::array<Buf, 3> bufs_;
  std::size_t cons_ = 0;
  std::size_t at_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<Error> err_;
  bool stop_ = false;
  double io_s_ = 0;
  std::thread th_;
};

// Runs verification tasks (hash, decompress) on worker threads, at most `max_pending` queued; with no workers they
// run inline. The destructor drops queued tasks and joins, so no task outlives the memory it writes.
class TaskPool {
public:
  explicit TaskPool(unsigned workers) : max_pending_(std::max(2u, workers * 2)) {
    if (workers <= 1) return;
    // Fewer threads than asked (or none: tasks then run inline) when the system refuses more.
    for (unsigned i = 0; i < workers; ++i) {
      try {
        threads_.emplace_back([this] { run(); });
      } catch (const std::system_error&) {
        break;
      }
    }
  }
  ~TaskPool() {
    {
      std::lock_guard lk(mu_);
      stop_ = true;
      q_.clear();
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  TaskPool(const TaskPool&) = delete;
  TaskPool& operator=(const TaskPool&) = delete;

  Status submit(std::function<Status()> task) {
    if (threads_.empty()) {
      const auto t0 = SteadyClock::now();
      auto st = task();
      busy_ += seconds_since(t0);
      return st;
    }
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] { return err_.has_value() || q_.size() < max_pending_; });
    if (err_) return *err_;
    q_.push_back(std::move(task));
    cv_.notify_all();
    return {};
  }
  // Waits for every submitted task; the first error.
  Status finish() {
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] { return err_.has_value() || (q_.empty() && active_ == 0); });
    if (err_) return *err_;
    return {};
  }
  [[nodiscard]] double busy_seconds() {
    std::lock_guard lk(mu_);
    return busy_;
  }

private:
  void run() {
    std::unique_lock lk(mu_);
    for (;;) {
      cv_.wait(lk, [&] { return stop_ || !q_.empty(); });
      if (stop_) return;
      auto task = std::move(q_.front());
      q_.pop_front();
      ++active_;
      lk.unlock();
      const auto t0 = SteadyClock::now();
      Status st = make_error(ErrorCode::Internal, "out of memory", "decode");
      try {
        st = task();
      } catch (const std::bad_alloc&) {
      }
      const double d = seconds_since(t0);
      lk.lock();
      busy_ += d;
      --active_;
      if (!st && !err_) err_ = st.error();
      cv_.notify_all();
    }
  }
  std::size_t max_pending_;
  std::vector<std::thread> threads_;
  std::deque<std::function<Status()>> q_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<Error> err_;
  unsigned active_ = 0;
  bool stop_ = false;
  double busy_ = 0;
};

struct SegLoc {
  std::uint64_t offset = 0;
  std::uint64_t size = 0;
};

// One actor being rebuilt: its identity (from the Actor chunk) and its state, filled segment by segment.
struct ActorBuild {
  ActorSnapshot a;  // state in a.prepared (streamed straight into the object) or in a.state_bytes
  std::uint64_t state_size = 0;
  std::uint32_t segments = 0;
  std::vector<SegLoc> layout;  // where each segment received so far lies in the state
  std::uint64_t filled = 0;
  [[nodiscard]] std::byte* base() {
    return a.prepared ? static_cast<std::byte*>(a.prepared->get()) : a.state_bytes.data();
  }
};

// A decoded file: its directory, the content of its small chunks and its actors' states.
struct Decoded {
  CheckpointInfo info;
  std::map<std::uint64_t, std::size_t> dir;                  // chunk_id -> index in info.chunks
  std::map<std::uint64_t, std::vector<std::byte>> content;  // every chunk but ActorState
  std::map<ActorId, ActorBuild> actors;
};

Status zstd_into(std::span<const std::byte> src, std::span<std::byte> dst, std::size_t index) {
  const unsigned long long frame = ZSTD_getFrameContentSize(src.data(), src.size());
  if (frame != dst.size()) return corrupt("chunk " + std::to_string(index) + " compressed size header mismatch");
  const std::size_t got = ZSTD_decompress(dst.data(), dst.size(), src.data(), src.size());
  if (ZSTD_isError(got) != 0 || got != dst.size()) return corrupt("chunk " + std::to_string(index) + " does not decompress");
  return {};
}

struct DecodeRun {
  const ReaderLoader& loader;
  const DecodeOptions& opts;
  double copy_s = 0;
  double hash_s = 0;
  double io_s = 0;
  std::uint64_t state_bytes = 0;
  std::uint64_t file_bytes = 0;
};


Result<Decoded> decode_stream(ObjectReader& reader, DecodeRun& run, unsigned depth, bool top) {
  Input in(reader, run.opts.prefetch, run.opts.read_block);
  const std::uint64_t size = in.size();
  if (size < kFileHeaderSize + kTrailerSize) {
    return corrupt("truncated: " + std::to_string(size) + " bytes is smaller than a header and a trailer");
  }
  Decoded d;
  std::byte h[kFileHeaderSize];
  if (auto st = in.read_exact(h, "file header"); !st) return st.error();
  auto hdr = parse_header(h);
  if (!hdr) return hdr.error();
  d.info = std::move(hdr).value();
  CheckpointInfo& info = d.info;
  const std::uint32_t count = rd32(h + 20);
  std::uint64_t digest = xxh64(h, 56);

  // A delta's parent chain first: inherited chunks are copied from it, after its digest matched.
  std::optional<Decoded> parent;
  if (info.delta) {
    if (!run.loader) return corrupt("delta checkpoint " + std::to_string(info.sequence) + " needs its parent");
    if (depth >= kMaxDeltaDepth) return corrupt("delta chain deeper than " + std::to_string(kMaxDeltaDepth));
    auto pr = run.loader(info.parent_sequence);
    if (!pr) return pr.error().with_context("loading parent " + std::to_string(info.parent_sequence));
    if (*pr == nullptr) return make_error(ErrorCode::ActorNotFound, "no parent", std::to_string(info.parent_sequence));
    auto p = decode_stream(**pr, run, depth + 1, false);
    if (!p) return p.error().with_context("parent " + std::to_string(info.parent_sequence));
    if (p->info.digest != info.parent_digest || p->info.sequence != info.parent_sequence) {
      return corrupt("wrong parent: checkpoint " + std::to_string(info.sequence) + " was written against parent " +
                     std::to_string(info.parent_sequence) + " with a different digest");
    }
    parent = std::move(p).value();
  }

  // Declared after `d`: destroyed (queued tasks dropped, workers joined) before the states they write.
  TaskPool pool(worker_count(run.opts.threads));
  const std::uint64_t end = size - kTrailerSize;
  info.chunks.reserve(std::min<std::uint64_t>(count, end / kChunkHeaderSize));
  std::vector<std::byte> scratch;
  for (std::uint32_t i = 0; i < count; ++i) {
    if (end - in.pos() < kChunkHeaderSize) return corrupt("truncated chunk header " + std::to_string(i));
    std::byte c[kChunkHeaderSize];
    if (auto st = in.read_exact(c, "chunk header"); !st) return st.error();
    digest = xxh64(c, kChunkHeaderSize, digest);
    std::uint64_t stored_hash = 0;
    auto parsed = parse_chunk_header(c, i, info.delta, stored_hash);
    if (!parsed) return parsed.error();
    ChunkInfo ci = *parsed;
    if (ci.stored_size > end - in.pos()) return corrupt("truncated chunk " + std::to_string(i) + " payload");
    // zstd expands at most ~32768:1 (RLE blocks): a larger claim is corrupt, and is refused before allocating.
    if (!ci.inherited && ci.compression == Compression::Zstd && ci.raw_size > ci.stored_size * 65536 + 65536) {
      return corrupt("chunk " + std::to_string(i) + " claims an impossible uncompressed size");
    }
    const std::uint64_t id = chunk_id(ci.type, ci.key);
    if (d.dir.contains(id)) return corrupt("duplicate chunk " + std::to_string(i));
    const ChunkInfo* from_parent = nullptr;
    if (ci.inherited) {
      auto pit = parent->dir.find(id);
      if (pit == parent->dir.end()) return corrupt("inherited chunk " + std::to_string(i) + " is not in the parent");
      from_parent = &parent->info.chunks[pit->second];
      if (from_parent->raw_size != ci.raw_size || from_parent->content_hash != ci.content_hash) {
        return corrupt("inherited chunk " + std::to_string(i) + " differs from the parent's");
      }
    }

    if (ci.type == ChunkType::ActorState) {
      const auto aid = static_cast<ActorId>(ci.key >> 32);
      const auto seg = static_cast<std::uint32_t>(ci.key & 0xffffffffu);
      auto it = d.actors.find(aid);
      if (it == d.actors.end()) {
        return corrupt("state segment of actor " + std::to_string(aid) + " comes before its actor chunk");
      }
      ActorBuild& b = it->second;
      if (seg != b.layout.size()) return corrupt("state segments of actor '" + b.a.name + "' out of order");
      if (seg >= b.segments) return corrupt("actor '" + b.a.name + "' has more state segments than recorded");
      if (ci.raw_size > b.state_size - b.filled) return corrupt("actor '" + b.a.name + "' state size mismatch");
      const std::size_t n = static_cast<std::size_t>(ci.raw_size);
      if (!b.a.prepared) b.a.state_bytes.resize(static_cast<std::size_t>(b.filled) + n);
      std::byte* dst = b.base() + b.filled;
      // Only states built here (prepared) are verified asynchronously: state_bytes may still move when it grows.
      const bool async = static_cast<bool>(b.a.prepared);
      auto verify = [&](std::function<Status()> task) -> Status {
        if (async) return pool.submit(std::move(task));
        const auto t0 = SteadyClock::now();
        auto st = task();
        run.hash_s += seconds_since(t0);
        return st;
      };
      if (ci.inherited) {
        ActorBuild& pb = parent->actors.at(aid);  // the parent holds chunk `id`, so it built this actor
        const SegLoc& loc = pb.layout.at(seg);
        const auto t0 = SteadyClock::now();
        if (n != 0) std::memcpy(dst, pb.base() + loc.offset, n);
        run.copy_s += seconds_since(t0);
      } else if (ci.compression == Compression::None) {
        const auto t0 = SteadyClock::now();
        if (auto st = in.read_exact({dst, n}, "state segment"); !st) return st.error();
        run.copy_s += seconds_since(t0);
        if (auto st = verify([dst, n, stored_hash, i] {
              if (xxh64(dst, n) != stored_hash) return Status(corrupt("chunk " + std::to_string(i) + " checksum mismatch (data corrupted)"));
              return Status{};
            });
            !st) {
          return st.error();
        }
      } else {
        auto stored = std::make_shared<std::vector<std::byte>>(static_cast<std::size_t>(ci.stored_size));
        if (auto st = in.read_exact(*stored, "state segment"); !st) return st.error();
        const std::uint64_t content_hash = ci.content_hash;
        if (auto st = verify([stored, dst, n, stored_hash, content_hash, i]() -> Status {
              if (xxh64(stored->data(), stored->size()) != stored_hash) {
                return corrupt("chunk " + std::to_string(i) + " checksum mismatch (data corrupted)");
              }
              if (auto z = zstd_into(*stored, {dst, n}, i); !z) return z;
              if (xxh64(dst, n) != content_hash) return corrupt("chunk " + std::to_string(i) + " content hash mismatch");
              return {};
            });
            !st) {
          return st.error();
        }
      }
      b.layout.push_back({b.filled, ci.raw_size});
      b.filled += ci.raw_size;
      run.state_bytes += ci.raw_size;
    } else {
      std::vector<std::byte> content;
      if (ci.inherited) {
        content = parent->content.at(id);
      } else {
        std::vector<std::byte> stored(static_cast<std::size_t>(ci.stored_size));
        if (auto st = in.read_exact(stored, "chunk payload"); !st) return st.error();
        if (xxh64(stored.data(), stored.size()) != stored_hash) {
          return corrupt("chunk " + std::to_string(i) + " checksum mismatch (data corrupted)");
        }
        if (ci.compression == Compression::Zstd) {
          content.resize(static_cast<std::size_t>(ci.raw_size));
          if (auto st = zstd_into(stored, content, i); !st) return st.error();
          if (xxh64(content.data(), content.size()) != ci.content_hash) {
            return corrupt("chunk " + std::to_string(i) + " content hash mismatch");
          }
        } else {
          content = std::move(stored);
        }
      }
      if (ci.type == ChunkType::Actor) {
        ActorBuild b;
        Reader ar{content.data(), content.size()};
        if (!get_actor(ar, b.a, b.state_size, b.segments)) return corrupt("malformed actor chunk");
        if (chunk_id(ChunkType::Actor, b.a.id) != id) return corrupt("actor chunk key does not match its actor id");
        if (b.state_size > (std::uint64_t{1} << 40)) return corrupt("actor '" + b.a.name + "' claims an absurd state size");
        const ActorCodec* codec = run.opts.catalog != nullptr ? run.opts.catalog->find(b.a.type_key) : nullptr;
        if (codec != nullptr && codec->raw_size != 0 && codec->raw_size == b.state_size) {
          // Segments go straight into a fresh object of the actor's type, which restore then takes over.
          ActorType t = codec->make_type(b.a.name);
          void* obj = nullptr;
          try {
            obj = t.create();
          } catch (...) {
            return make_error(ErrorCode::HandlerFailed, "actor constructor threw", "decode '" + b.a.name + "'");
          }
          b.a.prepared = std::make_shared<PreparedState>(b.a.type_key, obj, t.destroy, codec->raw_size);
        }
        d.actors.emplace(b.a.id, std::move(b));
      }
      d.content.emplace(id, std::move(content));
    }
    d.dir.emplace(id, info.chunks.size());
    info.raw_bytes += ci.raw_size;
    info.stored_bytes += ci.stored_size;
    info.chunks.push_back(ci);
  }
  if (in.pos() != end) return corrupt("trailing bytes after the last chunk");
  std::byte t[kTrailerSize];
  if (auto st = in.read_exact(t, "trailer"); !st) return st.error();
  if (std::memcmp(t, kTrailerMagic, 8) != 0 || rd64(t + 24) != xxh64(t, 24)) {
    return corrupt("truncated or damaged: no valid trailer at the end");
  }
  info.total_bytes = rd64(t + 8);
  if (info.total_bytes != size) {
    return corrupt("size mismatch: trailer says " + std::to_string(info.total_bytes) + " bytes, got " +
                   std::to_string(size));
  }
  info.digest = rd64(t + 16);
  if (digest != info.digest) return corrupt("digest mismatch (header or chunk directory corrupted)");
  if (auto st = pool.finish(); !st) return st.error();
  run.hash_s += pool.busy_seconds();
  if (top) {
    run.io_s += in.io_seconds();
    run.file_bytes += size;
  }
  return d;
}

// The snapshot of a verified file: every payload parses exactly and the chunk set is complete.
Result<SystemSnapshot> assemble(Decoded& d) {
  auto find = [&](ChunkType t, std::uint64_t key) -> const std::vector<std::byte>* {
    auto it = d.content.find(chunk_id(t, key));
    return it == d.content.end() ? nullptr : &it->second;
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
  for (auto& [id, b] : d.actors) {
    ActorSnapshot& a = b.a;
    if (b.layout.size() != b.segments) {
      return corrupt("actor '" + a.name + "' is missing state segment " + std::to_string(b.layout.size()));
    }
    if (b.filled != b.state_size) return corrupt("actor '" + a.name + "' state size mismatch");
    const auto* in = find(ChunkType::Inbox, id);
    const auto* out = find(ChunkType::Outbox, id);
    if (in == nullptr || out == nullptr) return corrupt("actor '" + a.name + "' is missing a queue chunk");
    Reader ir{in->data(), in->size()};
    Reader orr{out->data(), out->size()};
    if (!get_messages(ir, a.inbox) || !ir.done() || !get_messages(orr, a.outbox) || !orr.done()) {
      return corrupt("actor '" + a.name + "' has a malformed queue chunk");
    }
    used += 3 + b.segments;
    snap.actors.push_back(std::move(a));
  }
  if (snap.actors.size() != actors) return corrupt("actor count does not match the runtime chunk");
  if (used != d.dir.size()) return corrupt("checkpoint holds chunks that belong to no actor");
  return snap;
}

// An ObjectReader over bytes in memory (decode(), and parents from a ParentLoader).
class MemoryReader final : public ObjectReader {
public:
  explicit MemoryReader(std::span<const std::byte> bytes, std::vector<std::byte> owned = {})
      : owned_(std::move(owned)), bytes_(owned_.empty() ? bytes : std::span<const std::byte>(owned_)) {}
  std::uint64_t size() const noexcept override { return bytes_.size(); }
  Result<std::size_t> read(std::span<std::byte> dst) override {
    const std::size_t k = std::min(dst.size(), bytes_.size() - at_);
    if (k != 0) std::memcpy(dst.data(), bytes_.data() + at_, k);
    at_ += k;
    return k;
  }

private:
  std::vector<std::byte> owned_;
  std::span<const std::byte> bytes_;
  std::size_t at_ = 0;
};

} // namespace

Result<SystemSnapshot> decode_from(ObjectReader& in, const ReaderLoader& parent, const DecodeOptions& opts,
                                   StreamStats* stats, CheckpointInfo* info) {
  const auto t0 = SteadyClock::now();
  DecodeRun run{parent, opts};
  Result<Decoded> d = make_error(ErrorCode::Internal, "out of memory", "decode");
  try {
    d = decode_stream(in, run, 0, true);
  } catch (const std::bad_alloc&) {
  } catch (const std::system_error& e) {  // e.g. the read-ahead thread could not start
    d = make_error(ErrorCode::Internal, std::string("cannot decode: ") + e.what(), "decode");
  }
  if (!d) return d.error();
  auto snap = assemble(*d);
  if (!snap) return snap.error();
  if (info != nullptr) *info = d->info;
  if (stats != nullptr) {
    stats->copy_s = run.copy_s;
    stats->hash_s = run.hash_s;
    stats->io_s = run.io_s;
    stats->wall_s = seconds_since(t0);
    stats->state_bytes = run.state_bytes;
    stats->file_bytes = run.file_bytes;
  }
  return snap;
}

Result<SystemSnapshot> decode(std::span<const std::byte> bytes, const ParentLoader& parent) {
  MemoryReader in(bytes);
  ReaderLoader loader;
  if (parent) {
    loader = [&parent](std::uint64_t seq) -> Result<std::unique_ptr<ObjectReader>> {
      auto b = parent(seq);
      if (!b) return b.error();
      return std::unique_ptr<ObjectReader>(new MemoryReader({}, std::move(b).value()));
    };
  }
  DecodeOptions opts;
  opts.threads = 1;
  opts.prefetch = false;
  return decode_from(in, loader, opts);
}

Result<CheckpointInfo> read_header(ObjectReader& in) {
  if (in.size() < kFileHeaderSize + kTrailerSize) {
    return corrupt("truncated: " + std::to_string(in.size()) + " bytes is smaller than a header and a trailer");
  }
  std::byte h[kFileHeaderSize];
  std::size_t done = 0;
  while (done < sizeof h) {
    auto n = in.read(std::span<std::byte>(h).subspan(done));
    if (!n) return n.error();
    if (*n == 0) return corrupt("truncated file header");
    done += *n;
  }
  return parse_header(h);
}
} // namespace ringkernel::checkpoint
