// Speculative decoding over real tiny models: stories260K (F32) as the target with its Q8_0 and
// Q4_0 quantizations as drafts, and prompt lookup. Greedy output must equal model::Session's
// plain greedy decoding token for token, with several sequences batched, prefills chunked and
// prefixes cached.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "engine/engine_core.h"
#include "engine/runner.h"
#include "model/model.h"
#include "model/session.h"
#include "testutil/testutil.h"
#include "tokenizer/tokenizer.h"

namespace tk::engine {
namespace {

std::unique_ptr<model::Model> load(const std::string& rel) {
    model::LoadOptions lo;
    lo.n_threads = 2;
    auto m = model::Model::load(tk::testing::shared_path(rel), lo);
    EXPECT_TRUE(m.is_ok()) << m.status().to_string();
    return m.is_ok() ? std::move(m).value() : nullptr;
}

std::vector<std::string> prompts() {
    std::ifstream f(tk::testing::shared_path("models/text/tinystories-validation-head.txt"));
    std::stringstream ss;
    ss << f.rdbuf();
    const std::string all = ss.str();
    std::vector<std::string> out;
    size_t pos = 0;
    for (int i = 0; i < 5 && pos < all.size(); ++i) {
        const size_t len = 20 + static_cast<size_t>((i * 71) % 150);
        out.push_back(all.substr(pos, len));
        pos += len + 29;
    }
    out.push_back("Once upon a time");
    return out;
}

std::vector<int32_t> session_greedy(const model::Model& m, const std::vector<int32_t>& prompt,
                                    int n) {
    model::Session s(m, 512, kv::KvType::kF16);
    std::vector<float> logits;
    EXPECT_TRUE(
        s.decode(prompt.data(), static_cast<int64_t>(prompt.size()), false, logits).is_ok());
    std::vector<int32_t> out;
    for (int i = 0; i < n; ++i) {
        const int32_t id = sampling::argmax(logits);
        if (m.tokenizer().is_eog(id)) break;
        out.push_back(id);
        if (i + 1 == n) break;
        EXPECT_TRUE(s.decode(&id, 1, false, logits).is_ok());
    }
    return out;
}

class SpecModelTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        target_ = load("models/gguf/stories260K.gguf").release();
        q8_ = load("models/gguf/stories260K-Q8_0.gguf").release();
        q4_ = load("models/gguf/stories260K-Q4_0.gguf").release();
    }
    static void TearDownTestSuite() {
        delete target_;
        delete q8_;
        delete q4_;
    }
    static inline model::Model* target_ = nullptr;
    static inline model::Model* q8_ = nullptr;
    static inline model::Model* q4_ = nullptr;
};

constexpr int kGen = 40;

TEST_F(SpecModelTest, GreedyEqualsPlainDecodingWithDraftModelsAndLookup) {
    ASSERT_TRUE(target_ && q8_ && q4_);
    const tokenizer::Tokenizer& tok = target_->tokenizer();
    std::vector<std::vector<int32_t>> ps, expected;
    for (const auto& t : prompts()) {
        ps.push_back(tok.encode(t, true, false));
        expected.push_back(session_greedy(*target_, ps.back(), kGen));
    }
    struct Case {
        const char* name;
        const model::Model* draft;
        int lookup;
        int64_t draft_n;
        double min_rate;  // acceptance rate floor (a regression guard, far below the usual)
    };
    for (const Case& c : {Case{"q8_0", q8_, 0, 5, 0.8}, Case{"q4_0", q4_, 0, 3, 0.6},
                          Case{"lookup", nullptr, 3, 4, 0.0}}) {
        EngineConfig cfg;
        cfg.max_batch_tokens = 40;  // long prompts are chunked while others decode
        cfg.max_seqs = 4;
        cfg.draft_n = c.draft_n;
        cfg.lookup_ngram = c.lookup;
        EngineCore core(std::make_unique<ModelRunner>(*target_, 96, 16, kv::KvType::kF16, c.draft),
                        &tok, cfg);
        std::vector<std::shared_ptr<Stream>> streams;
        // Every prompt twice: the second copy hits the prefix cache.
        for (int round = 0; round < 2; ++round) {
            for (const auto& p : ps) {
                Request r;
                r.prompt = p;
                r.max_tokens = kGen;
                r.sampling.temperature = 0.0f;
                auto s = core.submit(std::move(r));
                ASSERT_TRUE(s.is_ok()) << s.status().to_string();
                streams.push_back(*s);
            }
        }
        std::vector<std::vector<int32_t>> got(streams.size());
        for (int i = 0; i < 100000 && core.has_work(); ++i) {
            core.step();
            for (size_t k = 0; k < streams.size(); ++k)
                while (auto e = streams[k]->try_read())
                    if (!e->is_final()) got[k].push_back(e->token);
        }
        ASSERT_FALSE(core.has_work());
        for (size_t k = 0; k < streams.size(); ++k)
            EXPECT_EQ(got[k], expected[k % ps.size()]) << c.name << " request " << k;
        const EngineStats st = core.stats();
        EXPECT_EQ(st.kv.used, 0);
        EXPECT_GT(st.kv.hit_tokens, 0);
        EXPECT_GT(st.spec_drafted, 0) << c.name;
        const double rate = static_cast<double>(st.spec_accepted) / st.spec_drafted;
        EXPECT_GE(rate, c.min_rate) << c.name;
        std::printf("[ info ] %s: drafted %lld accepted %lld rate %.3f steps %lld\n", c.name,
                    static_cast<long long>(st.spec_drafted),
                    static_cast<long long>(st.spec_accepted), rate,
                    static_cast<long long>(st.steps));
    }
}

TEST_F(SpecModelTest, SampledSpeculationFinishesAndFreesEverything) {
    ASSERT_TRUE(target_ && q8_);
    const tokenizer::Tokenizer& tok = target_->tokenizer();
    EngineConfig cfg;
    cfg.draft_n = 4;
    EngineCore core(std::make_unique<ModelRunner>(*target_, 64, 16, kv::KvType::kF16, q8_), &tok,
                    cfg);
    std::vector<std::shared_ptr<Stream>> streams;
    for (uint64_t seed = 1; seed <= 3; ++seed) {
        Request r;
        r.prompt = tok.encode("Once upon a time", true, false);
        r.max_tokens = 30;
        r.sampling.seed = seed;
        auto s = core.submit(std::move(r));
        ASSERT_TRUE(s.is_ok());
        streams.push_back(*s);
    }
    for (int i = 0; i < 10000 && core.has_work(); ++i) core.step();
    ASSERT_FALSE(core.has_work());
    for (auto& s : streams) {
        int finals = 0, tokens = 0;
        while (auto e = s->try_read()) (e->is_final() ? finals : tokens)++;
        EXPECT_EQ(finals, 1);
        EXPECT_GT(tokens, 0);
        EXPECT_LE(tokens, 30);
    }
    const EngineStats st = core.stats();
    EXPECT_EQ(st.kv.used, 0);
    EXPECT_GT(st.spec_accepted, 0);
}

}  // namespace
}  // namespace tk::engine
