#pragma once
// Fixed pool of worker threads for data-parallel loops. The calling thread takes part.
//
// Contention safety (DESIGN.md: the pool must not collapse when another process holds a core):
// a job is complete when every task has been *finished*, not when every worker has checked in.
// Workers join a job only while it is open; the caller closes it once all tasks are claimed and
// then waits only for the workers that joined. A worker that was descheduled (its core taken
// by another process) therefore never delays the caller: it wakes later, finds the job closed
// and goes back to waiting. Workers spin briefly between jobs, then sleep on a condition variable.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace tk {

class ThreadPool {
public:
    explicit ThreadPool(int n_threads);  // n_threads <= 0: hardware concurrency
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int size() const { return n_threads_; }

    // Calls fn(task, thread) for every task in [0, n_tasks); tasks are handed out dynamically, so
    // a thread that falls behind simply takes fewer. `thread` is in [0, size()) and is unique among
    // the threads running tasks of this call (use it to index per-thread scratch). Returns when all
    // tasks are done. Not reentrant; one caller at a time.
    template <typename Fn>
    void parallel_for(int64_t n_tasks, Fn&& fn) {
        if (n_tasks <= 0) return;
        if (n_threads_ == 1 || n_tasks == 1) {
            for (int64_t t = 0; t < n_tasks; ++t) fn(t, 0);
            return;
        }
        using F = std::remove_reference_t<Fn>;
        run(n_tasks, [](void* ctx, int64_t task, int thread) { (*static_cast<F*>(ctx))(task, thread); },
            const_cast<void*>(static_cast<const void*>(&fn)));
    }

    // Jobs a worker found already closed when it woke (it was late and skipped). For tests and
    // diagnostics.
    uint64_t skipped_joins() const { return skipped_joins_.load(std::memory_order_relaxed); }

private:
    using TaskFn = void (*)(void* ctx, int64_t task, int thread);
    void run(int64_t n_tasks, TaskFn fn, void* ctx);
    void worker_main(int thread);
    void work(int thread);

    int n_threads_;
    std::vector<std::thread> workers_;
    std::mutex mu_;
    std::condition_variable cv_start_;
    std::condition_variable cv_done_;
    // Bumped (under mu_) for every new job; workers poll it lock-free while spinning.
    std::atomic<uint64_t> generation_{0};
    std::atomic<int64_t> next_task_{0};
    std::atomic<uint64_t> skipped_joins_{0};
    // Workers inside the current job. Incremented only under mu_ while open_ (so none can join
    // after the caller closed the job); decremented lock-free when a worker runs out of tasks.
    std::atomic<int> participants_{0};
    // Guarded by mu_: the current job and whether workers may still join it.
    int64_t n_tasks_ = 0;
    TaskFn fn_ = nullptr;
    void* ctx_ = nullptr;
    bool open_ = false;
    bool stop_ = false;
};

}  // namespace tk
