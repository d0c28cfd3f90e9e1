// K-quant and IQ4 kernels (Q2_K..Q6_K, Q8_K activations, IQ4_NL, IQ4_XS), both ISAs, against
// the llama.cpp oracle in shared/reference:
//   to_float      bit-identical to dequant/<TYPE>.json and, ref vs avx2, over whole tensors of
//                 the tiny-llama models (and close to the F32 model's weights);
//   Q8_K          conversion of quant/act.f32 equal to act_Q8_K.bin byte for byte;
//   vec_dot       quant/matmul.json within the README's 1e-5 (emulated vec_dot_type), on the
//                 reference activation blocks and on our own conversion;
//   avx2 vs ref   on random blocks, multi-super-block rows, unaligned starts.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "base/fp16.h"
#include "core/dtype.h"
#include "core/quant_blocks.h"
#include "kernels/kernel_table.h"
#include "kernels/oracle_util.h"

namespace tk::kernels {
namespace {

using oracle::available_isas;

const DType kWeightTypes[] = {DType::kQ2_K, DType::kQ3_K,   DType::kQ4_K, DType::kQ5_K,
                              DType::kQ6_K, DType::kIQ4_NL, DType::kIQ4_XS};

std::string name_of(DType t) { return std::string(dtype_name(t)); }

bool same_bits(const float* a, const float* b, int64_t n, int64_t* first_diff) {
    for (int64_t i = 0; i < n; ++i) {
        if (f32_bits(a[i]) != f32_bits(b[i])) {
            *first_diff = i;
            return false;
        }
    }
    return true;
}

// Minimal GGUF tensor-table walk for the shipped reference models (kernels tests stay off the
// formats module). Reads the header, skips the metadata except general.alignment, and returns
// each tensor's name, type, row length, row count and data. Every read is bounds-checked; a
// malformed file records a failure and yields an empty list.
struct GgufTensor {
    std::string name;
    DType type = DType::kF32;
    int64_t cols = 0, rows = 0;
    const uint8_t* data = nullptr;
};

class MiniGguf {
public:
    explicit MiniGguf(const std::string& rel) : bytes_(oracle::load_bytes(rel)) {
        if (!parse()) {
            ADD_FAILURE() << "cannot parse " << rel << " at byte " << pos_;
            tensors_.clear();
        }
    }
    const std::vector<GgufTensor>& tensors() const { return tensors_; }
    const GgufTensor* find(const std::string& name) const {
        for (const GgufTensor& t : tensors_)
            if (t.name == name) return &t;
        return nullptr;
    }

private:
    template <typename T>
    bool read(T* v) {
        if (bytes_.size() - pos_ < sizeof(T) || pos_ > bytes_.size()) return false;
        std::memcpy(v, bytes_.data() + pos_, sizeof(T));
        pos_ += sizeof(T);
        return true;
    }
    bool read_string(std::string* s) {
        uint64_t len = 0;
        if (!read(&len) || len > bytes_.size() - pos_) return false;
        s->assign(reinterpret_cast<const char*>(bytes_.data() + pos_), len);
        pos_ += len;
        return true;
    }
    // Skips one value of GGUF type `type`; a u32 value is also returned in *u32.
    bool skip_value(uint32_t type, uint32_t* u32) {
        static const int kSize[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
        if (type == 8) {
            std::string s;
            return read_string(&s);
        }
        if (type == 9) {
            uint32_t et = 0;
            uint64_t cnt = 0;
            if (!read(&et) || !read(&cnt) || et == 9 || et > 12) return false;
            for (uint64_t k = 0; k < cnt; ++k)
                if (!skip_value(et, nullptr)) return false;
            return true;
        }
        if (type > 12) return false;
        const size_t sz = static_cast<size_t>(kSize[type]);
        if (bytes_.size() - pos_ < sz) return false;
        if (u32 != nullptr && sz == 4) std::memcpy(u32, bytes_.data() + pos_, 4);
        pos_ += sz;
        return true;
    }
    bool parse() {
        uint32_t magic = 0, version = 0;
        uint64_t n_tensors = 0, n_kv = 0;
        if (!read(&magic) || magic != 0x46554747u || !read(&version) || !read(&n_tensors) ||
            !read(&n_kv))
            return false;
        uint32_t alignment = 32;
        for (uint64_t k = 0; k < n_kv; ++k) {
            std::string key;
            uint32_t type = 0, v = 0;
            if (!read_string(&key) || !read(&type) || !skip_value(type, &v)) return false;
            if (key == "general.alignment") alignment = v;
        }
        struct Info {
            GgufTensor t;
            uint64_t offset;
        };
        std::vector<Info> infos;
        for (uint64_t k = 0; k < n_tensors; ++k) {
            Info info{};
            uint32_t n_dims = 0, type = 0;
            if (!read_string(&info.t.name) || !read(&n_dims) || n_dims < 1 || n_dims > 4)
                return false;
            int64_t n = 1;
            for (uint32_t d = 0; d < n_dims; ++d) {
                uint64_t ne = 0;
                if (!read(&ne) || ne == 0 || ne > (1u << 24)) return false;
                if (d == 0) info.t.cols = static_cast<int64_t>(ne);
                n *= static_cast<int64_t>(ne);
            }
            if (!read(&type) || !read(&info.offset) || dtype_info_by_id(type) == nullptr)
                return false;
            info.t.type = static_cast<DType>(type);
            info.t.rows = n / info.t.cols;
            infos.push_back(info);
        }
        const uint64_t data_start = (pos_ + alignment - 1) / alignment * alignment;
        for (Info& info : infos) {
            const int64_t bytes = info.t.rows * dtype_row_bytes(info.t.type, info.t.cols);
            if (data_start + info.offset + bytes > bytes_.size()) return false;
            info.t.data = bytes_.data() + data_start + info.offset;
            tensors_.push_back(info.t);
        }
        return true;
    }

    std::vector<uint8_t> bytes_;
    size_t pos_ = 0;
    std::vector<GgufTensor> tensors_;
};

TEST(KQuants, Registered) {
    for (Isa isa : available_isas()) {
        const KernelTable& kt = kernels_for(isa);
        for (DType t : kWeightTypes) {
            const TypeKernels& k = kt.of(t);
            EXPECT_NE(k.to_float, nullptr) << name_of(t);
            EXPECT_NE(k.vec_dot, nullptr) << name_of(t);
            EXPECT_EQ(k.vec_dot_type, t == DType::kIQ4_NL ? DType::kQ8_0 : DType::kQ8_K);
        }
        EXPECT_NE(kt.of(DType::kQ8_K).from_float, nullptr);
        EXPECT_NE(kt.of(DType::kQ8_K).to_float, nullptr);
    }
}

// dequant/<TYPE>.json: first 4 rows of token_embd.weight, bytes and ggml's float values.
TEST(KQuants, DequantMatchesOracleBitExact) {
    for (DType t : kWeightTypes) {
        const oracle::DequantOracle o = oracle::load_dequant(name_of(t));
        ASSERT_EQ(o.rows.size(), 4u) << name_of(t);
        ASSERT_EQ(o.row_bytes, dtype_row_bytes(t, o.row_elements)) << name_of(t);
        for (Isa isa : available_isas()) {
            for (size_t r = 0; r < o.rows.size(); ++r) {
                const auto& row = o.rows[r];
                ASSERT_EQ(static_cast<int64_t>(row.bytes.size()), o.row_bytes);
                ASSERT_EQ(static_cast<int64_t>(row.values.size()), o.row_elements);
                std::vector<float> out(o.row_elements);
                kernels_for(isa).of(t).to_float(row.bytes.data(), out.data(), o.row_elements);
                int64_t at = -1;
                EXPECT_TRUE(same_bits(out.data(), row.values.data(), o.row_elements, &at))
                    << name_of(t) << " " << isa_name(isa) << " row " << r << " element " << at
                    << ": got " << out[at] << ", llama.cpp " << row.values[at];
            }
        }
    }
}

// Every tensor of our types in the tiny-llama encodings: ref and avx2 to_float agree bit for
// bit, and the values stay within the type's quantization error of the F32 model's weights (a
// wrong nibble or scale order would give an error of the size of the weights themselves).
TEST(KQuants, DequantWholeModelTensors) {
    const std::string dir = "reference/models/";
    const MiniGguf f32(dir + "tiny-llama-F32.gguf");
    ASSERT_FALSE(f32.tensors().empty());
    // Largest relative RMSE allowed per type (the README's N(0,1) errors are 0.29, 0.15, 0.071,
    // 0.036, 0.018, 0.076 and 0.077).
    auto bound = [](DType t) {
        switch (t) {
            case DType::kQ2_K: return 0.40;
            case DType::kQ3_K: return 0.22;
            case DType::kQ4_K: return 0.11;
            case DType::kQ5_K: return 0.055;
            case DType::kQ6_K: return 0.03;
            default: return 0.12;  // IQ4_NL, IQ4_XS
        }
    };
    const char* files[] = {"Q2_K", "Q2_K-pure", "Q3_K-pure", "Q3_K_M", "Q4_K-pure", "Q4_K_M",
                           "Q5_K-pure", "Q5_K_M", "Q6_K", "IQ4_NL", "IQ4_XS"};
    int checked[kMaxDTypeId] = {};
    for (const char* f : files) {
        const MiniGguf q(dir + "tiny-llama-" + f + ".gguf");
        ASSERT_FALSE(q.tensors().empty()) << f;
        for (const GgufTensor& ti : q.tensors()) {
            bool ours = false;
            for (DType t : kWeightTypes) ours |= ti.type == t;
            if (!ours) continue;
            const int64_t n = ti.rows * ti.cols;
            const int64_t rb = dtype_row_bytes(ti.type, ti.cols);
            std::vector<float> ref(n), avx(n);
            for (int64_t r = 0; r < ti.rows; ++r) {
                kernels_for(Isa::kRef).of(ti.type).to_float(ti.data + r * rb,
                                                            ref.data() + r * ti.cols, ti.cols);
                kernels_for(Isa::kAvx2).of(ti.type).to_float(ti.data + r * rb,
                                                             avx.data() + r * ti.cols, ti.cols);
            }
            int64_t at = -1;
            EXPECT_TRUE(same_bits(ref.data(), avx.data(), n, &at))
                << f << " " << ti.name << " element " << at;
            const GgufTensor* src = f32.find(ti.name);
            ASSERT_NE(src, nullptr) << ti.name;
            ASSERT_EQ(src->type, DType::kF32);
            ASSERT_EQ(src->rows * src->cols, n);
            std::vector<float> w(n);
            std::memcpy(w.data(), src->data, n * sizeof(float));
            double err = 0.0, ss = 0.0;
            for (int64_t i = 0; i < n; ++i) {
                err += (static_cast<double>(ref[i]) - w[i]) * (static_cast<double>(ref[i]) - w[i]);
                ss += static_cast<double>(w[i]) * w[i];
            }
            const double rel = std::sqrt(err / ss);
            EXPECT_LT(rel, bound(ti.type)) << f << " " << ti.name << " " << name_of(ti.type);
            ++checked[static_cast<int>(ti.type)];
        }
    }
    for (DType t : kWeightTypes) EXPECT_GT(checked[static_cast<int>(t)], 0) << name_of(t);
}

// act.f32 -> Q8_K must equal llama.cpp's act_Q8_K.bin byte for byte.
TEST(KQuants, Q8KConversionMatchesOracleBytes) {
    const std::vector<float> x = oracle::activations();
    const std::vector<uint8_t> want = oracle::load_bytes("reference/quant/act_Q8_K.bin");
    const int64_t n = oracle::kActRows * oracle::kCols;
    ASSERT_EQ(static_cast<int64_t>(x.size()), n);
    ASSERT_EQ(static_cast<int64_t>(want.size()), dtype_row_bytes(DType::kQ8_K, n));
    for (Isa isa : available_isas()) {
        std::vector<uint8_t> got(want.size(), 0xAA);
        kernels_for(isa).of(DType::kQ8_K).from_float(x.data(), got.data(), n);
        int64_t first = -1;
        for (size_t i = 0; i < got.size() && first < 0; ++i)
            if (got[i] != want[i]) first = static_cast<int64_t>(i);
        EXPECT_EQ(first, -1) << isa_name(isa) << ": first differing byte " << first << " (block "
                             << first / static_cast<int64_t>(sizeof(BlockQ8_K)) << ")";
    }
}

// Edge cases of the Q8_K rule: all-zero blocks, ties for the largest |x| (the first wins, with
// its sign), a negative maximum, and random data with a wide range. ref and avx2 agree.
TEST(KQuants, Q8KConversionEdgeCases) {
    std::vector<float> x(4 * kQK_K, 0.0f);  // block 0 stays all zero
    for (int j = 0; j < kQK_K; ++j) x[kQK_K + j] = 0.01f * static_cast<float>(j % 7) - 0.02f;
    x[kQK_K + 10] = -3.0f;  // tie: -3 first, then +3
    x[kQK_K + 200] = 3.0f;
    std::mt19937 rng(7);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (int j = 0; j < kQK_K; ++j) x[2 * kQK_K + j] = nd(rng) * 1e-3f;
    for (int j = 0; j < kQK_K; ++j) x[3 * kQK_K + j] = nd(rng) * 1e4f;
    std::vector<BlockQ8_K> ref(4);
    kernels_for(Isa::kRef).of(DType::kQ8_K).from_float(x.data(), ref.data(), 4 * kQK_K);

    EXPECT_EQ(ref[0].d, 0.0f);
    for (int j = 0; j < kQK_K; ++j) EXPECT_EQ(ref[0].qs[j], 0);
    for (int k = 0; k < 16; ++k) EXPECT_EQ(ref[0].bsums[k], 0);
    // The first maximum is -3: iscale = 127/3 > 0, so -3 -> -127 and +3 -> +127.
    EXPECT_EQ(ref[1].qs[10], -127);
    EXPECT_EQ(ref[1].qs[200], 127);
    EXPECT_GT(ref[1].d, 0.0f);
    for (int b = 0; b < 4; ++b) {
        for (int k = 0; k < 16; ++k) {
            int s = 0;
            for (int l = 0; l < 16; ++l) s += ref[b].qs[16 * k + l];
            EXPECT_EQ(ref[b].bsums[k], s);
        }
        for (int j = 0; j < kQK_K; ++j)
            EXPECT_NEAR(ref[b].d * ref[b].qs[j], x[b * kQK_K + j], std::fabs(ref[b].d) * 0.5f);
    }
    if (!cpu_has_avx2()) return;
    std::vector<BlockQ8_K> avx(4);
    std::memset(avx.data(), 0x55, avx.size() * sizeof(BlockQ8_K));
    kernels_for(Isa::kAvx2).of(DType::kQ8_K).from_float(x.data(), avx.data(), 4 * kQK_K);
    EXPECT_EQ(std::memcmp(ref.data(), avx.data(), ref.size() * sizeof(BlockQ8_K)), 0);
    std::vector<float> back_ref(4 * kQK_K), back_avx(4 * kQK_K);
    kernels_for(Isa::kRef).of(DType::kQ8_K).to_float(ref.data(), back_ref.data(), 4 * kQK_K);
    kernels_for(Isa::kAvx2).of(DType::kQ8_K).to_float(ref.data(), back_avx.data(), 4 * kQK_K);
    int64_t at = -1;
    EXPECT_TRUE(same_bits(back_ref.data(), back_avx.data(), 4 * kQK_K, &at)) << at;
}

// y[i][j] = vec_dot(W row j, activation row i) over the 16 x 4096 reference weights.
std::vector<float> matmul_with(const KernelTable& kt, DType t, const std::vector<uint8_t>& w,
                               const uint8_t* act, int64_t act_row_bytes) {
    const int64_t wrb = dtype_row_bytes(t, oracle::kCols);
    std::vector<float> y(oracle::kActRows * oracle::kWeightRows);
    for (int64_t i = 0; i < oracle::kActRows; ++i)
        for (int64_t j = 0; j < oracle::kWeightRows; ++j)
            kt.of(t).vec_dot(oracle::kCols, &y[i * oracle::kWeightRows + j], w.data() + j * wrb,
                             act + i * act_row_bytes);
    return y;
}

TEST(KQuants, MatmulOracle) {
    const std::vector<float> x = oracle::activations();
    ASSERT_EQ(static_cast<int64_t>(x.size()), oracle::kActRows * oracle::kCols);
    for (DType t : kWeightTypes) {
        const oracle::MatmulCase c = oracle::load_matmul_case(name_of(t));
        const std::vector<uint8_t> w = oracle::load_bytes(c.weights_file);
        ASSERT_EQ(static_cast<int64_t>(w.size()),
                  oracle::kWeightRows * dtype_row_bytes(t, oracle::kCols));
        ASSERT_EQ(c.y.size(), static_cast<size_t>(oracle::kActRows * oracle::kWeightRows));
        const std::vector<uint8_t> act = oracle::load_bytes(c.activation_file);
        for (Isa isa : available_isas()) {
            const KernelTable& kt = kernels_for(isa);
            const DType vdt = kt.of(t).vec_dot_type;
            ASSERT_EQ(name_of(vdt), c.vec_dot_type);
            const int64_t arb = dtype_row_bytes(vdt, oracle::kCols);
            ASSERT_EQ(static_cast<int64_t>(act.size()), oracle::kActRows * arb);
            // llama.cpp's own activation blocks.
            const std::vector<float> y = matmul_with(kt, t, w, act.data(), arb);
            EXPECT_LT(oracle::rel_err(c.y, y.data()), 1e-5) << name_of(t) << " " << isa_name(isa);
            EXPECT_LT(oracle::rel_err(c.y_single, y.data()), 1e-5) << name_of(t);
            // Our own conversion (Q8_0 is another kernel family's: skip if absent).
            if (kt.of(vdt).from_float == nullptr) continue;
            std::vector<uint8_t> own(act.size());
            kt.of(vdt).from_float(x.data(), own.data(), oracle::kActRows * oracle::kCols);
            EXPECT_EQ(own, act) << name_of(vdt) << " conversion, " << isa_name(isa);
            const std::vector<float> y2 = matmul_with(kt, t, w, own.data(), arb);
            EXPECT_LT(oracle::rel_err(c.y, y2.data()), 1e-5) << name_of(t) << " " << isa_name(isa);
        }
    }
}

// Random weight blocks: random bytes everywhere, then sane f16 scales (random sign and a
// magnitude around 1e-3..1e-1) so the dots are finite and not dominated by one block.
std::vector<uint8_t> random_weights(DType t, int64_t n, std::mt19937& rng) {
    std::vector<uint8_t> b(dtype_row_bytes(t, n));
    for (auto& v : b) v = static_cast<uint8_t>(rng());
    std::uniform_real_distribution<float> mag(1e-3f, 1e-1f);
    auto scale = [&] { return f32_to_fp16((rng() & 1 ? -1.0f : 1.0f) * mag(rng)); };
    const int64_t nb = n / dtype_block_elems(t);
    for (int64_t i = 0; i < nb; ++i) {
        uint8_t* p = b.data() + i * dtype_block_bytes(t);
        auto put = [&](size_t off) {
            const uint16_t h = scale();
            std::memcpy(p + off, &h, 2);
        };
        switch (t) {
            case DType::kQ2_K: put(offsetof(BlockQ2_K, d)); put(offsetof(BlockQ2_K, dmin)); break;
            case DType::kQ3_K: put(offsetof(BlockQ3_K, d)); break;
            case DType::kQ4_K: put(offsetof(BlockQ4_K, d)); put(offsetof(BlockQ4_K, dmin)); break;
            case DType::kQ5_K: put(offsetof(BlockQ5_K, d)); put(offsetof(BlockQ5_K, dmin)); break;
            case DType::kQ6_K: put(offsetof(BlockQ6_K, d)); break;
            case DType::kIQ4_NL: put(offsetof(BlockIQ4_NL, d)); break;
            case DType::kIQ4_XS: put(offsetof(BlockIQ4_XS, d)); break;
            default: ADD_FAILURE() << name_of(t);
        }
    }
    return b;
}

// avx2 vs ref (and both vs a float64 dot of the dequantized rows) on random data: rows of 1 to
// 9 super-blocks (IQ4_NL: odd and even block counts), weights and activations off 32-byte
// alignment. The integer sums are exact in both; only the float order of the per-super-block
// terms differs, hence a tolerance relative to sum |w * a|. vec_dot_rows (1..4 activation rows)
// must give vec_dot's bits.
TEST(KQuants, Avx2MatchesRefOnRandomRows) {
    if (!cpu_has_avx2()) GTEST_SKIP() << "no AVX2";
    const KernelTable& ref = kernels_for(Isa::kRef);
    const KernelTable& avx = kernels_for(Isa::kAvx2);
    std::mt19937 rng(1234);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    for (DType t : kWeightTypes) {
        const DType vdt = ref.of(t).vec_dot_type;
        const TypeKernels& conv = ref.of(vdt);
        if (conv.from_float == nullptr) {
            ADD_FAILURE() << "no from_float for " << name_of(vdt);
            continue;
        }
        for (int64_t k = 1; k <= 9; ++k) {
            const int64_t n = t == DType::kIQ4_NL ? 32 * (2 * k + 1) : kQK_K * k;
            for (int rep = 0; rep < 8; ++rep) {
                const std::vector<uint8_t> w = random_weights(t, n, rng);
                std::vector<float> a(n);
                for (auto& v : a) v = nd(rng) * (rep == 7 ? 100.0f : 1.0f);
                std::vector<uint8_t> q(dtype_row_bytes(vdt, n));
                conv.from_float(a.data(), q.data(), n);

                // Copies off 32-byte alignment: weights by 2 bytes (their f16 fields stay
                // aligned), activations by 4 (Q8_K's f32 d stays aligned).
                std::vector<uint8_t> wbuf(w.size() + 64), qbuf(q.size() + 64);
                auto shifted = [](std::vector<uint8_t>& buf, int off) {
                    auto addr = reinterpret_cast<uintptr_t>(buf.data());
                    return buf.data() + ((32 - addr % 32) % 32) + off;
                };
                uint8_t* wp = shifted(wbuf, 2);
                uint8_t* qp = shifted(qbuf, 4);
                std::memcpy(wp, w.data(), w.size());
                std::memcpy(qp, q.data(), q.size());

                float s_ref = 0.0f, s_avx = 0.0f;
                ref.of(t).vec_dot(n, &s_ref, wp, qp);
                avx.of(t).vec_dot(n, &s_avx, wp, qp);

                std::vector<float> wf(n), af(n);
                ref.of(t).to_float(w.data(), wf.data(), n);
                ref.of(vdt).to_float(q.data(), af.data(), n);
                double exact = 0.0, mag = 0.0;
                for (int64_t e = 0; e < n; ++e) {
                    exact += static_cast<double>(wf[e]) * af[e];
                    mag += std::fabs(static_cast<double>(wf[e]) * af[e]);
                }
                const double tol = 2e-6 * mag + 1e-30;
                EXPECT_NEAR(s_ref, exact, tol) << name_of(t) << " n=" << n << " rep " << rep;
                EXPECT_NEAR(s_avx, exact, tol) << name_of(t) << " n=" << n << " rep " << rep;
                EXPECT_NEAR(s_avx, s_ref, tol) << name_of(t) << " n=" << n << " rep " << rep;

                // Several activation rows at once: each bit-identical to the one-row kernel.
                for (Isa isa : available_isas()) {
                    const TypeKernels& k = kernels_for(isa).of(t);
                    if (k.vec_dot_rows == nullptr) continue;
                    const int64_t ab = static_cast<int64_t>(q.size()) + 4;  // padded rows
                    std::vector<uint8_t> rows_buf(kMaxDotRows * ab + 64);
                    uint8_t* rp = shifted(rows_buf, 4);
                    std::vector<float> one(kMaxDotRows);
                    for (int r = 0; r < kMaxDotRows; ++r) {
                        std::vector<float> ar(n);
                        for (auto& v : ar) v = nd(rng);
                        conv.from_float(ar.data(), rp + r * ab, n);
                        k.vec_dot(n, &one[r], wp, rp + r * ab);
                    }
                    for (int nr = 1; nr <= kMaxDotRows; ++nr) {
                        float got[kMaxDotRows];
                        k.vec_dot_rows(n, nr, got, wp, rp, ab);
                        for (int r = 0; r < nr; ++r)
                            EXPECT_EQ(f32_bits(got[r]), f32_bits(one[r]))
                                << name_of(t) << " " << isa_name(isa) << " nr=" << nr << " row "
                                << r;
                    }
                }

                // to_float from the unaligned copy agrees bit for bit.
                std::vector<float> wf_avx(n);
                avx.of(t).to_float(wp, wf_avx.data(), n);
                int64_t at = -1;
                EXPECT_TRUE(same_bits(wf.data(), wf_avx.data(), n, &at))
                    << name_of(t) << " n=" << n << " element " << at;
            }
        }
    }
}

}  // namespace
}  // namespace tk::kernels
