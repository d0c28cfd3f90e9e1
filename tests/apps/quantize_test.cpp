// `tokamak quantize` end to end: every llama-quantize file in shared/reference/models is
// regenerated from its F32 source byte for byte (so its manifest sha256 matches), the results
// load and run, and bad input gives clear errors without touching any file.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <ostream>

#include "formats/gguf.h"
#include "model/model.h"
#include "model/session.h"
#include "testutil/testutil.h"

namespace tk {
namespace {

using testing::run_command;
using testing::shared_path;
using testing::tokamak_binary;

std::string quote(const std::string& s) { return "'" + s + "'"; }

std::string ref_model(const std::string& name) { return shared_path("reference/models/" + name); }

// Runs `tokamak quantize ARGS`, stdout and stderr into *out.
int quantize(const std::string& args, std::string* out = nullptr) {
    std::string sink;
    return run_command(tokamak_binary() + " quantize " + args + " 2>&1", out ? out : &sink);
}

struct Variant {
    std::string family;   // "tiny-llama"
    std::string variant;  // "Q4_K-pure"
    std::string file() const { return family + "-" + variant + ".gguf"; }
};
void PrintTo(const Variant& v, std::ostream* os) { *os << v.file(); }

std::vector<Variant> shipped_variants() {
    const nlohmann::json manifest = testing::read_json(ref_model("manifest.json"));
    std::vector<Variant> out;
    for (const auto& f : manifest["files"]) {
        const std::string file = f["file"];
        const std::string family = f["family"];
        std::string v = file.substr(family.size() + 1);
        v = v.substr(0, v.size() - 5);
        if (v != "F32") out.push_back({family, v});
    }
    return out;
}

// Tensor by tensor (type, shape, data bytes), looked up by name.
void expect_same_tensors(const formats::GgufFile& got, const formats::GgufFile& want) {
    ASSERT_EQ(got.tensors().size(), want.tensors().size());
    for (const formats::GgufTensorInfo& w : want.tensors()) {
        const formats::GgufTensorInfo* g = got.find_tensor(w.name);
        ASSERT_NE(g, nullptr) << w.name;
        EXPECT_EQ(dtype_name(g->view.type), dtype_name(w.view.type)) << w.name;
        ASSERT_EQ(g->view.nbytes, w.view.nbytes) << w.name;
        EXPECT_EQ(0, std::memcmp(g->view.data, w.view.data, static_cast<size_t>(w.view.nbytes)))
            << w.name;
    }
}

class QuantizeShipped : public ::testing::TestWithParam<Variant> {};

TEST_P(QuantizeShipped, ReproducesFileFromF32Source) {
    const Variant& v = GetParam();
    testing::TempDir dir;
    const std::string out = dir.file(v.file());
    std::string type = v.variant, flags = " -t 2";
    if (type.ends_with("-pure")) {
        type = type.substr(0, type.size() - 5);
        flags += " --pure";
    }
    std::string log;
    ASSERT_EQ(quantize(quote(ref_model(v.family + "-F32.gguf")) + " " + quote(out) + " " + type +
                           flags, &log), 0) << log;
    auto got = formats::GgufFile::open(out);
    ASSERT_TRUE(got.is_ok()) << got.status().to_string();
    auto want = formats::GgufFile::open(ref_model(v.file()));
    ASSERT_TRUE(want.is_ok());
    expect_same_tensors(**got, **want);
    if (v.variant == "F16") {
        // The shipped F16 file comes from the generator (its own tensor order, no
        // quantization_version), not from llama-quantize: only the tensors can agree.
        EXPECT_EQ((*got)->get_int("general.file_type"), 1);
        return;
    }
    // Same metadata order, alignment and tensor order as llama-quantize: the same bytes.
    EXPECT_TRUE(testing::read_file_bytes(out) == testing::read_file_bytes(ref_model(v.file())))
        << "tensors agree but the files differ";
}

INSTANTIATE_TEST_SUITE_P(All, QuantizeShipped, ::testing::ValuesIn(shipped_variants()),
                         [](const ::testing::TestParamInfo<Variant>& p) {
                             std::string n = p.param.family + "_" + p.param.variant;
                             for (char& c : n) {
                                 if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                             }
                             return n;
                         });

// The quantized files load and give finite logits for the reference prompt (the oracle test
// compares the identical shipped files' logits with llama.cpp's).
TEST(Quantize, OutputsLoadAndRun) {
    const nlohmann::json ref = testing::read_json(shared_path("reference/logits/tiny-llama-F32.json"));
    const auto tokens = ref["tokens"].get<std::vector<int32_t>>();
    testing::TempDir dir;
    const std::vector<std::pair<std::string, std::string>> cases = {
        {ref_model("tiny-llama-F32.gguf"), "Q4_K_M"},
        {ref_model("tiny-mixtral-F32.gguf"), "Q3_K_S"},
        {ref_model("tiny-qwen2-F32.gguf"), "IQ4_XS"},
        // rows of 64 and 172: fallback types Q5_0, Q8_0 and F16
        {shared_path("models/gguf/stories260K.gguf"), "Q4_K_M"},
    };
    for (const auto& [in, type] : cases) {
        SCOPED_TRACE(in + " " + type);
        const std::string out = dir.file(type + std::filesystem::path(in).filename().string());
        std::string log;
        ASSERT_EQ(quantize(quote(in) + " " + quote(out) + " " + type, &log), 0) << log;
        model::LoadOptions lo;
        lo.n_threads = 2;
        auto m = model::Model::load(out, lo);
        ASSERT_TRUE(m.is_ok()) << m.status().to_string();
        model::Session s(**m, 64);
        std::vector<float> logits;
        ASSERT_TRUE(s.decode(tokens.data(), static_cast<int64_t>(tokens.size()), true, logits).is_ok());
        ASSERT_EQ(logits.size(), tokens.size() * static_cast<size_t>((*m)->hparams().n_vocab));
        for (float x : logits) ASSERT_TRUE(std::isfinite(x));
    }
}

TEST(Quantize, ReportsSizesAndOverrides) {
    testing::TempDir dir;
    const std::string out = dir.file("o.gguf");
    std::string log;
    ASSERT_EQ(quantize(quote(ref_model("tiny-llama-F32.gguf")) + " " + quote(out) +
                           " q4_k_m --output-type q8_0 --token-embd-type Q6_K -t 3", &log), 0)
        << log;
    EXPECT_NE(log.find("model size:       5.50 MiB (32.00 bits per weight)"), std::string::npos)
        << log;
    EXPECT_NE(log.find("quant size:"), std::string::npos) << log;
    auto f = formats::GgufFile::open(out);
    ASSERT_TRUE(f.is_ok());
    EXPECT_EQ((*f)->find_tensor("output.weight")->view.type, DType::kQ8_0);
    EXPECT_EQ((*f)->find_tensor("token_embd.weight")->view.type, DType::kQ6_K);
    EXPECT_EQ((*f)->find_tensor("blk.0.attn_q.weight")->view.type, DType::kQ4_K);
    EXPECT_EQ((*f)->get_int("general.file_type"), 15);
    EXPECT_EQ((*f)->get_int("general.quantization_version"), 2);
    EXPECT_EQ((*f)->metadata().back().key, "general.file_type");
}

TEST(Quantize, BadTypeListsValidOnes) {
    testing::TempDir dir;
    std::string log;
    EXPECT_NE(quantize(quote(ref_model("tiny-llama-F32.gguf")) + " " + quote(dir.file("o.gguf")) +
                           " Q4_K_X", &log), 0);
    EXPECT_NE(log.find("unknown quantization type 'Q4_K_X'"), std::string::npos) << log;
    EXPECT_NE(log.find("Q4_K_M"), std::string::npos) << log;
    EXPECT_NE(log.find("IQ4_XS"), std::string::npos) << log;
    EXPECT_FALSE(std::filesystem::exists(dir.file("o.gguf")));
    EXPECT_NE(quantize(quote(ref_model("tiny-llama-F32.gguf")) + " " + quote(dir.file("o.gguf")) +
                           " Q4_0 --output-type Q9_9", &log), 0);
    EXPECT_NE(log.find("--output-type"), std::string::npos) << log;
}

TEST(Quantize, RefusesToOverwriteItsInput) {
    testing::TempDir dir;
    const std::string in = dir.file("in.gguf");
    std::filesystem::copy_file(ref_model("tiny-llama-F32.gguf"), in);
    const std::vector<uint8_t> before = testing::read_file_bytes(in);
    ASSERT_EQ(::link(in.c_str(), dir.file("hard.gguf").c_str()), 0);
    std::filesystem::create_symlink(in, dir.file("sym.gguf"));
    for (const std::string& out : {in, dir.path() + "/./in.gguf", dir.file("hard.gguf"),
                                   dir.file("sym.gguf")}) {
        std::string log;
        EXPECT_NE(quantize(quote(in) + " " + quote(out) + " Q4_0", &log), 0) << out;
        EXPECT_NE(log.find("is the input file"), std::string::npos) << log;
    }
    EXPECT_TRUE(testing::read_file_bytes(in) == before);
    // "<output>.tmp" is where the writer streams to: it must not be the input either.
    std::filesystem::rename(dir.file("hard.gguf"), dir.file("m.tmp"));
    std::string log;
    EXPECT_NE(quantize(quote(dir.file("m.tmp")) + " " + quote(dir.file("m")) + " Q4_0", &log), 0);
    EXPECT_NE(log.find("is the input file"), std::string::npos) << log;
    EXPECT_TRUE(testing::read_file_bytes(dir.file("m.tmp")) == before);
    EXPECT_FALSE(std::filesystem::exists(dir.file("m")));
}

TEST(Quantize, UnfitRowsAndRequantizing) {
    testing::TempDir dir;
    std::string log;
    // stories260K rows are 64 and 172 long: --pure Q4_K cannot hold them.
    EXPECT_NE(quantize(quote(shared_path("models/gguf/stories260K.gguf")) + " " +
                           quote(dir.file("p.gguf")) + " Q4_K --pure", &log), 0);
    EXPECT_NE(log.find("--pure: tensor 'output.weight' has rows of 64 elements"), std::string::npos)
        << log;
    // Q4_0 has no fallback for rows of 172 (llama-quantize stops there too).
    EXPECT_NE(quantize(quote(shared_path("models/gguf/stories260K.gguf")) + " " +
                           quote(dir.file("p.gguf")) + " Q4_0", &log), 0);
    EXPECT_NE(log.find("blk.0.ffn_down.weight"), std::string::npos) << log;
    EXPECT_FALSE(std::filesystem::exists(dir.file("p.gguf")));

    EXPECT_NE(quantize(quote(ref_model("tiny-llama-Q4_0.gguf")) + " " + quote(dir.file("r.gguf")) +
                           " Q8_0", &log), 0);
    EXPECT_NE(log.find("--allow-requantize"), std::string::npos) << log;
    ASSERT_EQ(quantize(quote(ref_model("tiny-llama-Q4_0.gguf")) + " " + quote(dir.file("r.gguf")) +
                           " Q8_0 --allow-requantize", &log), 0) << log;
    auto f = formats::GgufFile::open(dir.file("r.gguf"));
    ASSERT_TRUE(f.is_ok());
    EXPECT_EQ((*f)->find_tensor("blk.1.ffn_up.weight")->view.type, DType::kQ8_0);
    EXPECT_EQ((*f)->find_tensor("output.weight")->view.type, DType::kQ8_0);
}

}  // namespace
}  // namespace tk
