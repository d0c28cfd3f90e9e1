#pragma once
// The KL-divergence base file: the full-precision model's predictions for every scored position
// of a perplexity run, so a quantized model can be compared with it later without loading both.
//
// Layout (little-endian; all offsets in bytes):
//   header, 64 bytes:
//     0  char[8]  magic "TKKLBASE"
//     8  uint32   version (1)
//    12  uint32   n_ctx
//    16  uint32   n_vocab (logits per position)
//    20  uint32   n_chunks
//    24  uint32   first scored position (n_ctx / 2)
//    28  uint32   n_scored per chunk (n_ctx - 1 - first)
//    32  uint64   FNV-1a 64 hash of the evaluated tokens (below, as int32 little-endian bytes)
//    40  float    log-prob range covered by the 16-bit codes (kLogProbRange)
//    44  byte[20] reserved, zero
//   tokens: int32[n_chunks * n_ctx], the text's tokens as tokenized (before the BOS replacement)
//   records: n_chunks * n_scored of them, chunk by chunk, position by position, each
//     0  double   nll of the actual next token, exact (-log softmax in double)
//     8  float    lo: log-prob of code 0
//    12  float    step: log-prob per code unit
//    16  int32    argmax of the logits (the base's top-1 token)
//    20  uint16[n_vocab] codes: log p_i ~= lo + step * code_i
//
// The codes quantize the full log-softmax linearly over [max(min log p, max log p - range),
// max log p], so every vocabulary entry keeps a value; entries below the range (p < e^-32 times
// the top probability) are stored at its floor. The step is at most range / 65535 (5e-4 in
// log p). Readers renormalize the decoded distribution, which makes the quantization error only
// a second-order term of the KL divergence (a model against its own base file gives ~1e-8).
// llama.cpp's .kld files use the same idea with a range of 16 and no renormalization.
#include <cstdint>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/thread_pool.h"

namespace tk::eval {

inline constexpr char kKlBaseMagic[8] = {'T', 'K', 'K', 'L', 'B', 'A', 'S', 'E'};
inline constexpr uint32_t kKlBaseVersion = 1;
inline constexpr int64_t kKlBaseHeaderBytes = 64;
inline constexpr int64_t kKlRecordHeaderBytes = 20;
inline constexpr float kLogProbRange = 32.0f;

struct KlBaseHeader {
    int64_t n_ctx = 0;
    int64_t n_vocab = 0;
    int64_t n_chunks = 0;
    int64_t first = 0;
    int64_t n_scored = 0;
    uint64_t tokens_hash = 0;
    float log_prob_range = kLogProbRange;

    int64_t record_bytes() const { return kKlRecordHeaderBytes + 2 * n_vocab; }
    int64_t chunk_bytes() const { return n_scored * record_bytes(); }
    int64_t file_bytes() const {
        return kKlBaseHeaderBytes + 4 * n_chunks * n_ctx + n_chunks * chunk_bytes();
    }
};

uint64_t hash_tokens(std::span<const int32_t> tokens);

// Encodes one position's logits into a record of header.record_bytes() bytes.
void encode_record(const float* logits, int64_t n_vocab, int32_t next_token, uint8_t* record);

// One decoded record: the renormalized log-probabilities of the base model.
struct BaseRecord {
    double nll = 0;
    int32_t top1 = 0;
};
// Decodes `record` into log_probs[n_vocab] (renormalized so that sum exp = 1).
BaseRecord decode_record(const uint8_t* record, int64_t n_vocab, double* log_probs);

class KlBaseWriter {
public:
    // Creates (truncates) `path` and writes the header and the evaluated tokens.
    static Result<std::unique_ptr<KlBaseWriter>> create(const std::string& path,
                                                        const KlBaseHeader& header,
                                                        std::span<const int32_t> tokens);
    ~KlBaseWriter();
    // Appends one chunk: rows [n_scored, n_vocab] of logits and the chunk's n_ctx tokens.
    // Rows are encoded in parallel on `pool` when given.
    Status write_chunk(std::span<const float> logits, std::span<const int32_t> chunk,
                       ThreadPool* pool = nullptr);
    // Flushes and closes; the file is complete only after this returns ok.
    Status finish();

private:
    KlBaseWriter() = default;
    std::string path_;
    KlBaseHeader header_;
    std::FILE* f_ = nullptr;
    std::vector<uint8_t> buf_;
    int64_t chunks_written_ = 0;
};

class KlBaseReader {
public:
    // Reads and validates the header and the tokens; checks that the file size matches them.
    static Result<std::unique_ptr<KlBaseReader>> open(const std::string& path);
    ~KlBaseReader();
    const KlBaseHeader& header() const { return header_; }
    const std::vector<int32_t>& tokens() const { return tokens_; }
    const std::string& path() const { return path_; }
    // Reads the records of chunk `index` (chunks are read in order, starting at 0).
    Result<std::span<const uint8_t>> read_chunk(int64_t index);

private:
    KlBaseReader() = default;
    std::string path_;
    KlBaseHeader header_;
    std::vector<int32_t> tokens_;
    std::FILE* f_ = nullptr;
    std::vector<uint8_t> buf_;
    int64_t next_chunk_ = 0;
};

}  // namespace tk::eval
