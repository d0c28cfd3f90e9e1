#pragma once
// Tokenizer: text <-> token ids, matching llama.cpp's llama_tokenize, llama_token_to_piece and
// llama_detokenize (commit c392e509) for SentencePiece-style ("llama"), byte-level BPE ("gpt2")
// vocabularies, and WordPiece ("bert"), including special-token parsing and the per-model BOS/EOS
// rules.
// A Tokenizer is immutable after creation; all methods are safe to call from many threads.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "tokenizer/vocab.h"

namespace tk::formats {
class GgufFile;
}

namespace tk::tokenizer {

enum class VocabType { kSpm, kBpe, kWpm };  // "llama", "gpt2", "bert"

// llama.cpp's llama_token_attr bits.
enum TokenAttr : uint32_t {
    kAttrUndefined = 0,
    kAttrUnknown = 1u << 0,
    kAttrUnused = 1u << 1,
    kAttrNormal = 1u << 2,
    kAttrControl = 1u << 3,
    kAttrUserDefined = 1u << 4,
    kAttrByte = 1u << 5,
    kAttrNormalized = 1u << 6,
    kAttrLstrip = 1u << 7,
    kAttrRstrip = 1u << 8,
    kAttrSingleWord = 1u << 9,
};

struct TokenizerState;  // defined in tokenizer_internal.h

class Tokenizer {
public:
    // Interprets `data` with llama.cpp's defaults per model type. Fails (kUnsupported) for
    // tokenizer models or pre-tokenizers not implemented here, (kCorruptFile) for inconsistent
    // arrays.
    static Result<std::unique_ptr<Tokenizer>> create(VocabData data);
    static Result<std::unique_ptr<Tokenizer>> from_gguf(const formats::GgufFile& file);
    ~Tokenizer();

    // llama_tokenize: add_special adds BOS/EOS as the model asks; parse_special turns the text of
    // control tokens into those tokens (user-defined tokens are always matched first).
    std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const;

    // llama_token_to_piece(lstrip = 0): raw bytes of the token (may be partial UTF-8). Control
    // and unknown tokens give "" unless `special`. Out-of-range ids give "".
    std::string token_to_piece(int32_t id, bool special) const;

    // llama_detokenize, including its leading-space and clean-up-spaces rules.
    std::string detokenize(const std::vector<int32_t>& ids, bool remove_special,
                           bool unparse_special) const;

    int32_t n_vocab() const;
    VocabType type() const;
    const std::string& pre() const;  // pre-tokenizer name as given (SPM: "default")
    int32_t bos() const;             // -1 when the model has none
    int32_t eos() const;
    int32_t eot() const;
    int32_t eom() const;
    int32_t unk() const;
    int32_t sep() const;
    int32_t pad() const;
    bool add_bos() const;
    bool add_eos() const;
    bool add_space_prefix() const;
    bool is_eog(int32_t id) const;  // end of generation: EOS, EOT, <|im_end|>, ...
    bool is_control(int32_t id) const;
    std::string_view token_text(int32_t id) const;  // "" for out-of-range ids
    float token_score(int32_t id) const;
    uint32_t token_attr(int32_t id) const;          // TokenAttr bits
    int32_t token_id(std::string_view text) const;  // exact vocabulary lookup, -1 if absent

    // Building blocks of detokenize, for StreamDecoder: appends the piece of `id`, skipping up to
    // `lstrip` leading spaces; and llama.cpp's clean-up-spaces pass (BPE models only).
    void append_piece(int32_t id, bool special, int lstrip, std::string& out) const;
    bool clean_spaces() const;
    static void clean_up_spaces(std::string& text);

    const TokenizerState& state() const { return *s_; }

private:
    explicit Tokenizer(std::unique_ptr<TokenizerState> s);
    std::unique_ptr<TokenizerState> s_;
};

// Incremental detokenizer for streaming generated tokens. The concatenation of every push() and
// the final flush() equals detokenize(ids, false, unparse_special). Each returned chunk is valid
// UTF-8: incomplete trailing sequences (byte-fallback tokens, partial BPE byte pieces) are held
// back until completed; bytes that can never form a character come out as U+FFFD.
class StreamDecoder {
public:
    explicit StreamDecoder(const Tokenizer& tok, bool unparse_special = false);
    std::string push(int32_t id);
    std::string flush();
    void reset();

private:
    std::string take(bool final);

    const Tokenizer& tok_;
    bool unparse_special_;
    bool first_ = true;
    std::string raw_;  // pieces not yet emitted (before clean-up and UTF-8 validation)
};

}  // namespace tk::tokenizer
