// CPU backend: persistent worker threads, each owning a set of actors. Cells with work sit in their worker's
// run queue at most once (the cell's `scheduled` flag); a worker drains each for at most `drain_budget`
// messages before moving on, so one busy actor cannot starve the others. Idle workers busy-poll for
// `idle_spin` (the request/reply latency path) and then sleep on a condition variable.
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/runtime_state.hpp"

namespace ringkernel::detail {
namespace {

class CpuExecutor final : public Executor {
public:
  CpuExecutor(RuntimeState& rt, unsigned workers, std::chrono::microseconds spin, unsigned budget)
      : rt_(rt), spin_(spin), budget_(budget) {
    workers_.reserve(workers);
    for (unsigned i = 0; i < workers; ++i) workers_.push_back(std::make_unique<Worker>());
    for (unsigned i = 0; i < workers; ++i) {
      workers_[i]->thread = std::thread([this, i] { run(*workers_[i]); });
    }
  }

  ~CpuExecutor() override { stop(std::chrono::steady_clock::now() + std::chrono::seconds(5)); }

  [[nodiscard]] unsigned workers() const noexcept override { return static_cast<unsigned>(workers_.size()); }

  // Mailboxes from the runtime's slot pool: a terminated actor's go to the next actors (release()).
  [[nodiscard]] RingAllocator inbox_allocator() override { return pooled_heap_rings(); }

  // finish() has waited out the senders and emptied the mailbox, under the consumer lock that every drain
  // takes; drains pop only from active actors. So nothing reads the slots again.
  void release(ActorCell& cell) override { (void)cell.inbox.release_slots(); }

  void attach(ActorCell& cell) override {
    const int want = cell.opts.worker;
    cell.worker = want >= 0 ? static_cast<unsigned>(want) % workers()
                            : next_.fetch_add(1, std::memory_order_relaxed) % workers();
  }

  void schedule(ActorCell& cell) override {
    // Pairs with the fence in run(): either we see scheduled == false, or the worker sees our message.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (cell.scheduled.exchange(true, std::memory_order_acq_rel)) return;
    Worker& w = *workers_[cell.worker];
    bool wake = false;
    {
      std::lock_guard lk(w.mu);
      w.runq.push_back(&cell);
      w.queued.store(true, std::memory_order_release);
      wake = w.sleeping;
    }
    if (wake) w.cv.notify_one();
  }

  bool stop(std::chrono::steady_clock::time_point deadline) override {
    if (stopping_.exchange(true)) return clean_;
    for (auto& w : workers_) {
      {
        std::lock_guard lk(w->mu);
        w->stop = true;
      }
      w->cv.notify_all();
    }
    bool all = true;
    for (auto& w : workers_) {
      std::unique_lock lk(w->mu);
      if (!w->done_cv.wait_until(lk, deadline, [&] { return w->done; })) all = false;
    }
    for (auto& w : workers_) {
      if (!w->thread.joinable()) continue;
      bool done = false;
      {
        std::lock_guard lk(w->mu);
        done = w->done;
      }
      if (done) w->thread.join();
      else w->thread.detach();  // stuck in a handler: abandoned; the runtime keeps its state alive
    }
    clean_ = all;
    return all;
  }

private:
  struct Worker {
    std::thread thread;
    std::mutex mu;
    std::condition_variable cv;
    std::condition_variable done_cv;
    std::deque<ActorCell*> runq;
    std::atomic<bool> queued{false};
    bool sleeping = false;
    bool stop = false;
    bool done = false;
  };

  ActorCell* next_cell(Worker& w) {
    const auto spin_until = std::chrono::steady_clock::now() + spin_;
    for (;;) {
      if (w.queued.load(std::memory_order_acquire) || std::chrono::steady_clock::now() >= spin_until) {
        std::unique_lock lk(w.mu);
        if (!w.runq.empty()) {
          ActorCell* c = w.runq.front();
          w.runq.pop_front();
          w.queued.store(!w.runq.empty(), std::memory_order_release);
          return c;
        }
        if (w.stop) return nullptr;
        if (std::chrono::steady_clock::now() >= spin_until) {
          w.sleeping = true;
          w.cv.wait(lk, [&] { return !w.runq.empty() || w.stop; });
          w.sleeping = false;
          continue;
        }
      }
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    }
  }

  void run(Worker& w) {
    while (ActorCell* c = next_cell(w)) {
      rt_.drain(*c, budget_);
      c->scheduled.store(false, std::memory_order_seq_cst);
      std::atomic_thread_fence(std::memory_order_seq_cst);
      if (rt_.has_work(*c)) schedule(*c);
    }
    std::lock_guard lk(w.mu);
    w.done = true;
    w.done_cv.notify_all();
  }

  RuntimeState& rt_;
  std::chrono::microseconds spin_;
  unsigned budget_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<unsigned> next_{0};
  std::atomic<bool> stopping_{false};
  bool clean_ = true;
};

} // namespace

Result<std::unique_ptr<Executor>> make_cpu_executor(RuntimeState& rt) {
  return std::unique_ptr<Executor>(std::make_unique<CpuExecutor>(rt, rt.cfg.workers, rt.cfg.idle_spin, rt.cfg.drain_budget));
}

} // namespace ringkernel::detail
