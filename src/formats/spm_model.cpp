// SentencePiece ModelProto reader: protobuf wire format by hand (varints, 32/64-bit fixed,
// length-delimited), every read checked against the end of its message.
#include "formats/spm_model.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "base/mmap_file.h"
#include "formats/gguf.h"

namespace tk::formats {
namespace {

namespace fs = std::filesystem;

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLen = 2, kFixed32 = 5 };

// A view of one message's bytes; `base` is the offset of `p` in the file, for messages.
class Wire {
public:
    Wire(const uint8_t* p, size_t n, size_t base, const std::string& source, const char* what)
        : p_(p), n_(n), base_(base), source_(source), what_(what) {}

    bool done() const { return at_ >= n_; }

    Status varint(uint64_t* v) {
        uint64_t r = 0;
        for (int shift = 0; shift < 70; shift += 7) {
            if (at_ >= n_) return fail("truncated varint");
            const uint8_t c = p_[at_++];
            r |= static_cast<uint64_t>(c & 0x7f) << shift;
            if ((c & 0x80) == 0) {
                *v = r;
                return Status::ok();
            }
        }
        return fail("varint longer than 10 bytes");
    }

    Status tag(uint32_t* field, uint32_t* wire) {
        uint64_t t = 0;
        TK_RETURN_IF_ERROR(varint(&t));
        *field = static_cast<uint32_t>(t >> 3);
        *wire = static_cast<uint32_t>(t & 7);
        if (*field == 0) return fail("field number 0");
        return Status::ok();
    }

    Status fixed32(uint32_t* v) {
        if (n_ - at_ < 4) return fail("truncated 32-bit field");
        std::memcpy(v, p_ + at_, 4);
        at_ += 4;
        return Status::ok();
    }

    // A length-delimited field: its bytes and their offset in the file.
    Status bytes(const uint8_t** data, size_t* len, size_t* offset) {
        uint64_t n = 0;
        TK_RETURN_IF_ERROR(varint(&n));
        if (n > n_ - at_) {
            return fail("length " + std::to_string(n) + " runs past the end of the message (" +
                        std::to_string(n_ - at_) + " bytes left)");
        }
        *data = p_ + at_;
        *len = static_cast<size_t>(n);
        *offset = base_ + at_;
        at_ += static_cast<size_t>(n);
        return Status::ok();
    }

    Status skip(uint32_t wire) {
        uint64_t v = 0;
        const uint8_t* d = nullptr;
        size_t len = 0, off = 0;
        switch (wire) {
            case kVarint:
                return varint(&v);
            case kFixed64:
                if (n_ - at_ < 8) return fail("truncated 64-bit field");
                at_ += 8;
                return Status::ok();
            case kLen:
                return bytes(&d, &len, &off);
            case kFixed32:
                if (n_ - at_ < 4) return fail("truncated 32-bit field");
                at_ += 4;
                return Status::ok();
            default:
                return fail("unsupported wire type " + std::to_string(wire));
        }
    }

    Status fail(const std::string& msg) const {
        return make_error(ErrorCode::kCorruptFile, source_ + ": " + what_ + " at byte " +
                                                       std::to_string(base_ + at_) + ": " + msg);
    }

private:
    const uint8_t* p_;
    size_t n_;
    size_t at_ = 0;
    size_t base_;
    const std::string& source_;
    const char* what_;
};

Status expect_wire(Wire& w, uint32_t got, uint32_t want, const char* field) {
    if (got == want) return Status::ok();
    return w.fail(std::string("field ") + field + " has wire type " + std::to_string(got) +
                  ", expected " + std::to_string(want));
}

Status parse_piece(const uint8_t* p, size_t n, size_t base, const std::string& source,
                   SpmPiece* out) {
    Wire w(p, n, base, source, "SentencePiece");
    bool have_piece = false;
    while (!w.done()) {
        uint32_t field = 0, wire = 0;
        TK_RETURN_IF_ERROR(w.tag(&field, &wire));
        if (field == 1) {
            TK_RETURN_IF_ERROR(expect_wire(w, wire, kLen, "piece"));
            const uint8_t* d = nullptr;
            size_t len = 0, off = 0;
            TK_RETURN_IF_ERROR(w.bytes(&d, &len, &off));
            out->piece.assign(reinterpret_cast<const char*>(d), len);
            have_piece = true;
        } else if (field == 2) {
            TK_RETURN_IF_ERROR(expect_wire(w, wire, kFixed32, "score"));
            uint32_t bits = 0;
            TK_RETURN_IF_ERROR(w.fixed32(&bits));
            std::memcpy(&out->score, &bits, 4);
        } else if (field == 3) {
            TK_RETURN_IF_ERROR(expect_wire(w, wire, kVarint, "type"));
            uint64_t t = 0;
            TK_RETURN_IF_ERROR(w.varint(&t));
            if (t < 1 || t > 6) return w.fail("piece type " + std::to_string(t) + " is not 1..6");
            out->type = static_cast<int32_t>(t);
        } else {
            TK_RETURN_IF_ERROR(w.skip(wire));
        }
    }
    if (!have_piece) return w.fail("piece without text");
    return Status::ok();
}

// int32 fields are varints of the 64-bit two's complement (-1 is ten bytes).
int64_t as_int32(uint64_t v) { return static_cast<int64_t>(static_cast<int32_t>(v)); }

Status parse_trainer(const uint8_t* p, size_t n, size_t base, const std::string& source,
                     SpmModel* m) {
    Wire w(p, n, base, source, "TrainerSpec");
    while (!w.done()) {
        uint32_t field = 0, wire = 0;
        TK_RETURN_IF_ERROR(w.tag(&field, &wire));
        if (wire != kVarint || (field != 3 && field != 35 && field != 40 && field != 41 &&
                                field != 42 && field != 43)) {
            TK_RETURN_IF_ERROR(w.skip(wire));
            continue;
        }
        uint64_t v = 0;
        TK_RETURN_IF_ERROR(w.varint(&v));
        switch (field) {
            case 3:
                m->model_type = static_cast<int32_t>(as_int32(v));
                break;
            case 35:
                m->byte_fallback = v != 0;
                break;
            case 40:
                m->unk_id = as_int32(v);
                break;
            case 41:
                m->bos_id = as_int32(v);
                break;
            case 42:
                m->eos_id = as_int32(v);
                break;
            case 43:
                m->pad_id = as_int32(v);
                break;
            default:
                break;
        }
    }
    return Status::ok();
}

Status parse_normalizer(const uint8_t* p, size_t n, size_t base, const std::string& source,
                        SpmModel* m) {
    Wire w(p, n, base, source, "NormalizerSpec");
    while (!w.done()) {
        uint32_t field = 0, wire = 0;
        TK_RETURN_IF_ERROR(w.tag(&field, &wire));
        if (field == 3 && wire == kVarint) {
            uint64_t v = 0;
            TK_RETURN_IF_ERROR(w.varint(&v));
            m->add_dummy_prefix = v != 0;
        } else {
            TK_RETURN_IF_ERROR(w.skip(wire));
        }
    }
    return Status::ok();
}

bool read_text(const fs::path& p, std::string& out) {
    std::ifstream in(p, std::ios::binary);
    if (!in) return false;
    std::ostringstream ss;
    ss << in.rdbuf();
    out = ss.str();
    return !in.bad();
}

}  // namespace

Result<SpmModel> parse_spm_model(const uint8_t* data, size_t size, const std::string& source) {
    SpmModel m;
    Wire w(data, size, 0, source, "ModelProto");
    bool have_trainer = false;
    while (!w.done()) {
        uint32_t field = 0, wire = 0;
        TK_RETURN_IF_ERROR(w.tag(&field, &wire));
        if (field >= 1 && field <= 3) {
            TK_RETURN_IF_ERROR(expect_wire(w, wire, kLen,
                                           field == 1   ? "pieces"
                                           : field == 2 ? "trainer_spec"
                                                        : "normalizer_spec"));
            const uint8_t* d = nullptr;
            size_t len = 0, off = 0;
            TK_RETURN_IF_ERROR(w.bytes(&d, &len, &off));
            if (field == 1) {
                if (m.pieces.size() >= (1u << 24)) return w.fail("more than 2^24 pieces");
                m.pieces.emplace_back();
                TK_RETURN_IF_ERROR(parse_piece(d, len, off, source, &m.pieces.back()));
            } else if (field == 2) {
                TK_RETURN_IF_ERROR(parse_trainer(d, len, off, source, &m));
                have_trainer = true;
            } else {
                TK_RETURN_IF_ERROR(parse_normalizer(d, len, off, source, &m));
            }
        } else {
            TK_RETURN_IF_ERROR(w.skip(wire));
        }
    }
    if (m.pieces.empty()) {
        return make_error(ErrorCode::kCorruptFile, source + ": SentencePiece model has no pieces");
    }
    if (!have_trainer) {
        return make_error(ErrorCode::kCorruptFile,
                          source + ": SentencePiece model has no trainer_spec");
    }
    if (m.model_type != 1 && m.model_type != 2) {
        return make_error(ErrorCode::kUnsupported,
                          source + ": SentencePiece model_type " + std::to_string(m.model_type) +
                              " (word/char) is not supported (supported: unigram, BPE)");
    }
    const int64_t n = static_cast<int64_t>(m.pieces.size());
    for (const auto& [name, id] : {std::pair{"unk_id", m.unk_id}, std::pair{"bos_id", m.bos_id},
                                   std::pair{"eos_id", m.eos_id}, std::pair{"pad_id", m.pad_id}}) {
        if (id < -1 || id >= n) {
            return make_error(ErrorCode::kCorruptFile, source + ": trainer_spec." + name + " " +
                                                           std::to_string(id) + " is outside the " +
                                                           std::to_string(n) + " pieces");
        }
    }
    return m;
}

bool looks_like_spm_model(const uint8_t* data, size_t size) {
    // Field 1, wire type 2 (0x0a), a non-empty entry whose first field is the piece string.
    if (size < 4 || data[0] != 0x0a) return false;
    Wire w(data, size, 0, "", "");
    uint32_t field = 0, wire = 0;
    const uint8_t* d = nullptr;
    size_t len = 0, off = 0;
    if (!w.tag(&field, &wire).is_ok() || !w.bytes(&d, &len, &off).is_ok() || len < 2) return false;
    return d[0] == 0x0a;
}

namespace {

struct AddedToken {
    size_t id;
    std::string content;
    bool special;
};

// Writes the keys for `m` plus `added` tokens (which may extend or overwrite pieces).
Status write_spm(const SpmModel& m, const std::vector<AddedToken>& added, const std::string& source,
                 const HfTokenizerOptions& opts, GgufBuilder& out) {
    const int64_t n_pieces = static_cast<int64_t>(m.pieces.size());
    int64_t n = std::max(n_pieces, opts.vocab_size);
    for (const AddedToken& a : added) n = std::max(n, static_cast<int64_t>(a.id) + 1);
    if (opts.vocab_size > 0 && n > opts.vocab_size) {
        return make_error(ErrorCode::kCorruptFile,
                          source + ": " + std::to_string(n) +
                              " tokens (pieces and added tokens) do not fit the model's "
                              "vocab_size " +
                              std::to_string(opts.vocab_size));
    }
    std::vector<std::string> tokens(static_cast<size_t>(n));
    std::vector<float> scores(static_cast<size_t>(n), -10000.0f);
    std::vector<int32_t> types(static_cast<size_t>(n), 5);  // UNUSED padding
    for (int64_t i = 0; i < n; ++i) {
        const size_t k = static_cast<size_t>(i);
        if (i < n_pieces) {
            tokens[k] = m.pieces[k].piece;
            scores[k] = m.pieces[k].score;
            types[k] = m.pieces[k].type;
        } else {
            tokens[k] = "[PAD" + std::to_string(i) + "]";
        }
    }
    for (const AddedToken& a : added) {
        tokens[a.id] = a.content;
        types[a.id] = a.special ? 3 : 4;  // CONTROL or USER_DEFINED, as llama.cpp's converter
    }
    out.set_string("tokenizer.ggml.model", "llama");
    out.set_string("tokenizer.ggml.pre", "default");
    out.set_string_array("tokenizer.ggml.tokens", tokens);
    out.set_f32_array("tokenizer.ggml.scores", scores);
    out.set_i32_array("tokenizer.ggml.token_type", types);
    auto id = [](int64_t own, const std::optional<int64_t>& fallback) -> int64_t {
        return own >= 0 ? own : fallback.value_or(-1);
    };
    const int64_t bos = id(m.bos_id, opts.bos_id), eos = id(m.eos_id, opts.eos_id);
    const int64_t pad = id(m.pad_id, opts.pad_id);
    if (bos >= 0 && bos < n) out.set_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(bos));
    if (eos >= 0 && eos < n) out.set_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(eos));
    if (m.unk_id >= 0)
        out.set_u32("tokenizer.ggml.unknown_token_id", static_cast<uint32_t>(m.unk_id));
    if (pad >= 0 && pad < n)
        out.set_u32("tokenizer.ggml.padding_token_id", static_cast<uint32_t>(pad));
    out.set_bool("tokenizer.ggml.add_bos_token", true);
    out.set_bool("tokenizer.ggml.add_eos_token", false);
    // llama.cpp assumes a space prefix for SPM; say so only when the model turns it off.
    if (!m.add_dummy_prefix) out.set_bool("tokenizer.ggml.add_space_prefix", false);
    return Status::ok();
}

}  // namespace

Status add_spm_tokenizer(const SpmModel& m, const std::string& source,
                         const HfTokenizerOptions& opts, GgufBuilder& out) {
    return write_spm(m, {}, source, opts, out);
}

Status add_spm_tokenizer_files(const std::string& path, const HfTokenizerOptions& opts,
                               GgufBuilder& out) {
    std::error_code ec;
    const bool is_dir = fs::is_directory(path, ec);
    const fs::path model = is_dir ? fs::path(path) / "tokenizer.model" : fs::path(path);
    TK_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> map, MappedFile::open(model.string()));
    TK_ASSIGN_OR_RETURN(SpmModel m, parse_spm_model(map->data(), map->size(), model.string()));
    if (!is_dir) return write_spm(m, {}, model.string(), opts, out);

    // tokenizer_config.json: add_bos/add_eos, added tokens past (or over) the pieces, template.
    std::vector<AddedToken> added;
    std::optional<bool> add_bos, add_eos;
    std::optional<std::string> chat_template;
    std::string text;
    const fs::path cfg_path = fs::path(path) / "tokenizer_config.json";
    if (read_text(cfg_path, text)) {
        const nlohmann::json cfg = nlohmann::json::parse(text, nullptr, false);
        if (cfg.is_discarded() || !cfg.is_object()) {
            return make_error(ErrorCode::kCorruptFile, cfg_path.string() + ": not a JSON object");
        }
        if (auto it = cfg.find("add_bos_token"); it != cfg.end() && it->is_boolean())
            add_bos = it->get<bool>();
        if (auto it = cfg.find("add_eos_token"); it != cfg.end() && it->is_boolean())
            add_eos = it->get<bool>();
        const auto dec = cfg.find("added_tokens_decoder");
        if (dec != cfg.end() && dec->is_object()) {
            for (auto it = dec->begin(); it != dec->end(); ++it) {
                char* end = nullptr;
                const long long idx = std::strtoll(it.key().c_str(), &end, 10);
                const auto content = it->is_object() ? it->find("content") : it->end();
                if (end == it.key().c_str() || *end != '\0' || idx < 0 || idx >= (1 << 24) ||
                    content == it->end() || !content->is_string()) {
                    return make_error(
                        ErrorCode::kCorruptFile,
                        cfg_path.string() + ": bad added_tokens_decoder entry '" + it.key() + "'");
                }
                const auto special = it->find("special");
                added.push_back(
                    {static_cast<size_t>(idx), content->get<std::string>(),
                     special != it->end() && special->is_boolean() && special->get<bool>()});
            }
        }
        if (auto ct = cfg.find("chat_template"); ct != cfg.end() && ct->is_string()) {
            chat_template = ct->get<std::string>();
        }
    }
    TK_RETURN_IF_ERROR(write_spm(m, added, model.string(), opts, out));
    if (add_bos) out.set_bool("tokenizer.ggml.add_bos_token", *add_bos);
    if (add_eos) out.set_bool("tokenizer.ggml.add_eos_token", *add_eos);
    if (chat_template) out.set_string("tokenizer.chat_template", *chat_template);
    if (read_text(fs::path(path) / "chat_template.jinja", text)) {
        out.set_string("tokenizer.chat_template", text);
    }
    return Status::ok();
}

}  // namespace tk::formats
