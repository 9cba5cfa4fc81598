/// @file checkpoint.hpp
/// @brief Checkpoint and restore of a whole actor system: one-call helpers and the CheckpointManager
/// (periodic checkpoints, deltas, retention, listing, restore-latest) over any Storage.
///
/// @code
/// ringkernel::ActorCatalog catalog;
/// catalog.add<Counter>();
/// ringkernel::checkpoint::FileStorage disk("/var/lib/app/checkpoints");
/// ringkernel::checkpoint::CheckpointManager mgr(disk, {.keep = 3});
/// auto info = mgr.checkpoint_now(*rt, catalog);
/// // ... after a restart, in a fresh runtime:
/// auto seq = mgr.restore_latest(*fresh, catalog);
/// @endcode
///
/// Only the CPU path is implemented and tested. Streamed states are read through `Executor::read_state` into
/// `Executor::host_staging` buffers (a device executor copies from device memory); other states are serialized
/// after `Executor::sync_state_to_host`.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "ringkernel/checkpoint/format.hpp"
#include "ringkernel/checkpoint/snapshot.hpp"
#include "ringkernel/checkpoint/storage.hpp"
#include "ringkernel/runtime.hpp"

namespace ringkernel::checkpoint {

/// Snapshots `rt` (consistent cut) and encodes it.
[[nodiscard]] Result<std::vector<std::byte>> checkpoint(Runtime& rt, const ActorCatalog& catalog,
                                                        const EncodeOptions& opts = {});
/// Decodes `bytes` (validating all of it) and restores it into `rt`, which must have no actors yet.
[[nodiscard]] Status restore(Runtime& rt, const ActorCatalog& catalog, std::span<const std::byte> bytes,
                             const ParentLoader& parent = {});

/// Streaming checkpoint of `rt` into `storage` under `name`: the actors are paused, trivially copyable states of at
/// least `opts.stream_min_bytes` stream segment by segment (Executor::read_state into staging buffers, hashed and
/// compressed on worker threads, written as they are ready) into Storage::open_writer, and the actors resume once
/// every state was read. The object is committed only when complete; on any error the writer is aborted, so no
/// object is left and a previous object of that name is intact. Returns the checkpoint's directory.
[[nodiscard]] Result<CheckpointInfo> checkpoint_to(Runtime& rt, const ActorCatalog& catalog, Storage& storage,
                                                   const std::string& name, const EncodeOptions& opts = {},
                                                   StreamStats* stats = nullptr,
                                                   std::chrono::milliseconds quiesce_timeout = std::chrono::milliseconds(5000));

/// Object name of a parent checkpoint (a delta's parent_sequence -> its name in the same storage).
using ParentNamer = std::function<std::string(std::uint64_t parent_sequence)>;

/// Streaming restore of `name` from `storage` into `rt` (no actors yet): the object (and a delta's parents, named by
/// `parent`) is read once, every chunk verified as it arrives and trivially copyable states written straight into
/// freshly built actor objects; the actors are launched only after the whole file (trailer, digest, parents)
/// verified. On any error nothing is launched and the built states are destroyed.
[[nodiscard]] Status restore_from(Runtime& rt, const ActorCatalog& catalog, Storage& storage, const std::string& name,
                                  const ParentNamer& parent = {}, StreamStats* stats = nullptr,
                                  unsigned threads = 0);

/// How a CheckpointManager works.
struct ManagerOptions {
  std::string prefix = "checkpoint-";  ///< Object names: prefix + 20-digit sequence + ".rkc".
  std::size_t keep = 3;                ///< Newest checkpoints kept (plus the parents their deltas need); >= 1.
  unsigned full_every = 1;             ///< 1: every checkpoint is full; N: one full, then N-1 deltas.
  EncodeOptions encode{};              ///< Compression, segment size, threads (sequence/parent are set here).
  std::chrono::milliseconds interval{1000};          ///< Period of start_periodic().
  std::chrono::milliseconds quiesce_timeout{5000};   ///< Longest wait for actors to pause.
};

/// One stored checkpoint.
struct CheckpointEntry {
  std::uint64_t sequence = 0;  ///< Sequence number (from the name).
  std::string name;            ///< Object name.
  std::uint64_t size = 0;      ///< Bytes.
};

/// Writes, lists, prunes and restores checkpoints in one Storage. Thread-safe.
class CheckpointManager {
public:
  /// A manager over `storage` (which must outlive it).
  explicit CheckpointManager(Storage& storage, ManagerOptions opts = {});
  /// Stops periodic checkpoints.
  ~CheckpointManager();
  CheckpointManager(const CheckpointManager&) = delete;
  CheckpointManager& operator=(const CheckpointManager&) = delete;
  CheckpointManager(CheckpointManager&&) = delete;
  CheckpointManager& operator=(CheckpointManager&&) = delete;

  /// Takes a checkpoint now (full or delta per `full_every`), streams it into storage (checkpoint_to) and applies
  /// retention. A failed checkpoint leaves no object behind.
  [[nodiscard]] Result<CheckpointInfo> checkpoint_now(Runtime& rt, const ActorCatalog& catalog);
  /// Stored checkpoints, oldest first.
  [[nodiscard]] Result<std::vector<CheckpointEntry>> list();
  /// Loads and fully validates one checkpoint (following its delta parents).
  [[nodiscard]] Result<SystemSnapshot> load(std::uint64_t sequence);
  /// The newest checkpoint that validates; damaged newer ones are skipped (their errors are in `skipped`).
  [[nodiscard]] Result<std::pair<std::uint64_t, SystemSnapshot>> load_latest(std::vector<Error>* skipped = nullptr);
  /// Restores the newest valid checkpoint into `rt` (no actors yet) with the streaming decoder (restore_from);
  /// damaged newer ones are skipped (in `skipped`). Returns its sequence.
  [[nodiscard]] Result<std::uint64_t> restore_latest(Runtime& rt, const ActorCatalog& catalog,
                                                     std::vector<Error>* skipped = nullptr);
  /// Starts a thread that calls checkpoint_now every `interval` (InvalidArgument if already running).
  [[nodiscard]] Status start_periodic(Runtime& rt, const ActorCatalog& catalog);
  /// Stops the periodic thread (waits for a checkpoint in progress).
  void stop_periodic();
  /// Periodic checkpoints written so far.
  [[nodiscard]] std::uint64_t periodic_written() const;
  /// Periodic checkpoints that failed so far.
  [[nodiscard]] std::uint64_t periodic_failed() const;
  /// Object name of a sequence number.
  [[nodiscard]] std::string name_of(std::uint64_t sequence) const;

private:
  Result<std::vector<CheckpointEntry>> list_locked();
  Status prune_locked(const std::vector<CheckpointEntry>& entries);
  Result<std::unique_ptr<ObjectReader>> open_locked(std::uint64_t sequence);

  Storage& storage_;
  ManagerOptions opts_;
  mutable std::mutex mu_;
  std::map<std::uint64_t, std::uint64_t> parents_;  // sequence -> parent sequence (0 = full)
  std::uint64_t last_sequence_ = 0;
  CheckpointInfo last_info_{};
  bool have_last_ = false;
  unsigned since_full_ = 0;

  std::thread periodic_;
  mutable std::mutex periodic_mu_;
  std::condition_variable periodic_cv_;
  bool periodic_stop_ = false;
  std::uint64_t periodic_ok_ = 0;
  std::uint64_t periodic_err_ = 0;
};

} // namespace ringkernel::checkpoint
