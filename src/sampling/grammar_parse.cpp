// GBNF text -> flat rules. Groups and quantifiers become generated rules, as in llama.cpp:
//   x*  -> S ::= x S | ε        x+ -> x S        x? -> O ::= x | ε
//   x{m,n} -> m copies of x, then n-m nested optionals (x (x (...)?)?)?
// Right recursion keeps parse stacks flat (a finished alternative is popped before the tail
// call), so long repetitions cost no stack depth.
#include <algorithm>
#include <functional>
#include <unordered_map>

#include "sampling/grammar.h"

namespace tk::sampling {

constexpr uint32_t kMaxRepeat = 4096;  // bounded repetitions expand into this many rules at most
constexpr uint32_t kMaxCodePoint = 0x10FFFF;

class GrammarBuilder {
public:
    explicit GrammarBuilder(std::string_view src) : src_(src) {}

    Result<std::shared_ptr<const Grammar>> build(std::shared_ptr<const GrammarVocab> vocab,
                                                 std::string_view root_rule);

private:
    struct PElem {
        Grammar::Kind kind = Grammar::Kind::kChars;
        uint32_t rule = 0;
        std::vector<Grammar::Range> ranges;
    };
    using PSeq = std::vector<PElem>;
    using PRule = std::vector<PSeq>;

    Status fail(const std::string& what) const {
        size_t line = 1 + static_cast<size_t>(std::count(src_.begin(), src_.begin() + pos_, '\n'));
        return make_error(ErrorCode::kInvalidArgument,
                          "grammar line " + std::to_string(line) + ": " + what);
    }
    bool eof() const { return pos_ >= src_.size(); }
    char peek(size_t k = 0) const { return pos_ + k < src_.size() ? src_[pos_ + k] : '\0'; }
    void skip_space();
    static bool is_name_char(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '_';
    }
    std::string parse_name();
    bool at_rule_start();  // a `name ::=` ahead (ends the current rule)
    uint32_t rule_id(const std::string& name);
    uint32_t new_rule(PRule r);
    Status parse_rule();
    Status parse_alts(PRule& out, bool nested);
    Status parse_seq(PSeq& out, bool nested);
    Status parse_char(uint32_t& cp);  // one (possibly escaped) UTF-8 character
    Status parse_class(PElem& out);
    Status parse_quant(PSeq& seq, size_t start);
    Status parse_int(uint32_t& v);
    Status check_left_recursion() const;

    std::string_view src_;
    size_t pos_ = 0;
    std::vector<PRule> rules_;
    std::vector<std::string> names_;
    std::vector<bool> defined_;
    std::unordered_map<std::string, uint32_t> ids_;
};

void GrammarBuilder::skip_space() {
    while (!eof()) {
        const char c = peek();
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            ++pos_;
        } else if (c == '#') {
            while (!eof() && peek() != '\n') ++pos_;
        } else {
            break;
        }
    }
}

std::string GrammarBuilder::parse_name() {
    const size_t start = pos_;
    while (!eof() && is_name_char(peek())) ++pos_;
    return std::string(src_.substr(start, pos_ - start));
}

bool GrammarBuilder::at_rule_start() {
    const size_t save = pos_;
    bool yes = false;
    if (!parse_name().empty()) {
        skip_space();
        yes = src_.substr(pos_, 3) == "::=";
    }
    pos_ = save;
    return yes;
}

uint32_t GrammarBuilder::rule_id(const std::string& name) {
    auto it = ids_.find(name);
    if (it != ids_.end()) return it->second;
    const uint32_t id = static_cast<uint32_t>(rules_.size());
    rules_.emplace_back();
    names_.push_back(name);
    defined_.push_back(false);
    ids_.emplace(name, id);
    return id;
}

uint32_t GrammarBuilder::new_rule(PRule r) {
    const uint32_t id = static_cast<uint32_t>(rules_.size());
    rules_.push_back(std::move(r));
    names_.push_back("_gen" + std::to_string(id));
    defined_.push_back(true);
    return id;
}

Status GrammarBuilder::parse_rule() {
    const std::string name = parse_name();
    if (name.empty()) return fail("expected a rule name");
    skip_space();
    if (src_.substr(pos_, 3) != "::=") return fail("expected '::=' after '" + name + "'");
    pos_ += 3;
    const uint32_t id = rule_id(name);
    if (defined_[id]) return fail("rule '" + name + "' is defined twice");
    defined_[id] = true;
    PRule r;
    TK_RETURN_IF_ERROR(parse_alts(r, false));
    rules_[id] = std::move(r);
    return Status::ok();
}

Status GrammarBuilder::parse_alts(PRule& out, bool nested) {
    while (true) {
        PSeq seq;
        TK_RETURN_IF_ERROR(parse_seq(seq, nested));
        out.push_back(std::move(seq));
        skip_space();
        if (peek() != '|') return Status::ok();
        ++pos_;
    }
}

Status GrammarBuilder::parse_int(uint32_t& v) {
    skip_space();
    if (!(peek() >= '0' && peek() <= '9')) return fail("expected a number in '{m,n}'");
    uint64_t x = 0;
    while (peek() >= '0' && peek() <= '9') {
        x = x * 10 + static_cast<uint64_t>(peek() - '0');
        if (x > kMaxRepeat)
            return fail("repetition bound over the limit of " + std::to_string(kMaxRepeat));
        ++pos_;
    }
    v = static_cast<uint32_t>(x);
    return Status::ok();
}

// Applies the quantifier after seq[start..] (one element) if there is one.
Status GrammarBuilder::parse_quant(PSeq& seq, size_t start) {
    const size_t save = pos_;
    skip_space();
    const char c = peek();
    if (c != '*' && c != '+' && c != '?' && c != '{') {
        pos_ = save;
        return Status::ok();
    }
    ++pos_;
    uint32_t lo = 0, hi = 0;
    bool unbounded = false;
    if (c == '*') {
        unbounded = true;
    } else if (c == '+') {
        lo = 1;
        unbounded = true;
    } else if (c == '?') {
        hi = 1;
    } else {
        TK_RETURN_IF_ERROR(parse_int(lo));
        skip_space();
        if (peek() == ',') {
            ++pos_;
            skip_space();
            if (peek() == '}') {
                unbounded = true;
            } else {
                TK_RETURN_IF_ERROR(parse_int(hi));
            }
        } else {
            hi = lo;
        }
        skip_space();
        if (peek() != '}') return fail("expected '}' to close a repetition");
        ++pos_;
        if (!unbounded && hi < lo) return fail("repetition {m,n} with n < m");
    }
    const PElem x = seq[start];
    seq.resize(start);
    for (uint32_t i = 0; i < lo; ++i) seq.push_back(x);
    PElem ref;
    ref.kind = Grammar::Kind::kRef;
    if (unbounded) {
        const uint32_t s = new_rule({});
        PElem self = ref;
        self.rule = s;
        rules_[s] = {{x, self}, {}};
        ref.rule = s;
        seq.push_back(ref);
    } else if (hi > lo) {
        // Innermost first: O_k ::= x O_{k+1} | ε.
        uint32_t inner = new_rule({{x}, {}});
        for (uint32_t k = lo + 1; k < hi; ++k) {
            PElem next = ref;
            next.rule = inner;
            inner = new_rule({{x, next}, {}});
        }
        ref.rule = inner;
        seq.push_back(ref);
    }
    return Status::ok();
}

Status GrammarBuilder::parse_char(uint32_t& cp) {
    if (eof()) return fail("unexpected end of grammar");
    auto hex = [&](int n) -> Status {
        uint32_t v = 0;
        for (int i = 0; i < n; ++i) {
            const char h = peek();
            int d = -1;
            if (h >= '0' && h <= '9') d = h - '0';
            if (h >= 'a' && h <= 'f') d = h - 'a' + 10;
            if (h >= 'A' && h <= 'F') d = h - 'A' + 10;
            if (d < 0) return fail("bad hex escape");
            v = v * 16 + static_cast<uint32_t>(d);
            ++pos_;
        }
        if (v > kMaxCodePoint) return fail("code point out of range");
        cp = v;
        return Status::ok();
    };
    const unsigned char c = static_cast<unsigned char>(peek());
    if (c == '\\') {
        ++pos_;
        const char e = peek();
        ++pos_;
        switch (e) {
            case 'n': cp = '\n'; return Status::ok();
            case 'r': cp = '\r'; return Status::ok();
            case 't': cp = '\t'; return Status::ok();
            case '\\': case '"': case '[': case ']': case '-': case '^': case '/':
                cp = static_cast<unsigned char>(e);
                return Status::ok();
            case 'x': return hex(2);
            case 'u': return hex(4);
            case 'U': return hex(8);
            default: return fail(std::string("unknown escape '\\") + e + "'");
        }
    }
    // Decode one UTF-8 character.
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || pos_ + static_cast<size_t>(len) > src_.size()) return fail("invalid UTF-8");
    uint32_t v = len == 1 ? c : len == 2 ? (c & 0x1Fu) : len == 3 ? (c & 0x0Fu) : (c & 0x07u);
    for (int i = 1; i < len; ++i) {
        const unsigned char d = static_cast<unsigned char>(src_[pos_ + static_cast<size_t>(i)]);
        if ((d & 0xC0) != 0x80) return fail("invalid UTF-8");
        v = (v << 6) | (d & 0x3Fu);
    }
    pos_ += static_cast<size_t>(len);
    cp = v;
    return Status::ok();
}

Status GrammarBuilder::parse_class(PElem& out) {
    ++pos_;  // '['
    out.kind = Grammar::Kind::kChars;
    if (peek() == '^') {
        out.kind = Grammar::Kind::kCharsNot;
        ++pos_;
    }
    while (peek() != ']') {
        if (eof()) return fail("unterminated character class");
        uint32_t lo = 0, hi = 0;
        TK_RETURN_IF_ERROR(parse_char(lo));
        hi = lo;
        if (peek() == '-' && peek(1) != ']' && pos_ + 1 < src_.size()) {
            ++pos_;
            TK_RETURN_IF_ERROR(parse_char(hi));
            if (hi < lo) return fail("character range with end before start");
        }
        out.ranges.push_back({lo, hi});
    }
    ++pos_;
    return Status::ok();
}

Status GrammarBuilder::parse_seq(PSeq& out, bool nested) {
    while (true) {
        skip_space();
        if (eof()) return Status::ok();
        const char c = peek();
        if (c == '|' || c == ')') {
            if (c == ')' && !nested) return fail("unmatched ')'");
            return Status::ok();
        }
        const size_t start = out.size();
        if (c == '"') {
            ++pos_;
            while (peek() != '"') {
                if (eof() || peek() == '\n') return fail("unterminated string literal");
                uint32_t cp = 0;
                TK_RETURN_IF_ERROR(parse_char(cp));
                PElem e;
                e.ranges.push_back({cp, cp});
                out.push_back(std::move(e));
            }
            ++pos_;
            // A quantifier applies to the whole literal: wrap it in a rule first.
            const size_t save = pos_;
            skip_space();
            const char q = peek();
            pos_ = save;
            if ((q == '*' || q == '+' || q == '?' || q == '{') && out.size() - start != 1) {
                PSeq lit(out.begin() + static_cast<ptrdiff_t>(start), out.end());
                out.resize(start);
                PElem ref;
                ref.kind = Grammar::Kind::kRef;
                ref.rule = new_rule({std::move(lit)});
                out.push_back(ref);
            }
            if (out.size() == start) continue;  // "" matches nothing
        } else if (c == '[') {
            PElem e;
            TK_RETURN_IF_ERROR(parse_class(e));
            out.push_back(std::move(e));
        } else if (c == '.') {
            ++pos_;
            PElem e;
            e.kind = Grammar::Kind::kCharsNot;  // no ranges excluded: any character
            out.push_back(std::move(e));
        } else if (c == '(') {
            ++pos_;
            PRule group;
            TK_RETURN_IF_ERROR(parse_alts(group, true));
            skip_space();
            if (peek() != ')') return fail("expected ')'");
            ++pos_;
            PElem ref;
            ref.kind = Grammar::Kind::kRef;
            ref.rule = new_rule(std::move(group));
            out.push_back(ref);
        } else if (is_name_char(c)) {
            if (at_rule_start()) return Status::ok();
            PElem ref;
            ref.kind = Grammar::Kind::kRef;
            ref.rule = rule_id(parse_name());
            out.push_back(ref);
        } else {
            return fail(std::string("unexpected character '") + c + "'");
        }
        TK_RETURN_IF_ERROR(parse_quant(out, out.size() - 1));
    }
}

Status GrammarBuilder::check_left_recursion() const {
    const size_t n = rules_.size();
    std::vector<bool> nullable(n, false);
    for (bool changed = true; changed;) {
        changed = false;
        for (size_t r = 0; r < n; ++r) {
            if (nullable[r]) continue;
            for (const PSeq& s : rules_[r]) {
                bool all = true;
                for (const PElem& e : s)
                    if (e.kind != Grammar::Kind::kRef || !nullable[e.rule]) all = false;
                if (all) {
                    nullable[r] = changed = true;
                    break;
                }
            }
        }
    }
    // Edges r -> rules that can be reached without consuming a character.
    std::vector<std::vector<uint32_t>> first(n);
    for (size_t r = 0; r < n; ++r)
        for (const PSeq& s : rules_[r])
            for (const PElem& e : s) {
                if (e.kind != Grammar::Kind::kRef) break;
                first[r].push_back(e.rule);
                if (!nullable[e.rule]) break;
            }
    std::vector<uint8_t> mark(n, 0);  // 0 new, 1 on the path, 2 done
    std::vector<std::pair<uint32_t, size_t>> stack;
    for (uint32_t s = 0; s < n; ++s) {
        if (mark[s] != 0) continue;
        stack.push_back({s, 0});
        mark[s] = 1;
        while (!stack.empty()) {
            auto& [r, i] = stack.back();
            if (i == first[r].size()) {
                mark[r] = 2;
                stack.pop_back();
                continue;
            }
            const uint32_t next = first[r][i++];
            if (mark[next] == 1) {
                std::string name = names_[next];
                // Generated rules have no user-facing name: report the nearest named caller.
                for (auto it = stack.rbegin(); it != stack.rend() && name.rfind("_gen", 0) == 0;
                     ++it)
                    name = names_[it->first];
                return make_error(ErrorCode::kInvalidArgument,
                                  "grammar: rule '" + name + "' is left-recursive");
            }
            if (mark[next] == 0) {
                mark[next] = 1;
                stack.push_back({next, 0});
            }
        }
    }
    return Status::ok();
}

Result<std::shared_ptr<const Grammar>> GrammarBuilder::build(
    std::shared_ptr<const GrammarVocab> vocab, std::string_view root_rule) {
    while (true) {
        skip_space();
        if (eof()) break;
        TK_RETURN_IF_ERROR(parse_rule());
    }
    for (size_t r = 0; r < rules_.size(); ++r)
        if (!defined_[r])
            return make_error(ErrorCode::kInvalidArgument,
                              "grammar: rule '" + names_[r] + "' is used but not defined");
    auto root = ids_.find(std::string(root_rule));
    if (root == ids_.end())
        return make_error(ErrorCode::kInvalidArgument,
                          "grammar: no '" + std::string(root_rule) + "' rule");
    TK_RETURN_IF_ERROR(check_left_recursion());

    std::shared_ptr<Grammar> g(new Grammar());
    g->vocab_ = std::move(vocab);
    g->root_ = root->second;
    g->names_ = names_;
    g->rules_.resize(rules_.size());
    for (size_t r = 0; r < rules_.size(); ++r) {
        for (const PSeq& s : rules_[r]) {
            g->rules_[r].push_back(static_cast<uint32_t>(g->elems_.size()));
            for (const PElem& e : s) {
                Grammar::Elem out;
                out.kind = e.kind;
                if (e.kind == Grammar::Kind::kRef) {
                    out.a = e.rule;
                } else {
                    out.a = static_cast<uint32_t>(g->ranges_.size());
                    out.b = static_cast<uint32_t>(e.ranges.size());
                    g->ranges_.insert(g->ranges_.end(), e.ranges.begin(), e.ranges.end());
                }
                g->elems_.push_back(out);
            }
            g->elems_.push_back(Grammar::Elem{});  // kEnd
        }
    }
    return std::shared_ptr<const Grammar>(std::move(g));
}

Result<std::shared_ptr<const Grammar>> Grammar::compile(std::string_view gbnf,
                                                        std::shared_ptr<const GrammarVocab> vocab,
                                                        std::string_view root_rule) {
    if (vocab == nullptr)
        return make_error(ErrorCode::kInvalidArgument, "grammar: no vocabulary given");
    GrammarBuilder b(gbnf);
    return b.build(std::move(vocab), root_rule);
}

bool Grammar::matches(const Elem& e, uint32_t cp) const {
    bool in = false;
    for (uint32_t i = e.a; i < e.a + e.b && !in; ++i)
        in = cp >= ranges_[i].lo && cp <= ranges_[i].hi;
    return e.kind == Kind::kChars ? in : !in;
}

bool Grammar::matches_any(const Elem& e, uint32_t lo, uint32_t hi) const {
    if (e.kind == Kind::kChars) {
        for (uint32_t i = e.a; i < e.a + e.b; ++i)
            if (ranges_[i].lo <= hi && ranges_[i].hi >= lo) return true;
        return false;
    }
    // Negated: some code point of [lo, hi] lies outside every excluded range. Walk up from lo
    // past each range that covers the current point.
    uint32_t cur = lo;
    for (bool moved = true; moved;) {
        moved = false;
        for (uint32_t i = e.a; i < e.a + e.b; ++i) {
            if (ranges_[i].lo <= cur && ranges_[i].hi >= cur) {
                if (ranges_[i].hi >= hi) return false;
                cur = ranges_[i].hi + 1;
                moved = true;
            }
        }
    }
    return cur <= hi;
}

// ---- vocabulary trie ----

std::shared_ptr<const GrammarVocab> GrammarVocab::create(std::vector<std::string> token_bytes,
                                                         std::vector<int32_t> eos_ids) {
    std::shared_ptr<GrammarVocab> v(new GrammarVocab());
    v->bytes_ = std::move(token_bytes);
    std::sort(eos_ids.begin(), eos_ids.end());
    eos_ids.erase(std::unique(eos_ids.begin(), eos_ids.end()), eos_ids.end());
    for (int32_t id : eos_ids)
        if (id >= 0 && id < v->n_vocab()) v->eos_.push_back(id);
    v->build_trie();
    return v;
}

bool GrammarVocab::is_eos(int32_t id) const {
    return std::binary_search(eos_.begin(), eos_.end(), id);
}

void GrammarVocab::build_trie() {
    std::vector<int32_t> ids;
    for (int32_t i = 0; i < n_vocab(); ++i)
        if (!bytes_[static_cast<size_t>(i)].empty() && !is_eos(i)) ids.push_back(i);
    std::sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) {
        const std::string& x = bytes_[static_cast<size_t>(a)];
        const std::string& y = bytes_[static_cast<size_t>(b)];
        return x != y ? x < y : a < b;
    });
    nodes_.assign(1, Node{});
    // Node `node` covers ids[lo, hi), all sharing their first `depth` bytes. Iterative, since
    // some vocabularies hold very long tokens.
    struct Work {
        uint32_t node;
        size_t lo, hi, depth;
    };
    std::vector<Work> work{{0, 0, ids.size(), 0}};
    while (!work.empty()) {
        const Work w = work.back();
        work.pop_back();
        size_t i = w.lo;
        Node& n = nodes_[w.node];
        n.tok_begin = static_cast<uint32_t>(node_tokens_.size());
        while (i < w.hi && bytes_[static_cast<size_t>(ids[i])].size() == w.depth)
            node_tokens_.push_back(ids[i++]);
        n.tok_count = static_cast<uint32_t>(node_tokens_.size()) - n.tok_begin;
        n.edge_begin = static_cast<uint32_t>(edges_.size());
        std::vector<Work> children;
        while (i < w.hi) {
            const uint8_t b = static_cast<uint8_t>(bytes_[static_cast<size_t>(ids[i])][w.depth]);
            size_t j = i;
            while (j < w.hi && static_cast<uint8_t>(bytes_[static_cast<size_t>(ids[j])][w.depth]) == b)
                ++j;
            const uint32_t child = static_cast<uint32_t>(nodes_.size());
            nodes_.push_back(Node{});
            edges_.push_back({b, child});
            children.push_back({child, i, j, w.depth + 1});
            i = j;
        }
        nodes_[w.node].edge_count = static_cast<uint32_t>(edges_.size()) - nodes_[w.node].edge_begin;
        work.insert(work.end(), children.begin(), children.end());
    }
}

}  // namespace tk::sampling
