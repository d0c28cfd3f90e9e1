// KL divergence: the base file format, a model against itself, quantized models against the F32
// stories260K base, and refusal of base files that do not fit the run.
#include "eval/kl_divergence.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include "eval/eval_test_util.h"
#include "eval/kl_base_file.h"
#include "eval/perplexity.h"
#include "testutil/testutil.h"

namespace tk::eval {
namespace {

using test::load;
using test::oracle_text;

constexpr const char* kBaseModel = "models/gguf/stories260K.gguf";

// One base file for the suite: the F32 stories260K over all 148 chunks of 128 tokens.
class KlDivergence : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        dir_ = new testing::TempDir();
        base_path_ = dir_->file("stories260K.tkkl");
        base_model_ = load(kBaseModel).release();
        ASSERT_NE(base_model_, nullptr);
        tokens_ = new std::vector<int32_t>(tokenize_text(*base_model_, oracle_text()));
        PerplexityOptions o;
        o.n_ctx = 128;
        o.kl_base_path = base_path_;
        auto r = perplexity(*base_model_, *tokens_, o);
        ASSERT_TRUE(r.is_ok()) << r.status().to_string();
        base_ppl_ = new PerplexityResult(*r);
    }
    static void TearDownTestSuite() {
        delete base_ppl_;
        delete tokens_;
        delete base_model_;
        delete dir_;
    }

    static Result<KldResult> compare(const model::Model& m, KldOptions o = {}) {
        return kl_divergence(m, base_path_, *tokens_, o);
    }

    static testing::TempDir* dir_;
    static std::string base_path_;
    static model::Model* base_model_;
    static std::vector<int32_t>* tokens_;
    static PerplexityResult* base_ppl_;
};

testing::TempDir* KlDivergence::dir_ = nullptr;
std::string KlDivergence::base_path_;
model::Model* KlDivergence::base_model_ = nullptr;
std::vector<int32_t>* KlDivergence::tokens_ = nullptr;
PerplexityResult* KlDivergence::base_ppl_ = nullptr;

TEST_F(KlDivergence, BaseFileHasTheDocumentedLayout) {
    auto s = read_kl_base_summary(base_path_);
    ASSERT_TRUE(s.is_ok()) << s.status().to_string();
    EXPECT_EQ(s->n_ctx, 128);
    EXPECT_EQ(s->n_vocab, 512);
    EXPECT_EQ(s->n_chunks, 148);
    EXPECT_EQ(s->tokens_hash, hash_tokens(std::span<const int32_t>(*tokens_).first(148 * 128)));
    // 64-byte header, the tokens, then 148 x 63 records of 20 + 2 * 512 bytes.
    EXPECT_EQ(std::filesystem::file_size(base_path_),
              64u + 4u * 148 * 128 + 148u * 63 * (20 + 1024));
    // Writing the base file does not change the perplexity run.
    EXPECT_NEAR(base_ppl_->ppl, 4.0335, 1e-3 * 4.0335);
}

TEST_F(KlDivergence, ModelAgainstItselfIsZero) {
    auto r = compare(*base_model_);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    EXPECT_EQ(r->n_chunks, 148);
    EXPECT_EQ(r->count, 148 * 63);
    // Only the 16-bit log-prob codes differ from the logits: a second-order ~1e-8 effect.
    EXPECT_LT(std::abs(r->kld.value), 1e-6) << r->kld.value;
    EXPECT_LT(r->kld_quantiles.front().value, 1e-5);  // max
    EXPECT_GT(r->kld_quantiles.back().value, -1e-6);  // min
    EXPECT_EQ(r->same_top.value, 1.0);
    EXPECT_EQ(r->dp.value, 0.0);
    EXPECT_EQ(r->dp_rms.value, 0.0);
    EXPECT_DOUBLE_EQ(r->ppl.value, base_ppl_->ppl);
    EXPECT_DOUBLE_EQ(r->ppl_base.value, base_ppl_->ppl);
    EXPECT_DOUBLE_EQ(r->ppl.error, base_ppl_->ppl_stderr);
    EXPECT_NEAR(r->ln_ppl_ratio.value, 0.0, 1e-15);
    EXPECT_NEAR(r->ln_ppl_correlation, 1.0, 1e-9);
    ASSERT_EQ(r->chunks.size(), 148u);
    EXPECT_NEAR(r->chunks.back().ppl.value, base_ppl_->ppl, 1e-12);
    for (size_t i = 0; i < r->chunks.size(); ++i)
        EXPECT_NEAR(r->chunks[i].ppl.value, base_ppl_->running[i], 1e-12);
}

TEST_F(KlDivergence, StoredTokensBatchSizeAndChunkLimit) {
    // Without the text the tokens stored in the base file are evaluated; another batch size
    // changes the logits by float noise only.
    KldOptions o;
    o.n_batch = 32;
    o.max_chunks = 20;
    auto r = kl_divergence(*base_model_, base_path_, {}, o);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    EXPECT_EQ(r->n_chunks, 20);
    EXPECT_EQ(r->n_batch, 32);
    EXPECT_EQ(r->count, 20 * 63);
    EXPECT_LT(std::abs(r->kld.value), 1e-6);
    EXPECT_EQ(r->same_top.value, 1.0);
    EXPECT_NEAR(r->ppl.value, base_ppl_->running[19], 1e-6 * base_ppl_->running[19]);
    EXPECT_NEAR(r->ppl_base.value, base_ppl_->running[19], 1e-12);
}

TEST_F(KlDivergence, QuantizedModelsOrderAsExpected) {
    struct Case {
        const char* file;
        double oracle_ppl;
    };
    const Case cases[] = {{"models/gguf/stories260K-F16.gguf", 4.0331},
                          {"models/gguf/stories260K-Q8_0.gguf", 4.0387},
                          {"models/gguf/stories260K-Q4_0.gguf", 4.3634}};
    std::vector<double> mean_kld;
    for (const Case& c : cases) {
        SCOPED_TRACE(c.file);
        auto m = load(c.file);
        ASSERT_TRUE(m);
        auto r = compare(*m);
        ASSERT_TRUE(r.is_ok()) << r.status().to_string();
        mean_kld.push_back(r->kld.value);
        EXPECT_GT(r->kld.value, 0.0);
        EXPECT_GT(r->kld.error, 0.0);
        EXPECT_LT(r->kld.error, r->kld.value);
        // The quantized model's own PPL is its perplexity run's; the base's is the F32 model's.
        EXPECT_NEAR(r->ppl.value, c.oracle_ppl, 1e-3 * c.oracle_ppl);
        EXPECT_DOUBLE_EQ(r->ppl_base.value, base_ppl_->ppl);
        EXPECT_NEAR(r->ln_ppl_ratio.value, std::log(r->ppl.value / r->ppl_base.value), 1e-12);
        EXPECT_NEAR(r->ppl_ratio.value, r->ppl.value / r->ppl_base.value, 1e-12);
        EXPECT_NEAR(r->ppl_diff.value, r->ppl.value - r->ppl_base.value, 1e-12);
        EXPECT_GT(r->ln_ppl_correlation, 0.9);
        EXPECT_LE(r->ln_ppl_correlation, 1.0 + 1e-9);
        EXPECT_GT(r->same_top.value, 0.8);
        EXPECT_LT(r->same_top.value, 1.0);
        EXPECT_GT(r->dp_rms.value, 0.0);
        // Quantiles run from the maximum down to the minimum; KLD >= 0 up to the codes' noise.
        ASSERT_EQ(r->kld_quantiles.size(), 13u);
        for (size_t i = 1; i < r->kld_quantiles.size(); ++i) {
            EXPECT_LE(r->kld_quantiles[i].value, r->kld_quantiles[i - 1].value);
            EXPECT_LE(r->dp_quantiles[i].value, r->dp_quantiles[i - 1].value);
        }
        EXPECT_GT(r->kld_quantiles.back().value, -1e-6);
        EXPECT_EQ(r->kld_quantiles[6].fraction, 0.5);
        EXPECT_LE(r->kld_quantiles[6].value, r->kld.value);  // skewed: median below the mean
        std::printf(
            "[ kld ] %-36s PPL(Q) %.4f  ratio %.5f  KLD %.6f +/- %.6f  median %.6f  p99 %.6f  max "
            "%.4f"
            "  same top %.2f%%  RMS dp %.3f%%\n",
            c.file, r->ppl.value, r->ppl_ratio.value, r->kld.value, r->kld.error,
            r->kld_quantiles[6].value, r->kld_quantiles[2].value, r->kld_quantiles[0].value,
            100 * r->same_top.value, 100 * r->dp_rms.value);
    }
    ASSERT_EQ(mean_kld.size(), 3u);
    EXPECT_LT(mean_kld[0], mean_kld[1]);  // F16 < Q8_0
    EXPECT_LT(mean_kld[1], mean_kld[2]);  // Q8_0 < Q4_0
    EXPECT_GT(mean_kld[2], 1e-3);         // 4-bit weights visibly change the distribution
    EXPECT_LT(mean_kld[2], 0.5);          // but the model still works
}

TEST_F(KlDivergence, RefusesAnotherContextSize) {
    KldOptions o;
    o.n_ctx = 64;
    auto r = compare(*base_model_, o);
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find("context of 128"), std::string::npos)
        << r.status().message();
    EXPECT_NE(r.status().message().find("-c 128"), std::string::npos);
}

TEST_F(KlDivergence, RefusesAnotherText) {
    // The same text without its first line: every chunk shifts.
    const std::string& text = oracle_text();
    const std::vector<int32_t> other =
        tokenize_text(*base_model_, text.substr(text.find('\n') + 1));
    auto r = kl_divergence(*base_model_, base_path_, other, {});
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find("does not match"), std::string::npos)
        << r.status().message();
    // A text too short to hold the base file's chunks.
    const std::vector<int32_t> prefix(tokens_->begin(), tokens_->begin() + 1000);
    r = kl_divergence(*base_model_, base_path_, prefix, {});
    ASSERT_FALSE(r.is_ok());
    EXPECT_NE(r.status().message().find("1000 tokens"), std::string::npos) << r.status().message();
}

TEST_F(KlDivergence, RefusesAnotherVocabulary) {
    auto m = load("models/gguf/llama-2-tiny-random.gguf");
    ASSERT_TRUE(m);
    auto r = kl_divergence(*m, base_path_, {}, {});
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find("512 logits"), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find("32000"), std::string::npos) << r.status().message();
}

TEST_F(KlDivergence, RefusesBrokenFiles) {
    auto r = kl_divergence(*base_model_, dir_->file("missing.tkkl"), {}, {});
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kNotFound);

    std::vector<uint8_t> bytes = testing::read_file_bytes(base_path_);
    auto write = [&](const std::string& name, const std::vector<uint8_t>& b) {
        std::ofstream f(dir_->file(name), std::ios::binary);
        f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
        return dir_->file(name);
    };
    std::vector<uint8_t> truncated(bytes.begin(), bytes.end() - 100);
    r = kl_divergence(*base_model_, write("truncated.tkkl", truncated), {}, {});
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kCorruptFile);
    EXPECT_NE(r.status().message().find("truncated"), std::string::npos) << r.status().message();

    std::vector<uint8_t> bad_magic = bytes;
    bad_magic[0] = 'X';
    r = kl_divergence(*base_model_, write("magic.tkkl", bad_magic), {}, {});
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kCorruptFile);

    std::vector<uint8_t> huge_chunks = bytes;
    huge_chunks[20] = 0xff;
    huge_chunks[23] = 0x7f;
    r = kl_divergence(*base_model_, write("chunks.tkkl", huge_chunks), {}, {});
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kCorruptFile);

    std::vector<uint8_t> bad_token = bytes;
    bad_token[64 + 4 * 5] ^= 1;  // the stored tokens no longer match their hash
    r = kl_divergence(*base_model_, write("token.tkkl", bad_token), {}, {});
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kCorruptFile);

    std::vector<uint8_t> tiny(bytes.begin(), bytes.begin() + 10);
    r = kl_divergence(*base_model_, write("tiny.tkkl", tiny), {}, {});
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kCorruptFile);
}

TEST(KlBaseRecord, RoundTripKeepsTheDistribution) {
    std::mt19937 rng(7);
    std::normal_distribution<float> nd(0.0f, 4.0f);
    for (int64_t V : {2, 7, 512, 32000}) {
        SCOPED_TRACE(V);
        std::vector<float> logits(static_cast<size_t>(V));
        for (float& l : logits) l = nd(rng);
        logits[static_cast<size_t>(V / 2)] += 40.0f;  // one clear favourite
        std::vector<uint8_t> rec(static_cast<size_t>(kKlRecordHeaderBytes + 2 * V));
        const int32_t next = static_cast<int32_t>(V - 1);
        encode_record(logits.data(), V, next, rec.data());
        std::vector<double> lp(static_cast<size_t>(V));
        const BaseRecord b = decode_record(rec.data(), V, lp.data());
        EXPECT_EQ(b.top1, V / 2);
        EXPECT_DOUBLE_EQ(b.nll, token_nll(logits.data(), V, next));
        // Exact log-softmax in double.
        double mx = -INFINITY;
        for (float l : logits) mx = std::max(mx, static_cast<double>(l));
        double z = 0;
        for (float l : logits) z += std::exp(l - mx);
        double kld = 0, mass = 0;
        for (int64_t i = 0; i < V; ++i) {
            const double exact = logits[static_cast<size_t>(i)] - mx - std::log(z);
            mass += std::exp(lp[static_cast<size_t>(i)]);
            if (exact > -kLogProbRange + 1) {
                EXPECT_NEAR(lp[static_cast<size_t>(i)], exact, 1e-3) << i;
            }
            kld += std::exp(lp[static_cast<size_t>(i)]) * (lp[static_cast<size_t>(i)] - exact);
        }
        EXPECT_NEAR(mass, 1.0, 1e-12);
        EXPECT_LT(std::abs(kld), 1e-6);
    }
    // All logits equal: a zero step, still a uniform distribution.
    std::vector<float> flat(10, 1.5f);
    std::vector<uint8_t> rec(static_cast<size_t>(kKlRecordHeaderBytes + 20));
    encode_record(flat.data(), 10, 3, rec.data());
    std::vector<double> lp(10);
    decode_record(rec.data(), 10, lp.data());
    for (double v : lp) EXPECT_NEAR(v, -std::log(10.0), 1e-12);
}

TEST(KlBaseRecord, PercentileInterpolates) {
    const std::vector<double> v = {1, 2, 3, 4};
    EXPECT_EQ(percentile(v, 0.0), 1);
    EXPECT_EQ(percentile(v, 1.0), 4);
    EXPECT_DOUBLE_EQ(percentile(v, 0.5), 2.5);
    EXPECT_DOUBLE_EQ(percentile(v, 0.25), 1.75);
    EXPECT_EQ(percentile({}, 0.5), 0.0);
}

TEST(KlBaseRecord, TokensHashIsFnv1a) {
    EXPECT_EQ(hash_tokens({}), 14695981039346656037ull);
    const std::vector<int32_t> a = {1, 2, 3}, b = {1, 3, 2};
    EXPECT_NE(hash_tokens(a), hash_tokens(b));
}

}  // namespace
}  // namespace tk::eval
