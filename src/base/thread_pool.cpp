#include "base/thread_pool.h"

#include <immintrin.h>

namespace tk {

namespace {
inline void cpu_relax() { _mm_pause(); }
// Spin budget of an idle worker before it sleeps, and of the caller waiting for stragglers.
// Short: long enough to catch the next job of a forward pass (microseconds apart), short enough
// that an idle pool costs nothing and a busy core is not fought over.
constexpr int kSpinIterations = 20000;
}  // namespace

ThreadPool::ThreadPool(int n_threads) {
    if (n_threads <= 0) n_threads = static_cast<int>(std::thread::hardware_concurrency());
    if (n_threads <= 0) n_threads = 1;
    n_threads_ = n_threads;
    for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_main(i); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lock(mu_);
        stop_ = true;
        generation_.fetch_add(1, std::memory_order_release);
    }
    cv_start_.notify_all();
    for (auto& t : workers_) t.join();
}

void ThreadPool::work(int thread) {
    for (;;) {
        const int64_t t = next_task_.fetch_add(1, std::memory_order_relaxed);
        if (t >= n_tasks_) break;
        fn_(ctx_, t, thread);
    }
}

void ThreadPool::run(int64_t n_tasks, TaskFn fn, void* ctx) {
    {
        std::lock_guard<std::mutex> lock(mu_);
        n_tasks_ = n_tasks;
        fn_ = fn;
        ctx_ = ctx;
        next_task_.store(0, std::memory_order_relaxed);
        open_ = true;
        generation_.fetch_add(1, std::memory_order_release);
    }
    cv_start_.notify_all();
    work(0);
    // Every task is claimed now. Close the job so late workers skip it, then wait only for the
    // workers that joined: each is running (or about to finish) a task it claimed.
    {
        std::lock_guard<std::mutex> lock(mu_);
        open_ = false;
    }
    for (int i = 0; i < kSpinIterations; ++i) {
        if (participants_.load(std::memory_order_acquire) == 0) return;
        cpu_relax();
    }
    std::unique_lock<std::mutex> lock(mu_);
    cv_done_.wait(lock, [this] { return participants_.load(std::memory_order_acquire) == 0; });
}

void ThreadPool::worker_main(int thread) {
    uint64_t seen = 0;
    for (;;) {
        bool got = false;
        for (int i = 0; i < kSpinIterations; ++i) {
            if (generation_.load(std::memory_order_acquire) != seen) {
                got = true;
                break;
            }
            cpu_relax();
        }
        std::unique_lock<std::mutex> lock(mu_);
        if (!got) cv_start_.wait(lock, [&] { return generation_.load() != seen; });
        seen = generation_.load(std::memory_order_relaxed);
        if (stop_) return;
        if (!open_) {
            // Woke after the caller had claimed every task and closed the job.
            skipped_joins_.fetch_add(1, std::memory_order_relaxed);
            continue;
        }
        participants_.fetch_add(1, std::memory_order_relaxed);
        lock.unlock();
        work(thread);
        if (participants_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            // The caller may be asleep waiting; taking the lock orders this notify after its
            // predicate check (no lost wake-up).
            std::lock_guard<std::mutex> done_lock(mu_);
            cv_done_.notify_one();
        }
    }
}

}  // namespace tk
