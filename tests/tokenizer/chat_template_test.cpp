// Chat-template engine tests. The oracle tests render every real chat template in shared/ (and a
// corpus of feature snippets) with both this engine and Python's Jinja2 configured as
// transformers configures it (scripts/render_template.py), and require byte-identical output,
// or that both raise (with the same message for raise_exception). The unit tests pin behaviour
// checked once against Jinja2 3.1.2 so they also run where Python's jinja2 is missing.
#include "tokenizer/chat_template.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "testutil/testutil.h"

namespace tk::tokenizer {
namespace {

std::tm fixed_now() {
    std::tm tm{};
    tm.tm_year = 2024 - 1900;
    tm.tm_mon = 6;
    tm.tm_mday = 26;
    tm.tm_hour = 10;
    tm.tm_wday = 5;
    tm.tm_yday = 207;
    return tm;
}

Result<std::string> render(const std::string& source, const std::string& context_json = "{}") {
    TK_ASSIGN_OR_RETURN(ChatTemplate t, ChatTemplate::parse(source));
    TK_ASSIGN_OR_RETURN(Value ctx, Value::from_json(context_json));
    RenderOptions opts;
    opts.now = fixed_now();
    return t.render(ctx, opts);
}

std::string ok(const std::string& source, const std::string& context_json = "{}") {
    auto r = render(source, context_json);
    EXPECT_TRUE(r.is_ok()) << source << "\n  -> " << r.status().message();
    return r.is_ok() ? r.value() : std::string("<error>");
}

std::string err(const std::string& source, const std::string& context_json = "{}") {
    auto r = render(source, context_json);
    EXPECT_FALSE(r.is_ok()) << source << "\n  rendered: " << (r.is_ok() ? r.value() : "");
    return r.is_ok() ? std::string() : r.status().message();
}

// ---------------------------------------------------------------------------------------------
// Unit tests

TEST(ChatTemplate, WhitespaceControlMatchesTransformersEnvironment) {
    // trim_blocks drops the newline after a block tag; lstrip_blocks the indent before it.
    EXPECT_EQ(ok("{% if true %}\n  a\n  {% endif %}\nb"), "  a\nb");
    EXPECT_EQ(ok("x  {%- if true -%}  y  {%- endif -%}  z"), "xyz");
    EXPECT_EQ(ok("a\n    {{- 'b' }}  \n{{ 'c' -}}\n d"), "ab  \ncd");
    EXPECT_EQ(ok("{# c #}\nx\n  {# c #}\ny"), "x\ny");
    EXPECT_EQ(ok("  {%+ if true %}x{% endif %}"), "  x");
    EXPECT_EQ(ok("{% raw %}{{ x }}{% endraw %}"), "{{ x }}");
    EXPECT_EQ(ok("line\n"), "line");  // one trailing newline is dropped
    EXPECT_EQ(ok("a\r\nb"), "a\nb");
    ChatTemplateOptions plain;
    plain.trim_blocks = false;
    plain.lstrip_blocks = false;
    auto t = ChatTemplate::parse("{% if true %}\n  a\n  {% endif %}\nb", plain);
    ASSERT_TRUE(t.is_ok());
    EXPECT_EQ(t->render(Value::object()).value(), "\n  a\n  \nb");
}

TEST(ChatTemplate, PrintsValuesAsPythonStr) {
    EXPECT_EQ(ok("{{ 1.0 }} {{ 1e20 }} {{ 1e15 }} {{ 0.0001 }} {{ 0.00001 }} {{ 1/3 }} {{ 10/2 }}"),
              "1.0 1e+20 1000000000000000.0 0.0001 1e-05 0.3333333333333333 5.0");
    EXPECT_EQ(ok("{{ none }} {{ true }} {{ [1, none, 'it\\'s', 1.5] }} {{ (1,) }}"),
              "None True [1, None, \"it's\", 1.5] (1,)");
    EXPECT_EQ(ok("{{ d }}", R"({"d": {"a": "x\ny", "b": [true, null]}})"),
              "{'a': 'x\\ny', 'b': [True, None]}");
    EXPECT_EQ(
        ok("{{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ -2 ** 2 }} {{ 'ab' * 2 }}"),
        "3 -4 2 1024 4 abab");
    EXPECT_EQ(ok("{{ 'a' ~ 1 ~ none ~ x }}"), "a1None");
    EXPECT_EQ(ok("{{ 'é'|length }} {{ 'héllo'[1:-1] }} {{ 'abc'[::-1] }} {{ [1,2,3][-1] }}"),
              "1 éll cba 3");
}

TEST(ChatTemplate, UndefinedBehavesLikeJinjaDefaultUndefined) {
    EXPECT_EQ(ok("[{{ x }}|{{ x|length }}|{{ x|default('d') }}|{{ x is defined }}|{{ not x }}]"),
              "[|0|d|False|True]");
    EXPECT_EQ(ok("{% for i in x %}a{% else %}empty{% endfor %}"), "empty");
    EXPECT_EQ(ok("{{ d.missing }}{{ d['missing'] }}{{ 'abc'.missing }}", R"({"d": {}})"), "");
    EXPECT_EQ(err("{{ x.y }}"), "chat template error at line 1, column 5: 'x' is undefined");
    EXPECT_NE(err("{{ d.a.b }}", R"({"d": {}})").find("'dict object' has no attribute 'a'"),
              std::string::npos);
    err("{{ x() }}");
    err("{{ x + 1 }}");
    err("{{ 'a' + none }}");
    err("{{ x|tojson }}");
}

TEST(ChatTemplate, ScopingFollowsJinja) {
    // Each loop iteration is a fresh scope; sets never leak out of loops.
    EXPECT_EQ(
        ok("{% set x = 1 %}{% for i in [1,2] %}{{ x }}{% set x = 2 %}{{ x }}{% endfor %}{{ x }}"),
        "12121");
    EXPECT_EQ(ok("{% set ns = namespace(n=0) %}{% for i in range(4) %}{% set ns.n = ns.n + i %}"
                 "{% endfor %}{{ ns.n }}"),
              "6");
    EXPECT_EQ(
        ok("{% macro m() %}{{ x }}{% endmacro %}{% set x = 1 %}{{ m() }}{% set x = 2 %}{{ m() }}"),
        "12");
    EXPECT_EQ(err("{% set d = {} %}{% set d.a = 1 %}"),
              "chat template error at line 1, column 20: cannot assign attribute on non-namespace "
              "object");
    EXPECT_NE(err("{% set l = [] %}{{ l.append(1) }}").find("unsafe"), std::string::npos);
}

TEST(ChatTemplate, MacrosLoopsAndCallBlocks) {
    EXPECT_EQ(ok("{% macro f(a, b='B') %}{{ a }}{{ b }}{% endmacro %}{{ f(1) }}{{ f(b=2, a=3) }}"),
              "1B32");
    EXPECT_EQ(ok("{% macro w() %}[{{ caller() }}]{% endmacro %}{% call w() %}in{% endcall %}"),
              "[in]");
    EXPECT_EQ(ok("{% for k, v in d|items if v > 1 %}{{ loop.index }}{{ k }}{{ loop.length }}"
                 "{{ loop.last }};{% endfor %}",
                 R"({"d": {"a": 1, "b": 2, "c": 3}})"),
              "1b2False;2c2True;");
    EXPECT_EQ(
        ok("{% for x in [1,2,3,4] %}{% if x == 2 %}{% continue %}{% endif %}"
           "{% if x == 4 %}{% break %}{% endif %}{{ x }}{{ loop.cycle('a','b') }}{% endfor %}"),
        "1a3a");
    EXPECT_EQ(ok("{% for m in l %}{{ loop.previtem }}>{{ m }}<{{ loop.nextitem }}|{% endfor %}",
                 R"({"l": [1, 2]})"),
              ">1<2|1>2<|");
    EXPECT_NE(err("{% macro r(n) %}{{ r(n) }}{% endmacro %}{{ r(1) }}").find("recursion"),
              std::string::npos);
}

TEST(ChatTemplate, Filters) {
    EXPECT_EQ(ok("{{ '  x '|trim }}|{{ 'hello world-x'|title }}|{{ 'aBC'|capitalize }}|"
                 "{{ ['b','A','a']|sort }}|{{ ['b','A','a']|unique|list }}|{{ [3,1]|max }}|"
                 "{{ 'a\\nb'|indent(2, true) }}|{{ 2.567|round(2) }}|{{ '42'|int + 1 }}|"
                 "{{ '3.5'|float }}|{{ 'x'|center(5) }}|{{ [1,2]|join(', ') }}"),
              "x|Hello World-X|Abc|['A', 'a', 'b']|['b', 'A']|3|  a\n  b|2.57|43|3.5|  x  |1, 2");
    EXPECT_EQ(
        ok("{{ users|selectattr('age', 'gt', 1)|map(attribute='name')|join }}"
           "{{ users|rejectattr('age')|list|length }}{{ users|sort(attribute='name')|first }}",
           R"({"users": [{"name": "b", "age": 3}, {"name": "A", "age": 0}]})"),
        "b1{'name': 'A', 'age': 0}");
    EXPECT_EQ(
        ok("{{ d|tojson }}|{{ d|tojson(indent=2) }}", R"({"d": {"é": [1, 2.0, "\"<"]}})"),
        "{\"é\": [1, 2.0, \"\\\"<\"]}|{\n  \"é\": [\n    1,\n    2.0,\n    \"\\\"<\"\n  ]\n}");
    EXPECT_EQ(ok("{{ '%s-%05.1f'|format('a', 2.25) }}|{{ 'a,b'.split(',') }}|{{ 'abc'.upper() }}"),
              "a-002.2|['a', 'b']|ABC");
    EXPECT_NE(err("{{ range(200000)|length }}").find("MAX_RANGE"), std::string::npos);
}

TEST(ChatTemplate, MarkupStringsEscapeWhatIsAddedToThem) {
    // Jinja2's |safe makes a markupsafe.Markup; adding plain text to it HTML-escapes that text
    // even without autoescaping (Mistral's v7+ templates and Functionary v3.1 rely on this).
    EXPECT_EQ(ok("{{ 'a: ' + ('<'|safe) + '>' }}|{{ ('x'|safe) ~ '<' }}|{{ '<'|e }}"),
              "a: <&gt;|x<|&lt;");
}

TEST(ChatTemplate, RaiseExceptionMessageIsVerbatim) {
    auto r = render("{{ raise_exception('Conversation roles must alternate!') }}");
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(r.status().message(), "Conversation roles must alternate!");
}

TEST(ChatTemplate, SyntaxErrorsHaveLineAndColumn) {
    auto e = [](const std::string& src) {
        auto t = ChatTemplate::parse(src);
        EXPECT_FALSE(t.is_ok()) << src;
        return t.is_ok() ? std::string() : t.status().message();
    };
    EXPECT_EQ(e("ab\n  {% if x %}"),
              "chat template syntax error at line 2, column 13: unexpected end of template; "
              "looking for 'elif' or 'else' or 'endif'");
    EXPECT_EQ(e("{{ 1 + }}"),
              "chat template syntax error at line 1, column 8: unexpected end of "
              "print statement");
    EXPECT_NE(e("{% frobnicate %}").find("unknown tag 'frobnicate'"), std::string::npos);
    EXPECT_NE(e("{{ 'abc }}").find("line 1, column 4"), std::string::npos);
    EXPECT_NE(e("{% break %}").find("outside of a loop"), std::string::npos);
    EXPECT_NE(e("{# open").find("missing end of comment"), std::string::npos);
    EXPECT_NE(e("{{ (1 }}").find("unexpected '}'"), std::string::npos);
}

TEST(ChatTemplate, HostileInputFailsCleanly) {
    EXPECT_FALSE(
        ChatTemplate::parse("{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}")
            .is_ok());
    EXPECT_FALSE(ChatTemplate::parse("{{ " + std::string(5000, '-') + "1 }}").is_ok());
    EXPECT_FALSE(ChatTemplate::parse("{{ " + std::string(5000, '[')).is_ok());
    std::string nested;
    for (int i = 0; i < 500; ++i) nested += "{% if true %}";
    EXPECT_FALSE(ChatTemplate::parse(nested).is_ok());
    EXPECT_FALSE(Value::from_json(std::string(100000, '[')).is_ok());
    err("{{ 'x' * 1000000000 }}");
    err("{{ 10 ** 100 }}");
    err("{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}");
    auto t = ChatTemplate::parse("{{ x }}");
    ASSERT_TRUE(t.is_ok());
    EXPECT_FALSE(t->render(Value("not an object")).is_ok());
}

TEST(ChatTemplate, StrftimeNowUsesInjectedDate) {
    EXPECT_EQ(ok("{{ strftime_now('%d %b %Y') }}"), "26 Jul 2024");
}

TEST(ChatTemplate, ValueApi) {
    auto v = Value::from_json(R"({"b": 1, "a": [1.0, "x", null, true]})");
    ASSERT_TRUE(v.is_ok());
    EXPECT_EQ(v->to_json().value(), R"({"b": 1, "a": [1.0, "x", null, true]})");
    Value copy = *v;
    copy.set("c", Value(2));  // copy-on-write: the original is unchanged
    EXPECT_EQ(v->size(), 2u);
    EXPECT_EQ(copy.size(), 3u);
    Value msgs = Value::array();
    msgs.push_back(Value::object({{"role", "user"}, {"content", "Hi"}}));
    Value ctx = chat_context(msgs, Value(), true, "<s>", "</s>");
    EXPECT_TRUE(ctx.find("tools")->is_none());
    auto t = ChatTemplate::parse("{{ bos_token }}{{ messages[0].content }}{{ tools is none }}");
    ASSERT_TRUE(t.is_ok());
    EXPECT_EQ(t->render(ctx).value(), "<s>HiTrue");
}

// ---------------------------------------------------------------------------------------------
// Oracle tests against Python's Jinja2

// The repository root, from this file's path (absolute in CMake builds).
std::string repo_root() {
    const std::filesystem::path p = std::filesystem::absolute(__FILE__);
    return p.parent_path().parent_path().parent_path().string();
}

bool have_jinja2() {
    return testing::run_command("/usr/bin/python3 -c 'import jinja2' > /dev/null 2>&1") == 0;
}

struct OracleCase {
    std::string group;  // reported per group (one template)
    std::string label;
    std::string template_path;
    std::string context_json;
};

struct Tally {
    int identical = 0;
    int both_raised = 0;
    int total = 0;
    std::vector<std::string> failures;
};

// Renders all cases with Jinja2 in one Python process and compares.
std::map<std::string, Tally> run_oracle(const std::vector<OracleCase>& cases) {
    testing::TempDir dir;
    nlohmann::ordered_json batch = nlohmann::ordered_json::array();
    for (const auto& c : cases) {
        batch.push_back({{"template", c.template_path},
                         {"context", nlohmann::ordered_json::parse(c.context_json)}});
    }
    {
        std::ofstream f(dir.file("cases.json"), std::ios::binary);
        f << batch.dump();
    }
    std::string out;
    const int rc =
        testing::run_command("/usr/bin/python3 " + repo_root() +
                                 "/scripts/render_template.py --batch < " + dir.file("cases.json"),
                             &out);
    std::map<std::string, Tally> tally;
    EXPECT_EQ(rc, 0);
    const auto results = nlohmann::json::parse(out, nullptr, false);
    EXPECT_TRUE(results.is_array() && results.size() == cases.size());
    if (!results.is_array() || results.size() != cases.size()) return tally;
    for (size_t i = 0; i < cases.size(); ++i) {
        const OracleCase& c = cases[i];
        Tally& t = tally[c.group];
        ++t.total;
        std::ifstream in(c.template_path, std::ios::binary);
        std::stringstream ss;
        ss << in.rdbuf();
        std::string source = ss.str();
        if (c.template_path.size() > 5 &&
            c.template_path.substr(c.template_path.size() - 5) == ".json") {
            source = nlohmann::json::parse(source)["chat_template"].get<std::string>();
        }
        auto mine = render(source, c.context_json);
        const auto& want = results[i];
        std::string why;
        if (want["ok"].get<bool>()) {
            if (!mine.is_ok()) {
                why = "jinja2 rendered, we failed: " + mine.status().message();
            } else if (mine.value() != want["output"].get<std::string>()) {
                const std::string w = want["output"].get<std::string>();
                const std::string& m = mine.value();
                size_t at = 0;
                while (at < w.size() && at < m.size() && w[at] == m[at]) ++at;
                const size_t from = at > 60 ? at - 60 : 0;
                why = "output differs at byte " + std::to_string(at) + "\n--- jinja2: ..." +
                      w.substr(from, 160) + "\n--- ours:   ..." + m.substr(from, 160);
            } else {
                ++t.identical;
            }
        } else if (mine.is_ok()) {
            why = "jinja2 raised (" + want["error"].get<std::string>() + "), we rendered";
        } else if (want["type"] == "raise_exception" &&
                   mine.status().message() != want["error"].get<std::string>()) {
            why = "raise_exception message differs: jinja2 '" + want["error"].get<std::string>() +
                  "', ours '" + mine.status().message() + "'";
        } else {
            ++t.both_raised;
        }
        if (!why.empty()) t.failures.push_back(c.label + ": " + why);
    }
    return tally;
}

void report(const std::map<std::string, Tally>& tally) {
    for (const auto& [group, t] : tally) {
        const bool all = t.identical + t.both_raised == t.total;
        std::cout << (all ? "[identical] " : "[DIFFERS]   ") << group << ": " << t.identical
                  << " identical renders, " << t.both_raised << " raised in both, of " << t.total
                  << "\n";
        for (const auto& f : t.failures) ADD_FAILURE() << group << " / " << f;
    }
}

// Tools in the OpenAI request format, with an array and a number parameter.
constexpr const char* kTools = R"([
 {"type": "function", "function": {"name": "get_weather", "description": "Get the weather.",
  "parameters": {"type": "object", "properties": {
   "location": {"type": "string", "description": "City, e.g. Paris"},
   "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "Unit"},
   "days": {"type": "integer", "description": "Days ahead", "minimum": 1, "maximum": 7},
   "scale": {"type": "number", "description": "Scale", "default": 0.5}},
   "required": ["location"]}}},
 {"type": "function", "function": {"name": "search", "description": "Search the web",
  "parameters": {"type": "object", "properties": {
   "query": {"type": "string", "description": "Query"},
   "tags": {"type": "array", "items": {"type": "string"}, "description": "Tags"}},
   "required": ["query"]}}}])";

// Conversations as the server will pass them (transformers' render arguments).
std::vector<std::pair<std::string, std::string>> conversations() {
    const std::string sys = R"({"role": "system", "content": "You are a helpful assistant."})";
    const std::string user = R"({"role": "user", "content": "What is the capital of France?"})";
    const std::string asst = R"({"role": "assistant", "content": "Paris."})";
    const std::string user2 = R"({"role": "user", "content": "And of Spain?"})";
    const std::string call_dict = R"({"role": "assistant", "content": null, "tool_calls": [
        {"id": "call00001", "type": "function",
         "function": {"name": "get_weather", "arguments": {"location": "Paris", "days": 2}}}]})";
    const std::string call_str = R"({"role": "assistant", "content": "", "tool_calls": [
        {"id": "call00001", "type": "function",
         "function": {"name": "get_weather", "arguments": "{\"location\": \"Paris\"}"}}]})";
    const std::string two_calls = R"({"role": "assistant", "content": null, "tool_calls": [
        {"id": "call00001", "type": "function",
         "function": {"name": "get_weather", "arguments": "{\"location\": \"Paris\"}"}},
        {"id": "call00002", "type": "function",
         "function": {"name": "search", "arguments": "{\"query\": \"Spain\"}"}}]})";
    const std::string tool1 =
        R"({"role": "tool", "tool_call_id": "call00001", "name": "get_weather",
                                  "content": "22"})";
    const std::string tool2 = R"({"role": "tool", "tool_call_id": "call00002", "name": "search",
                                  "content": "{\"result\": \"Madrid\"}"})";
    const std::string final = R"({"role": "assistant", "content": "It is 22 degrees in Paris."})";
    auto ctx = [](const std::string& msgs, bool agp, const std::string& tools = "null",
                  const std::string& extra = "", const std::string& docs = "null") {
        return "{\"messages\": [" + msgs + "], \"tools\": " + tools + ", \"documents\": " + docs +
               ", \"add_generation_prompt\": " + (agp ? "true" : "false") +
               ", \"bos_token\": \"<s>\", \"eos_token\": \"</s>\"" + extra + "}";
    };
    const std::string tools = kTools;
    return {
        {"system+user", ctx(sys + "," + user, true)},
        {"user", ctx(user, true)},
        {"user/no-gen-prompt", ctx(user, false)},
        {"multi-turn", ctx(sys + "," + user + "," + asst + "," + user2, true)},
        {"multi-turn/no-system", ctx(user + "," + asst + "," + user2 + "," + asst, false)},
        {"tools", ctx(user, true, tools)},
        {"tool-call/dict-args",
         ctx(user + "," + call_dict + "," + tool1 + "," + final, true, tools)},
        {"tool-call/string-args",
         ctx(sys + "," + user + "," + call_str + "," + tool1, true, tools)},
        {"tool-call/parallel",
         ctx(user + "," + two_calls + "," + tool1 + "," + tool2, true, tools)},
        {"content-parts",
         ctx(R"({"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
                {"role": "user", "content": [{"type": "text", "text": "Hello"},
                                             {"type": "text", "text": " there "}]})",
             true)},
        {"special-chars",
         ctx(R"({"role": "user", "content": "  Tab\t \"q\" 'a' <b>&amp; é 😀 \\n\n "})", true)},
        {"thinking",
         ctx(user + R"(, {"role": "assistant", "content": "<think>\nhmm\n</think>\n\nParis."},
                                    )" +
                 user2,
             true, "null", ", \"enable_thinking\": false")},
        {"not-alternating", ctx(user + "," + user2, true)},
        {"tools-empty", ctx(sys + "," + user, true, "[]")},
        {"extra-kwargs", ctx(user, true, "null",
                             R"(, "functions": "[{\"name\": \"f\"}]", "datetime": "2024-07-26",
                                 "date_string": "1 Jan 2025")",
                             R"([{"title": "T", "text": "Body"}])")},
        {"named-and-null", ctx(R"({"role": "user", "name": "bob", "content": "hi"},
                                  {"role": "assistant", "content": null})",
                               false)},
        {"long", ctx(
                     [&] {
                         std::string m = sys;
                         for (int i = 0; i < 40; ++i) m += "," + user + "," + asst;
                         return m + "," + user2;
                     }(),
                     true)},
        {"system-only", ctx(sys, true)},
        {"empty", ctx("", true)},
    };
}

std::vector<std::string> template_files() {
    std::vector<std::string> out;
    for (const char* sub :
         {"models/chat_templates/llama.cpp", "models/chat_templates/mistral-common"}) {
        for (const auto& e : std::filesystem::directory_iterator(testing::shared_path(sub))) {
            if (e.path().extension() == ".jinja") out.push_back(e.path().string());
        }
    }
    for (const char* cfg : {"llama3/tokenizer_config.json", "llama3/tokenizer_config.llama3_1.json",
                            "qwen3/tokenizer_config.json", "gemma3/tokenizer_config.json",
                            "tinyllama/tokenizer_config.json"}) {
        out.push_back(testing::shared_path(std::string("models/tokenizers/") + cfg));
    }
    std::sort(out.begin(), out.end());
    return out;
}

TEST(ChatTemplateOracle, RealTemplatesRenderLikeJinja2) {
    if (!have_jinja2())
        GTEST_SKIP() << "/usr/bin/python3 has no jinja2 (apt-get install python3-jinja2)";
    std::vector<OracleCase> cases;
    const auto convs = conversations();
    const auto files = template_files();
    ASSERT_GE(files.size(), 32u);
    for (const auto& path : files) {
        const std::string name = std::filesystem::path(path).parent_path().filename().string() +
                                 "/" + std::filesystem::path(path).filename().string();
        for (const auto& [label, ctx] : convs) cases.push_back({name, label, path, ctx});
    }
    report(run_oracle(cases));
}

// Small templates exercising one feature each, rendered against one shared context.
TEST(ChatTemplateOracle, FeatureSnippetsRenderLikeJinja2) {
    if (!have_jinja2())
        GTEST_SKIP() << "/usr/bin/python3 has no jinja2 (apt-get install python3-jinja2)";
    const std::string ctx = R"({"s": "héllo <b> World", "n": 3, "f": 2.5, "neg": -7, "l": [3, 1, 2],
        "d": {"b": 1, "a": [1, 2.5, "x"], "items": "key"}, "t": true, "nil": null, "e": "",
        "words": ["b", "A", "a", "C"], "nums": ["42", "3.5", "1e5", " 7 ", "x", "-0", "1_000"],
        "users": [{"name": "x", "age": 3}, {"name": "Y", "age": 1}, {"name": "z"}],
        "ws": " \t a b \u3000", "big": 12345678901234567, "tiny": 1.5e-7, "ml": "a\nb\n\nc",
        "u": "ÀÉ ß ﬁ x ΟΔΟΣ. ǆemal İ"})";
    const std::vector<std::string> snippets = {
        "{{ s|upper }}|{{ s|lower }}|{{ s|title }}|{{ s|capitalize }}|{{ s|length }}|{{ s|reverse "
        "}}",
        "{{ s[1] }}{{ s[-1] }}{{ s[2:5] }}{{ s[::2] }}{{ l[1:] }}{{ l[:-1] }}{{ l[::-1] }}",
        "{{ n + f }} {{ n * f }} {{ n / 2 }} {{ n // 2 }} {{ neg % 3 }} {{ neg // 2 }} {{ f ** 2 "
        "}}",
        "{{ big }} {{ big * 10 }} {{ tiny }} {{ 1e16 }} {{ 123456789.123 }} {{ -0.0 }} {{ 0.1 + "
        "0.2 }}",
        "{{ d }}|{{ l }}|{{ words }}|{{ users[2] }}|{{ (1, 'a') }}|{{ nil }}|{{ t }}",
        "{{ d|tojson }}|{{ users|tojson(indent=2) }}|{{ d|tojson(sort_keys=true) }}",
        "{{ s|tojson }}|{{ ws|tojson }}|{{ tiny|tojson }}|{{ {'k': [f, n, nil, "
        "t]}|tojson(indent=1) }}",
        "{{ d.items is callable }}{{ d['items'] }}{{ d.get('b') }}{{ d.get('zz', 5) }}{{ "
        "d.keys()|list }}",
        "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{% for k in d %}{{ k }}{% endfor "
        "%}",
        "{% for x in l if x > 1 %}{{ loop.index0 }}{{ loop.revindex }}{{ loop.first }}{% else "
        "%}no{% endfor %}",
        "{{ words|sort }}{{ words|sort(case_sensitive=true) }}{{ words|sort(reverse=true) }}{{ "
        "words|unique|list }}",
        "{{ users|map(attribute='name')|list }}{{ users|map(attribute='age', default=0)|sum }}",
        "{{ users|selectattr('age', 'defined')|list|length }}{{ users|rejectattr('age', 'lt', "
        "2)|map(attribute='name')|join(',') }}",
        "{{ l|select('odd')|list }}{{ l|reject('equalto', 2)|list }}{{ l|map('string')|join('-') "
        "}}",
        "{{ l|min }}{{ l|max }}{{ l|sum }}{{ l|first }}{{ l|last }}{{ l|sort|list }}{{ "
        "[[1,2],[3]]|sum(start=[]) }}",
        "{% for x in nums %}{{ x|int }},{{ x|float }},{{ x|int(-1) }};{% endfor %}",
        "{{ f|round }}{{ 3.5|round }}{{ 2.675|round(2) }}{{ f|round(0, 'floor') }}{{ n|round }}{{ "
        "neg|abs }}",
        "[{{ ws|trim }}][{{ s|trim('hé') }}][{{ ws.strip() }}][{{ ws.lstrip() }}][{{ ws.rstrip() "
        "}}]",
        "{{ ml|indent }}|{{ ml|indent(2, true) }}|{{ ml|indent('> ', blank=true) }}",
        "{{ s.split() }}{{ s.split('l') }}{{ s.split('l', 1) }}{{ s.rsplit(' ', 1) }}{{ "
        "ml.splitlines() }}",
        "{{ s.startswith('hé') }}{{ s.endswith(('x', 'World')) }}{{ s.find('l') }}{{ s.count('l') "
        "}}{{ s.replace('l', 'L', 1) }}",
        "{{ 'a' in s }}{{ 'z' not in s }}{{ 2 in l }}{{ 'b' in d }}{{ 'x' in nil_undefined }}",
        "{{ n is odd }}{{ n is even }}{{ n is divisibleby 3 }}{{ n is number }}{{ t is number }}{{ "
        "f is float }}{{ n is integer }}",
        "{{ d is mapping }}{{ l is sequence }}{{ s is iterable }}{{ nil is none }}{{ e is string "
        "}}{{ t is boolean }}{{ zz is undefined }}",
        "{{ n is eq 3 }}{{ n is ne 3 }}{{ n is lt 4 }}{{ n is ge 3 }}{{ 'x' is in 'xy' }}{{ t is "
        "true }}{{ t is sameas true }}",
        "{% set ns = namespace(a=1, l=[]) %}{% for i in range(3) %}{% set ns.l = ns.l + [i] %}{% "
        "endfor %}{{ ns.l }}{{ ns.a }}",
        "{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set c = (3, 4) %}{{ c[0] }}{% with x = 5 %}{{ x "
        "}}{% endwith %}{{ x }}",
        "{% set block %}  inner {{ n }}  {% endset %}[{{ block }}]{% filter upper %}shout {{ s "
        "}}{% endfilter %}",
        "{% macro m(a, b=2) -%} {{ a }}/{{ b }} {%- endmacro %}[{{ m(1) }}][{{ m(1, 3) }}][{{ "
        "m(b=4, a=0) }}][{{ m() }}]",
        "{{ e or 'fallback' }}|{{ s and n }}|{{ nil or e or 0 }}|{{ 'y' if t else 'n' }}|{{ 'y' if "
        "nil }}|{{ not e }}",
        "{{ 1 < 2 < 3 }}{{ 3 > 2 > 2 }}{{ l == [3, 1, 2] }}{{ d == {'b': 1} }}{{ 1 == 1.0 }}{{ t "
        "== 1 }}{{ 'a' < 'b' }}",
        "{{ e|default('D') }}{{ e|default('D', true) }}{{ zz|d('Z') }}{{ nil|default('N') }}",
        "{{ '<'|safe + '<' }}{{ '<' + '>'|safe }}{{ ('a'|safe).upper() + '&' }}{{ s|e }}{{ "
        "s|escape|length }}",
        "{{ '%s=%d'|format('x', 4) }}|{{ '%.2f and %5s|%-4d|'|format(f, 'ab', n) }}|{{ '{} "
        "{}'.format(n, s) }}",
        "{{ d|dictsort }}{{ {'B': 1, 'a': 2}|dictsort }}{{ {'B': 1, 'a': 2}|dictsort(true) }}{{ "
        "l|batch(2)|list }}",
        "{{ s|wordcount }}{{ s|truncate(9) }}{{ 'x'|center(6) }}|{{ l|list|length }}{{ d|list }}{{ "
        "s|list|first }}",
        "{% for m in users %}{{ loop.cycle('odd', 'even') }}{% if loop.changed(m.age) %}!{% endif "
        "%}{% endfor %}",
        "{{ range(5)|list }}{{ range(2, 9, 3)|list }}{{ dict(a=1, b=n) }}{{ namespace(x=1).x }}",
        "a  {%- if t %}  b  {% endif -%}  c\n  {% if t %}\nd\n  {% endif %}\n{# comment #}\ne {{- "
        "' f ' -}} g",
        "{% for i in [1, 2] %}\n  {% for j in 'ab' %}\n    {{ i }}{{ j }}\n  {% endfor %}\n{% "
        "endfor %}",
        "{{ 'a\\tb\\x41\\u00e9\\101' }}|{{ \"it's\" }}|{{ 'one' 'two' }}|{{ s ~ n ~ l }}",
        "{% set x = users|selectattr('name', 'equalto', 'Y')|first %}{{ x.age }}{{ x['name'] }}{{ "
        "x.missing }}",
        "{{ 'Hello' if s.startswith('h') else 'Bye' }} {{ s[0]|upper ~ s[1:] }} {{ l|length > 2 }}",
        "{{ (l|reverse|list)[0] }}{{ l|join }}{{ 'abc'|join('.') }}{{ d|join(',') }}{{ s.title() "
        "}}",
        "{{ u|upper }}|{{ u|lower }}|{{ u|title }}|{{ u|capitalize }}|{{ u.title() }}|{{ "
        "u.swapcase() }}",
        "{{ u.islower() }}{{ u.isupper() }}{{ 'ABC'.isupper() }}{{ u|wordcount }}{{ u|length }}{{ "
        "u|reverse }}",
        "{{ {'b': 1}|tojson(separators=(',', ':')) }}{{ [1, 'é']|tojson(ensure_ascii=true) }}{{ "
        "nil|tojson }}",
        "{% for x in l %}{% if x == 1 %}{% continue %}{% endif %}{{ x }}{% else %}never{% endfor %}"
        "{% for x in l %}{% continue %}{% else %}else-after-continue{% endfor %}",
        "{% set x = 5 %}{% for i in l %}{% filter upper %}a{% if i == 1 %}{% continue %}{% endif "
        "%}{% endfilter %}{% endfor %}{{ x }}",
        "{{ (2)[1:] }}|{{ 'ab'[5:] }}|{{ l[10] }}|{{ -1 ** 3 }}|{{ 2 ** -1 }}|{{ '%s' % "
        "nil_undefined }}|{{ 'x' % [] }}",
        "{% macro m() %}{% endmacro %}{{ m }}|{{ m is callable }}|{{ ('x'|safe, 'y')|join }}",
        "{{ raise_exception('custom failure: ' ~ n) }}",
        "{{ l.append(4) }}",
        "{{ s + n }}",
        "{{ undefined_thing.attr }}",
        "{% for x in nil %}{% endfor %}",
    };
    testing::TempDir dir;
    std::vector<OracleCase> cases;
    for (size_t i = 0; i < snippets.size(); ++i) {
        const std::string path = dir.file("snippet" + std::to_string(i) + ".jinja");
        std::ofstream(path, std::ios::binary) << snippets[i];
        cases.push_back({"snippets", "#" + std::to_string(i) + " " + snippets[i], path, ctx});
    }
    report(run_oracle(cases));
}

}  // namespace
}  // namespace tk::tokenizer
