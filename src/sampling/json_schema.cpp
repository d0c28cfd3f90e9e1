#include "sampling/json_schema.h"

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <vector>

namespace tk::sampling {
namespace {

using json = nlohmann::ordered_json;  // keeps the declared order of properties

constexpr int kMaxDepth = 64;
constexpr int64_t kMaxBound = 4096;

// Helper rules. Whitespace is bounded (one space, or one newline and indentation): a model
// cannot pad forever. \u escapes exclude the
// surrogate range, which strict JSON parsers reject when unpaired.
const char* kBaseRules = R"(j-ws ::= (" " | "\n" [ \t]{0,12})?
j-char ::= [^"\\\x00-\x1f] | "\\" (["\\/bfnrt] | "u" [0-9a-cA-Ce-fE-F] [0-9a-fA-F]{3})
j-string ::= "\"" j-char* "\""
j-integer ::= "-"? ("0" | [1-9] [0-9]{0,15})
j-number ::= j-integer ("." [0-9]{1,16})? ([eE] [-+]? [0-9]{1,3})?
j-boolean ::= "true" | "false"
j-null ::= "null"
j-value ::= j-object | j-array | j-string | j-number | j-boolean | j-null
j-object ::= "{" j-ws (j-string j-ws ":" j-ws j-value j-ws ("," j-ws j-string j-ws ":" j-ws j-value j-ws)*)? "}"
j-array ::= "[" j-ws (j-value j-ws ("," j-ws j-value j-ws)*)? "]"
)";

// A GBNF string literal matching exactly the bytes of `s`.
std::string literal(std::string_view s) {
    std::string out = "\"";
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\r') {
            out += "\\r";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c < 0x20) {
            const char* hex = "0123456789abcdef";
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        } else {
            out += static_cast<char>(c);
        }
    }
    return out + "\"";
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

class Converter {
public:
    explicit Converter(const json& root) : root_(root) {}

    Result<std::string> value_rule(const json& s, const std::string& where, int depth);
    std::string text(std::string_view root_rule, const std::string& body) const {
        std::string out = std::string(root_rule) + " ::= " + body + "\n" + kBaseRules;
        for (const auto& [name, rule] : rules_) out += name + " ::= " + rule + "\n";
        return out;
    }

private:
    Status unsupported(const std::string& feature, const std::string& where) const {
        return make_error(ErrorCode::kUnsupported, "unsupported JSON schema feature '" + feature +
                                                       "' at " + where);
    }
    Status invalid(const std::string& what, const std::string& where) const {
        return make_error(ErrorCode::kInvalidArgument, "invalid JSON schema at " + where + ": " +
                                                           what);
    }
    std::string add(const std::string& body) {
        auto it = by_body_.find(body);
        if (it != by_body_.end()) return it->second;
        const std::string name = "j-r" + std::to_string(rules_.size());
        rules_.emplace(name, body);
        by_body_.emplace(body, name);
        return name;
    }
    Result<int64_t> bound(const json& s, const char* key, const std::string& where) const;
    Result<std::string> ref_rule(const std::string& ref, const std::string& where, int depth);
    Result<std::string> typed(const json& s, const std::string& type, const std::string& where,
                              int depth);
    Result<std::string> object_rule(const json& s, const std::string& where, int depth);
    Result<std::string> array_rule(const json& s, const std::string& where, int depth);
    Result<std::string> string_rule(const json& s, const std::string& where);

    const json& root_;
    std::map<std::string, std::string> rules_;
    std::map<std::string, std::string> by_body_;
    std::map<std::string, std::string> refs_;  // "#/..." -> rule name
};

const std::set<std::string>& annotations() {
    static const std::set<std::string> k = {"title",    "description", "default",  "examples",
                                            "$schema",  "$id",         "$comment", "deprecated",
                                            "readOnly", "writeOnly",   "$defs",    "definitions"};
    return k;
}

// Keywords handled per type; everything else outside annotations() is refused.
const std::set<std::string>& handled() {
    static const std::set<std::string> k = {
        "type",     "enum",     "const",    "anyOf",     "oneOf",     "$ref",
        "properties", "required", "additionalProperties", "items", "minItems",
        "maxItems", "minLength", "maxLength"};
    return k;
}

Result<int64_t> Converter::bound(const json& s, const char* key, const std::string& where) const {
    auto it = s.find(key);
    if (it == s.end()) return int64_t{-1};
    if (!it->is_number_integer() || it->get<int64_t>() < 0)
        return invalid(std::string("'") + key + "' must be a non-negative integer", where);
    if (it->get<int64_t>() > kMaxBound)
        return unsupported(std::string(key) + " above " + std::to_string(kMaxBound), where);
    return it->get<int64_t>();
}

Result<std::string> Converter::ref_rule(const std::string& ref, const std::string& where,
                                        int depth) {
    if (auto it = refs_.find(ref); it != refs_.end()) return it->second;
    if (ref.rfind("#", 0) != 0) return unsupported("$ref to '" + ref + "' (remote)", where);
    const json* target = &root_;
    if (ref.size() > 1) {
        json::json_pointer ptr;
        try {
            ptr = json::json_pointer(ref.substr(1));
        } catch (const std::exception&) {
            return invalid("bad $ref '" + ref + "'", where);
        }
        if (!root_.contains(ptr)) return invalid("$ref '" + ref + "' points to nothing", where);
        target = &root_.at(ptr);
    }
    // Register the name first so recursive references terminate.
    const std::string name = "j-ref" + std::to_string(refs_.size());
    refs_.emplace(ref, name);
    TK_ASSIGN_OR_RETURN(std::string body, value_rule(*target, ref, depth + 1));
    rules_.emplace(name, body);
    return name;
}

Result<std::string> Converter::string_rule(const json& s, const std::string& where) {
    TK_ASSIGN_OR_RETURN(int64_t lo, bound(s, "minLength", where));
    TK_ASSIGN_OR_RETURN(int64_t hi, bound(s, "maxLength", where));
    if (lo < 0 && hi < 0) return std::string("j-string");
    if (lo < 0) lo = 0;
    if (hi >= 0 && hi < lo) return invalid("maxLength below minLength", where);
    return add("\"\\\"\" j-char{" + std::to_string(lo) + "," + (hi >= 0 ? std::to_string(hi) : "") +
               "} \"\\\"\"");
}

Result<std::string> Converter::array_rule(const json& s, const std::string& where, int depth) {
    std::string item = "j-value";
    if (auto it = s.find("items"); it != s.end()) {
        if (it->is_boolean()) {
            if (!it->get<bool>()) return add("\"[\" j-ws \"]\"");
        } else {
            TK_ASSIGN_OR_RETURN(item, value_rule(*it, where + "/items", depth + 1));
        }
    }
    TK_ASSIGN_OR_RETURN(int64_t lo, bound(s, "minItems", where));
    TK_ASSIGN_OR_RETURN(int64_t hi, bound(s, "maxItems", where));
    if (lo < 0) lo = 0;
    if (hi >= 0 && hi < lo) return invalid("maxItems below minItems", where);
    if (hi == 0) return add("\"[\" j-ws \"]\"");
    const std::string more_lo = std::to_string(lo > 0 ? lo - 1 : 0);
    const std::string more_hi = hi >= 0 ? std::to_string(hi - 1) : "";
    std::string list = item + " j-ws (\",\" j-ws " + item + " j-ws){" + more_lo + "," + more_hi + "}";
    if (lo == 0) list = "(" + list + ")?";
    return add("\"[\" j-ws " + list + " \"]\"");
}

Result<std::string> Converter::object_rule(const json& s, const std::string& where, int depth) {
    auto props = s.find("properties");
    if (props != s.end() && !props->is_object())
        return invalid("'properties' must be an object", where);
    std::vector<std::string> required;
    if (auto r = s.find("required"); r != s.end()) {
        if (!r->is_array()) return invalid("'required' must be an array of strings", where);
        for (const json& x : *r) {
            if (!x.is_string()) return invalid("'required' must be an array of strings", where);
            required.push_back(x.get<std::string>());
        }
    }
    bool extra_allowed = true;
    const json* extra_schema = nullptr;
    if (auto a = s.find("additionalProperties"); a != s.end()) {
        if (a->is_boolean())
            extra_allowed = a->get<bool>();
        else if (a->is_object())
            extra_schema = &*a;
        else
            return invalid("'additionalProperties' must be a boolean or a schema", where);
    }
    const bool has_props = props != s.end() && !props->empty();
    if (!has_props && required.empty()) {
        if (extra_schema != nullptr) {
            // A map: any keys, values of one schema.
            TK_ASSIGN_OR_RETURN(std::string v, value_rule(*extra_schema,
                                                           where + "/additionalProperties",
                                                           depth + 1));
            const std::string kv = "j-string j-ws \":\" j-ws " + v + " j-ws";
            return add("\"{\" j-ws (" + kv + " (\",\" j-ws " + kv + ")*)? \"}\"");
        }
        return std::string(extra_allowed ? "j-object" : add("\"{\" j-ws \"}\""));
    }
    // Key/value rule of each property; required ones first, then optional ones, each group in
    // declared order.
    std::vector<std::pair<std::string, bool>> order;  // name, required
    std::set<std::string> req(required.begin(), required.end());
    std::map<std::string, std::string> kv;
    if (props != s.end()) {
        for (auto it = props->begin(); it != props->end(); ++it) {
            TK_ASSIGN_OR_RETURN(std::string v,
                                value_rule(it.value(), where + "/properties/" + it.key(), depth + 1));
            kv[it.key()] = add(literal(dump(json(it.key()))) + " j-ws \":\" j-ws " + v + " j-ws");
        }
    }
    for (const std::string& r : required) {
        if (kv.count(r) != 0) continue;
        if (!extra_allowed && extra_schema == nullptr)
            return invalid("required property '" + r + "' is not in 'properties'", where);
        std::string v = "j-value";
        if (extra_schema != nullptr) {
            TK_ASSIGN_OR_RETURN(v, value_rule(*extra_schema, where + "/additionalProperties",
                                              depth + 1));
        }
        kv[r] = add(literal(dump(json(r))) + " j-ws \":\" j-ws " + v + " j-ws");
    }
    std::vector<std::string> req_kv, opt_kv;
    std::set<std::string> seen;
    for (const std::string& r : required)
        if (seen.insert(r).second) req_kv.push_back(kv[r]);
    if (props != s.end())
        for (auto it = props->begin(); it != props->end(); ++it)
            if (req.count(it.key()) == 0) opt_kv.push_back(kv[it.key()]);
    std::string body = "\"{\" j-ws ";
    if (!req_kv.empty()) {
        for (size_t i = 0; i < req_kv.size(); ++i)
            body += (i > 0 ? "\",\" j-ws " : "") + req_kv[i] + " ";
        for (const std::string& o : opt_kv) body += "(\",\" j-ws " + o + ")? ";
    } else {
        // No required property: empty, or the first present optional one and any later ones.
        std::string alts;
        for (size_t i = 0; i < opt_kv.size(); ++i) {
            std::string a = opt_kv[i];
            for (size_t j = i + 1; j < opt_kv.size(); ++j) a += " (\",\" j-ws " + opt_kv[j] + ")?";
            alts += (i > 0 ? " | " : "") + a;
        }
        body += "(" + alts + ")? ";
    }
    return add(body + "\"}\"");
}

Result<std::string> Converter::typed(const json& s, const std::string& type,
                                     const std::string& where, int depth) {
    if (type == "string") return string_rule(s, where);
    if (type == "number") return std::string("j-number");
    if (type == "integer") return std::string("j-integer");
    if (type == "boolean") return std::string("j-boolean");
    if (type == "null") return std::string("j-null");
    if (type == "object") return object_rule(s, where, depth);
    if (type == "array") return array_rule(s, where, depth);
    return invalid("unknown type '" + type + "'", where);
}

Result<std::string> Converter::value_rule(const json& s, const std::string& where, int depth) {
    if (depth > kMaxDepth) return unsupported("nesting deeper than 64 levels", where);
    if (s.is_boolean()) {
        if (s.get<bool>()) return std::string("j-value");
        return invalid("the schema 'false' allows no value", where);
    }
    if (!s.is_object()) return invalid("a schema must be an object or a boolean", where);
    for (auto it = s.begin(); it != s.end(); ++it) {
        const std::string& k = it.key();
        if (handled().count(k) != 0 || annotations().count(k) != 0) continue;
        if (k == "uniqueItems" && it->is_boolean() && !it->get<bool>()) continue;
        return unsupported(k, where);
    }
    if (auto r = s.find("$ref"); r != s.end()) {
        if (!r->is_string()) return invalid("'$ref' must be a string", where);
        if (s.size() > 1)
            for (auto it = s.begin(); it != s.end(); ++it)
                if (it.key() != "$ref" && annotations().count(it.key()) == 0)
                    return unsupported("'" + it.key() + "' beside $ref", where);
        return ref_rule(r->get<std::string>(), where, depth);
    }
    if (auto c = s.find("const"); c != s.end()) return add(literal(dump(*c)));
    if (auto e = s.find("enum"); e != s.end()) {
        if (!e->is_array() || e->empty()) return invalid("'enum' must be a non-empty array", where);
        std::string alts;
        for (const json& v : *e) alts += (alts.empty() ? "" : " | ") + literal(dump(v));
        return add(alts);
    }
    for (const char* key : {"anyOf", "oneOf"}) {
        auto a = s.find(key);
        if (a == s.end()) continue;
        if (!a->is_array() || a->empty())
            return invalid(std::string("'") + key + "' must be a non-empty array", where);
        if (s.contains("type") || s.contains("properties") || s.contains("items"))
            return unsupported(std::string(key) + " beside other constraints", where);
        std::string alts;
        for (size_t i = 0; i < a->size(); ++i) {
            TK_ASSIGN_OR_RETURN(std::string r, value_rule((*a)[i], where + "/" + key + "/" +
                                                                       std::to_string(i),
                                                          depth + 1));
            alts += (i > 0 ? " | " : "") + r;
        }
        return add(alts);
    }
    auto t = s.find("type");
    if (t == s.end()) {
        // No type: infer from the keywords present, else any value.
        if (s.contains("properties") || s.contains("required") ||
            s.contains("additionalProperties"))
            return object_rule(s, where, depth);
        if (s.contains("items") || s.contains("minItems") || s.contains("maxItems"))
            return array_rule(s, where, depth);
        if (s.contains("minLength") || s.contains("maxLength")) return string_rule(s, where);
        return std::string("j-value");
    }
    if (t->is_string()) return typed(s, t->get<std::string>(), where, depth);
    if (!t->is_array() || t->empty())
        return invalid("'type' must be a string or a non-empty array of strings", where);
    std::string alts;
    for (const json& x : *t) {
        if (!x.is_string()) return invalid("'type' must hold strings", where);
        TK_ASSIGN_OR_RETURN(std::string r, typed(s, x.get<std::string>(), where, depth));
        alts += (alts.empty() ? "" : " | ") + r;
    }
    return add(alts);
}

}  // namespace

Result<std::string> json_schema_to_gbnf(std::string_view schema_json, std::string_view root_rule) {
    json s = json::parse(schema_json, nullptr, /*allow_exceptions=*/false);
    if (s.is_discarded())
        return make_error(ErrorCode::kInvalidArgument, "JSON schema is not valid JSON");
    Converter c(s);
    TK_ASSIGN_OR_RETURN(std::string body, c.value_rule(s, "#", 0));
    return c.text(root_rule, body);
}

std::string json_object_gbnf(std::string_view root_rule) {
    return std::string(root_rule) + " ::= j-object\n" + kBaseRules;
}

}  // namespace tk::sampling
