// Runtime-level checkpoint/restore helpers and the CheckpointManager.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>
#include <set>

#include "ringkernel/checkpoint/checkpoint.hpp"

namespace ringkernel::checkpoint {

Result<std::vector<std::byte>> checkpoint(Runtime& rt, const ActorCatalog& catalog, const EncodeOptions& opts) {
  auto snap = rt.snapshot(catalog);
  if (!snap) return snap.error();
  return encode(*snap, opts);
}

Status restore(Runtime& rt, const ActorCatalog& catalog, std::span<const std::byte> bytes, const ParentLoader& parent) {
  auto snap = decode(bytes, parent);
  if (!snap) return snap.error();
  return rt.restore_snapshot(*snap, catalog);
}

namespace {
using SteadyClock = std::chrono::steady_clock;
double since(SteadyClock::time_point t0) { return std::chrono::duration<double>(SteadyClock::now() - t0).count(); }
} // namespace

Result<CheckpointInfo> checkpoint_to(Runtime& rt, const ActorCatalog& catalog, Storage& storage, const std::string& name,
                                     const EncodeOptions& opts, StreamStats* stats,
                                     std::chrono::milliseconds quiesce_timeout) {
  const auto t0 = SteadyClock::now();
  auto writer = storage.open_writer(name);
  if (!writer) return writer.error().with_context("checkpoint_to");
  std::optional<CheckpointInfo> info;
  StreamStats local;
  double captured_at = 0;
  auto st = rt.snapshot_streamed(
      catalog, opts.stream_min_bytes,
      [&](SystemSnapshot& snap, StateReader& states) -> Status {
        captured_at = since(t0);
        auto r = encode_to(snap, &states, **writer, opts, &local);
        if (!r) return r.error();
        info = std::move(r).value();
        return {};
      },
      quiesce_timeout);
  if (!st) {
    (*writer)->abort();
    return st.error().with_context("checkpoint_to '" + name + "'");
  }
  // The actors already run again: the commit (fsync, rename) is off the pause.
  const auto tc = SteadyClock::now();
  if (auto c = (*writer)->commit(); !c) return c.error().with_context("checkpoint_to '" + name + "'");
  if (stats != nullptr) {
    *stats = local;
    stats->pause_s = captured_at;
    stats->commit_s = since(tc);
    stats->wall_s = since(t0);
  }
  return std::move(*info);
}

Status restore_from(Runtime& rt, const ActorCatalog& catalog, Storage& storage, const std::string& name,
                    const ParentNamer& parent, StreamStats* stats, unsigned threads) {
  const auto t0 = SteadyClock::now();
  auto reader = storage.open_reader(name);
  if (!reader) return reader.error().with_context("restore_from");
  ReaderLoader loader;
  if (parent) loader = [&](std::uint64_t seq) { return storage.open_reader(parent(seq)); };
  DecodeOptions o;
  o.catalog = &catalog;
  o.threads = threads;
  auto snap = decode_from(**reader, loader, o, stats);
  if (!snap) return snap.error().with_context("restore_from '" + name + "'");
  const auto tr = SteadyClock::now();
  if (auto st = rt.restore_snapshot(*snap, catalog); !st) return st.error().with_context("restore_from '" + name + "'");
  if (stats != nullptr) {
    stats->pause_s = since(tr);
    stats->wall_s = since(t0);
  }
  return {};
}

CheckpointManager::CheckpointManager(Storage& storage, ManagerOptions opts) : storage_(storage), opts_(std::move(opts)) {
  if (opts_.keep == 0) opts_.keep = 1;
  if (opts_.full_every == 0) opts_.full_every = 1;
}

CheckpointManager::~CheckpointManager() { stop_periodic(); }

std::string CheckpointManager::name_of(std::uint64_t sequence) const {
  char digits[24];
  std::snprintf(digits, sizeof digits, "%020llu", static_cast<unsigned long long>(sequence));
  return opts_.prefix + digits + ".rkc";
}

Result<std::vector<CheckpointEntry>> CheckpointManager::list_locked() {
  auto objs = storage_.list(opts_.prefix);
  if (!objs) return objs.error();
  std::vector<CheckpointEntry> out;
  for (const ObjectInfo& o : *objs) {
    const std::string& n = o.name;
    if (n.size() != opts_.prefix.size() + 24 || n.compare(n.size() - 4, 4, ".rkc") != 0) continue;
    const std::string digits = n.substr(opts_.prefix.size(), 20);
    if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) continue;
    out.push_back({std::stoull(digits), n, o.size});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.sequence < b.sequence; });
  return out;
}

Result<std::vector<CheckpointEntry>> CheckpointManager::list() {
  std::lock_guard lk(mu_);
  return list_locked();
}

Result<std::unique_ptr<ObjectReader>> CheckpointManager::open_locked(std::uint64_t sequence) {
  return storage_.open_reader(name_of(sequence));
}

Result<CheckpointInfo> CheckpointManager::checkpoint_now(Runtime& rt, const ActorCatalog& catalog) {
  std::lock_guard lk(mu_);
  auto entries = list_locked();
  if (!entries) return entries.error().with_context("checkpoint_now");
  std::uint64_t seq = last_sequence_ + 1;
  if (!entries->empty()) seq = std::max(seq, entries->back().sequence + 1);
  EncodeOptions eo = opts_.encode;
  eo.sequence = seq;
  // A delta only against the parent this manager wrote and that is still stored.
  const bool parent_stored = have_last_ && std::any_of(entries->begin(), entries->end(), [&](const auto& e) {
                               return e.sequence == last_info_.sequence;
                             });
  const bool delta = opts_.full_every > 1 && parent_stored && since_full_ + 1 < opts_.full_every;
  eo.parent = delta ? &last_info_ : nullptr;
  auto info = checkpoint_to(rt, catalog, storage_, name_of(seq), eo, nullptr, opts_.quiesce_timeout);
  if (!info) return info.error().with_context("checkpoint_now");
  parents_[seq] = delta ? last_info_.sequence : 0;
  since_full_ = delta ? since_full_ + 1 : 0;
  last_sequence_ = seq;
  last_info_ = *info;
  have_last_ = true;
  entries->push_back({seq, name_of(seq), info->total_bytes});
  if (auto st = prune_locked(*entries); !st) return st.error().with_context("checkpoint_now: retention");
  return std::move(info).value();
}

Status CheckpointManager::prune_locked(const std::vector<CheckpointEntry>& entries) {
  if (entries.size() <= opts_.keep) return {};
  std::set<std::uint64_t> needed;
  for (std::size_t i = entries.size() - opts_.keep; i < entries.size(); ++i) {
    // Follow the delta chain so no kept checkpoint loses a parent.
    for (std::uint64_t s = entries[i].sequence; s != 0 && needed.insert(s).second;) {
      auto it = parents_.find(s);
      if (it == parents_.end()) {
        auto reader = open_locked(s);
        if (!reader) return reader.error();
        auto info = read_header(**reader);
        // A damaged checkpoint needs no parent; keep the rest conservative.
        it = parents_.emplace(s, info && info->delta ? info->parent_sequence : 0).first;
      }
      s = it->second;
    }
  }
  for (const CheckpointEntry& e : entries) {
    if (needed.contains(e.sequence)) continue;
    if (auto st = storage_.remove(e.name); !st) return st;
    parents_.erase(e.sequence);
  }
  return {};
}

Result<SystemSnapshot> CheckpointManager::load(std::uint64_t sequence) {
  std::lock_guard lk(mu_);
  auto reader = open_locked(sequence);
  if (!reader) return reader.error();
  auto snap = decode_from(**reader, [this](std::uint64_t parent) { return open_locked(parent); });
  if (!snap) return snap.error().with_context("checkpoint " + std::to_string(sequence));
  return snap;
}

Result<std::pair<std::uint64_t, SystemSnapshot>> CheckpointManager::load_latest(std::vector<Error>* skipped) {
  std::vector<CheckpointEntry> entries;
  {
    std::lock_guard lk(mu_);
    auto l = list_locked();
    if (!l) return l.error();
    entries = std::move(l).value();
  }
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) {
    auto snap = load(it->sequence);
    if (snap) return std::make_pair(it->sequence, std::move(snap).value());
    if (skipped != nullptr) skipped->push_back(snap.error());
  }
  return make_error(ErrorCode::ActorNotFound,
                    entries.empty() ? "no checkpoint stored" : "no stored checkpoint is valid", "load_latest");
}

Result<std::uint64_t> CheckpointManager::restore_latest(Runtime& rt, const ActorCatalog& catalog,
                                                        std::vector<Error>* skipped) {
  std::lock_guard lk(mu_);
  auto entries = list_locked();
  if (!entries) return entries.error();
  DecodeOptions o;
  o.catalog = &catalog;
  o.threads = opts_.encode.threads;
  for (auto it = entries->rbegin(); it != entries->rend(); ++it) {
    // Decode (streamed, fully verified) first: a damaged checkpoint is skipped without touching the runtime.
    auto reader = open_locked(it->sequence);
    Result<SystemSnapshot> snap = reader ? decode_from(**reader, [this](std::uint64_t p) { return open_locked(p); }, o)
                                         : Result<SystemSnapshot>(reader.error());
    if (!snap) {
      if (skipped != nullptr) skipped->push_back(snap.error().with_context("checkpoint " + std::to_string(it->sequence)));
      continue;
    }
    if (auto st = rt.restore_snapshot(*snap, catalog); !st) return st.error();
    return it->sequence;
  }
  return make_error(ErrorCode::ActorNotFound,
                    entries->empty() ? "no checkpoint stored" : "no stored checkpoint is valid", "restore_latest");
}

Status CheckpointManager::start_periodic(Runtime& rt, const ActorCatalog& catalog) {
  std::lock_guard lk(periodic_mu_);
  if (periodic_.joinable()) return make_error(ErrorCode::InvalidArgument, "already running", "start_periodic");
  if (opts_.interval.count() <= 0) return make_error(ErrorCode::InvalidArgument, "interval must be > 0", "start_periodic");
  periodic_stop_ = false;
  periodic_ = std::thread([this, &rt, &catalog] {
    std::unique_lock wait(periodic_mu_);
    while (!periodic_cv_.wait_for(wait, opts_.interval, [&] { return periodic_stop_; })) {
      wait.unlock();
      const bool ok = checkpoint_now(rt, catalog).ok();
      wait.lock();
      (ok ? periodic_ok_ : periodic_err_) += 1;
    }
  });
  return {};
}

void CheckpointManager::stop_periodic() {
  std::thread t;
  {
    std::lock_guard lk(periodic_mu_);
    periodic_stop_ = true;
    t = std::move(periodic_);
  }
  periodic_cv_.notify_all();
  if (t.joinable()) t.join();
}

std::uint64_t CheckpointManager::periodic_written() const {
  std::lock_guard lk(periodic_mu_);
  return periodic_ok_;
}

std::uint64_t CheckpointManager::periodic_failed() const {
  std::lock_guard lk(periodic_mu_);
  return periodic_err_;
}

} // namespace ringkernel::checkpoint
