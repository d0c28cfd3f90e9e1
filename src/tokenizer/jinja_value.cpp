// Value: construction, copy-on-write builders and JSON conversion.
#include "tokenizer/jinja_value.h"

#include <algorithm>
#include <cstdint>
#include <nlohmann/json.hpp>

#include "tokenizer/jinja_pyutil.h"

namespace tk::tokenizer {

namespace {
const std::string& empty_string() {
    static const std::string kEmpty;
    return kEmpty;
}
const std::vector<Value>& empty_array() {
    static const std::vector<Value> kEmpty;
    return kEmpty;
}
const ObjectData& empty_object() {
    static const ObjectData kEmpty;
    return kEmpty;
}
}  // namespace

// ---- ObjectData. Objects in chat requests are small, so a linear scan beats hashing.

const Value* ObjectData::find(std::string_view key) const {
    for (const auto& e : entries) {
        if (e.first == key) return &e.second;
    }
    return nullptr;
}

Value* ObjectData::find(std::string_view key) {
    for (auto& e : entries) {
        if (e.first == key) return &e.second;
    }
    return nullptr;
}

void ObjectData::set(std::string_view key, Value v) {
    if (Value* existing = find(key)) {
        *existing = std::move(v);
        return;
    }
    entries.emplace_back(std::string(key), std::move(v));
}

// ---- Value

Value::Value(std::string s) : kind_(Kind::kString) {
    ptr_ = std::make_shared<std::string>(std::move(s));
}

Value Value::markup(std::string s) {
    Value v(std::move(s));
    v.flags_ = kFlagMarkup;
    return v;
}

Value Value::undefined(std::string hint) {
    Value v;
    if (!hint.empty()) v.ptr_ = std::make_shared<std::string>(std::move(hint));
    return v;
}

Value Value::array(std::vector<Value> items) {
    Value v;
    v.kind_ = Kind::kArray;
    v.ptr_ = std::make_shared<std::vector<Value>>(std::move(items));
    return v;
}

Value Value::tuple(std::vector<Value> items) {
    Value v = array(std::move(items));
    v.flags_ = kFlagTuple;
    return v;
}

Value Value::iterator(std::vector<Value> items) {
    Value v = array(std::move(items));
    v.flags_ = kFlagIterator;
    return v;
}

Value Value::object() { return object({}); }

Value Value::object(std::vector<std::pair<std::string, Value>> entries) {
    Value v;
    v.kind_ = Kind::kObject;
    auto data = std::make_shared<ObjectData>();
    for (auto& [k, val] : entries) data->set(k, std::move(val));
    v.ptr_ = std::move(data);
    return v;
}

Value Value::make_namespace(std::vector<std::pair<std::string, Value>> entries) {
    Value v = object(std::move(entries));
    v.kind_ = Kind::kNamespace;
    return v;
}

Value Value::callable(std::shared_ptr<const jinja::Callable> fn) {
    Value v;
    v.kind_ = Kind::kCallable;
    v.ptr_ = std::const_pointer_cast<jinja::Callable>(std::move(fn));
    return v;
}

double Value::to_double() const {
    switch (kind_) {
        case Kind::kBool:
            return num_.b ? 1.0 : 0.0;
        case Kind::kInt:
            return static_cast<double>(num_.i);
        case Kind::kFloat:
            return num_.f;
        default:
            return 0.0;
    }
}

const std::string& Value::as_string() const {
    if ((kind_ == Kind::kString || kind_ == Kind::kUndefined) && ptr_ != nullptr) {
        return *static_cast<const std::string*>(ptr_.get());
    }
    return empty_string();
}

const std::vector<Value>& Value::as_array() const {
    if (kind_ != Kind::kArray) return empty_array();
    return *static_cast<const std::vector<Value>*>(ptr_.get());
}

const ObjectData& Value::as_object() const {
    if (kind_ != Kind::kObject && kind_ != Kind::kNamespace) return empty_object();
    return *static_cast<const ObjectData*>(ptr_.get());
}

ObjectData& Value::namespace_data() const { return *static_cast<ObjectData*>(ptr_.get()); }

const jinja::Callable* Value::as_callable() const {
    if (kind_ != Kind::kCallable) return nullptr;
    return static_cast<const jinja::Callable*>(ptr_.get());
}

void Value::push_back(Value v) {
    if (kind_ != Kind::kArray) *this = array();
    if (ptr_.use_count() > 1) ptr_ = std::make_shared<std::vector<Value>>(as_array());
    static_cast<std::vector<Value>*>(ptr_.get())->push_back(std::move(v));
}

void Value::set(std::string_view key, Value v) {
    if (kind_ == Kind::kNamespace) {
        namespace_data().set(key, std::move(v));
        return;
    }
    if (kind_ != Kind::kObject) *this = object();
    if (ptr_.use_count() > 1) ptr_ = std::make_shared<ObjectData>(as_object());
    static_cast<ObjectData*>(ptr_.get())->set(key, std::move(v));
}

const Value* Value::find(std::string_view key) const { return as_object().find(key); }

size_t Value::size() const {
    switch (kind_) {
        case Kind::kString:
            return as_string().size();
        case Kind::kArray:
            return as_array().size();
        case Kind::kObject:
        case Kind::kNamespace:
            return as_object().entries.size();
        default:
            return 0;
    }
}

// ---- JSON

namespace {
// ordered_json keeps key order, as Python's json.loads does.
Value from_ordered_json(const nlohmann::ordered_json& j) {
    switch (j.type()) {
        case nlohmann::ordered_json::value_t::null:
            return Value::none();
        case nlohmann::ordered_json::value_t::boolean:
            return Value(j.get<bool>());
        case nlohmann::ordered_json::value_t::number_integer:
            return Value(j.get<int64_t>());
        case nlohmann::ordered_json::value_t::number_unsigned: {
            const auto u = j.get<uint64_t>();
            if (u > static_cast<uint64_t>(INT64_MAX)) return Value(static_cast<double>(u));
            return Value(static_cast<int64_t>(u));
        }
        case nlohmann::ordered_json::value_t::number_float:
            return Value(j.get<double>());
        case nlohmann::ordered_json::value_t::string:
            return Value(j.get<std::string>());
        case nlohmann::ordered_json::value_t::array: {
            std::vector<Value> items;
            items.reserve(j.size());
            for (const auto& e : j) items.push_back(from_ordered_json(e));
            return Value::array(std::move(items));
        }
        case nlohmann::ordered_json::value_t::object: {
            Value obj = Value::object();
            for (const auto& [k, e] : j.items()) obj.set(k, from_ordered_json(e));
            return obj;
        }
        default:
            return Value::none();
    }
}
}  // namespace

Result<Value> Value::from_json(std::string_view text) {
    // Depth-limit before recursing so hostile input cannot exhaust the stack.
    int depth = 0;
    int max_depth = 0;
    bool in_str = false;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (in_str) {
            if (c == '\\') {
                ++i;
            } else if (c == '"') {
                in_str = false;
            }
        } else if (c == '"') {
            in_str = true;
        } else if (c == '[' || c == '{') {
            max_depth = std::max(max_depth, ++depth);
        } else if (c == ']' || c == '}') {
            --depth;
        }
    }
    if (max_depth > 256) {
        return Status(ErrorCode::kInvalidArgument, "JSON nested deeper than 256 levels");
    }
    nlohmann::ordered_json j = nlohmann::ordered_json::parse(text, nullptr, false);
    if (j.is_discarded()) return Status(ErrorCode::kInvalidArgument, "invalid JSON");
    return from_ordered_json(j);
}

Result<std::string> Value::to_json() const {
    std::string out;
    TK_RETURN_IF_ERROR(jinja::json_dump(*this, jinja::JsonOptions{}, &out));
    return out;
}

}  // namespace tk::tokenizer
