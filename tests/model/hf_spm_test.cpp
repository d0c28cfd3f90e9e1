// A SentencePiece tokenizer.model alone (no tokenizer.json) tokenizes like llama.cpp: the
// Llama-2 model against llama.cpp's test-tokenizer-0 vectors for ggml-vocab-llama-spm, and an
// HF folder holding only tokenizer.model loads with that vocabulary.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "formats/gguf.h"
#include "formats/model_file.h"
#include "testutil/testutil.h"
#include "tokenizer/tokenizer.h"

namespace tk::model {
namespace {

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

struct VocabCase {
    std::string text;
    std::vector<int32_t> ids;
};

// llama.cpp's .inp (inputs separated by "\n__ggml_vocab_test__\n") and .out (ids per line).
std::vector<VocabCase> read_vocab_cases(const std::string& base) {
    const std::string inp = slurp(base + ".inp");
    const std::string sep = "\n__ggml_vocab_test__\n";
    std::vector<std::string> texts;
    for (size_t pos = 0; pos < inp.size();) {
        size_t next = inp.find(sep, pos);
        if (next == std::string::npos) next = inp.size();
        texts.push_back(inp.substr(pos, next - pos));
        pos = next + sep.size();
    }
    std::istringstream out(slurp(base + ".out"));
    std::vector<VocabCase> cases;
    std::string line;
    for (size_t i = 0; i < texts.size() && std::getline(out, line); ++i) {
        VocabCase c{texts[i], {}};
        std::istringstream ids(line);
        for (int32_t id; ids >> id;) c.ids.push_back(id);
        cases.push_back(std::move(c));
    }
    EXPECT_EQ(cases.size(), texts.size());
    return cases;
}

void expect_llama_spm_vectors(const std::string& tokenizer_path) {
    auto f = formats::open_tokenizer(tokenizer_path);
    ASSERT_TRUE(f.is_ok()) << f.status().to_string();
    auto tok = tokenizer::Tokenizer::from_gguf(**f);
    ASSERT_TRUE(tok.is_ok()) << tok.status().to_string();
    const auto cases =
        read_vocab_cases(testing::shared_path("models/vocab/ggml-vocab-llama-spm.gguf"));
    ASSERT_GE(cases.size(), 40u);
    int failed = 0;
    for (const VocabCase& c : cases) {
        const std::vector<int32_t> got = (*tok)->encode(c.text, /*add_special=*/false, false);
        failed += got != c.ids;
        EXPECT_EQ(got, c.ids) << "text: '" << c.text << "'";
    }
    EXPECT_EQ(failed, 0);
    EXPECT_EQ((*tok)->bos(), 1);
    EXPECT_EQ((*tok)->eos(), 2);
}

TEST(HfSpmTokenizer, Llama2ModelMatchesLlamaSpmVectors) {
    expect_llama_spm_vectors(testing::shared_path("models/tokenizers/llama2/tokenizer.model"));
}

TEST(HfSpmTokenizer, FolderWithOnlyTokenizerModel) {
    testing::TempDir dir;
    std::filesystem::copy_file(testing::shared_path("models/tokenizers/llama2/tokenizer.model"),
                               dir.file("tokenizer.model"));
    expect_llama_spm_vectors(dir.path());
}

}  // namespace
}  // namespace tk::model
