// GgufFile against real files: stories260K (ggml-org) and every tiny reference model, whose
// metadata and tensor tables are listed independently in reference/models/manifest.json.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "formats/gguf.h"

namespace tk::formats {
namespace {

const std::string kShared = TK_SHARED_DIR;

std::unique_ptr<GgufFile> open_or_die(const std::string& path) {
    auto r = GgufFile::open(path);
    EXPECT_TRUE(r.is_ok()) << r.status().to_string();
    if (!r.is_ok()) return nullptr;
    return std::move(r).value();
}

TEST(GgufReader, Stories260K) {
    auto f = open_or_die(kShared + "/models/gguf/stories260K.gguf");
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->version(), 3u);
    EXPECT_EQ(f->alignment(), 32u);
    EXPECT_EQ(f->metadata().size(), 19u);
    EXPECT_EQ(f->tensors().size(), 48u);
    // End of tensor infos is 14152 (independent Python dump), aligned up to 32.
    EXPECT_EQ(f->data_offset(), 14176u);
    EXPECT_EQ(f->metadata()[0].key, "tokenizer.ggml.tokens");  // file order kept

    EXPECT_EQ(f->get_string("general.architecture"), "llama");
    EXPECT_EQ(f->get_string("tokenizer.ggml.model"), "llama");
    EXPECT_EQ(f->get_int("llama.embedding_length"), 64);
    EXPECT_EQ(f->get_int("llama.feed_forward_length"), 172);
    EXPECT_EQ(f->get_int("llama.block_count"), 5);
    EXPECT_EQ(f->get_int("llama.attention.head_count_kv"), 4);
    EXPECT_EQ(f->get_int("tokenizer.ggml.seperator_token_id"), 4294967295);
    ASSERT_TRUE(f->get_float("llama.attention.layer_norm_rms_epsilon"));
    EXPECT_FLOAT_EQ(*f->get_float("llama.attention.layer_norm_rms_epsilon"), 1e-5f);
    EXPECT_EQ(f->get_float("llama.block_count"), 5.0);  // ints widen to float
    EXPECT_FALSE(f->get_int("general.architecture"));   // wrong type
    EXPECT_FALSE(f->get_string("llama.block_count"));
    EXPECT_FALSE(f->get_int("no.such.key"));
    EXPECT_EQ(f->find("no.such.key"), nullptr);

    const auto* tokens = f->get_string_array("tokenizer.ggml.tokens");
    ASSERT_NE(tokens, nullptr);
    ASSERT_EQ(tokens->size(), 512u);
    EXPECT_EQ((*tokens)[0], "<unk>");
    EXPECT_EQ((*tokens)[1], "<s>");
    EXPECT_EQ((*tokens)[3], "<0x00>");
    auto scores = f->get_f32_array("tokenizer.ggml.scores");
    ASSERT_TRUE(scores);
    EXPECT_EQ(scores->size(), 512u);
    auto types = f->get_int_array("tokenizer.ggml.token_type");
    ASSERT_TRUE(types);
    ASSERT_EQ(types->size(), 512u);
    EXPECT_EQ((*types)[0], 2);
    EXPECT_EQ((*types)[1], 3);
    EXPECT_EQ((*types)[3], 6);
    EXPECT_EQ(f->get_string_array("tokenizer.ggml.scores"), nullptr);
    EXPECT_FALSE(f->get_int_array("tokenizer.ggml.tokens"));

    const GgufTensorInfo* emb = f->find_tensor("token_embd.weight");
    ASSERT_NE(emb, nullptr);
    EXPECT_EQ(emb->view.type, DType::kF32);
    EXPECT_EQ(emb->view.n_dims, 2);
    EXPECT_EQ(emb->view.shape[0], 512);  // [n_vocab, n_embd]: GGUF ne = [64, 512]
    EXPECT_EQ(emb->view.shape[1], 64);
    EXPECT_EQ(emb->view.nbytes, 512 * 64 * 4);
    EXPECT_EQ(emb->offset, 0u);
    EXPECT_EQ(emb->view.data, f->file_data() + f->data_offset());

    const GgufTensorInfo* down = f->find_tensor("blk.4.ffn_down.weight");
    ASSERT_NE(down, nullptr);
    EXPECT_EQ(down->view.shape[0], 64);
    EXPECT_EQ(down->view.shape[1], 172);
    EXPECT_EQ(down->offset, 1082880u);
    const GgufTensorInfo* norm = f->find_tensor("output_norm.weight");
    ASSERT_NE(norm, nullptr);
    EXPECT_EQ(norm->view.n_dims, 1);
    EXPECT_EQ(norm->view.shape[0], 64);
    EXPECT_EQ(norm->view.shape[1], 1);
    // The last tensor ends exactly at the end of the file.
    const GgufTensorInfo& last = f->tensors().back();
    EXPECT_EQ(last.name, "blk.4.ffn_norm.weight");
    EXPECT_EQ(f->data_offset() + last.offset + last.view.nbytes, f->file_size());
    EXPECT_EQ(f->find_tensor("nope"), nullptr);
}

TEST(GgufReader, Stories260KQ4_0TypesAndSizes) {
    auto f = open_or_die(kShared + "/models/gguf/stories260K-Q4_0.gguf");
    ASSERT_NE(f, nullptr);
    const GgufTensorInfo* q = f->find_tensor("blk.0.attn_q.weight");
    ASSERT_NE(q, nullptr);
    EXPECT_EQ(q->view.type, DType::kQ4_0);
    EXPECT_EQ(q->view.nbytes, 64 * 64 / 32 * 18);
    EXPECT_EQ(q->view.row_bytes(), 64 / 32 * 18);
    // 172 is not a multiple of 32, so ffn_down stays F32.
    EXPECT_EQ(f->find_tensor("blk.0.ffn_down.weight")->view.type, DType::kF32);
}

TEST(GgufReader, MissingFileIsNotFound) {
    auto r = GgufFile::open(kShared + "/models/gguf/does-not-exist.gguf");
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kNotFound);
}

// Every file in the manifest: version, counts, scalar metadata, tensor names/types/ne.
TEST(GgufReader, MatchesReferenceManifest) {
    std::ifstream in(kShared + "/reference/models/manifest.json");
    ASSERT_TRUE(in.good());
    const nlohmann::json manifest = nlohmann::json::parse(in);
    int n_files = 0;
    for (const auto& entry : manifest["files"]) {
        const std::string file = entry["file"];
        SCOPED_TRACE(file);
        auto f = open_or_die(kShared + "/reference/models/" + file);
        ASSERT_NE(f, nullptr);
        ++n_files;
        EXPECT_EQ(f->file_size(), entry["bytes"].get<size_t>());
        for (const auto& [key, want] : entry["metadata"].items()) {
            SCOPED_TRACE(key);
            if (key == "GGUF.version") {
                EXPECT_EQ(f->version(), want.get<uint32_t>());
            } else if (key == "GGUF.tensor_count") {
                EXPECT_EQ(f->tensors().size(), want.get<size_t>());
            } else if (key == "GGUF.kv_count") {
                EXPECT_EQ(f->metadata().size(), want.get<size_t>());
            } else if (want.is_string()) {
                EXPECT_EQ(f->get_string(key), want.get<std::string>());
            } else if (want.is_number_integer()) {
                EXPECT_EQ(f->get_int(key), want.get<int64_t>());
            } else if (want.is_number_float()) {
                ASSERT_TRUE(f->get_float(key));
                EXPECT_EQ(static_cast<float>(*f->get_float(key)), want.get<float>());
            }
        }
        const auto& tensors = entry["tensors"];
        ASSERT_EQ(f->tensors().size(), tensors.size());
        for (size_t k = 0; k < tensors.size(); ++k) {
            const std::string name = tensors[k][0];
            const std::string type = tensors[k][1];
            const auto& ne = tensors[k][2];
            const GgufTensorInfo& ti = f->tensors()[k];  // file order
            EXPECT_EQ(ti.name, name);
            EXPECT_EQ(f->find_tensor(name), &ti);
            EXPECT_EQ(dtype_name(ti.view.type), type) << name;
            ASSERT_EQ(ti.view.n_dims, static_cast<int>(ne.size())) << name;
            for (size_t d = 0; d < ne.size(); ++d)
                EXPECT_EQ(ti.view.shape[ne.size() - 1 - d], ne[d].get<int64_t>()) << name;
            const uint8_t* base = f->file_data();
            const uint8_t* p = static_cast<const uint8_t*>(ti.view.data);
            EXPECT_GE(p, base + f->data_offset());
            EXPECT_LE(p + ti.view.nbytes, base + f->file_size());
            EXPECT_EQ(ti.view.nbytes, ti.view.rows() * ti.view.row_bytes());
        }
    }
    EXPECT_GE(n_files, 20);
}

// All GGUFs in models/gguf parse, including the 32000-token llama-2-tiny-random (F16).
TEST(GgufReader, AllSharedModelsParse) {
    for (const char* name :
         {"llama-2-tiny-random.gguf", "stories260K-BF16.gguf", "stories260K-F16.gguf",
          "stories260K-Q4_1.gguf", "stories260K-Q5_0.gguf", "stories260K-Q5_1.gguf",
          "stories260K-Q8_0.gguf"}) {
        SCOPED_TRACE(name);
        auto f = open_or_die(kShared + "/models/gguf/" + name);
        ASSERT_NE(f, nullptr);
        EXPECT_GT(f->tensors().size(), 0u);
        EXPECT_TRUE(f->get_string("general.architecture"));
    }
    auto f = open_or_die(kShared + "/models/gguf/llama-2-tiny-random.gguf");
    ASSERT_NE(f, nullptr);
    const auto* tokens = f->get_string_array("tokenizer.ggml.tokens");
    ASSERT_NE(tokens, nullptr);
    EXPECT_EQ(tokens->size(), 32000u);
}

// llama.cpp's vocab-only GGUFs: no tensors, many tokenizer arrays (merges, token types).
TEST(GgufReader, VocabOnlyFilesParse) {
    int n = 0;
    for (const auto& e : std::filesystem::directory_iterator(kShared + "/models/vocab")) {
        if (e.path().extension() != ".gguf") continue;
        SCOPED_TRACE(e.path().string());
        auto f = open_or_die(e.path().string());
        ASSERT_NE(f, nullptr);
        EXPECT_TRUE(f->get_string_array("tokenizer.ggml.tokens") != nullptr);
        ++n;
    }
    EXPECT_GT(n, 5);
}

}  // namespace
}  // namespace tk::formats
