// JSON schema -> grammar: generate under the grammar with random logits over real vocabularies
// and check that every output parses as JSON and validates against its schema.
#include "sampling/json_schema.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>

#include "formats/gguf.h"
#include "sampling/sampler.h"
#include "testutil/testutil.h"
#include "tokenizer/tokenizer.h"

namespace tk::sampling {
namespace {

using json = nlohmann::json;

std::shared_ptr<const GrammarVocab> load_vocab(const std::string& rel) {
    auto file = formats::GgufFile::open(testing::shared_path(rel));
    EXPECT_TRUE(file.is_ok()) << file.status().to_string();
    if (!file.is_ok()) return nullptr;
    auto tok = tokenizer::Tokenizer::from_gguf(**file);
    EXPECT_TRUE(tok.is_ok()) << tok.status().to_string();
    if (!tok.is_ok()) return nullptr;
    std::vector<std::string> bytes;
    std::vector<int32_t> eos;
    for (int32_t i = 0; i < (*tok)->n_vocab(); ++i) {
        bytes.push_back((*tok)->token_to_piece(i, false));
        if ((*tok)->is_eog(i)) eos.push_back(i);
    }
    return GrammarVocab::create(std::move(bytes), std::move(eos));
}

// ---- a small validator for the subset of JSON Schema the converter accepts ----

size_t utf8_length(const std::string& s) {
    size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
}

bool validate(const json& v, const json& s, const json& root, std::string& why);

bool validate_type(const json& v, const std::string& t) {
    if (t == "string") return v.is_string();
    if (t == "number") return v.is_number();
    if (t == "integer") return v.is_number_integer();
    if (t == "boolean") return v.is_boolean();
    if (t == "null") return v.is_null();
    if (t == "object") return v.is_object();
    if (t == "array") return v.is_array();
    return false;
}

bool validate(const json& v, const json& s, const json& root, std::string& why) {
    auto fail = [&](const std::string& w) {
        why = w + ": " + v.dump() + " vs " + s.dump();
        return false;
    };
    if (s.is_boolean()) return s.get<bool>() || fail("false schema");
    if (s.contains("$ref")) {
        const std::string ref = s["$ref"];
        return validate(v, ref == "#" ? root : root.at(json::json_pointer(ref.substr(1))), root,
                        why);
    }
    if (s.contains("const") && v != s["const"]) return fail("const");
    if (s.contains("enum")) {
        bool found = false;
        for (const json& e : s["enum"]) found = found || e == v;
        if (!found) return fail("enum");
    }
    if (s.contains("anyOf") || s.contains("oneOf")) {
        const bool one = s.contains("oneOf");
        int n = 0;
        std::string sub;
        for (const json& a : s[one ? "oneOf" : "anyOf"]) n += validate(v, a, root, sub);
        if (one ? n != 1 : n == 0) return fail(one ? "oneOf" : "anyOf");
    }
    if (s.contains("type")) {
        bool ok = false;
        if (s["type"].is_string()) ok = validate_type(v, s["type"]);
        for (const json& t : s["type"].is_array() ? s["type"] : json::array())
            ok = ok || validate_type(v, t);
        if (!ok) return fail("type");
    }
    if (v.is_string()) {
        const size_t n = utf8_length(v.get<std::string>());
        if (s.contains("minLength") && n < s["minLength"].get<size_t>()) return fail("minLength");
        if (s.contains("maxLength") && n > s["maxLength"].get<size_t>()) return fail("maxLength");
    }
    if (v.is_array()) {
        if (s.contains("minItems") && v.size() < s["minItems"].get<size_t>()) return fail("minItems");
        if (s.contains("maxItems") && v.size() > s["maxItems"].get<size_t>()) return fail("maxItems");
        if (s.contains("items"))
            for (const json& x : v)
                if (!validate(x, s["items"], root, why)) return false;
    }
    if (v.is_object()) {
        for (const json& r : s.value("required", json::array()))
            if (!v.contains(r.get<std::string>())) return fail("required " + r.dump());
        const json props = s.value("properties", json::object());
        for (auto it = v.begin(); it != v.end(); ++it) {
            if (props.contains(it.key())) {
                if (!validate(it.value(), props[it.key()], root, why)) return false;
            } else if (s.contains("additionalProperties")) {
                if (!validate(it.value(), s["additionalProperties"], root, why)) return false;
            }
        }
    }
    return true;
}

// Random logits with a bonus for tokens that close things, so outputs stay short.
std::string generate(const std::shared_ptr<const Grammar>& g, uint64_t seed, float temperature,
                     bool* finished) {
    const GrammarVocab& v = g->vocab();
    std::vector<float> bonus(static_cast<size_t>(v.n_vocab()), 0.0f);
    for (int32_t i = 0; i < v.n_vocab(); ++i)
        if (v.bytes(i).find_first_of("\"]}") != std::string::npos || v.is_eos(i) ||
            v.bytes(i).find("nu") != std::string::npos)
            bonus[static_cast<size_t>(i)] = 4.0f;
    SamplerParams p;
    p.temperature = temperature;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.seed = seed;
    p.grammar = g;
    Sampler s(p);
    std::mt19937_64 rng(seed * 7919 + 1);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::string out;
    std::vector<float> logits(bonus.size());
    *finished = false;
    for (int step = 0; step < 600; ++step) {
        for (size_t i = 0; i < logits.size(); ++i) logits[i] = nd(rng) + bonus[i];
        const int32_t id = s.sample(logits, {});
        if (v.is_eos(id)) {
            *finished = true;
            break;
        }
        out += v.bytes(id);
    }
    return out;
}

const char* kSchemas[] = {
    R"({"type": "object", "properties": {"name": {"type": "string", "maxLength": 12},
        "age": {"type": "integer"}, "ok": {"type": "boolean"}},
        "required": ["name", "age"], "additionalProperties": false})",
    R"({"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 4})",
    R"({"type": "object", "properties": {"color": {"enum": ["red", "green", "blue", 7, null]},
        "kind": {"const": "fixed"}}, "required": ["color", "kind"]})",
    R"({"type": "object", "properties": {"a": {"type": "string", "minLength": 2, "maxLength": 3},
        "b": {"type": ["integer", "null"]}, "c": {"type": "array", "items": {"type": "string",
        "maxLength": 4}, "maxItems": 3}}, "additionalProperties": false})",
    R"({"$defs": {"node": {"type": "object", "properties": {"v": {"type": "integer"},
        "next": {"anyOf": [{"$ref": "#/$defs/node"}, {"type": "null"}]}},
        "required": ["v", "next"], "additionalProperties": false}},
        "$ref": "#/$defs/node"})",
    R"({"oneOf": [{"type": "string", "maxLength": 5}, {"type": "object", "properties":
        {"x": {"type": "number"}}, "required": ["x"], "additionalProperties": false}]})",
    R"({"type": "object", "properties": {"user": {"type": "object", "properties":
        {"id": {"type": "integer"}, "tags": {"type": "array", "items": {"enum": ["a", "b"]},
        "minItems": 1, "maxItems": 2}}, "required": ["id", "tags"]}}, "required": ["user"],
        "title": "nested", "description": "annotations are fine"})",
    R"({"type": "object", "additionalProperties": {"type": "boolean"}})",
    R"({"type": "string", "minLength": 1, "maxLength": 8})",
};

void check_schemas(const std::string& vocab_path, uint64_t n_seeds) {
    auto vocab = load_vocab(vocab_path);
    ASSERT_NE(vocab, nullptr);
    for (const char* schema_text : kSchemas) {
        const json schema = json::parse(schema_text);
        auto gbnf = json_schema_to_gbnf(schema_text);
        ASSERT_TRUE(gbnf.is_ok()) << gbnf.status().to_string() << "\n" << schema_text;
        auto g = Grammar::compile(*gbnf, vocab);
        ASSERT_TRUE(g.is_ok()) << g.status().to_string() << "\n" << *gbnf;
        for (uint64_t seed = 1; seed <= n_seeds; ++seed) {
            bool finished = false;
            const std::string out = generate(*g, seed, seed == 3 ? 0.0f : 1.0f, &finished);
            ASSERT_TRUE(finished) << "no end after 600 tokens: " << out << "\n" << schema_text;
            const json v = json::parse(out, nullptr, false);
            ASSERT_FALSE(v.is_discarded()) << "not JSON: " << out << "\n" << schema_text;
            std::string why;
            EXPECT_TRUE(validate(v, schema, schema, why)) << why << "\n" << out;
        }
    }
}

TEST(JsonSchema, OutputsValidateLlamaSpmVocab) { check_schemas("models/vocab/ggml-vocab-llama-spm.gguf", 3); }

TEST(JsonSchema, OutputsValidateDeepseekBpeVocab) {
    check_schemas("models/vocab/ggml-vocab-deepseek-llm.gguf", 2);
}

TEST(JsonSchema, JsonObjectMode) {
    auto vocab = load_vocab("models/vocab/ggml-vocab-llama-spm.gguf");
    ASSERT_NE(vocab, nullptr);
    auto g = Grammar::compile(json_object_gbnf(), vocab);
    ASSERT_TRUE(g.is_ok()) << g.status().to_string();
    for (uint64_t seed = 10; seed < 13; ++seed) {
        bool finished = false;
        const std::string out = generate(*g, seed, 1.0f, &finished);
        ASSERT_TRUE(finished) << out;
        const json v = json::parse(out, nullptr, false);
        ASSERT_FALSE(v.is_discarded()) << out;
        EXPECT_TRUE(v.is_object()) << out;
    }
}

TEST(JsonSchema, UnsupportedFeaturesAreRefusedByName) {
    const std::pair<const char*, const char*> cases[] = {
        {R"({"type": "string", "pattern": "^a+$"})", "'pattern'"},
        {R"({"type": "string", "format": "date-time"})", "'format'"},
        {R"({"type": "integer", "minimum": 0})", "'minimum'"},
        {R"({"type": "number", "maximum": 3})", "'maximum'"},
        {R"({"type": "object", "properties": {"x": {"type": "number", "multipleOf": 2}}})",
         "'multipleOf' at #/properties/x"},
        {R"({"allOf": [{"type": "string"}]})", "'allOf'"},
        {R"({"type": "array", "prefixItems": [{"type": "string"}]})", "'prefixItems'"},
        {R"({"type": "object", "patternProperties": {"^x": {}}})", "'patternProperties'"},
        {R"({"$ref": "http://example.com/s.json"})", "remote"},
    };
    for (const auto& [schema, needle] : cases) {
        auto r = json_schema_to_gbnf(schema);
        ASSERT_FALSE(r.is_ok()) << schema;
        EXPECT_EQ(r.status().code(), ErrorCode::kUnsupported) << schema;
        EXPECT_NE(r.status().message().find(needle), std::string::npos)
            << r.status().message() << " lacks " << needle;
    }
    auto bad = json_schema_to_gbnf(R"({"type": "strnig"})");
    ASSERT_FALSE(bad.is_ok());
    EXPECT_EQ(bad.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(bad.status().message().find("strnig"), std::string::npos);
}

TEST(JsonSchema, GrammarAcceptsAndRejectsTexts) {
    auto vocab = GrammarVocab::create({"", "a"}, {0});
    auto gbnf = json_schema_to_gbnf(kSchemas[0]);
    ASSERT_TRUE(gbnf.is_ok());
    auto g = Grammar::compile(*gbnf, vocab);
    ASSERT_TRUE(g.is_ok()) << g.status().to_string();
    auto ok = [&](const std::string& text) {
        GrammarState st(*g);
        return st.accept_bytes(text) && st.is_complete();
    };
    EXPECT_TRUE(ok(R"({"name": "Bob", "age": 42})"));
    EXPECT_TRUE(ok(R"({"name":"B\u00e9b\n","age":-1,"ok":true})"));
    EXPECT_FALSE(ok(R"({"age": 42, "name": "Bob"})"));  // declared order only
    EXPECT_FALSE(ok(R"({"name": "Bob"})"));
    EXPECT_FALSE(ok(R"({"name": "Bob", "age": 4.5})"));
    EXPECT_FALSE(ok(R"({"name": "abcdefghijklm", "age": 1})"));  // over maxLength
    EXPECT_FALSE(ok(R"({"name": "Bob", "age": 1, "x": 2})"));
}

}  // namespace
}  // namespace tk::sampling
