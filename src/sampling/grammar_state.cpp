// Incremental matching. A parse state is a set of stacks of element indices (top = the character
// element to match next, below it the places to return to) plus a partial UTF-8 character.
// States are interned per sequence and byte transitions are memoized, so the walk over the
// vocabulary trie is mostly table lookups; inside long strings the state repeats and the whole
// allowed-token mask comes from a small cache.
#include <algorithm>
#include <unordered_map>

#include "base/log.h"
#include "sampling/grammar.h"

namespace tk::sampling {
namespace {

using Stack = std::vector<uint32_t>;
using StackSet = std::vector<Stack>;  // sorted, unique

constexpr int32_t kDead = -1;
constexpr int32_t kUnknown = -2;
constexpr size_t kMaxStates = 8192;     // interned states before the memo tables are reset
constexpr size_t kMaxMasks = 16;        // cached allowed-token masks
constexpr size_t kMaxExpansions = 1 << 16;  // per character: guards pathological grammars
constexpr uint32_t kMinCp[5] = {0, 0, 0x80, 0x800, 0x10000};

struct VecHash {
    size_t operator()(const std::vector<uint32_t>& v) const {
        uint64_t h = 1469598103934665603ull;
        for (uint32_t x : v) h = (h ^ x) * 1099511628211ull;
        return static_cast<size_t>(h);
    }
};

}  // namespace

struct GrammarState::Impl {
    struct StateData {
        StackSet stacks;
        uint8_t len = 0, rem = 0;  // partial UTF-8: total length, bytes still expected
        uint32_t acc = 0;          // bits so far
        bool complete = false;
        std::unique_ptr<int32_t[]> next;  // 256 byte transitions, lazily
    };

    const Grammar& g;
    std::vector<StateData> states;
    std::unordered_map<std::vector<uint32_t>, int32_t, VecHash> index;
    std::vector<std::pair<int32_t, std::vector<uint8_t>>> masks;  // state -> allowed, LRU at end
    int32_t cur = kDead;

    explicit Impl(const Grammar& grammar) : g(grammar) {}

    void expand(Stack s, StackSet& out) const {
        const auto& el = g.elems();
        std::vector<Stack> work{std::move(s)};
        size_t n = 0;
        while (!work.empty() && ++n < kMaxExpansions) {
            Stack st = std::move(work.back());
            work.pop_back();
            if (st.empty() || el[st.back()].kind != Grammar::Kind::kRef) {
                out.push_back(std::move(st));
                continue;
            }
            const uint32_t top = st.back();
            st.pop_back();
            if (el[top + 1].kind != Grammar::Kind::kEnd) st.push_back(top + 1);
            for (uint32_t alt : g.alts(el[top].a)) {
                Stack s2 = st;
                if (el[alt].kind != Grammar::Kind::kEnd) s2.push_back(alt);
                work.push_back(std::move(s2));
            }
        }
        if (!work.empty()) log_warn("grammar: expansion limit reached; parse stacks cut");
    }

    static void normalize(StackSet& s) {
        std::sort(s.begin(), s.end());
        s.erase(std::unique(s.begin(), s.end()), s.end());
    }

    int32_t intern(StackSet stacks, uint8_t len, uint8_t rem, uint32_t acc) {
        if (stacks.empty()) return kDead;
        normalize(stacks);
        std::vector<uint32_t> key{len, rem, acc, static_cast<uint32_t>(stacks.size())};
        for (const Stack& s : stacks) {
            key.push_back(static_cast<uint32_t>(s.size()));
            key.insert(key.end(), s.begin(), s.end());
        }
        auto it = index.find(key);
        if (it != index.end()) return it->second;
        StateData d;
        d.complete = rem == 0 && stacks.front().empty();  // sorted: the empty stack is first
        d.stacks = std::move(stacks);
        d.len = len;
        d.rem = rem;
        d.acc = acc;
        const int32_t id = static_cast<int32_t>(states.size());
        states.push_back(std::move(d));
        index.emplace(std::move(key), id);
        return id;
    }

    // Drops the memo tables when they grow too large, keeping the current state.
    void maybe_reset() {
        if (states.size() < kMaxStates) return;
        StateData d = std::move(states[static_cast<size_t>(cur)]);
        states.clear();
        index.clear();
        masks.clear();
        cur = intern(std::move(d.stacks), d.len, d.rem, d.acc);
    }

    int32_t accept_cp(const StackSet& stacks, uint32_t cp) {
        const auto& el = g.elems();
        StackSet out;
        for (const Stack& s : stacks) {
            if (s.empty() || !g.matches(el[s.back()], cp)) continue;
            Stack s2 = s;
            const uint32_t top = s2.back();
            s2.pop_back();
            if (el[top + 1].kind != Grammar::Kind::kEnd) s2.push_back(top + 1);
            expand(std::move(s2), out);
        }
        return intern(std::move(out), 0, 0, 0);
    }

    // Some stack can take a character in [lo, hi] (a partial UTF-8 prefix).
    bool feasible(const StackSet& stacks, uint32_t lo, uint32_t hi) const {
        for (const Stack& s : stacks)
            if (!s.empty() && g.matches_any(g.elems()[s.back()], lo, hi)) return true;
        return false;
    }

    int32_t compute(int32_t from, uint8_t b) {
        const StateData& d = states[static_cast<size_t>(from)];
        if (d.rem == 0) {
            if (b < 0x80) return accept_cp(d.stacks, b);
            uint8_t len = 0;
            uint32_t acc = 0;
            if (b >= 0xC2 && b <= 0xDF) {
                len = 2, acc = b & 0x1Fu;
            } else if (b >= 0xE0 && b <= 0xEF) {
                len = 3, acc = b & 0x0Fu;
            } else if (b >= 0xF0 && b <= 0xF4) {
                len = 4, acc = b & 0x07u;
            } else {
                return kDead;
            }
            const uint8_t rem = static_cast<uint8_t>(len - 1);
            const uint32_t lo = std::max(acc << (6 * rem), kMinCp[len]);
            const uint32_t hi = std::min(((acc + 1) << (6 * rem)) - 1, 0x10FFFFu);
            if (lo > hi || !feasible(d.stacks, lo, hi)) return kDead;
            StackSet copy = d.stacks;
            return intern(std::move(copy), len, rem, acc);
        }
        if ((b & 0xC0) != 0x80) return kDead;
        const uint32_t acc = (d.acc << 6) | (b & 0x3Fu);
        const uint8_t rem = static_cast<uint8_t>(d.rem - 1);
        if (rem == 0) {
            if (acc < kMinCp[d.len] || acc > 0x10FFFF || (acc >= 0xD800 && acc <= 0xDFFF))
                return kDead;
            StackSet copy = d.stacks;
            return accept_cp(copy, acc);
        }
        const uint32_t lo = std::max(acc << (6 * rem), kMinCp[d.len]);
        const uint32_t hi = std::min(((acc + 1) << (6 * rem)) - 1, 0x10FFFFu);
        if (lo > hi || !feasible(d.stacks, lo, hi)) return kDead;
        StackSet copy = d.stacks;
        return intern(std::move(copy), d.len, rem, acc);
    }

    int32_t step(int32_t from, uint8_t b) {
        StateData& d = states[static_cast<size_t>(from)];
        if (!d.next) {
            d.next.reset(new int32_t[256]);
            std::fill(d.next.get(), d.next.get() + 256, kUnknown);
        }
        int32_t n = d.next[b];
        if (n != kUnknown) return n;
        n = compute(from, b);  // may grow `states`: index again afterwards
        states[static_cast<size_t>(from)].next[b] = n;
        return n;
    }

    int32_t walk(int32_t s, std::string_view bytes) {
        for (char c : bytes) {
            if (s == kDead) break;
            s = step(s, static_cast<uint8_t>(c));
        }
        return s;
    }

    bool complete(int32_t s) const { return s != kDead && states[static_cast<size_t>(s)].complete; }

    void compute_mask(int32_t s, std::vector<uint8_t>& allowed) {
        const GrammarVocab& v = g.vocab();
        allowed.assign(static_cast<size_t>(v.n_vocab()), 0);
        if (s == kDead) return;
        if (complete(s))
            for (int32_t id : v.eos_ids()) allowed[static_cast<size_t>(id)] = 1;
        const auto& nodes = v.nodes();
        const auto& edges = v.edges();
        const auto& toks = v.node_tokens();
        std::vector<std::pair<uint32_t, int32_t>> work{{0u, s}};
        while (!work.empty()) {
            const auto [node, st] = work.back();
            work.pop_back();
            const GrammarVocab::Node& n = nodes[node];
            for (uint32_t e = n.edge_begin; e < n.edge_begin + n.edge_count; ++e) {
                const int32_t ns = step(st, edges[e].byte);
                if (ns == kDead) continue;
                const GrammarVocab::Node& c = nodes[edges[e].child];
                for (uint32_t t = c.tok_begin; t < c.tok_begin + c.tok_count; ++t)
                    allowed[static_cast<size_t>(toks[t])] = 1;
                if (c.edge_count > 0) work.push_back({edges[e].child, ns});
            }
        }
    }
};

GrammarState::GrammarState(std::shared_ptr<const Grammar> grammar)
    : grammar_(std::move(grammar)), impl_(std::make_unique<Impl>(*grammar_)) {
    StackSet start;
    for (uint32_t alt : grammar_->alts(grammar_->root())) {
        Stack s;
        if (grammar_->elems()[alt].kind != Grammar::Kind::kEnd) s.push_back(alt);
        impl_->expand(std::move(s), start);
    }
    impl_->cur = impl_->intern(std::move(start), 0, 0, 0);
}

GrammarState::~GrammarState() = default;
GrammarState::GrammarState(GrammarState&&) noexcept = default;
GrammarState& GrammarState::operator=(GrammarState&&) noexcept = default;

void GrammarState::allowed_tokens(std::vector<uint8_t>& allowed) {
    Impl& m = *impl_;
    m.maybe_reset();
    for (size_t i = 0; i < m.masks.size(); ++i) {
        if (m.masks[i].first != m.cur) continue;
        std::rotate(m.masks.begin() + static_cast<ptrdiff_t>(i),
                    m.masks.begin() + static_cast<ptrdiff_t>(i) + 1, m.masks.end());
        allowed = m.masks.back().second;
        return;
    }
    m.compute_mask(m.cur, allowed);
    if (m.masks.size() >= kMaxMasks) m.masks.erase(m.masks.begin());
    m.masks.emplace_back(m.cur, allowed);
}

bool GrammarState::allows(int32_t token) {
    Impl& m = *impl_;
    const GrammarVocab& v = grammar_->vocab();
    if (token < 0 || token >= v.n_vocab()) return false;
    if (v.is_eos(token)) return m.complete(m.cur);
    const std::string& b = v.bytes(token);
    if (b.empty()) return false;
    m.maybe_reset();
    return m.walk(m.cur, b) != kDead;
}

bool GrammarState::accept(int32_t token) {
    Impl& m = *impl_;
    const GrammarVocab& v = grammar_->vocab();
    if (token < 0 || token >= v.n_vocab()) return false;
    if (v.is_eos(token)) return m.complete(m.cur);
    if (v.bytes(token).empty()) return false;
    return accept_bytes(v.bytes(token));
}

bool GrammarState::accept_bytes(std::string_view bytes) {
    Impl& m = *impl_;
    m.maybe_reset();
    const int32_t s = m.walk(m.cur, bytes);
    if (s == kDead) return false;
    m.cur = s;
    return true;
}

bool GrammarState::is_complete() const { return impl_->complete(impl_->cur); }

bool GrammarState::is_finished() const {
    if (impl_->cur == kDead) return true;
    for (const Stack& s : impl_->states[static_cast<size_t>(impl_->cur)].stacks)
        if (!s.empty()) return false;
    return impl_->states[static_cast<size_t>(impl_->cur)].rem == 0;
}

}  // namespace tk::sampling
