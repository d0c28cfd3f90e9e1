// Models opened through formats::open_model (llama2.c, Hugging Face SafeTensors, llamafile) give
// the logits of stories260K.gguf, and HF tokenizer.json files tokenize like llama.cpp's vectors.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "formats/gguf.h"
#include "formats/model_file.h"
#include "formats/test_zip.h"
#include "model/model.h"
#include "model/session.h"
#include "testutil/testutil.h"
#include "tokenizer/tokenizer.h"

namespace tk::model {
namespace {

std::string shared(const std::string& rel) { return testing::shared_path(rel); }

// Writes an in-memory GgufFile out as a .gguf (what `tokamak convert` does without --type), so
// Model::load can read it whatever Model::load itself accepts.
std::string write_gguf(const formats::GgufFile& f, const std::string& path) {
    formats::GgufWriter w;
    for (const formats::GgufKV& kv : f.metadata()) w.set_value(kv.key, kv.value);
    for (const formats::GgufTensorInfo& t : f.tensors()) {
        w.add_tensor(t.name, t.view.type,
                     std::vector<int64_t>(t.view.shape.begin(), t.view.shape.begin() + t.view.n_dims),
                     t.view.data);
    }
    const Status s = w.write(path);
    EXPECT_TRUE(s.is_ok()) << s.to_string();
    return path;
}

// BOS + "Once upon a time" and the start of its greedy continuation, then a few more tokens.
const std::vector<int32_t> kTokens = {1,   403, 407, 261, 378, 432, 383, 286, 261, 376,
                                      298, 315, 421, 395, 317, 426, 338, 385, 317, 410};

struct Logits {
    std::vector<float> v;
    int64_t n_vocab = 0;
};

Logits logits_of(const std::string& gguf_path) {
    LoadOptions lo;
    lo.n_threads = 2;
    auto m = Model::load(gguf_path, lo);
    EXPECT_TRUE(m.is_ok()) << m.status().to_string();
    if (!m.is_ok()) return {};
    Session s(**m, 64, KvType::kF32);
    Logits out;
    out.n_vocab = (*m)->hparams().n_vocab;
    const Status st = s.decode(kTokens.data(), static_cast<int64_t>(kTokens.size()), true, out.v);
    EXPECT_TRUE(st.is_ok()) << st.to_string();
    return out;
}

Logits logits_of(const std::string& model_path, const formats::OpenModelOptions& o,
                 const testing::TempDir& dir) {
    auto f = formats::open_model(model_path, o);
    EXPECT_TRUE(f.is_ok()) << f.status().to_string();
    if (!f.is_ok()) return {};
    return logits_of(write_gguf(**f, dir.file("converted.gguf")));
}

double max_abs_diff(const Logits& a, const Logits& b) {
    EXPECT_EQ(a.v.size(), b.v.size());
    double d = 0;
    for (size_t i = 0; i < std::min(a.v.size(), b.v.size()); ++i) {
        d = std::max(d, std::abs(static_cast<double>(a.v[i]) - b.v[i]));
    }
    return a.v.empty() || a.v.size() != b.v.size() ? 1e9 : d;
}

class FormatsLogits : public ::testing::Test {
protected:
    static void SetUpTestSuite() { ref_ = new Logits(logits_of(shared("models/gguf/stories260K.gguf"))); }
    static void TearDownTestSuite() {
        delete ref_;
        ref_ = nullptr;
    }
    static Logits* ref_;
    testing::TempDir dir_;
};
Logits* FormatsLogits::ref_ = nullptr;

TEST_F(FormatsLogits, Llama2c) {
    formats::OpenModelOptions o;
    o.tokenizer_path = shared("models/llama2c/tok512.bin");
    const Logits l = logits_of(shared("models/llama2c/stories260K.bin"), o, dir_);
    const double d = max_abs_diff(l, *ref_);
    EXPECT_LT(d, 1e-4);
    RecordProperty("max_abs_diff", std::to_string(d));
}

TEST_F(FormatsLogits, HfFolderF32) {
    formats::OpenModelOptions o;
    o.tokenizer_path = shared("models/llama2c/tok512.bin");
    const Logits l = logits_of(shared("models/hf/stories260K"), o, dir_);
    const double d = max_abs_diff(l, *ref_);
    EXPECT_LT(d, 1e-4);
    RecordProperty("max_abs_diff", std::to_string(d));
}

TEST_F(FormatsLogits, HfFolderBf16WithinBf16Tolerance) {
    formats::OpenModelOptions o;
    o.tokenizer_path = shared("models/gguf/stories260K.gguf");
    const Logits l = logits_of(shared("models/hf/stories260K-bf16"), o, dir_);
    ASSERT_EQ(l.v.size(), ref_->v.size());
    double mean = 0, sq = 0;
    for (float x : ref_->v) mean += x;
    mean /= static_cast<double>(ref_->v.size());
    for (float x : ref_->v) sq += (x - mean) * (x - mean);
    const double std_ref = std::sqrt(sq / static_cast<double>(ref_->v.size()));
    const double d = max_abs_diff(l, *ref_);
    // shared/reference/README.md: BF16 model, max|d|/std < 4e-2.
    EXPECT_LT(d / std_ref, 4e-2) << "max abs diff " << d << ", std " << std_ref;
    RecordProperty("max_abs_diff_over_std", std::to_string(d / std_ref));
    // The greedy choice agrees wherever the F32 model is not near a tie.
    const int64_t V = ref_->n_vocab;
    for (size_t i = 0; i < kTokens.size(); ++i) {
        const float* a = ref_->v.data() + i * V;
        const float* b = l.v.data() + i * V;
        const int64_t ia = std::max_element(a, a + V) - a;
        std::vector<float> sorted(a, a + V);
        std::sort(sorted.rbegin(), sorted.rend());
        if (sorted[0] - sorted[1] > 0.1 * std_ref) {
            EXPECT_EQ(std::max_element(b, b + V) - b, ia) << "position " << i;
        }
    }
}

TEST_F(FormatsLogits, Llamafile) {
    const auto gguf = testing::read_file_bytes(shared("models/gguf/stories260K.gguf"));
    formats::testing::write_bytes(dir_.file("stories.llamafile"), formats::testing::make_llamafile(gguf));
    const Logits l = logits_of(dir_.file("stories.llamafile"), {}, dir_);
    const double d = max_abs_diff(l, *ref_);
    EXPECT_LT(d, 1e-4);
    RecordProperty("max_abs_diff", std::to_string(d));
}

// ---- tokenizers from tokenizer.json against llama.cpp's test vectors -------------------------

struct Case {
    std::string text;
    std::vector<int32_t> ids;
};

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// llama.cpp test-tokenizer-0 files: inputs separated by "\n__ggml_vocab_test__\n", one line of
// ids per input.
std::vector<Case> read_cases(const std::string& base) {
    const std::string inp = slurp(base + ".inp");
    const std::string sep = "\n__ggml_vocab_test__\n";
    std::vector<std::string> texts;
    size_t pos = 0;
    while (pos < inp.size()) {
        size_t next = inp.find(sep, pos);
        if (next == std::string::npos) next = inp.size();
        texts.push_back(inp.substr(pos, next - pos));
        pos = next + sep.size();
    }
    std::istringstream out(slurp(base + ".out"));
    std::vector<Case> cases;
    std::string line;
    for (size_t i = 0; i < texts.size() && std::getline(out, line); ++i) {
        Case c{texts[i], {}};
        std::istringstream ids(line);
        for (int32_t id; ids >> id;) c.ids.push_back(id);
        cases.push_back(std::move(c));
    }
    EXPECT_EQ(cases.size(), texts.size());
    return cases;
}

void expect_vectors(const std::string& tokenizer_path, const std::string& vocab_base) {
    auto f = formats::open_tokenizer(tokenizer_path);
    ASSERT_TRUE(f.is_ok()) << f.status().to_string();
    auto tok = tokenizer::Tokenizer::from_gguf(**f);
    ASSERT_TRUE(tok.is_ok()) << tok.status().to_string();
    const auto cases = read_cases(shared(vocab_base));
    ASSERT_GE(cases.size(), 40u);
    int failed = 0;
    for (const Case& c : cases) {
        const std::vector<int32_t> got = (*tok)->encode(c.text, /*add_special=*/false, false);
        if (got != c.ids) ++failed;
        EXPECT_EQ(got, c.ids) << "text: '" << c.text << "'";
    }
    EXPECT_EQ(failed, 0) << tokenizer_path;
}

TEST(HfTokenizerVectors, Llama3MatchesLlamaBpe) {
    expect_vectors(shared("models/tokenizers/llama3/tokenizer.json"), "models/vocab/ggml-vocab-llama-bpe.gguf");
}

TEST(HfTokenizerVectors, Qwen3MatchesQwen2) {
    expect_vectors(shared("models/tokenizers/qwen3/tokenizer.json"), "models/vocab/ggml-vocab-qwen2.gguf");
}

TEST(HfTokenizerVectors, TinyLlamaMatchesLlamaSpm) {
    expect_vectors(shared("models/tokenizers/tinyllama"), "models/vocab/ggml-vocab-llama-spm.gguf");
}

TEST(HfTokenizerVectors, Llama2cTokenizerEncodesLikeRunC) {
    auto f = formats::open_tokenizer(shared("models/llama2c/tok512.bin"));
    ASSERT_TRUE(f.is_ok()) << f.status().to_string();
    auto tok = tokenizer::Tokenizer::from_gguf(**f);
    ASSERT_TRUE(tok.is_ok()) << tok.status().to_string();
    EXPECT_EQ((*tok)->encode("Once upon a time", true, false), (std::vector<int32_t>{1, 403, 407, 261, 378}));
    EXPECT_EQ((*tok)->bos(), 1);
    EXPECT_EQ((*tok)->eos(), 2);
}

}  // namespace
}  // namespace tk::model
