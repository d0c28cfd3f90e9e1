#include "eval/kl_base_file.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>

#include "base/check.h"

namespace tk::eval {
namespace {

template <typename T>
void put(uint8_t* p, T v) {
    std::memcpy(p, &v, sizeof v);
}
template <typename T>
T get(const uint8_t* p) {
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

Status io_error(const std::string& path, const std::string& what) {
    return make_error(ErrorCode::kIo, path + ": " + what + ": " + std::strerror(errno));
}

void encode_header(const KlBaseHeader& h, uint8_t* p) {
    std::memset(p, 0, kKlBaseHeaderBytes);
    std::memcpy(p, kKlBaseMagic, 8);
    put<uint32_t>(p + 8, kKlBaseVersion);
    put<uint32_t>(p + 12, static_cast<uint32_t>(h.n_ctx));
    put<uint32_t>(p + 16, static_cast<uint32_t>(h.n_vocab));
    put<uint32_t>(p + 20, static_cast<uint32_t>(h.n_chunks));
    put<uint32_t>(p + 24, static_cast<uint32_t>(h.first));
    put<uint32_t>(p + 28, static_cast<uint32_t>(h.n_scored));
    put<uint64_t>(p + 32, h.tokens_hash);
    put<float>(p + 40, h.log_prob_range);
}

}  // namespace

uint64_t hash_tokens(std::span<const int32_t> tokens) {
    uint64_t h = 14695981039346656037ull;  // FNV-1a 64 offset basis
    for (int32_t t : tokens) {
        const auto u = static_cast<uint32_t>(t);
        for (int b = 0; b < 4; ++b) {
            h ^= (u >> (8 * b)) & 0xffu;
            h *= 1099511628211ull;
        }
    }
    return h;
}

void encode_record(const float* logits, int64_t n_vocab, int32_t next_token, uint8_t* record) {
    float max_logit = logits[0], min_logit = logits[0];
    int64_t top1 = 0;
    for (int64_t i = 1; i < n_vocab; ++i) {
        if (logits[i] > max_logit) {
            max_logit = logits[i];
            top1 = i;
        }
        min_logit = std::min(min_logit, logits[i]);
    }
    double sum_exp = 0.0;
    for (int64_t i = 0; i < n_vocab; ++i) sum_exp += std::exp(logits[i] - max_logit);
    const double lse = std::log(sum_exp);
    // The same expression as token_nll(), so a base run's PPL equals its plain perplexity.
    const float shifted = logits[next_token] - max_logit;
    const double nll = -(static_cast<double>(shifted) - lse);

    const double hi = -lse;  // log-prob of the top token
    const double min_lp = static_cast<double>(min_logit) - max_logit - lse;
    const auto lo = static_cast<float>(std::max(min_lp, hi - kLogProbRange));
    const float step = (static_cast<float>(hi) - lo) / 65535.0f;

    put<double>(record, nll);
    put<float>(record + 8, lo);
    put<float>(record + 12, step);
    put<int32_t>(record + 16, static_cast<int32_t>(top1));
    uint8_t* codes = record + kKlRecordHeaderBytes;
    const double inv_step = step > 0 ? 1.0 / step : 0.0;
    for (int64_t i = 0; i < n_vocab; ++i) {
        const double lp = static_cast<double>(logits[i]) - max_logit - lse;
        const double c = std::round((lp - lo) * inv_step);
        const auto code = static_cast<uint16_t>(std::clamp(c, 0.0, 65535.0));
        put<uint16_t>(codes + 2 * i, code);
    }
}

BaseRecord decode_record(const uint8_t* record, int64_t n_vocab, double* log_probs) {
    BaseRecord r;
    r.nll = get<double>(record);
    const double lo = get<float>(record + 8);
    const double step = get<float>(record + 12);
    r.top1 = get<int32_t>(record + 16);
    const uint8_t* codes = record + kKlRecordHeaderBytes;
    double max_lp = -INFINITY;
    for (int64_t i = 0; i < n_vocab; ++i) {
        log_probs[i] = lo + step * get<uint16_t>(codes + 2 * i);
        max_lp = std::max(max_lp, log_probs[i]);
    }
    double sum = 0;
    for (int64_t i = 0; i < n_vocab; ++i) sum += std::exp(log_probs[i] - max_lp);
    const double log_z = max_lp + std::log(sum);
    for (int64_t i = 0; i < n_vocab; ++i) log_probs[i] -= log_z;
    return r;
}

// ---- writer ----

Result<std::unique_ptr<KlBaseWriter>> KlBaseWriter::create(const std::string& path,
                                                           const KlBaseHeader& header,
                                                           std::span<const int32_t> tokens) {
    TK_CHECK(static_cast<int64_t>(tokens.size()) == header.n_chunks * header.n_ctx);
    std::unique_ptr<KlBaseWriter> w(new KlBaseWriter());
    w->path_ = path;
    w->header_ = header;
    w->f_ = std::fopen(path.c_str(), "wb");
    if (w->f_ == nullptr) return io_error(path, "cannot create the KL-divergence base file");
    uint8_t head[kKlBaseHeaderBytes];
    encode_header(header, head);
    std::vector<uint8_t> tok_bytes(tokens.size() * 4);
    for (size_t i = 0; i < tokens.size(); ++i) put<int32_t>(tok_bytes.data() + 4 * i, tokens[i]);
    if (std::fwrite(head, 1, sizeof head, w->f_) != sizeof head ||
        std::fwrite(tok_bytes.data(), 1, tok_bytes.size(), w->f_) != tok_bytes.size()) {
        return io_error(path, "write failed");
    }
    w->buf_.resize(static_cast<size_t>(header.chunk_bytes()));
    return w;
}

KlBaseWriter::~KlBaseWriter() {
    if (f_ != nullptr) {
        // Not finished: an incomplete file must not be mistaken for a base file later.
        std::fclose(f_);
        std::remove(path_.c_str());
    }
}

Status KlBaseWriter::write_chunk(std::span<const float> logits, std::span<const int32_t> chunk,
                                 ThreadPool* pool) {
    TK_CHECK(f_ != nullptr && chunks_written_ < header_.n_chunks);
    TK_CHECK(static_cast<int64_t>(logits.size()) == header_.n_scored * header_.n_vocab);
    TK_CHECK(static_cast<int64_t>(chunk.size()) == header_.n_ctx);
    const int64_t rb = header_.record_bytes();
    auto encode = [&](int64_t r, int) {
        encode_record(logits.data() + r * header_.n_vocab, header_.n_vocab,
                      chunk[static_cast<size_t>(header_.first + r + 1)], buf_.data() + r * rb);
    };
    if (pool != nullptr) {
        pool->parallel_for(header_.n_scored, encode);
    } else {
        for (int64_t r = 0; r < header_.n_scored; ++r) encode(r, 0);
    }
    if (std::fwrite(buf_.data(), 1, buf_.size(), f_) != buf_.size())
        return io_error(path_, "write failed");
    ++chunks_written_;
    return Status::ok();
}

Status KlBaseWriter::finish() {
    if (f_ == nullptr) return make_error(ErrorCode::kInternal, path_ + ": already finished");
    if (chunks_written_ != header_.n_chunks) {
        return make_error(ErrorCode::kInternal, path_ + ": " + std::to_string(chunks_written_) +
                                                    " of " + std::to_string(header_.n_chunks) +
                                                    " chunks written");
    }
    const bool ok = std::fflush(f_) == 0;
    const bool closed = std::fclose(f_) == 0;
    f_ = nullptr;
    if (!ok || !closed) {
        std::remove(path_.c_str());
        return io_error(path_, "write failed");
    }
    return Status::ok();
}

// ---- reader ----

Result<std::unique_ptr<KlBaseReader>> KlBaseReader::open(const std::string& path) {
    std::unique_ptr<KlBaseReader> r(new KlBaseReader());
    r->path_ = path;
    r->f_ = std::fopen(path.c_str(), "rb");
    if (r->f_ == nullptr) {
        return make_error(
            errno == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
            path + ": cannot open the KL-divergence base file: " + std::strerror(errno));
    }
    auto corrupt = [&](const std::string& what) {
        return make_error(ErrorCode::kCorruptFile,
                          path + ": not a valid KL-divergence base file: " + what);
    };
    if (std::fseek(r->f_, 0, SEEK_END) != 0) return io_error(path, "seek failed");
    const long size = std::ftell(r->f_);
    if (size < 0 || std::fseek(r->f_, 0, SEEK_SET) != 0) return io_error(path, "seek failed");
    uint8_t head[kKlBaseHeaderBytes];
    if (size < kKlBaseHeaderBytes || std::fread(head, 1, sizeof head, r->f_) != sizeof head)
        return corrupt("shorter than its 64-byte header");
    if (std::memcmp(head, kKlBaseMagic, 8) != 0)
        return corrupt(
            "bad magic (expected TKKLBASE; make one with `tokamak perplexity --kl-base`)");
    if (get<uint32_t>(head + 8) != kKlBaseVersion)
        return corrupt("version " + std::to_string(get<uint32_t>(head + 8)) + ", expected 1");
    KlBaseHeader& h = r->header_;
    h.n_ctx = get<uint32_t>(head + 12);
    h.n_vocab = get<uint32_t>(head + 16);
    h.n_chunks = get<uint32_t>(head + 20);
    h.first = get<uint32_t>(head + 24);
    h.n_scored = get<uint32_t>(head + 28);
    h.tokens_hash = get<uint64_t>(head + 32);
    h.log_prob_range = get<float>(head + 40);
    constexpr int64_t kMaxDim = int64_t{1} << 24;
    if (h.n_ctx < 4 || h.n_ctx > kMaxDim)
        return corrupt("n_ctx " + std::to_string(h.n_ctx) + " out of range");
    if (h.n_vocab < 1 || h.n_vocab > kMaxDim)
        return corrupt("n_vocab " + std::to_string(h.n_vocab) + " out of range");
    if (h.first != h.n_ctx / 2 || h.n_scored != h.n_ctx - 1 - h.first)
        return corrupt("scored positions do not match n_ctx " + std::to_string(h.n_ctx));
    if (!(h.log_prob_range > 0 && std::isfinite(h.log_prob_range)))
        return corrupt("bad log-prob range");
    // Bound n_chunks by the file size before multiplying, so the products cannot overflow.
    const int64_t per_chunk = 4 * h.n_ctx + h.chunk_bytes();
    if (h.n_chunks < 1 || h.n_chunks > size / per_chunk)
        return corrupt("n_chunks " + std::to_string(h.n_chunks) + " does not fit in " +
                       std::to_string(size) + " bytes");
    if (h.file_bytes() != size) {
        return corrupt("size " + std::to_string(size) + " bytes, but the header describes " +
                       std::to_string(h.file_bytes()) + " (truncated or unfinished?)");
    }
    std::vector<uint8_t> tok_bytes(static_cast<size_t>(4 * h.n_chunks * h.n_ctx));
    if (std::fread(tok_bytes.data(), 1, tok_bytes.size(), r->f_) != tok_bytes.size())
        return io_error(path, "read failed");
    r->tokens_.resize(static_cast<size_t>(h.n_chunks * h.n_ctx));
    for (size_t i = 0; i < r->tokens_.size(); ++i)
        r->tokens_[i] = get<int32_t>(tok_bytes.data() + 4 * i);
    if (hash_tokens(r->tokens_) != h.tokens_hash)
        return corrupt("the stored tokens do not match their hash");
    r->buf_.resize(static_cast<size_t>(h.chunk_bytes()));
    return r;
}

KlBaseReader::~KlBaseReader() {
    if (f_ != nullptr) std::fclose(f_);
}

Result<std::span<const uint8_t>> KlBaseReader::read_chunk(int64_t index) {
    TK_CHECK(index == next_chunk_ && index < header_.n_chunks);
    if (std::fread(buf_.data(), 1, buf_.size(), f_) != buf_.size())
        return io_error(path_, "read failed");
    ++next_chunk_;
    // Validate what later code relies on: a top-1 id inside the vocabulary and finite numbers.
    const int64_t rb = header_.record_bytes();
    for (int64_t r = 0; r < header_.n_scored; ++r) {
        const uint8_t* rec = buf_.data() + r * rb;
        const int32_t top1 = get<int32_t>(rec + 16);
        const double nll = get<double>(rec);
        const float lo = get<float>(rec + 8), step = get<float>(rec + 12);
        if (top1 < 0 || top1 >= header_.n_vocab || !std::isfinite(nll) || !std::isfinite(lo) ||
            !std::isfinite(step) || step < 0) {
            return make_error(ErrorCode::kCorruptFile, path_ + ": chunk " + std::to_string(index) +
                                                           " record " + std::to_string(r) +
                                                           " is invalid");
        }
    }
    return std::span<const uint8_t>(buf_.data(), buf_.size());
}

}  // namespace tk::eval
