// llama.cpp's test-tokenizer-0 vectors: every .inp/.out pair in shared/models/vocab whose vocab
// GGUF is present, tokenized with add_special = false, parse_special = false.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>

#include "tok_test_util.h"

namespace tk::tokenizer::test {
namespace {

class VocabVectors : public ::testing::TestWithParam<const char*> {};

TEST_P(VocabVectors, MatchesLlamaCpp) {
    const std::string base =
        testing::shared_path(std::string("models/vocab/ggml-vocab-") + GetParam() + ".gguf");
    const auto t0 = std::chrono::steady_clock::now();
    auto tok = load_gguf_tokenizer(std::string("models/vocab/ggml-vocab-") + GetParam() + ".gguf");
    const auto t1 = std::chrono::steady_clock::now();
    ASSERT_NE(tok, nullptr);
    std::printf("[ info ] %s: %d tokens, loaded in %.1f ms\n", GetParam(), tok->n_vocab(),
                std::chrono::duration<double, std::milli>(t1 - t0).count());
    const std::vector<VocabCase> cases = read_vocab_cases(base);
    ASSERT_EQ(cases.size(), 46u);
    int failed = 0;
    for (const VocabCase& c : cases) {
        const std::vector<int32_t> got = tok->encode(c.text, false, false);
        EXPECT_EQ(got, c.ids) << "input: '" << c.text << "'";
        failed += got != c.ids;
    }
    std::printf("[ info ] %s: %zu/%zu vectors match\n", GetParam(), cases.size() - failed,
                cases.size());
}

INSTANTIATE_TEST_SUITE_P(Gguf, VocabVectors,
                         ::testing::Values("llama-spm", "phi-3", "gpt-2", "falcon", "mpt",
                                           "starcoder", "refact", "deepseek-coder", "deepseek-llm",
                                           "bert-bge"),
                         [](const auto& info) {
                             std::string n = info.param;
                             for (char& ch : n) {
                                 if (ch == '-') ch = '_';
                             }
                             return n;
                         });

// Vocab files without test vectors still load, and text survives encode + detokenize.
TEST(VocabFiles, LoadAndRoundTripWithoutVectors) {
    for (const char* name : {"gpt-neox", "baichuan"}) {
        SCOPED_TRACE(name);
        auto tok = load_gguf_tokenizer(std::string("models/vocab/ggml-vocab-") + name + ".gguf");
        ASSERT_NE(tok, nullptr);
        const std::string text = "Hello world!\n  def f(x): return x**2  # caf\xC3\xA9";
        const std::vector<int32_t> ids = tok->encode(text, false, false);
        EXPECT_FALSE(ids.empty());
        // gpt-neox (no tokenizer.ggml.pre: the default split) cleans " !"-style spaces; this
        // text has none, so both round-trip exactly.
        EXPECT_EQ(tok->detokenize(ids, false, false), text);
    }
}

}  // namespace
}  // namespace tk::tokenizer::test
