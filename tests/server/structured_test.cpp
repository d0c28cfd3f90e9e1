// Tool-call parsing per format (whole and streamed in every split), response_format/tools request
// parsing, and the forced-call grammars.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>

#include "harness.h"
#include "sampling/grammar.h"
#include "server/openai/structured.h"
#include "server/openai/tool_calls.h"

namespace tk::server::openai {
namespace {

using json = nlohmann::json;

struct Parsed {
    std::string content;
    std::vector<ToolCall> calls;  // rebuilt from the deltas
};

// Feeds `text` in pieces of at most `chunk` bytes (0: all at once) and rebuilds the calls from
// the deltas alone, checking the delta protocol on the way.
Parsed parse(ToolFormat f, const std::string& text, size_t chunk) {
    ToolCallParser p(f, "call_x");
    Parsed out;
    std::vector<ToolCallDelta> deltas;
    auto take = [&](std::vector<ToolCallDelta>& ds) {
        for (const ToolCallDelta& d : ds) {
            if (!d.id.empty()) {
                EXPECT_EQ(d.index, static_cast<int>(out.calls.size()));
                out.calls.push_back({d.id, d.name, d.arguments});
            } else {
                EXPECT_EQ(d.index + 1, static_cast<int>(out.calls.size()));
                if (!out.calls.empty()) out.calls.back().arguments += d.arguments;
            }
        }
        ds.clear();
    };
    if (chunk == 0) chunk = text.size() + 1;
    for (size_t i = 0; i < text.size(); i += chunk) {
        out.content += p.push(text.substr(i, chunk), &deltas);
        take(deltas);
    }
    out.content += p.finish(&deltas);
    take(deltas);
    // The parser's own record agrees with the deltas.
    EXPECT_EQ(p.calls().size(), out.calls.size());
    for (size_t i = 0; i < std::min(p.calls().size(), out.calls.size()); ++i) {
        EXPECT_EQ(p.calls()[i].arguments, out.calls[i].arguments);
        EXPECT_EQ(p.calls()[i].id, out.calls[i].id);
    }
    return out;
}

void expect_same_every_split(ToolFormat f, const std::string& text, const std::string& content,
                             const std::vector<std::pair<std::string, json>>& calls) {
    for (size_t chunk : {size_t{0}, size_t{1}, size_t{2}, size_t{3}, size_t{7}}) {
        SCOPED_TRACE("chunk " + std::to_string(chunk));
        const Parsed p = parse(f, text, chunk);
        EXPECT_EQ(p.content, content);
        ASSERT_EQ(p.calls.size(), calls.size());
        for (size_t i = 0; i < calls.size(); ++i) {
            EXPECT_EQ(p.calls[i].id, "call_x" + std::to_string(i));
            EXPECT_EQ(p.calls[i].name, calls[i].first);
            const json args = json::parse(p.calls[i].arguments, nullptr, false);
            EXPECT_EQ(args, calls[i].second) << p.calls[i].arguments;
        }
    }
}

TEST(ToolCalls, HermesSingleAndParallel) {
    expect_same_every_split(
        ToolFormat::kHermes,
        "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", "
        "\"days\": [1, 2]}}\n</tool_call>",
        "", {{"get_weather", {{"city", "Paris"}, {"days", {1, 2}}}}});
    expect_same_every_split(
        ToolFormat::kHermes,
        "Let me check.\n<tool_call>\n{\"name\": \"a\", \"arguments\": {\"x\": \"}<\\\"\"}}\n"
        "</tool_call>\n<tool_call>\n{\"name\": \"b\", \"arguments\": {}}\n</tool_call>\n",
        "Let me check.\n", {{"a", {{"x", "}<\""}}}, {"b", json::object()}});
}

TEST(ToolCalls, HermesPlainTextAndLookalikes) {
    expect_same_every_split(ToolFormat::kHermes, "Hello <tool> and <tool_ca world", "Hello <tool> and <tool_ca world", {});
    expect_same_every_split(ToolFormat::kHermes, "a < b", "a < b", {});
}

TEST(ToolCalls, HermesArgumentsAsStringAndOtherKeyOrder) {
    expect_same_every_split(
        ToolFormat::kHermes,
        "<tool_call>{\"name\": \"f\", \"arguments\": \"{\\\"q\\\": 1}\"}</tool_call>", "",
        {{"f", {{"q", 1}}}});
    expect_same_every_split(ToolFormat::kHermes,
                            "<tool_call>{\"arguments\": {\"q\": true}, \"name\": \"g\"}</tool_call>",
                            "", {{"g", {{"q", true}}}});
}

TEST(ToolCalls, MistralList) {
    expect_same_every_split(
        ToolFormat::kMistral,
        "[TOOL_CALLS] [{\"name\": \"add\", \"arguments\": {\"a\": 1, \"b\": 2.5}}, {\"name\": "
        "\"neg\", \"arguments\": {\"a\": -3}}]",
        "", {{"add", {{"a", 1}, {"b", 2.5}}}, {"neg", {{"a", -3}}}});
    expect_same_every_split(ToolFormat::kMistral, "No tools [needed] here.",
                            "No tools [needed] here.", {});
}

TEST(ToolCalls, Llama3JsonAndPythonTag) {
    expect_same_every_split(
        ToolFormat::kLlama3,
        "{\"name\": \"search\", \"parameters\": {\"query\": \"tokamak {x}\"}}", "",
        {{"search", {{"query", "tokamak {x}"}}}});
    expect_same_every_split(
        ToolFormat::kLlama3,
        "<|python_tag|>{\"name\": \"a\", \"parameters\": {\"n\": 5}}; {\"name\": \"b\", "
        "\"parameters\": {}}",
        "", {{"a", {{"n", 5}}}, {"b", json::object()}});
    // JSON that is not a call is content, and so is text that does not start with '{'.
    expect_same_every_split(ToolFormat::kLlama3, "  {\"answer\": 42}", "  {\"answer\": 42}", {});
    expect_same_every_split(ToolFormat::kLlama3, "The {name} is x", "The {name} is x", {});
}

TEST(ToolCalls, TruncatedCallKeepsWhatItHas) {
    const Parsed p = parse(ToolFormat::kHermes,
                           "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": \"xy", 4);
    EXPECT_EQ(p.content, "");
    ASSERT_EQ(p.calls.size(), 1u);
    EXPECT_EQ(p.calls[0].arguments, "{\"a\": \"xy");
}

TEST(ToolCalls, StreamedArgumentsAreIncremental) {
    ToolCallParser p(ToolFormat::kHermes, "id");
    std::vector<ToolCallDelta> d;
    EXPECT_EQ(p.push("<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\"", &d), "");
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(d[0].name, "f");
    EXPECT_EQ(d[0].id, "id0");
    EXPECT_EQ(d[0].arguments, "{\"a\"");
    d.clear();
    EXPECT_EQ(p.push(": 1}", &d), "");
    ASSERT_EQ(d.size(), 1u);
    EXPECT_TRUE(d[0].id.empty());
    EXPECT_EQ(d[0].arguments, ": 1}");
    d.clear();
    EXPECT_EQ(p.push("}\n</tool_call>", &d), "");
    EXPECT_TRUE(d.empty());
}

// ---- requests ----

StructuredRequest parse_ok(const json& body) {
    StructuredRequest s;
    auto e = parse_structured(body.dump(), true, s);
    EXPECT_FALSE(e.has_value()) << (e ? e->param + ": " + e->message : "");
    return s;
}

std::string parse_error(const json& body, std::string* param = nullptr) {
    StructuredRequest s;
    auto e = parse_structured(body.dump(), true, s);
    if (!e) return "";
    if (param) *param = e->param;
    return e->message;
}

json weather_tool() {
    return {{"type", "function"},
            {"function",
             {{"name", "get_weather"},
              {"description", "Weather for a city"},
              {"parameters",
               {{"type", "object"},
                {"properties", {{"city", {{"type", "string"}}}, {"days", {{"type", "integer"}}}}},
                {"required", {"city"}}}}}}};
}

TEST(Structured, ResponseFormats) {
    EXPECT_EQ(parse_ok({{"response_format", {{"type", "text"}}}}).format,
              StructuredRequest::Format::kText);
    EXPECT_EQ(parse_ok({{"response_format", {{"type", "json_object"}}}}).format,
              StructuredRequest::Format::kJsonObject);
    auto s = parse_ok({{"response_format",
                        {{"type", "json_schema"},
                         {"json_schema", {{"name", "x"}, {"schema", {{"type", "integer"}}}}}}}});
    EXPECT_EQ(s.format, StructuredRequest::Format::kJsonSchema);
    EXPECT_NE(s.schema_gbnf.find("root ::="), std::string::npos);
    std::string param;
    const std::string msg = parse_error(
        {{"response_format",
          {{"type", "json_schema"},
           {"json_schema",
            {{"name", "x"}, {"schema", {{"type", "string"}, {"pattern", "^[a-z]+$"}}}}}}}},
        &param);
    EXPECT_NE(msg.find("'pattern'"), std::string::npos) << msg;
    EXPECT_EQ(param, "response_format.json_schema.schema");
    EXPECT_NE(parse_error({{"response_format", {{"type", "yaml"}}}}).find("yaml"), std::string::npos);
}

TEST(Structured, ToolsAndToolChoice) {
    auto s = parse_ok({{"tools", {weather_tool()}}});
    ASSERT_EQ(s.tools.size(), 1u);
    EXPECT_EQ(s.tools[0].name, "get_weather");
    EXPECT_TRUE(s.tools_active());
    EXPECT_EQ(s.tool_choice, StructuredRequest::ToolChoice::kAuto);
    EXPECT_FALSE(parse_ok({{"tools", {weather_tool()}}, {"tool_choice", "none"}}).tools_active());
    s = parse_ok({{"tools", {weather_tool()}},
                  {"tool_choice", {{"type", "function"}, {"function", {{"name", "get_weather"}}}}}});
    EXPECT_EQ(s.tool_choice, StructuredRequest::ToolChoice::kNamed);
    EXPECT_NE(parse_error({{"tools", {weather_tool()}},
                           {"tool_choice", {{"type", "function"}, {"function", {{"name", "nope"}}}}}})
                  .find("nope"),
              std::string::npos);
    EXPECT_FALSE(parse_error({{"tool_choice", "required"}}).empty());
    json bad = weather_tool();
    bad["function"]["parameters"]["properties"]["city"]["format"] = "email";
    std::string param;
    EXPECT_NE(parse_error({{"tools", {bad}}, {"tool_choice", "required"}}, &param).find("'format'"),
              std::string::npos);
    EXPECT_EQ(param, "tools");
}

TEST(Structured, MessageToolFields) {
    auto s = parse_ok(
        {{"messages",
          {{{"role", "user"}, {"content", "hi"}},
           {{"role", "assistant"},
            {"content", nullptr},
            {"tool_calls",
             {{{"id", "call_1"},
               {"type", "function"},
               {"function", {{"name", "get_weather"}, {"arguments", "{\"city\":\"Oslo\"}"}}}}}}},
           {{"role", "tool"}, {"tool_call_id", "call_1"}, {"content", "rain"}}}}});
    ASSERT_EQ(s.message_extras.size(), 3u);
    EXPECT_EQ(s.message_extras[0], "");
    const json a = json::parse(s.message_extras[1]);
    EXPECT_EQ(a["tool_calls"][0]["function"]["arguments"]["city"], "Oslo");  // an object now
    EXPECT_EQ(json::parse(s.message_extras[2])["tool_call_id"], "call_1");
}

// ---- forced calls: every grammar accepts a well-formed call and the parser reads it back ----

TEST(Structured, ForcedCallGrammarPerFormat) {
    auto vocab = sampling::GrammarVocab::create({"", "x"}, {0});
    StructuredRequest s = parse_ok({{"tools", {weather_tool()}}, {"tool_choice", "required"}});
    const std::pair<ToolFormat, std::string> cases[] = {
        {ToolFormat::kHermes,
         "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}}\n"
         "</tool_call>"},
        {ToolFormat::kMistral,
         "[TOOL_CALLS] [{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\", "
         "\"days\": 2}}]"},
        {ToolFormat::kLlama3, "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Rome\"}}"},
    };
    for (const auto& [fmt, text] : cases) {
        SCOPED_TRACE(tool_format_name(fmt));
        auto gbnf = request_gbnf(s, fmt);
        ASSERT_TRUE(gbnf.is_ok()) << gbnf.status().to_string();
        auto g = sampling::Grammar::compile(*gbnf, vocab);
        ASSERT_TRUE(g.is_ok()) << g.status().to_string() << "\n" << *gbnf;
        sampling::GrammarState st(*g);
        EXPECT_TRUE(st.accept_bytes(text) && st.is_complete()) << text;
        sampling::GrammarState st2(*g);
        EXPECT_FALSE(st2.accept_bytes("Sure!"));  // plain text is not a call
        sampling::GrammarState st3(*g);
        EXPECT_FALSE(st3.accept_bytes(text.substr(0, text.size() / 2)) && st3.is_complete());
        const Parsed p = parse(fmt, text, 5);
        ASSERT_EQ(p.calls.size(), 1u);
        EXPECT_EQ(p.calls[0].name, "get_weather");
        EXPECT_EQ(json::parse(p.calls[0].arguments)["city"], "Rome");
    }
    // A named function excludes the others.
    json other = weather_tool();
    other["function"]["name"] = "other";
    s = parse_ok({{"tools", {weather_tool(), other}},
                  {"tool_choice", {{"type", "function"}, {"function", {{"name", "other"}}}}}});
    auto g = sampling::Grammar::compile(*request_gbnf(s, ToolFormat::kLlama3), vocab);
    ASSERT_TRUE(g.is_ok());
    sampling::GrammarState st(*g);
    EXPECT_FALSE(st.accept_bytes("{\"name\": \"get_weather\""));
    EXPECT_TRUE(st.accept_bytes("{\"name\": \"other\", \"parameters\": {\"city\": \"x\"}}"));
}

// ---- in-process server over stories260K (no chat template: ChatML fallback, Hermes calls) ----

using server::testing::Harness;
using server::testing::Reply;

json chat_body(json extra) {
    json b = {{"model", "stories"},
              {"messages", {{{"role", "user"}, {"content", "Once upon a time"}}}},
              {"max_tokens", 200},
              {"temperature", 1.0},
              {"seed", 7}};
    for (auto it = extra.begin(); it != extra.end(); ++it) b[it.key()] = it.value();
    return b;
}

const json kPersonSchema = {
    {"type", "object"},
    {"properties",
     {{"name", {{"type", "string"}, {"minLength", 1}, {"maxLength", 8}}},
      {"age", {{"type", "integer"}}},
      {"pets", {{"type", "array"}, {"items", {{"enum", {"cat", "dog"}}}}, {"maxItems", 2}}}}},
    {"required", {"name", "age"}},
    {"additionalProperties", false}};

void expect_person(const std::string& text) {
    const json v = json::parse(text, nullptr, false);
    ASSERT_FALSE(v.is_discarded()) << text;
    ASSERT_TRUE(v.is_object()) << text;
    ASSERT_TRUE(v.contains("name") && v["name"].is_string()) << text;
    EXPECT_TRUE(v.contains("age") && v["age"].is_number_integer()) << text;
    for (auto it = v.begin(); it != v.end(); ++it)
        EXPECT_TRUE(it.key() == "name" || it.key() == "age" || it.key() == "pets") << text;
    if (v.contains("pets")) {
        ASSERT_TRUE(v["pets"].is_array());
        EXPECT_LE(v["pets"].size(), 2u);
        for (const json& p : v["pets"]) EXPECT_TRUE(p == "cat" || p == "dog") << text;
    }
}

TEST(StructuredServer, JsonSchemaOutputValidatesStreamAndNot) {
    Harness h;
    const json rf = {{"type", "json_schema"},
                     {"json_schema", {{"name", "person"}, {"schema", kPersonSchema}}}};
    for (int seed : {1, 2, 3}) {
        json body = chat_body({{"response_format", rf}, {"seed", seed}});
        Reply r = server::testing::post(h.port, "/v1/chat/completions", body);
        ASSERT_EQ(r.status, 200) << r.body;
        const json j = r.json();
        EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
        const std::string text = j["choices"][0]["message"]["content"];
        expect_person(text);
        body["stream"] = true;
        Reply s = server::testing::post(h.port, "/v1/chat/completions", body);
        ASSERT_EQ(s.status, 200);
        std::string streamed;
        for (const std::string& e : s.events()) {
            if (e == "[DONE]") continue;
            const json c = json::parse(e);
            if (c["choices"].empty()) continue;
            const json& d = c["choices"][0]["delta"];
            if (d.contains("content") && d["content"].is_string()) streamed += d["content"];
        }
        EXPECT_EQ(streamed, text);
    }
}

TEST(StructuredServer, JsonObjectModeOnCompletionsToo) {
    Harness h;
    json body = {{"model", "stories"}, {"prompt", "Once"}, {"max_tokens", 120},
                 {"temperature", 1.0},  {"seed", 3},        {"response_format", {{"type", "json_object"}}}};
    Reply r = server::testing::post(h.port, "/v1/completions", body);
    ASSERT_EQ(r.status, 200) << r.body;
    const std::string text = r.json()["choices"][0]["text"];
    ASSERT_FALSE(text.empty());
    EXPECT_EQ(text[0], '{');
    if (r.json()["choices"][0]["finish_reason"] == "stop") {
        const json v = json::parse(text, nullptr, false);
        EXPECT_TRUE(v.is_object()) << text;
    }
}

TEST(StructuredServer, UnsupportedSchemaFeatureIs400) {
    Harness h;
    json schema = kPersonSchema;
    schema["properties"]["age"]["minimum"] = 0;
    Reply r = server::testing::post(
        h.port, "/v1/chat/completions",
        chat_body({{"response_format",
                    {{"type", "json_schema"}, {"json_schema", {{"name", "p"}, {"schema", schema}}}}}}));
    ASSERT_EQ(r.status, 400);
    const json e = r.json()["error"];
    EXPECT_EQ(e["type"], "invalid_request_error");
    EXPECT_EQ(e["param"], "response_format.json_schema.schema");
    EXPECT_NE(e["message"].get<std::string>().find("'minimum'"), std::string::npos) << e;
    r = server::testing::post(h.port, "/v1/completions",
                              {{"prompt", "x"}, {"tools", {weather_tool()}}});
    EXPECT_EQ(r.status, 400);
}

TEST(StructuredServer, RequiredToolCallStreamAndNot) {
    Harness h;
    json tool = weather_tool();
    tool["function"]["parameters"]["properties"]["city"]["maxLength"] = 10;
    const json body =
        chat_body({{"tools", {tool}}, {"tool_choice", "required"}, {"parallel_tool_calls", false}});
    Reply r = server::testing::post(h.port, "/v1/chat/completions", body);
    ASSERT_EQ(r.status, 200) << r.body;
    const json c = r.json()["choices"][0];
    EXPECT_EQ(c["finish_reason"], "tool_calls") << r.body;
    EXPECT_TRUE(c["message"]["content"].is_null()) << c;
    ASSERT_GE(c["message"]["tool_calls"].size(), 1u) << c;
    const json call = c["message"]["tool_calls"][0];
    EXPECT_EQ(call["type"], "function");
    EXPECT_EQ(call["function"]["name"], "get_weather");
    const json args = json::parse(call["function"]["arguments"].get<std::string>(), nullptr, false);
    ASSERT_TRUE(args.is_object()) << call;
    EXPECT_TRUE(args["city"].is_string());

    // Streamed: same calls rebuilt from deltas, stable ids, no markup in content.
    json sb = body;
    sb["stream"] = true;
    Reply s = server::testing::post(h.port, "/v1/chat/completions", sb);
    ASSERT_EQ(s.status, 200);
    json calls = json::array();
    std::string content, finish;
    for (const std::string& e : s.events()) {
        if (e == "[DONE]") continue;
        const json ch = json::parse(e)["choices"];
        if (ch.empty()) continue;
        const json& d = ch[0]["delta"];
        if (d.contains("content") && d["content"].is_string()) content += d["content"];
        if (!ch[0]["finish_reason"].is_null()) finish = ch[0]["finish_reason"];
        for (const json& t : d.value("tool_calls", json::array())) {
            const size_t i = t["index"];
            if (t.contains("id")) {
                ASSERT_EQ(i, calls.size());
                calls.push_back({{"id", t["id"]},
                                 {"type", "function"},
                                 {"function", {{"name", t["function"]["name"]}, {"arguments", ""}}}});
            }
            ASSERT_LT(i, calls.size());
            calls[i]["function"]["arguments"] =
                calls[i]["function"]["arguments"].get<std::string>() +
                t["function"]["arguments"].get<std::string>();
        }
    }
    EXPECT_EQ(content, "");
    EXPECT_EQ(finish, "tool_calls");
    ASSERT_EQ(calls.size(), c["message"]["tool_calls"].size());
    for (size_t i = 0; i < calls.size(); ++i) {
        EXPECT_EQ(calls[i]["function"], c["message"]["tool_calls"][i]["function"]);
        EXPECT_EQ(calls[i]["id"].get<std::string>().rfind("call_", 0), 0u);
    }
}

TEST(StructuredServer, NamedToolChoiceAndToolMessages) {
    Harness h;
    json a = weather_tool(), b = weather_tool();
    a["function"]["parameters"]["properties"]["city"]["maxLength"] = 6;
    b["function"]["name"] = "get_time";
    b["function"]["parameters"]["properties"]["city"]["maxLength"] = 6;
    json body = chat_body(
        {{"tools", {a, b}},
         {"tool_choice", {{"type", "function"}, {"function", {{"name", "get_time"}}}}},
         {"parallel_tool_calls", false}});
    body["messages"] = {
        {{"role", "user"}, {"content", "weather?"}},
        {{"role", "assistant"},
         {"content", nullptr},
         {"tool_calls",
          {{{"id", "call_1"},
            {"type", "function"},
            {"function", {{"name", "get_weather"}, {"arguments", "{\"city\":\"Oslo\"}"}}}}}}},
        {{"role", "tool"}, {"tool_call_id", "call_1"}, {"content", "rain"}}};
    Reply r = server::testing::post(h.port, "/v1/chat/completions", body);
    ASSERT_EQ(r.status, 200) << r.body;
    const json c = r.json()["choices"][0];
    EXPECT_EQ(c["finish_reason"], "tool_calls") << r.body;
    ASSERT_EQ(c["message"]["tool_calls"].size(), 1u) << c;
    EXPECT_EQ(c["message"]["tool_calls"][0]["function"]["name"], "get_time");
}

}  // namespace
}  // namespace tk::server::openai
