/// @file format.hpp
/// @brief The versioned binary checkpoint format: encode a SystemSnapshot into bytes and decode it back.
///
/// Layout (all integers little-endian; full specification in docs/checkpoint-format.md):
///
///   [file header, 64 B] [chunk header 48 B + stored bytes]... [trailer, 32 B]
///
/// Every chunk carries the xxHash64 of its stored bytes and of its uncompressed content; the trailer carries
/// the checkpoint's digest (xxHash64 over the file header and every chunk header). A delta checkpoint names
/// its parent by sequence number and digest and stores only the chunks whose content changed; the others are
/// "inherited" and taken from the parent on decode, after the parent's digest and each chunk's content hash
/// have been checked. Decoding validates the whole input before returning anything, so a bad checkpoint is
/// never partially applied.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "ringkernel/checkpoint/snapshot.hpp"
#include "ringkernel/checkpoint/storage.hpp"
#include "ringkernel/error.hpp"

namespace ringkernel::checkpoint {

/// Format version this build writes and reads.
inline constexpr std::uint32_t kFormatVersion = 1;
/// Size of the file header.
inline constexpr std::size_t kFileHeaderSize = 64;
/// Size of one chunk header.
inline constexpr std::size_t kChunkHeaderSize = 48;
/// Size of the trailer.
inline constexpr std::size_t kTrailerSize = 32;
/// Deepest chain of delta checkpoints decode follows.
inline constexpr unsigned kMaxDeltaDepth = 64;

/// What a chunk holds.
enum class ChunkType : std::uint16_t {
  Runtime = 1,     ///< Runtime-wide values (node id, HLC, id counters, actor count). Key 0.
  Metadata = 2,    ///< Free-form string pairs. Key 0.
  Actor = 3,       ///< One actor's identity, options and control block. Key = actor id.
  ActorState = 4,  ///< One segment of an actor's serialized state. Key = actor id << 32 | segment.
  Inbox = 5,       ///< Messages queued for an actor. Key = actor id.
  Outbox = 6,      ///< Messages waiting in an actor's host receive queue. Key = actor id.
};

/// Per-chunk compression.
enum class Compression : std::uint8_t {
  None = 0,  ///< Stored as is.
  Zstd = 1,  ///< Zstandard frame (only used when it makes the chunk smaller).
};

/// xxHash64 of `len` bytes (the format's checksum and content hash).
std::uint64_t xxh64(const void* data, std::size_t len, std::uint64_t seed = 0) noexcept;

/// One entry of a checkpoint's chunk directory.
struct ChunkInfo {
  ChunkType type = ChunkType::Runtime;  ///< What it holds.
  std::uint64_t key = 0;                ///< Which one (see ChunkType).
  Compression compression = Compression::None;  ///< How it is stored.
  bool inherited = false;               ///< Delta: content lives in the parent checkpoint.
  std::uint64_t raw_size = 0;           ///< Uncompressed bytes.
  std::uint64_t stored_size = 0;        ///< Bytes stored in this file (0 when inherited).
  std::uint64_t content_hash = 0;       ///< xxHash64 of the uncompressed content.
};

/// What a checkpoint is, read from its header, directory and trailer (see inspect()).
struct CheckpointInfo {
  std::uint32_t version = kFormatVersion;  ///< Format version.
  std::uint64_t sequence = 0;              ///< Checkpoint number chosen by the writer.
  std::uint64_t created_unix_ms = 0;       ///< When it was written.
  bool delta = false;                      ///< True when it depends on a parent.
  std::uint64_t parent_sequence = 0;       ///< Parent's sequence (delta only).
  std::uint64_t parent_digest = 0;         ///< Parent's digest (delta only).
  std::uint64_t digest = 0;                ///< This checkpoint's digest.
  std::uint64_t total_bytes = 0;           ///< File size.
  std::uint64_t raw_bytes = 0;             ///< Sum of the chunks' uncompressed sizes (inherited ones included).
  std::uint64_t stored_bytes = 0;          ///< Sum of the chunks' stored sizes.
  std::vector<ChunkInfo> chunks;           ///< Directory, in file order.
};

/// How to encode.
struct EncodeOptions {
  Compression compression = Compression::None;  ///< Per-chunk compression.
  int zstd_level = 1;                           ///< Zstandard level: 1..22, or a negative fast level (-1 = fast).
  std::size_t segment_bytes = std::size_t{4} << 20;  ///< Actor states are split into chunks of this size.
  unsigned threads = 0;                         ///< Hashing/compression threads; 0 = hardware concurrency.
  std::size_t stream_min_bytes = std::size_t{256} << 10;  ///< checkpoint_to/the manager stream trivially copyable
                                                          ///< states at least this large (Runtime::snapshot_streamed).
  unsigned staging_buffers = 0;                 ///< Streaming: staging buffers of segment_bytes; 0 = threads + 2 (>= 2).
  std::uint64_t sequence = 0;                   ///< Recorded sequence number.
  const CheckpointInfo* parent = nullptr;       ///< Write a delta against this checkpoint (its inspect()).
};

/// Encodes `snap` (a delta when `opts.parent` is set) into memory (encode_to over a memory writer). Streamed
/// states (ActorSnapshot::streamed_size) need encode_to and their StateReader.
[[nodiscard]] Result<std::vector<std::byte>> encode(const SystemSnapshot& snap, const EncodeOptions& opts = {});

/// Busy time of each stage of a streaming encode or decode (summed over the stage's threads) and bytes moved.
struct StreamStats {
  double copy_s = 0;   ///< encode: StateReader::read into staging buffers; decode: copies into actor states.
  double hash_s = 0;   ///< xxHash64 and zstd (compress or decompress), all worker threads together.
  double io_s = 0;     ///< ObjectWriter::write / ObjectReader::read (including waits on storage).
  double wall_s = 0;   ///< The whole call.
  double pause_s = 0;  ///< checkpoint_to: pausing every actor and capturing the cut; restore_from: restore_snapshot.
  double commit_s = 0; ///< checkpoint_to: ObjectWriter::commit (FileStorage: fsync, rename, fsync directory).
  std::uint64_t state_bytes = 0;  ///< Actor state bytes (raw, all ActorState chunks of this file).
  std::uint64_t file_bytes = 0;   ///< Bytes written or read (this file; parents not included).
};

/// Streaming encoder: writes the checkpoint of `snap` to `out` as it is produced and returns its directory
/// (what inspect() would return). Streamed states are read in segment_bytes segments through `states` by a copy
/// thread into staging buffers (StateReader::staging) while worker threads hash/compress earlier segments and
/// this thread writes them in order. The caller commits `out` (or drops it, which aborts) afterwards.
[[nodiscard]] Result<CheckpointInfo> encode_to(const SystemSnapshot& snap, StateReader* states, ObjectWriter& out,
                                               const EncodeOptions& opts = {}, StreamStats* stats = nullptr);

/// Validates the structure, version and every checksum of an encoded checkpoint and returns its directory.
/// Corrupt names what is wrong (truncation, bad magic, wrong version, checksum, ...).
[[nodiscard]] Result<CheckpointInfo> inspect(std::span<const std::byte> bytes);

/// Fetches a parent checkpoint's bytes by sequence number (for deltas).
using ParentLoader = std::function<Result<std::vector<std::byte>>(std::uint64_t parent_sequence)>;

/// Decodes a checkpoint into a snapshot. A delta needs `parent`: the parent chain is loaded, each parent's digest
/// must match what the child recorded, and every inherited chunk's content hash is checked.
[[nodiscard]] Result<SystemSnapshot> decode(std::span<const std::byte> bytes, const ParentLoader& parent = {});

/// Opens a parent checkpoint for a streaming decode (by sequence number).
using ReaderLoader = std::function<Result<std::unique_ptr<ObjectReader>>(std::uint64_t parent_sequence)>;

/// How to decode from a stream.
struct DecodeOptions {
  /// With a catalog, the states of trivially copyable actors are built here and their segments are written
  /// straight into them (ActorSnapshot::prepared); without one, states land in state_bytes.
  const ActorCatalog* catalog = nullptr;
  unsigned threads = 0;                              ///< Verification/decompression threads; 0 = hardware concurrency.
  std::size_t read_block = std::size_t{8} << 20;     ///< Read-ahead block size.
  bool prefetch = true;                              ///< Read ahead on a thread (double buffering) while verifying.
};

/// Streaming decoder: reads `in` once, front to back, verifying every chunk as it arrives, then the trailer
/// (size, digest). Returns a snapshot only when everything verified (a delta's parent chain included, each decoded
/// the same way through `parent`); on error whatever was prepared is destroyed, so nothing is partially applied.
/// Writers always put an actor's Actor chunk before its ActorState chunks, which come in segment order; the
/// streaming reader requires that order (docs/checkpoint-format.md).
[[nodiscard]] Result<SystemSnapshot> decode_from(ObjectReader& in, const ReaderLoader& parent = {},
                                                 const DecodeOptions& opts = {}, StreamStats* stats = nullptr,
                                                 CheckpointInfo* info = nullptr);

/// Reads and validates only the 64-byte file header at the start of `in` (magic, checksum, version): sequence,
/// creation time, delta flag and parent. The directory and digest are left empty.
[[nodiscard]] Result<CheckpointInfo> read_header(ObjectReader& in);

} // namespace ringkernel::checkpoint
