// GGUF v3 writer. The header and tensor table are built in memory (small); tensor data is
// streamed one tensor at a time into "<path>.tmp", which is renamed over <path> only after
// everything was written and flushed, so a failure never leaves a half file under the name.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <unordered_set>

#include "base/check.h"
#include "formats/gguf.h"

namespace tk::formats {
namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF"
constexpr uint32_t kVersion = 3;
// llama.cpp refuses tensor names of GGML_MAX_NAME (64) bytes or more.
constexpr size_t kMaxTensorName = 63;

template <typename T>
void append(std::vector<uint8_t>& out, T v) {
    const size_t at = out.size();
    out.resize(at + sizeof(T));
    std::memcpy(out.data() + at, &v, sizeof(T));  // little-endian host
}

void append_string(std::vector<uint8_t>& out, std::string_view s) {
    append<uint64_t>(out, s.size());
    out.insert(out.end(), s.begin(), s.end());
}

size_t elem_size(GgufType t) {
    switch (t) {
        case GgufType::kU8: case GgufType::kI8: case GgufType::kBool: return 1;
        case GgufType::kU16: case GgufType::kI16: return 2;
        case GgufType::kU32: case GgufType::kI32: case GgufType::kF32: return 4;
        case GgufType::kU64: case GgufType::kI64: case GgufType::kF64: return 8;
        default: return 0;
    }
}

// Encodes a scalar from the widened fields of a GgufValue.
void append_scalar(std::vector<uint8_t>& out, const GgufValue& v) {
    switch (v.type) {
        case GgufType::kU8: append<uint8_t>(out, static_cast<uint8_t>(v.u)); break;
        case GgufType::kI8: append<int8_t>(out, static_cast<int8_t>(v.i)); break;
        case GgufType::kU16: append<uint16_t>(out, static_cast<uint16_t>(v.u)); break;
        case GgufType::kI16: append<int16_t>(out, static_cast<int16_t>(v.i)); break;
        case GgufType::kU32: append<uint32_t>(out, static_cast<uint32_t>(v.u)); break;
        case GgufType::kI32: append<int32_t>(out, static_cast<int32_t>(v.i)); break;
        case GgufType::kF32: append<float>(out, static_cast<float>(v.f)); break;
        case GgufType::kBool: append<uint8_t>(out, v.u != 0 ? 1 : 0); break;
        case GgufType::kU64: append<uint64_t>(out, v.u); break;
        case GgufType::kI64: append<int64_t>(out, v.i); break;
        case GgufType::kF64: append<double>(out, v.f); break;
        default: TK_CHECK(false && "append_scalar on non-scalar type");
    }
}

std::vector<uint8_t> typed(GgufType t) {
    std::vector<uint8_t> out;
    append<uint32_t>(out, static_cast<uint32_t>(t));
    return out;
}

template <typename T>
std::vector<uint8_t> scalar(GgufType t, T v) {
    std::vector<uint8_t> out = typed(t);
    append<T>(out, v);
    return out;
}

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

// Owns the temporary file until commit(); removes it on any early return.
class TmpFile {
public:
    explicit TmpFile(std::string path) : path_(std::move(path)) {}
    ~TmpFile() {
        if (f_ != nullptr) std::fclose(f_);
        if (!committed_) std::remove(path_.c_str());
    }
    Status open() {
        f_ = std::fopen(path_.c_str(), "wb");
        if (f_ == nullptr) return io_error("cannot create");
        return Status::ok();
    }
    Status write(const void* p, size_t n) {
        if (n != 0 && std::fwrite(p, 1, n, f_) != n) return io_error("write failed");
        return Status::ok();
    }
    Status zeros(size_t n) {
        static const uint8_t kZero[256] = {};
        while (n > 0) {
            const size_t k = n < sizeof(kZero) ? n : sizeof(kZero);
            TK_RETURN_IF_ERROR(write(kZero, k));
            n -= k;
        }
        return Status::ok();
    }
    // Flush, sync and rename over `final_path`.
    Status commit(const std::string& final_path) {
        if (std::fflush(f_) != 0) return io_error("flush failed");
        if (::fsync(::fileno(f_)) != 0) return io_error("fsync failed");
        const int rc = std::fclose(f_);
        f_ = nullptr;
        if (rc != 0) return io_error("close failed");
        if (std::rename(path_.c_str(), final_path.c_str()) != 0) {
            return io_error("cannot rename to " + final_path);
        }
        committed_ = true;
        return Status::ok();
    }

private:
    Status io_error(const std::string& what) const {
        return make_error(ErrorCode::kIo, path_ + ": " + what + ": " + std::strerror(errno));
    }
    std::string path_;
    std::FILE* f_ = nullptr;
    bool committed_ = false;
};

}  // namespace

void GgufWriter::put(const std::string& key, std::vector<uint8_t> encoded_value) {
    for (auto& kv : kvs_) {
        if (kv.first == key) {
            kv.second = std::move(encoded_value);  // replace in place: order is kept
            return;
        }
    }
    kvs_.emplace_back(key, std::move(encoded_value));
}

void GgufWriter::set_u8(const std::string& key, uint8_t v) { put(key, scalar(GgufType::kU8, v)); }
void GgufWriter::set_i32(const std::string& key, int32_t v) {
    put(key, scalar(GgufType::kI32, v));
}
void GgufWriter::set_u64(const std::string& key, uint64_t v) {
    put(key, scalar(GgufType::kU64, v));
}
void GgufWriter::set_f32(const std::string& key, float v) { put(key, scalar(GgufType::kF32, v)); }
void GgufWriter::set_bool(const std::string& key, bool v) {
    put(key, scalar<uint8_t>(GgufType::kBool, v ? 1 : 0));
}

void GgufWriter::set_u32(const std::string& key, uint32_t v) {
    if (key == "general.alignment") {
        set_alignment(v);
        return;
    }
    put(key, scalar(GgufType::kU32, v));
}

void GgufWriter::set_string(const std::string& key, const std::string& v) {
    std::vector<uint8_t> out = typed(GgufType::kString);
    append_string(out, v);
    put(key, std::move(out));
}

void GgufWriter::set_string_array(const std::string& key, const std::vector<std::string>& v) {
    std::vector<uint8_t> out = typed(GgufType::kArray);
    append<uint32_t>(out, static_cast<uint32_t>(GgufType::kString));
    append<uint64_t>(out, v.size());
    for (const std::string& s : v) append_string(out, s);
    put(key, std::move(out));
}

void GgufWriter::set_f32_array(const std::string& key, const std::vector<float>& v) {
    std::vector<uint8_t> out = typed(GgufType::kArray);
    append<uint32_t>(out, static_cast<uint32_t>(GgufType::kF32));
    append<uint64_t>(out, v.size());
    for (float x : v) append<float>(out, x);
    put(key, std::move(out));
}

void GgufWriter::set_i32_array(const std::string& key, const std::vector<int32_t>& v) {
    std::vector<uint8_t> out = typed(GgufType::kArray);
    append<uint32_t>(out, static_cast<uint32_t>(GgufType::kI32));
    append<uint64_t>(out, v.size());
    for (int32_t x : v) append<int32_t>(out, x);
    put(key, std::move(out));
}

void GgufWriter::set_value(const std::string& key, const GgufValue& v) {
    if (key == "general.alignment" && v.type != GgufType::kArray &&
        v.type != GgufType::kString && elem_size(v.type) != 0 && v.u != 0 &&
        (v.u & (v.u - 1)) == 0 && v.u <= UINT32_MAX) {
        // GgufFile validated it; keep the writer's padding consistent with the key.
        set_alignment(static_cast<uint32_t>(v.u));
        return;
    }
    std::vector<uint8_t> out = typed(v.type);
    if (v.type == GgufType::kString) {
        append_string(out, v.str);
    } else if (v.type == GgufType::kArray) {
        append<uint32_t>(out, static_cast<uint32_t>(v.array_type));
        append<uint64_t>(out, v.array_len);
        if (v.array_type == GgufType::kString) {
            TK_CHECK(v.strings.size() == v.array_len);
            for (std::string_view s : v.strings) append_string(out, s);
        } else {
            const size_t es = elem_size(v.array_type);
            TK_CHECK(es != 0);  // nested arrays are refused by the reader
            TK_CHECK(v.array_len == 0 || v.array_data != nullptr);
            const size_t n = static_cast<size_t>(v.array_len) * es;
            out.insert(out.end(), v.array_data, v.array_data + n);
        }
    } else {
        append_scalar(out, v);
    }
    put(key, std::move(out));
}

void GgufWriter::remove(const std::string& key) {
    for (auto it = kvs_.begin(); it != kvs_.end(); ++it) {
        if (it->first == key) {
            kvs_.erase(it);
            return;
        }
    }
}

void GgufWriter::set_alignment(uint32_t alignment) {
    TK_CHECK(alignment != 0 && (alignment & (alignment - 1)) == 0);
    alignment_ = alignment;
    put("general.alignment", scalar(GgufType::kU32, alignment));
}

void GgufWriter::add_tensor(const std::string& name, DType type, std::vector<int64_t> shape,
                            const void* data) {
    tensors_.push_back(Tensor{name, type, std::move(shape), data, nullptr});
}

void GgufWriter::add_tensor(const std::string& name, DType type, std::vector<int64_t> shape,
                            FillFn fill) {
    tensors_.push_back(Tensor{name, type, std::move(shape), nullptr, std::move(fill)});
}

Status GgufWriter::write(const std::string& path,
                         const std::function<void(size_t, size_t)>& progress) const {
    auto invalid = [&](const std::string& msg) {
        return make_error(ErrorCode::kInvalidArgument, path + ": " + msg);
    };

    // Validate every tensor and lay out the data section before touching the disk.
    std::vector<uint64_t> nbytes(tensors_.size()), offsets(tensors_.size());
    std::unordered_set<std::string_view> names;
    uint64_t data_size = 0;
    for (size_t k = 0; k < tensors_.size(); ++k) {
        const Tensor& t = tensors_[k];
        const std::string tname = "tensor '" + t.name + "'";
        if (t.name.size() > kMaxTensorName) return invalid(tname + " name longer than 63 bytes");
        if (!names.insert(t.name).second) return invalid("duplicate " + tname);
        if (t.shape.size() > 4) return invalid(tname + " has more than 4 dimensions");
        if (t.data == nullptr && !t.fill) return invalid(tname + " has neither data nor fill");
        int64_t n = 1;
        for (int64_t d : t.shape) {
            if (d <= 0) return invalid(tname + " has a non-positive dimension");
            if (__builtin_mul_overflow(n, d, &n)) return invalid(tname + " is too large");
        }
        const DTypeInfo& info = dtype_info(t.type);
        const int64_t cols = t.shape.empty() ? 1 : t.shape.back();
        if (cols % info.block_elems != 0) {
            return invalid(tname + " row length " + std::to_string(cols) +
                           " is not a multiple of the " + std::string(info.name) +
                           " block size " + std::to_string(info.block_elems));
        }
        int64_t bytes = 0;
        if (__builtin_mul_overflow(n / info.block_elems, info.block_bytes, &bytes)) {
            return invalid(tname + " is too large");
        }
        nbytes[k] = static_cast<uint64_t>(bytes);
        offsets[k] = data_size;
        data_size = align_up(data_size + nbytes[k], alignment_);
    }

    std::vector<uint8_t> header;
    append<uint32_t>(header, kMagic);
    append<uint32_t>(header, kVersion);
    append<uint64_t>(header, tensors_.size());
    append<uint64_t>(header, kvs_.size());
    for (const auto& [key, value] : kvs_) {
        append_string(header, key);
        header.insert(header.end(), value.begin(), value.end());
    }
    for (size_t k = 0; k < tensors_.size(); ++k) {
        const Tensor& t = tensors_[k];
        append_string(header, t.name);
        append<uint32_t>(header, static_cast<uint32_t>(t.shape.size()));
        // GGUF lists ne innermost first.
        for (auto it = t.shape.rbegin(); it != t.shape.rend(); ++it) append<int64_t>(header, *it);
        append<uint32_t>(header, static_cast<uint32_t>(t.type));
        append<uint64_t>(header, offsets[k]);
    }
    header.resize(align_up(header.size(), alignment_), 0);

    TmpFile out(path + ".tmp");
    TK_RETURN_IF_ERROR(out.open());
    TK_RETURN_IF_ERROR(out.write(header.data(), header.size()));
    std::vector<uint8_t> buf;  // reused by fill callbacks; holds one tensor at a time
    for (size_t k = 0; k < tensors_.size(); ++k) {
        const Tensor& t = tensors_[k];
        const void* src = t.data;
        if (src == nullptr) {
            buf.assign(static_cast<size_t>(nbytes[k]), 0);
            Status st = t.fill(buf.data(), buf.size());
            if (!st.is_ok()) {
                return make_error(st.code(),
                                  path + ": tensor '" + t.name + "': " + st.message());
            }
            src = buf.data();
        }
        TK_RETURN_IF_ERROR(out.write(src, static_cast<size_t>(nbytes[k])));
        TK_RETURN_IF_ERROR(out.zeros(static_cast<size_t>(
            align_up(nbytes[k], alignment_) - nbytes[k])));
        if (progress) progress(k + 1, tensors_.size());
    }
    return out.commit(path);
}

}  // namespace tk::formats
