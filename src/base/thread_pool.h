#pragma once
// Fixed pool of worker threads for data-parallel loops. The calling thread takes part.
// Workers spin briefly, then sleep on a condition variable, so the pool does not collapse
// when another process holds a core.
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

    // Calls fn(task, thread) for every task in [0, n_tasks); tasks are handed out dynamically.
    // Returns when all tasks are done. Not reentrant.
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
    std::atomic<uint64_t> generation_{0};
    std::atomic<int64_t> next_task_{0};
    std::atomic<int> active_{0};
    int64_t n_tasks_ = 0;
    TaskFn fn_ = nullptr;
    void* ctx_ = nullptr;
    bool stop_ = false;
};

}  // namespace tk
