#pragma once
// Value: the data model of the chat-template engine. It is JSON plus the Python/Jinja2 types a
// template can make (tuples, undefined, callables, namespace objects), with Python's semantics
// for printing, equality and truthiness so rendered text matches Jinja2 byte for byte.
//
// Arrays and objects are shared and copy-on-write: copying a Value is cheap, and the mutating
// builders (push_back, set) copy the payload first when it is shared. Namespace objects are the
// one deliberately shared, mutable kind (Jinja's `namespace()`), so `set ns.x` is seen by every
// holder.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace tk::tokenizer {

namespace jinja {
struct Callable;  // builtins, bound methods and macros; defined by the evaluator
}

class Value;

struct ObjectData;

class Value {
public:
    enum class Kind : uint8_t {
        kUndefined,
        kNone,
        kBool,
        kInt,
        kFloat,
        kString,
        kArray,  // list, tuple or a one-shot iterator (see is_tuple / is_iterator)
        kObject,
        kCallable,
        kNamespace,
    };

    Value() = default;                                     // undefined
    Value(std::nullptr_t) : kind_(Kind::kNone) {}          // NOLINT(google-explicit-constructor)
    Value(bool b) : kind_(Kind::kBool) { num_.b = b; }     // NOLINT
    Value(int i) : kind_(Kind::kInt) { num_.i = i; }       // NOLINT
    Value(int64_t i) : kind_(Kind::kInt) { num_.i = i; }   // NOLINT
    Value(double d) : kind_(Kind::kFloat) { num_.f = d; }  // NOLINT
    Value(const char* s) : Value(std::string(s)) {}        // NOLINT
    Value(std::string_view s) : Value(std::string(s)) {}   // NOLINT
    Value(std::string s);                                  // NOLINT

    static Value none() { return Value(nullptr); }
    // A string marked safe (Python markupsafe.Markup, made by |safe and |escape). Adding plain
    // text to it HTML-escapes that text, as Jinja2 does even with autoescaping off.
    static Value markup(std::string s);
    // Undefined carrying the message Jinja would raise when it is used (e.g. "'x' is undefined").
    static Value undefined(std::string hint);
    static Value array(std::vector<Value> items = {});
    static Value tuple(std::vector<Value> items);
    // What Jinja filters such as map/select return: a generator. It is always truthy, has no
    // length and prints as an object, unlike a list.
    static Value iterator(std::vector<Value> items);
    static Value object();
    static Value object(std::vector<std::pair<std::string, Value>> entries);
    static Value make_namespace(std::vector<std::pair<std::string, Value>> entries);
    static Value callable(std::shared_ptr<const jinja::Callable> fn);

    // Parses JSON text as Python's json.loads would (integers stay ints, key order is kept).
    static Result<Value> from_json(std::string_view text);
    // json.dumps(self, ensure_ascii=False): ", " and ": " separators, keys in insertion order.
    // Fails for values JSON cannot hold (undefined, callables, namespaces).
    Result<std::string> to_json() const;

    Kind kind() const { return kind_; }
    bool is_undefined() const { return kind_ == Kind::kUndefined; }
    bool is_none() const { return kind_ == Kind::kNone; }
    bool is_bool() const { return kind_ == Kind::kBool; }
    bool is_int() const { return kind_ == Kind::kInt; }
    bool is_float() const { return kind_ == Kind::kFloat; }
    bool is_number() const { return kind_ == Kind::kInt || kind_ == Kind::kFloat; }
    bool is_string() const { return kind_ == Kind::kString; }
    bool is_array() const { return kind_ == Kind::kArray; }
    bool is_object() const { return kind_ == Kind::kObject; }
    bool is_callable() const { return kind_ == Kind::kCallable; }
    bool is_namespace() const { return kind_ == Kind::kNamespace; }
    bool is_tuple() const { return kind_ == Kind::kArray && (flags_ & kFlagTuple) != 0; }
    bool is_iterator() const { return kind_ == Kind::kArray && (flags_ & kFlagIterator) != 0; }
    bool is_markup() const { return kind_ == Kind::kString && (flags_ & kFlagMarkup) != 0; }

    bool as_bool() const { return num_.b; }
    int64_t as_int() const { return num_.i; }
    double as_float() const { return num_.f; }
    // Number as double (ints and bools convert).
    double to_double() const;
    const std::string& as_string() const;        // strings; the hint of an undefined
    const std::vector<Value>& as_array() const;  // arrays (empty for other kinds)
    const ObjectData& as_object() const;         // objects and namespaces
    ObjectData& namespace_data() const;          // namespaces only: shared, mutable
    const jinja::Callable* as_callable() const;
    // Identity of the shared payload (namespace / callable equality is identity in Python).
    const void* payload() const { return ptr_.get(); }

    // Builders (copy-on-write). push_back on an array; set / find on an object.
    void push_back(Value v);
    void set(std::string_view key, Value v);
    const Value* find(std::string_view key) const;
    // Number of items (array), entries (object) or bytes (string).
    size_t size() const;

private:
    static constexpr uint8_t kFlagTuple = 1;
    static constexpr uint8_t kFlagIterator = 2;
    static constexpr uint8_t kFlagMarkup = 4;

    Kind kind_ = Kind::kUndefined;
    uint8_t flags_ = 0;
    union {
        bool b;
        int64_t i;
        double f;
    } num_{.i = 0};
    // string / undefined hint: std::string; array: std::vector<Value>; object and namespace:
    // ObjectData; callable: jinja::Callable.
    std::shared_ptr<void> ptr_;
};

// Insertion-ordered string-keyed map (Python dicts keep insertion order; tojson relies on it).
struct ObjectData {
    std::vector<std::pair<std::string, Value>> entries;

    const Value* find(std::string_view key) const;
    Value* find(std::string_view key);
    void set(std::string_view key, Value v);
};

}  // namespace tk::tokenizer
