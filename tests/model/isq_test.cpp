// In-place quantization at load: quantizing the F32 tiny models while loading must give the
// same tensors, and so the same logits, as loading the files llama-quantize made.
#include <gtest/gtest.h>

#include "formats/gguf.h"
#include "model/model.h"
#include "model/session.h"
#include "testutil/testutil.h"

namespace tk::model {
namespace {

std::vector<float> prompt_logits(const Model& m) {
    const std::vector<int32_t> tokens = {1, 342, 272, 277, 264, 261, 262, 423, 388, 282, 414};
    Session s(m, 64, KvType::kF32);
    std::vector<float> logits;
    EXPECT_TRUE(s.decode(tokens.data(), static_cast<int64_t>(tokens.size()), true, logits).is_ok());
    return logits;
}

struct IsqCase {
    const char* source;
    const char* preset;
    const char* shipped;
};

class IsqTest : public ::testing::TestWithParam<IsqCase> {};

TEST_P(IsqTest, MatchesLlamaQuantizeFile) {
    const IsqCase c = GetParam();
    LoadOptions isq;
    isq.n_threads = 2;
    isq.isq = c.preset;
    auto a = Model::load(testing::shared_path(c.source), isq);
    ASSERT_TRUE(a.is_ok()) << a.status().to_string();
    LoadOptions plain;
    plain.n_threads = 2;
    auto b = Model::load(testing::shared_path(c.shipped), plain);
    ASSERT_TRUE(b.is_ok()) << b.status().to_string();
    for (const auto& t : (*b)->gguf().tensors()) {
        const formats::GgufTensorInfo* q = (*a)->gguf().find_tensor(t.name);
        ASSERT_NE(q, nullptr) << t.name;
        ASSERT_EQ(q->view.type, t.view.type) << t.name;
        ASSERT_EQ(q->view.nbytes, t.view.nbytes) << t.name;
        EXPECT_EQ(std::memcmp(q->view.data, t.view.data, static_cast<size_t>(t.view.nbytes)), 0) << t.name;
    }
    EXPECT_EQ(prompt_logits(**a), prompt_logits(**b));
}

INSTANTIATE_TEST_SUITE_P(
    Reference, IsqTest,
    ::testing::Values(IsqCase{"reference/models/tiny-llama-F32.gguf", "Q4_K_M", "reference/models/tiny-llama-Q4_K_M.gguf"},
                      IsqCase{"reference/models/tiny-llama-F32.gguf", "Q8_0", "reference/models/tiny-llama-Q8_0.gguf"},
                      IsqCase{"reference/models/tiny-llama-F32.gguf", "Q2_K", "reference/models/tiny-llama-Q2_K.gguf"},
                      IsqCase{"reference/models/tiny-mixtral-F32.gguf", "Q4_0", "reference/models/tiny-mixtral-Q4_0.gguf"},
                      IsqCase{"reference/models/tiny-qwen2-F32.gguf", "Q4_K_M", "reference/models/tiny-qwen2-Q4_K_M.gguf"}),
    [](const auto& info) {
        std::string s = std::string(info.param.shipped);
        s = s.substr(s.rfind('/') + 1);
        for (char& ch : s)
            if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
        return s;
    });

TEST(Isq, UnknownTypeIsClearError) {
    LoadOptions o;
    o.isq = "Q7_X";
    auto m = Model::load(testing::shared_path("reference/models/tiny-llama-F32.gguf"), o);
    ASSERT_FALSE(m.is_ok());
    EXPECT_EQ(m.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(m.status().message().find("Q7_X"), std::string::npos);
}

}  // namespace
}  // namespace tk::model
