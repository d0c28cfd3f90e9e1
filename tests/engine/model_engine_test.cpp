// The engine over real tiny models: batched == one at a time, chunked prefill == single prefill,
// prefix-cached == uncached, and llama.cpp's logits through the batched paged path.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "engine/engine.h"
#include "engine/runner.h"
#include "engine_test_util.h"
#include "kv/block_pool.h"
#include "model/model.h"
#include "model/session.h"
#include "testutil/testutil.h"
#include "tokenizer/tokenizer.h"

namespace tk::engine {
namespace {

using testing::make_request;

std::unique_ptr<model::Model> load(const std::string& rel) {
    model::LoadOptions lo;
    lo.n_threads = 2;
    auto m = model::Model::load(tk::testing::shared_path(rel), lo);
    EXPECT_TRUE(m.is_ok()) << m.status().to_string();
    return m.is_ok() ? std::move(m).value() : nullptr;
}

// Paragraphs of the TinyStories sample, cut to different lengths.
std::vector<std::string> sample_texts(int n) {
    std::ifstream f(tk::testing::shared_path("models/text/tinystories-validation-head.txt"));
    std::stringstream ss;
    ss << f.rdbuf();
    const std::string all = ss.str();
    std::vector<std::string> out;
    size_t pos = 0;
    for (int i = 0; i < n && pos < all.size(); ++i) {
        const size_t len = 30 + static_cast<size_t>((i * 97) % 260);
        out.push_back(all.substr(pos, len));
        pos += len + 13;
    }
    return out;
}

// Greedy continuation through model::Session, stopping at end-of-generation like the engine.
std::vector<int32_t> session_greedy(const model::Model& m, const std::vector<int32_t>& prompt,
                                    int n, kv::KvType kv) {
    model::Session s(m, 512, kv);
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

struct Collected {
    std::vector<int32_t> tokens;
    std::vector<float> logprobs;
    std::string text;
    Usage usage;
    FinishReason finish = FinishReason::kNone;
};

Collected read_all(Stream& s) {
    Collected c;
    for (int guard = 0; guard < 100000; ++guard) {
        auto e = s.read();
        if (!e) break;
        c.text += e->text;
        if (e->is_final()) {
            c.usage = e->usage;
            c.finish = e->finish;
        } else {
            c.tokens.push_back(e->token);
            c.logprobs.push_back(e->logprob);
        }
    }
    return c;
}

class ModelEngineTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ModelEngineTest, ConcurrentGreedyEqualsOneAtATime) {
    auto m = load(GetParam());
    ASSERT_NE(m, nullptr);
    const auto texts = sample_texts(7);
    std::vector<std::vector<int32_t>> prompts;
    for (const auto& t : texts) prompts.push_back(m->tokenizer().encode(t, true, false));
    constexpr int kGen = 24;
    // References first: the model's thread pool serves one forward pass at a time, so nothing
    // else may run the model while the engine does.
    std::vector<std::vector<int32_t>> expected;
    for (const auto& p : prompts) expected.push_back(session_greedy(*m, p, kGen, kv::KvType::kF16));

    EngineConfig cfg;
    cfg.max_batch_tokens = 48;  // long prompts are chunked while the others decode
    cfg.max_seqs = 8;
    Engine engine(std::make_unique<ModelRunner>(*m, 128, 16), &m->tokenizer(), cfg);
    std::vector<std::shared_ptr<Stream>> streams;
    for (const auto& p : prompts) {
        Request r = make_request(p, kGen);
        r.logprobs = true;
        auto s = engine.submit(std::move(r));
        ASSERT_TRUE(s.is_ok()) << s.status().to_string();
        streams.push_back(*s);
    }
    for (size_t i = 0; i < prompts.size(); ++i) {
        const Collected c = read_all(*streams[i]);
        EXPECT_EQ(c.tokens, expected[i])
            << "prompt " << i << " (" << prompts[i].size() << " tokens)";
        // The random-weight models emit stray bytes, which the stream decoder turns into U+FFFD.
        if (GetParam().find("stories") != std::string::npos) {
            EXPECT_EQ(c.text, m->tokenizer().detokenize(c.tokens, false, false));
        }
        EXPECT_EQ(c.usage.prompt_tokens, static_cast<int64_t>(prompts[i].size()));
        EXPECT_EQ(c.usage.completion_tokens, static_cast<int64_t>(c.tokens.size()) +
                                                 (c.finish == FinishReason::kStop ? 1 : 0));
        for (float lp : c.logprobs) EXPECT_LE(lp, 0.0f);
    }
    const EngineStats st = engine.stats();
    EXPECT_EQ(st.kv.used, 0);
    EXPECT_GT(st.computed_tokens, 0);
}

TEST_P(ModelEngineTest, PrefixCachedAndChunkedEqualUncachedSinglePrefill) {
    auto m = load(GetParam());
    ASSERT_NE(m, nullptr);
    const auto texts = sample_texts(7);
    const std::vector<int32_t> base = m->tokenizer().encode(texts[2] + texts[3], true, false);
    ASSERT_GT(base.size(), 64u);
    std::vector<int32_t> longer = base;
    const auto extra = m->tokenizer().encode(texts[4], false, false);
    longer.insert(longer.end(), extra.begin(), extra.end());

    auto run = [&](bool caching, int64_t budget) {
        EngineConfig cfg;
        cfg.prefix_caching = caching;
        cfg.max_batch_tokens = budget;
        EngineCore core(std::make_unique<ModelRunner>(*m, 64, 16), &m->tokenizer(), cfg);
        std::vector<Collected> out;
        for (const auto& p : {base, longer, base}) {
            Request r = make_request(p, 12);
            r.logprobs = true;
            auto s = core.submit(std::move(r));
            EXPECT_TRUE(s.is_ok());
            for (int i = 0; i < 10000 && core.has_work(); ++i) core.step();
            out.push_back(read_all(**s));
        }
        EXPECT_EQ(core.pool().stats().used, 0);
        return out;
    };
    const auto plain = run(false, 512);
    const auto cached = run(true, 512);
    const auto chunked = run(false, 7);
    EXPECT_EQ(cached[0].usage.cached_tokens, 0);
    EXPECT_EQ(cached[1].usage.cached_tokens, static_cast<int64_t>(base.size()) / 16 * 16);
    EXPECT_EQ(cached[2].usage.cached_tokens, static_cast<int64_t>(base.size()) / 16 * 16);
    for (size_t i = 0; i < plain.size(); ++i) {
        EXPECT_EQ(cached[i].tokens, plain[i].tokens) << "request " << i;
        EXPECT_EQ(chunked[i].tokens, plain[i].tokens) << "request " << i;
        ASSERT_EQ(cached[i].logprobs.size(), plain[i].logprobs.size());
        ASSERT_EQ(chunked[i].logprobs.size(), plain[i].logprobs.size());
        for (size_t k = 0; k < plain[i].logprobs.size(); ++k) {
            EXPECT_NEAR(cached[i].logprobs[k], plain[i].logprobs[k], 1e-4)
                << "request " << i << " token " << k;
            EXPECT_NEAR(chunked[i].logprobs[k], plain[i].logprobs[k], 1e-4)
                << "request " << i << " token " << k;
        }
    }
    EXPECT_EQ(plain[0].tokens, session_greedy(*m, base, 12, kv::KvType::kF16));
}

INSTANTIATE_TEST_SUITE_P(Models, ModelEngineTest,
                         ::testing::Values("models/gguf/stories260K.gguf",
                                           "reference/models/tiny-llama-Q4_K_M.gguf"),
                         [](const auto& info) {
                             std::string s = info.param.substr(info.param.rfind('/') + 1);
                             for (char& c : s)
                                 if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                             return s;
                         });

// llama.cpp's logits (F32 KV cache) for the 37-token prompt, computed through ModelRunner in two
// chunks, in blocks scattered over the pool, batched together with another sequence.
class OracleBatchedTest : public ::testing::TestWithParam<std::string> {};

TEST_P(OracleBatchedTest, LogitsMatchLlamaCppThroughPagedBatches) {
    const nlohmann::json ref =
        tk::testing::read_json(tk::testing::shared_path("reference/logits/" + GetParam()));
    auto m = load(ref["model_path"].get<std::string>());
    ASSERT_NE(m, nullptr);
    const auto tokens = ref["tokens"].get<std::vector<int32_t>>();
    const int64_t V = ref["n_vocab"].get<int64_t>(), n = static_cast<int64_t>(tokens.size());
    ASSERT_EQ(ref["eval"]["kv_cache_type_k"], "f32");

    constexpr int64_t kBs = 16;
    ModelRunner runner(*m, 16, kBs, kv::KvType::kF32);
    kv::BlockPool pool(16, kBs);
    // Interleaved allocation: the sequences' blocks alternate, and block 0 is not the first.
    std::vector<int32_t> ta, tb;
    const int32_t spare = pool.allocate();
    for (int i = 0; i < 3; ++i) {
        tb.push_back(pool.allocate());
        ta.push_back(pool.allocate());
    }
    pool.release(spare);
    const std::vector<int32_t> other = {1,   403, 407, 261, 378, 13,  300,
                                        301, 302, 303, 304, 305, 306, 307};

    std::vector<float> got(static_cast<size_t>(n * V));
    std::vector<float> scratch;
    const int64_t split = 20;
    int64_t b_done = 0;
    for (auto [lo, hi] : {std::pair<int64_t, int64_t>{0, split}, {split, n}}) {
        model::Batch batch;
        const int32_t sb = batch.add_sequence(tb);
        const int32_t sa = batch.add_sequence(ta);
        const int64_t b_hi = lo == 0 ? 9 : static_cast<int64_t>(other.size());
        for (int64_t p = b_done; p < b_hi; ++p)
            batch.add(other[static_cast<size_t>(p)], static_cast<int32_t>(p), sb, true);
        b_done = b_hi;
        for (int64_t p = lo; p < hi; ++p)
            batch.add(tokens[static_cast<size_t>(p)], static_cast<int32_t>(p), sa, true);
        scratch.resize(batch.logit_rows.size() * static_cast<size_t>(V));
        runner.run(batch, scratch.data());
        const size_t first_a = batch.logit_rows.size() - static_cast<size_t>(hi - lo);
        std::copy(scratch.begin() + static_cast<std::ptrdiff_t>(first_a * static_cast<size_t>(V)),
                  scratch.end(), got.begin() + lo * V);
    }
    double max_d = 0;
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < V; ++j)
            max_d = std::max(
                max_d,
                std::abs(
                    static_cast<double>(got[static_cast<size_t>(i * V + j)]) -
                    ref["logits"][static_cast<size_t>(i)][static_cast<size_t>(j)].get<double>()));
    EXPECT_LT(max_d, 1e-3) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(KvF32, OracleBatchedTest,
                         ::testing::Values("stories260K.kvf32.json", "tiny-llama-F32.kvf32.json",
                                           "tiny-qwen2-F32.kvf32.json",
                                           "tiny-mixtral-F32.kvf32.json"),
                         [](const auto& info) {
                             std::string s = info.param;
                             for (char& c : s)
                                 if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                             return s;
                         });

}  // namespace
}  // namespace tk::engine
