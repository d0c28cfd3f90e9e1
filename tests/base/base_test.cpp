#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <vector>

#include "base/fp16.h"
#include "base/status.h"
#include "base/thread_pool.h"

namespace tk {
namespace {

TEST(Status, ResultCarriesValueOrError) {
    Result<int> ok = 5;
    ASSERT_TRUE(ok.is_ok());
    EXPECT_EQ(*ok, 5);
    Result<int> bad = make_error(ErrorCode::kCorruptFile, "x.gguf: bad magic");
    ASSERT_FALSE(bad.is_ok());
    EXPECT_EQ(bad.status().code(), ErrorCode::kCorruptFile);
    EXPECT_EQ(bad.status().to_string(), "corrupt file: x.gguf: bad magic");
    EXPECT_NE(error_code_exit_code(ErrorCode::kCorruptFile), 0);
    EXPECT_EQ(error_code_http_status(ErrorCode::kResourceExhausted), 503);
}

Result<int> twice(Result<int> in) {
    TK_ASSIGN_OR_RETURN(int v, std::move(in));
    return v * 2;
}

TEST(Status, AssignOrReturnPropagates) {
    EXPECT_EQ(*twice(21), 42);
    EXPECT_EQ(twice(make_error(ErrorCode::kIo, "x")).status().code(), ErrorCode::kIo);
}

TEST(Fp16, RoundTripsEveryHalf) {
    for (uint32_t h = 0; h < 65536; ++h) {
        const float f = fp16_to_f32(static_cast<uint16_t>(h));
        if (std::isnan(f)) continue;
        EXPECT_EQ(f32_to_fp16(f), h) << h;
    }
}

TEST(Fp16, RoundsToNearestEven) {
    EXPECT_EQ(f32_to_fp16(1.0f), 0x3C00);
    EXPECT_EQ(f32_to_fp16(65504.0f), 0x7BFF);
    EXPECT_EQ(f32_to_fp16(1e6f), 0x7C00);                      // overflow to inf
    EXPECT_EQ(f32_to_fp16(1.0f + 1.0f / 2048.0f), 0x3C00);      // tie -> even
    EXPECT_EQ(f32_to_fp16(1.0f + 3.0f / 2048.0f), 0x3C02);      // tie -> even (up)
    EXPECT_EQ(fp16_to_f32(0x0001), std::ldexp(1.0f, -24));      // smallest subnormal
}

TEST(Bf16, RoundsToNearestEven) {
    EXPECT_EQ(f32_to_bf16(1.0f), 0x3F80);
    EXPECT_EQ(bf16_to_f32(0x3F80), 1.0f);
    EXPECT_EQ(f32_to_bf16(f32_from_bits(0x3F808000u)), 0x3F80);  // tie -> even
    EXPECT_EQ(f32_to_bf16(f32_from_bits(0x3F818000u)), 0x3F82);  // tie -> even (up)
}

TEST(ThreadPool, RunsEveryTaskOnce) {
    for (int threads : {1, 2, 3}) {
        ThreadPool pool(threads);
        for (int rep = 0; rep < 50; ++rep) {
            std::vector<std::atomic<int>> hits(1000);
            pool.parallel_for(1000, [&](int64_t t, int th) {
                ASSERT_GE(th, 0);
                ASSERT_LT(th, threads);
                hits[static_cast<size_t>(t)].fetch_add(1);
            });
            for (auto& h : hits) ASSERT_EQ(h.load(), 1);
        }
    }
}

// Oversubscribed pools (more threads than cores) make late workers the common case: a worker
// often wakes after the caller has claimed every task. Each task must still run exactly once,
// no two concurrently running tasks may share a thread index, and nothing may deadlock.
TEST(ThreadPool, OversubscribedJobsCompleteWithUniqueThreadIndices) {
    for (int threads : {2, 4, 8}) {
        ThreadPool pool(threads);
        std::vector<std::atomic<int>> in_use(static_cast<size_t>(threads));
        std::atomic<int> clashes{0};
        for (int rep = 0; rep < 2000; ++rep) {
            const int64_t n = 2 + rep % 7;
            std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
            pool.parallel_for(n, [&](int64_t t, int th) {
                if (in_use[static_cast<size_t>(th)].fetch_add(1) != 0) clashes.fetch_add(1);
                hits[static_cast<size_t>(t)].fetch_add(1);
                in_use[static_cast<size_t>(th)].fetch_sub(1);
            });
            for (auto& h : hits) ASSERT_EQ(h.load(), 1) << "threads=" << threads;
        }
        EXPECT_EQ(clashes.load(), 0);
    }
}

// parallel_for returns only after every task has finished, including a slow one that a worker
// may have claimed while the caller ran out of tasks.
TEST(ThreadPool, CallerWaitsForWorkersThatJoined) {
    ThreadPool pool(2);
    for (int rep = 0; rep < 200; ++rep) {
        std::atomic<int> done{0};
        pool.parallel_for(2, [&](int64_t, int) {
            done.fetch_add(1);
        });
        ASSERT_EQ(done.load(), 2);
        std::atomic<bool> slow_done{false};
        pool.parallel_for(64, [&](int64_t t, int) {
            if (t == 0) {
                volatile double x = 0;
                for (int i = 0; i < 20000; ++i) x = x + i;
                slow_done.store(true);
            }
        });
        ASSERT_TRUE(slow_done.load());  // parallel_for returned only after the slow task ended
    }
}

}  // namespace
}  // namespace tk
