// Kernel table, dequantization, activation conversion and dot products for the float and legacy
// types: bit-exact against llama.cpp's data in shared/reference, AVX2 against the scalar code.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "base/fp16.h"
#include "core/dtype.h"
#include "core/quant_blocks.h"
#include "kernels/kernel_table.h"
#include "oracle_util.h"

namespace tk::kernels {
namespace {

const DType kWeightTypes[] = {DType::kF32,  DType::kF16,  DType::kBF16, DType::kQ8_0,
                              DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1};

std::string name(DType t) { return std::string(dtype_name(t)); }

uint32_t bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}

TEST(KernelTable, IsaNamesAndSelection) {
    EXPECT_STREQ(isa_name(Isa::kRef), "ref");
    EXPECT_STREQ(isa_name(Isa::kAvx2), "avx2");
    EXPECT_EQ(kernels_for(Isa::kRef).isa, Isa::kRef);
    EXPECT_EQ(kernels_for(Isa::kAvx2).isa, cpu_has_avx2() ? Isa::kAvx2 : Isa::kRef);
    const Isa chosen = kernels().isa;
    EXPECT_TRUE(chosen == Isa::kRef || cpu_has_avx2());
}

TEST(KernelTable, VecDotTypes) {
    const std::pair<DType, DType> expect[] = {
        {DType::kF32, DType::kF32},   {DType::kF16, DType::kF16},   {DType::kBF16, DType::kBF16},
        {DType::kQ8_0, DType::kQ8_0}, {DType::kQ4_0, DType::kQ8_0}, {DType::kQ5_0, DType::kQ8_0},
        {DType::kQ4_1, DType::kQ8_1}, {DType::kQ5_1, DType::kQ8_1}};
    for (Isa isa : oracle::available_isas()) {
        const KernelTable& kt = kernels_for(isa);
        for (const auto& [w, vdt] : expect) {
            const TypeKernels& k = kt.of(w);
            EXPECT_EQ(k.vec_dot_type, vdt) << name(w);
            EXPECT_NE(k.to_float, nullptr) << name(w);
            EXPECT_NE(k.vec_dot, nullptr) << name(w);
            EXPECT_NE(kt.of(vdt).from_float, nullptr) << name(vdt);
        }
    }
}

// (a) dequant/<TYPE>.json: first rows of token_embd.weight, bytes -> floats, bit for bit.
TEST(Dequant, MatchesLlamaCpp) {
    const DType types[] = {DType::kF16,  DType::kBF16, DType::kQ8_0, DType::kQ4_0,
                           DType::kQ4_1, DType::kQ5_0, DType::kQ5_1};
    for (DType t : types) {
        const oracle::DequantOracle o = oracle::load_dequant(name(t));
        ASSERT_EQ(o.rows.size(), 4u) << name(t);
        ASSERT_EQ(o.row_bytes, dtype_row_bytes(t, o.row_elements)) << name(t);
        for (Isa isa : oracle::available_isas()) {
            const TypeKernels& k = kernels_for(isa).of(t);
            for (size_t r = 0; r < o.rows.size(); ++r) {
                const oracle::DequantRow& row = o.rows[r];
                ASSERT_EQ(static_cast<int64_t>(row.bytes.size()), o.row_bytes);
                ASSERT_EQ(static_cast<int64_t>(row.values.size()), o.row_elements);
                std::vector<float> out(static_cast<size_t>(o.row_elements));
                k.to_float(row.bytes.data(), out.data(), o.row_elements);
                int mismatches = 0;
                for (int64_t i = 0; i < o.row_elements; ++i) {
                    if (bits(out[i]) != bits(row.values[i]) && ++mismatches <= 3)
                        ADD_FAILURE() << name(t) << " " << isa_name(isa) << " row " << r << " elem "
                                      << i << ": " << out[i] << " vs " << row.values[i];
                }
                EXPECT_EQ(mismatches, 0) << name(t) << " " << isa_name(isa) << " row " << r;
            }
        }
    }
}

// (b) act.f32 converted to each vec_dot_type must equal llama.cpp's act_<VDT>.bin.
TEST(ActivationConversion, MatchesLlamaCppBytes) {
    const std::vector<float> x = oracle::activations();
    ASSERT_EQ(static_cast<int64_t>(x.size()), oracle::kActRows * oracle::kCols);
    const DType vdts[] = {DType::kQ8_0, DType::kQ8_1, DType::kF16, DType::kBF16};
    for (DType vdt : vdts) {
        const std::vector<uint8_t> want =
            oracle::load_bytes("reference/quant/act_" + name(vdt) + ".bin");
        const int64_t row_bytes = dtype_row_bytes(vdt, oracle::kCols);
        ASSERT_EQ(static_cast<int64_t>(want.size()), oracle::kActRows * row_bytes) << name(vdt);
        for (Isa isa : oracle::available_isas()) {
            const TypeKernels& k = kernels_for(isa).of(vdt);
            std::vector<uint8_t> got(want.size(), 0xCD);
            for (int64_t r = 0; r < oracle::kActRows; ++r)
                k.from_float(x.data() + r * oracle::kCols, got.data() + r * row_bytes,
                             oracle::kCols);
            size_t first_diff = want.size();
            for (size_t i = 0; i < want.size() && first_diff == want.size(); ++i)
                if (got[i] != want[i]) first_diff = i;
            EXPECT_EQ(first_diff, want.size())
                << name(vdt) << " " << isa_name(isa) << ": first differing byte " << first_diff;
        }
    }
}

// Q8 conversion edge cases: an all-zero block, exact .5 ties (round half to even, not away from
// zero as ggml's weight quantizer does), a single large value.
TEST(ActivationConversion, Q8EdgeCases) {
    std::vector<float> x(3 * kQK, 0.0f);
    // Block 1: amax = 127/16 makes 127/amax = 16 exactly, so x * 16 = (j - 15) + 0.5.
    for (int j = 0; j < kQK - 1; ++j) x[kQK + j] = static_cast<float>(2 * (j - 15) + 1) / 32.0f;
    x[kQK + 31] = 127.0f / 16.0f;
    x[2 * kQK + 3] = -1000.0f;
    for (Isa isa : oracle::available_isas()) {
        const KernelTable& kt = kernels_for(isa);
        std::vector<BlockQ8_1> q(3);
        kt.of(DType::kQ8_1).from_float(x.data(), q.data(), 3 * kQK);
        EXPECT_EQ(q[0].d, 0);
        EXPECT_EQ(q[0].s, 0);
        for (int j = 0; j < kQK; ++j) EXPECT_EQ(q[0].qs[j], 0);
        int sum = 0;
        for (int j = 0; j < kQK - 1; ++j) {
            const int tie_even =
                static_cast<int>(std::nearbyint(static_cast<double>(j - 15) + 0.5));
            EXPECT_EQ(q[1].qs[j], tie_even) << isa_name(isa) << " j=" << j;
            EXPECT_EQ(tie_even % 2, 0);
        }
        EXPECT_EQ(q[1].qs[31], 127);
        for (int j = 0; j < kQK; ++j) sum += q[1].qs[j];
        const float d1 = (127.0f / 16.0f) / 127.0f;
        EXPECT_EQ(q[1].d, f32_to_fp16(d1));
        EXPECT_EQ(q[1].s, f32_to_fp16(d1 * static_cast<float>(sum)));  // unrounded d
        EXPECT_EQ(q[2].qs[3], -127);
        EXPECT_EQ(q[2].qs[0], 0);
        EXPECT_EQ(q[2].d, f32_to_fp16(1000.0f / 127.0f));
        std::vector<BlockQ8_0> q0(3);
        kt.of(DType::kQ8_0).from_float(x.data(), q0.data(), 3 * kQK);
        for (int b = 0; b < 3; ++b) {
            EXPECT_EQ(q0[b].d, q[b].d);
            EXPECT_EQ(std::memcmp(q0[b].qs, q[b].qs, kQK), 0);
        }
    }
}

std::vector<float> normal_floats(int64_t n, std::mt19937& rng, float scale = 1.0f) {
    std::normal_distribution<float> d(0.0f, scale);
    std::vector<float> v(static_cast<size_t>(n));
    for (float& f : v) f = d(rng);
    return v;
}

// Weight bytes with random payload: scales set to plausible f16 values, quant bits random.
std::vector<uint8_t> random_weights(DType t, int64_t n, std::mt19937& rng) {
    const int64_t bytes = dtype_row_bytes(t, n);
    std::vector<uint8_t> w(static_cast<size_t>(bytes));
    std::uniform_int_distribution<int> byte(0, 255);
    for (uint8_t& b : w) b = static_cast<uint8_t>(byte(rng));
    std::uniform_real_distribution<float> scale(-0.05f, 0.05f);
    const std::vector<float> f = normal_floats(n, rng);
    switch (t) {
        case DType::kF32: std::memcpy(w.data(), f.data(), static_cast<size_t>(bytes)); break;
        case DType::kF16:
        case DType::kBF16: kernels_for(Isa::kRef).of(t).from_float(f.data(), w.data(), n); break;
        default: {
            const int64_t bb = dtype_block_bytes(t);
            for (int64_t b = 0; b < n / kQK; ++b) {
                uint8_t* blk = w.data() + b * bb;
                const uint16_t d = f32_to_fp16(scale(rng));
                std::memcpy(blk, &d, 2);
                if (t == DType::kQ4_1 || t == DType::kQ5_1) {
                    const uint16_t m = f32_to_fp16(scale(rng) * 8.0f);
                    std::memcpy(blk + 2, &m, 2);
                }
                if (t == DType::kQ8_0)  // the quantizer never writes -128
                    for (int j = 2; j < bb; ++j)
                        if (blk[j] == 0x80) blk[j] = 0x81;
            }
        }
    }
    return w;
}

// dot(w, a) in double from the dequantized rows; also sum |w_i a_i| for the tolerance.
double reference_dot(DType t, const uint8_t* w, DType vdt, const uint8_t* a, int64_t n,
                     double* mag) {
    const KernelTable& kt = kernels_for(Isa::kRef);
    std::vector<float> wf(static_cast<size_t>(n)), af(static_cast<size_t>(n));
    kt.of(t).to_float(w, wf.data(), n);
    kt.of(vdt).to_float(a, af.data(), n);
    double s = 0.0, m = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        s += static_cast<double>(wf[i]) * af[i];
        m += std::fabs(static_cast<double>(wf[i]) * af[i]);
    }
    if (vdt == DType::kQ8_1) {
        // llama.cpp's min term is m_w * s_a with s_a = f16(d_a * sum(q_a)), not the exact
        // m_w * d_a * sum(q_a) the dequantized rows give: swap in what the kernel uses.
        const int64_t wb = dtype_block_bytes(t);
        for (int64_t b = 0; b < n / kQK; ++b) {
            BlockQ8_1 ab;
            std::memcpy(&ab, a + b * sizeof(BlockQ8_1), sizeof ab);
            uint16_t mw;
            std::memcpy(&mw, w + b * wb + 2, 2);  // Q4_1/Q5_1: f16 d, then f16 m
            int sum = 0;
            for (int j = 0; j < kQK; ++j) sum += ab.qs[j];
            const double exact = static_cast<double>(fp16_to_f32(ab.d)) * sum;
            s += static_cast<double>(fp16_to_f32(mw)) * (fp16_to_f32(ab.s) - exact);
        }
    }
    *mag = m;
    return s;
}

// (d) vec_dot on random rows: both ISAs close to a double-precision dot of the dequantized
// rows, multi-row results bit-identical to the one-row kernel, misaligned rows accepted.
TEST(VecDot, RandomRowsBothIsas) {
    std::mt19937 rng(12345);
    for (DType t : kWeightTypes) {
        const bool is_float = dtype_block_elems(t) == 1;
        const std::vector<int64_t> sizes = is_float
                                               ? std::vector<int64_t>{1, 7, 16, 17, 31, 100, 4099}
                                               : std::vector<int64_t>{32, 64, 96, 256, 4128};
        for (int64_t n : sizes) {
            const DType vdt = kernels_for(Isa::kRef).of(t).vec_dot_type;
            const std::vector<uint8_t> w = random_weights(t, n, rng);
            const int64_t a_bytes = dtype_row_bytes(vdt, n);
            // Rows start off any 32-byte boundary but element-aligned (quant blocks hold f16s).
            const size_t mis = t == DType::kF32 ? 4 : 2;
            std::vector<uint8_t> act(static_cast<size_t>(mis + kMaxDotRows * a_bytes));
            for (int r = 0; r < kMaxDotRows; ++r) {
                const std::vector<float> xf = normal_floats(n, rng, r == 3 ? 10.0f : 1.0f);
                kernels_for(Isa::kRef).of(vdt).from_float(xf.data(), act.data() + mis + r * a_bytes,
                                                          n);
            }
            std::vector<uint8_t> w_mis(w.size() + mis);
            std::memcpy(w_mis.data() + mis, w.data(), w.size());
            for (Isa isa : oracle::available_isas()) {
                const TypeKernels& k = kernels_for(isa).of(t);
                float one[kMaxDotRows];
                for (int r = 0; r < kMaxDotRows; ++r) {
                    const uint8_t* a = act.data() + mis + r * a_bytes;
                    double mag = 0.0;
                    const double want = reference_dot(t, w.data(), vdt, a, n, &mag);
                    k.vec_dot(n, &one[r], w.data(), a);
                    EXPECT_NEAR(one[r], want, 2e-6 * mag + 1e-30)
                        << name(t) << " " << isa_name(isa) << " n=" << n << " row " << r;
                    float moved = 0.0f;
                    k.vec_dot(n, &moved, w_mis.data() + mis, a);
                    EXPECT_EQ(bits(moved), bits(one[r])) << name(t) << " misaligned n=" << n;
                }
                if (k.vec_dot_rows == nullptr) continue;
                for (int nr = 1; nr <= kMaxDotRows; ++nr) {
                    float s[kMaxDotRows];
                    k.vec_dot_rows(n, nr, s, w.data(), act.data() + mis, a_bytes);
                    for (int r = 0; r < nr; ++r)
                        EXPECT_EQ(bits(s[r]), bits(one[r]))
                            << name(t) << " " << isa_name(isa) << " n=" << n << " nr=" << nr;
                }
            }
        }
    }
}

// Float conversions: both ISAs equal the scalar base/fp16.h rules on odd lengths and special
// values (ties, subnormals, overflow, infinities); to_float undoes from_float.
TEST(FloatConversion, AgreesAcrossIsas) {
    std::mt19937 rng(7);
    std::vector<float> x = normal_floats(203, rng, 3.0f);
    const float specials[] = {0.0f,  -0.0f,  65504.0f, 65520.0f,  1e-8f,          -6.1e-5f,
                              1e30f, -1e30f, INFINITY, -INFINITY, 1.00048828125f, 1.00146484375f};
    for (size_t i = 0; i < std::size(specials); ++i) x[i * 7] = specials[i];
    for (DType t : {DType::kF16, DType::kBF16}) {
        const int64_t n = static_cast<int64_t>(x.size());
        std::vector<uint16_t> want(x.size());
        for (size_t i = 0; i < x.size(); ++i)
            want[i] = t == DType::kF16 ? f32_to_fp16(x[i]) : f32_to_bf16(x[i]);
        for (Isa isa : oracle::available_isas()) {
            const TypeKernels& k = kernels_for(isa).of(t);
            std::vector<uint16_t> got(x.size());
            k.from_float(x.data(), got.data(), n);
            EXPECT_EQ(got, want) << name(t) << " " << isa_name(isa);
            std::vector<float> back(x.size());
            k.to_float(got.data(), back.data(), n);
            for (size_t i = 0; i < x.size(); ++i) {
                const float w = t == DType::kF16 ? fp16_to_f32(want[i]) : bf16_to_f32(want[i]);
                EXPECT_EQ(bits(back[i]), bits(w)) << name(t) << " " << isa_name(isa) << " " << i;
            }
        }
    }
}

}  // namespace
}  // namespace tk::kernels
