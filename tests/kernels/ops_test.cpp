// Float ops: the scalar versions against double-precision formulas, the AVX2 versions against
// the scalar ones on every length 0..70 (tails) and unaligned starts, in place and not.
#include "kernels/ops.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "oracle_util.h"

namespace tk::kernels {
namespace {

constexpr float kSentinel = 1234.5f;

std::vector<float> random_vec(size_t n, std::mt19937& rng, float scale) {
    std::normal_distribution<float> d(0.0f, scale);
    std::vector<float> v(n);
    for (float& f : v) f = d(rng);
    return v;
}

TEST(Ops, RefMatchesFormulas) {
    const FloatOps& o = ops_for(Isa::kRef);
    std::mt19937 rng(1);
    const int64_t n = 97;
    const std::vector<float> x = random_vec(n, rng, 2.0f), w = random_vec(n, rng, 1.0f);
    std::vector<float> out(n);

    double ss = 0.0;
    for (float v : x) ss += static_cast<double>(v) * v;
    const double inv = 1.0 / std::sqrt(ss / n + 1e-5);
    o.rms_norm(x.data(), w.data(), n, 1e-5f, out.data());
    for (int64_t i = 0; i < n; ++i)
        EXPECT_NEAR(out[i], x[i] * inv * w[i], 1e-6 * (1 + std::fabs(x[i] * inv * w[i])));
    o.rms_norm(x.data(), nullptr, n, 1e-5f, out.data());
    for (int64_t i = 0; i < n; ++i)
        EXPECT_NEAR(out[i], x[i] * inv, 1e-6 * (1 + std::fabs(x[i] * inv)));

    std::vector<float> p = x;
    o.softmax(p.data(), n);
    double mx = x[0], sum = 0.0, psum = 0.0;
    for (float v : x) mx = std::fmax(mx, v);
    for (float v : x) sum += std::exp(v - mx);
    for (int64_t i = 0; i < n; ++i) {
        EXPECT_NEAR(p[i], std::exp(x[i] - mx) / sum, 1e-7);
        psum += p[i];
    }
    EXPECT_NEAR(psum, 1.0, 1e-6);

    o.silu(x.data(), out.data(), n);
    for (int64_t i = 0; i < n; ++i)
        EXPECT_NEAR(out[i], x[i] / (1.0 + std::exp(-double(x[i]))), 1e-6);
    o.silu_mul(x.data(), w.data(), out.data(), n);
    for (int64_t i = 0; i < n; ++i)
        EXPECT_NEAR(out[i], x[i] / (1.0 + std::exp(-double(x[i]))) * w[i], 1e-5);
    o.gelu(x.data(), out.data(), n);
    for (int64_t i = 0; i < n; ++i) {
        const double v = x[i];
        const double g =
            0.5 * v * (1 + std::tanh(std::sqrt(2.0 / M_PI) * v * (1 + 0.044715 * v * v)));
        EXPECT_NEAR(out[i], g, 1e-6);
    }
    double dot = 0.0;
    for (int64_t i = 0; i < n; ++i) dot += static_cast<double>(x[i]) * w[i];
    EXPECT_NEAR(o.dot(x.data(), w.data(), n), dot, 1e-5);
    std::vector<float> y = w;
    o.axpy(0.5f, x.data(), y.data(), n);
    for (int64_t i = 0; i < n; ++i) EXPECT_FLOAT_EQ(y[i], w[i] + 0.5f * x[i]);

    std::vector<float> big = {1000.0f, -1000.0f, 999.0f};
    o.softmax(big.data(), 3);
    EXPECT_NEAR(big[0], 1.0 / (1.0 + std::exp(-1.0)), 1e-6);
    EXPECT_EQ(big[1], 0.0f);
}

// |a - b| <= rel * |b| + abs, with a message naming the op, length and offset.
void expect_close(const char* op, const std::vector<float>& got, const std::vector<float>& want,
                  double rel, double abs, int64_t n, int off) {
    ASSERT_EQ(got.size(), want.size());
    int bad = 0;
    for (size_t i = 0; i < got.size(); ++i) {
        const double tol = rel * std::fabs(want[i]) + abs;
        if (!(std::fabs(static_cast<double>(got[i]) - want[i]) <= tol) && ++bad <= 3)
            ADD_FAILURE() << op << " n=" << n << " off=" << off << " i=" << i << ": " << got[i]
                          << " vs " << want[i];
    }
}

TEST(Ops, Avx2MatchesRefWithTailsAndOffsets) {
    if (!cpu_has_avx2()) GTEST_SKIP() << "no AVX2 on this CPU";
    const FloatOps& r = ops_for(Isa::kRef);
    const FloatOps& a = ops_for(Isa::kAvx2);
    std::mt19937 rng(2);
    std::vector<int64_t> sizes;
    for (int64_t n = 0; n <= 70; ++n) sizes.push_back(n);
    sizes.push_back(1003);
    for (int64_t n : sizes) {
        for (int off = 0; off < 4; ++off) {
            const size_t len = static_cast<size_t>(off + n + 9);  // room for sentinels
            const std::vector<float> xs = random_vec(len, rng, 3.0f),
                                     ws = random_vec(len, rng, 1.0f);
            const float* x = xs.data() + off;
            const float* w = ws.data() + off;
            // Each op writes into out + off; out[off + n..] must stay untouched.
            auto run = [&](auto&& fn) {
                std::vector<float> out(len, kSentinel);
                fn(out.data() + off);
                return out;
            };
            expect_close("add", run([&](float* o) { a.add(x, w, o, n); }),
                         run([&](float* o) { r.add(x, w, o, n); }), 0, 0, n, off);
            expect_close("mul", run([&](float* o) { a.mul(x, w, o, n); }),
                         run([&](float* o) { r.mul(x, w, o, n); }), 0, 0, n, off);
            expect_close("scale", run([&](float* o) { a.scale(x, 0.37f, o, n); }),
                         run([&](float* o) { r.scale(x, 0.37f, o, n); }), 0, 0, n, off);
            if (n > 0) {
                expect_close("rms_norm", run([&](float* o) { a.rms_norm(x, w, n, 1e-6f, o); }),
                             run([&](float* o) { r.rms_norm(x, w, n, 1e-6f, o); }), 1e-6, 0, n,
                             off);
                expect_close(
                    "rms_norm_nw", run([&](float* o) { a.rms_norm(x, nullptr, n, 1e-6f, o); }),
                    run([&](float* o) { r.rms_norm(x, nullptr, n, 1e-6f, o); }), 1e-6, 0, n, off);
            }
            expect_close("silu", run([&](float* o) { a.silu(x, o, n); }),
                         run([&](float* o) { r.silu(x, o, n); }), 1e-6, 1e-7, n, off);
            expect_close("silu_mul", run([&](float* o) { a.silu_mul(x, w, o, n); }),
                         run([&](float* o) { r.silu_mul(x, w, o, n); }), 1e-6, 1e-7, n, off);
            expect_close("gelu", run([&](float* o) { a.gelu(x, o, n); }),
                         run([&](float* o) { r.gelu(x, o, n); }), 1e-6, 1e-6, n, off);
            auto softmax_into = [&](const FloatOps& ops, float* o) {
                std::memcpy(o, x, static_cast<size_t>(n) * sizeof(float));
                ops.softmax(o, n);
            };
            expect_close("softmax", run([&](float* o) { softmax_into(a, o); }),
                         run([&](float* o) { softmax_into(r, o); }), 2e-6, 1e-9, n, off);
            auto axpy_into = [&](const FloatOps& ops, float* o) {
                std::memcpy(o, w, static_cast<size_t>(n) * sizeof(float));
                ops.axpy(-1.75f, x, o, n);
            };
            expect_close("axpy", run([&](float* o) { axpy_into(a, o); }),
                         run([&](float* o) { axpy_into(r, o); }), 1e-6, 1e-6, n, off);
            double mag = 0.0;
            for (int64_t i = 0; i < n; ++i) mag += std::fabs(static_cast<double>(x[i]) * w[i]);
            EXPECT_NEAR(a.dot(x, w, n), r.dot(x, w, n), 1e-6 * mag + 1e-30) << "dot n=" << n;
        }
    }
}

TEST(Ops, InPlaceAndExtremes) {
    std::mt19937 rng(3);
    for (Isa isa : oracle::available_isas()) {
        const FloatOps& o = ops_for(isa);
        std::vector<float> x = random_vec(45, rng, 1.0f), w = random_vec(45, rng, 1.0f);
        std::vector<float> sep(45);
        o.rms_norm(x.data(), w.data(), 45, 1e-5f, sep.data());
        o.rms_norm(x.data(), w.data(), 45, 1e-5f, x.data());
        EXPECT_EQ(x, sep) << isa_name(isa);
        o.silu(x.data(), sep.data(), 45);
        o.silu(x.data(), x.data(), 45);
        EXPECT_EQ(x, sep) << isa_name(isa);

        const std::vector<float> ext = {-200.0f, -90.0f, -30.0f, 0.0f,  30.0f,
                                        90.0f,   200.0f, -0.0f,  1e-20f};
        std::vector<float> s(ext.size()), g(ext.size());
        o.silu(ext.data(), s.data(), static_cast<int64_t>(ext.size()));
        o.gelu(ext.data(), g.data(), static_cast<int64_t>(ext.size()));
        for (size_t i = 0; i < ext.size(); ++i) {
            EXPECT_TRUE(std::isfinite(s[i]) && std::isfinite(g[i]))
                << isa_name(isa) << " " << ext[i];
            if (ext[i] >= 30.0f) {
                EXPECT_FLOAT_EQ(s[i], ext[i]);
                EXPECT_FLOAT_EQ(g[i], ext[i]);
            }
            if (ext[i] <= -30.0f) {
                EXPECT_NEAR(s[i], 0.0f, 1e-10);
                EXPECT_NEAR(g[i], 0.0f, 1e-10);
            }
        }
        std::vector<float> sm = {-INFINITY, 3.0f, -INFINITY, 3.0f, 88.0f, -88.0f, 0.0f, 1.0f, 2.0f};
        o.softmax(sm.data(), static_cast<int64_t>(sm.size()));
        EXPECT_EQ(sm[0], 0.0f) << isa_name(isa);  // masked entries get exactly 0
        double total = 0.0;
        for (float v : sm) total += v;
        EXPECT_NEAR(total, 1.0, 1e-6) << isa_name(isa);
    }
}

}  // namespace
}  // namespace tk::kernels
