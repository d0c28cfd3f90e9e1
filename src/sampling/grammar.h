#pragma once
// Grammar-constrained decoding. A GBNF-like grammar (llama.cpp's dialect: `name ::= ...` rules,
// alternation `|`, sequences, groups, `* + ? {m} {m,} {m,n}`, "string literals", [character
// classes] with ranges and ^negation, `.` for any character, # comments) is compiled once into
// flat rules; each sequence then matches it incrementally with a GrammarState, a pushdown
// automaton over Unicode code points fed with raw token bytes (so a token may span several
// grammar symbols and end inside a UTF-8 character).
//
// The sampling module knows no tokenizer: callers describe the vocabulary as the byte string of
// every token id (empty for control tokens, which are then never allowed) plus the end ids, which
// are allowed exactly where the grammar is complete.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace tk::sampling {

// A vocabulary's token bytes in a trie, built once per model and shared by all grammars.
class GrammarVocab {
public:
    static std::shared_ptr<const GrammarVocab> create(std::vector<std::string> token_bytes,
                                                      std::vector<int32_t> eos_ids);

    int32_t n_vocab() const { return static_cast<int32_t>(bytes_.size()); }
    const std::string& bytes(int32_t id) const { return bytes_[static_cast<size_t>(id)]; }
    bool is_eos(int32_t id) const;
    const std::vector<int32_t>& eos_ids() const { return eos_; }

    // Trie: node 0 is the root; a node's edges are contiguous and sorted by byte.
    struct Node {
        uint32_t edge_begin = 0, edge_count = 0;
        uint32_t tok_begin = 0, tok_count = 0;  // tokens whose bytes end at this node
    };
    struct Edge {
        uint8_t byte;
        uint32_t child;
    };
    const std::vector<Node>& nodes() const { return nodes_; }
    const std::vector<Edge>& edges() const { return edges_; }
    const std::vector<int32_t>& node_tokens() const { return node_tokens_; }

private:
    GrammarVocab() = default;
    void build_trie();

    std::vector<std::string> bytes_;
    std::vector<int32_t> eos_;
    std::vector<Node> nodes_;
    std::vector<Edge> edges_;
    std::vector<int32_t> node_tokens_;
};

// A compiled grammar: immutable, shared by every sequence that uses it.
class Grammar {
public:
    // Parses `gbnf`; the start rule is `root_rule`. Errors (kInvalidArgument) name the line and
    // the fault: syntax, undefined rule, left recursion, repetition bounds over the limit.
    static Result<std::shared_ptr<const Grammar>> compile(std::string_view gbnf,
                                                          std::shared_ptr<const GrammarVocab> vocab,
                                                          std::string_view root_rule = "root");

    const GrammarVocab& vocab() const { return *vocab_; }

    // Flat rule storage. Every alternative is a run of elements ending with kEnd; a rule lists the
    // first element index of each of its alternatives.
    enum class Kind : uint8_t { kEnd, kChars, kCharsNot, kRef };
    struct Elem {
        Kind kind = Kind::kEnd;
        uint32_t a = 0;  // kChars/kCharsNot: first range; kRef: rule id
        uint32_t b = 0;  // kChars/kCharsNot: range count
    };
    struct Range {
        uint32_t lo, hi;  // inclusive code points
    };
    const std::vector<Elem>& elems() const { return elems_; }
    const std::vector<Range>& ranges() const { return ranges_; }
    const std::vector<uint32_t>& alts(uint32_t rule) const { return rules_[rule]; }
    uint32_t root() const { return root_; }
    size_t n_rules() const { return rules_.size(); }

    // Whether the character element `e` matches code point `cp`, or any of [lo, hi].
    bool matches(const Elem& e, uint32_t cp) const;
    bool matches_any(const Elem& e, uint32_t lo, uint32_t hi) const;

private:
    friend class GrammarBuilder;
    Grammar() = default;

    std::shared_ptr<const GrammarVocab> vocab_;
    std::vector<Elem> elems_;
    std::vector<Range> ranges_;
    std::vector<std::vector<uint32_t>> rules_;
    std::vector<std::string> names_;
    uint32_t root_ = 0;
};

// One sequence's position in a grammar. Not thread-safe; cheap to create.
class GrammarState {
public:
    explicit GrammarState(std::shared_ptr<const Grammar> grammar);
    ~GrammarState();
    GrammarState(GrammarState&&) noexcept;
    GrammarState& operator=(GrammarState&&) noexcept;

    // Marks in `allowed` (size n_vocab, 1 = allowed) every token that can continue the parse.
    void allowed_tokens(std::vector<uint8_t>& allowed);
    // Whether one token may come next (cheap: used to check candidates in probability order).
    bool allows(int32_t token);
    // Advances by `token`; false (state unchanged) if the grammar does not allow it.
    bool accept(int32_t token);
    // Advances by raw bytes (tests, forced prefixes); false (state unchanged) if not allowed.
    bool accept_bytes(std::string_view bytes);
    // The text so far is a complete sentence of the grammar (end tokens are allowed now).
    bool is_complete() const;
    // Nothing but an end token can follow.
    bool is_finished() const;

    const Grammar& grammar() const { return *grammar_; }

private:
    struct Impl;
    std::shared_ptr<const Grammar> grammar_;
    std::unique_ptr<Impl> impl_;
};

}  // namespace tk::sampling
