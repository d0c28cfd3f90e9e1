// GGUF reader: one pass over the mapping, every length checked against the bytes left
// before it is used, so a hostile file yields a Status and never a crash or a big allocation.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include "formats/gguf.h"

namespace tk::formats {
namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as little-endian u32
constexpr uint32_t kMaxDims = 4;
constexpr uint64_t kDefaultAlignment = 32;
// Smallest encodings, used to bound counts before reserving: a metadata entry is at least
// key length (8) + type (4) + a one-byte value; a tensor info at least name length (8) +
// n_dims (4) + type (4) + offset (8).
constexpr uint64_t kMinKvBytes = 13;
constexpr uint64_t kMinTensorInfoBytes = 24;

// Bytes of one element of a fixed-size metadata type; 0 for string, array and unknown ids.
size_t scalar_size(GgufType t) {
    switch (t) {
        case GgufType::kU8: case GgufType::kI8: case GgufType::kBool: return 1;
        case GgufType::kU16: case GgufType::kI16: return 2;
        case GgufType::kU32: case GgufType::kI32: case GgufType::kF32: return 4;
        case GgufType::kU64: case GgufType::kI64: case GgufType::kF64: return 8;
        case GgufType::kString: case GgufType::kArray: return 0;
    }
    return 0;
}

bool valid_type(uint32_t id) { return id <= static_cast<uint32_t>(GgufType::kF64); }

// Bounds-checked little-endian cursor. Errors carry the file name and the byte offset.
class Cursor {
public:
    Cursor(const uint8_t* data, size_t size, const std::string& name)
        : data_(data), size_(size), name_(name) {}

    size_t pos() const { return pos_; }
    size_t left() const { return size_ - pos_; }
    const uint8_t* here() const { return data_ + pos_; }

    Status fail(ErrorCode code, const std::string& msg) const {
        return make_error(code, name_ + ": " + msg);
    }
    Status truncated(const std::string& what) const {
        return fail(ErrorCode::kCorruptFile, "truncated file: " + what + " at offset " +
                                                 std::to_string(pos_) + " runs past the end (" +
                                                 std::to_string(size_) + " bytes)");
    }

    template <typename T>
    bool read(T* out) {
        if (sizeof(T) > left()) return false;
        std::memcpy(out, data_ + pos_, sizeof(T));  // files are little-endian, as is x86-64
        pos_ += sizeof(T);
        return true;
    }
    bool skip(uint64_t n) {
        if (n > left()) return false;
        pos_ += static_cast<size_t>(n);
        return true;
    }

    // u64 length + bytes. The length is compared with the remaining bytes before use.
    // `what()` names the field; it is only called on error, keeping the hot path free of
    // string building (a vocabulary has tens of thousands of strings).
    template <typename What>
    Status read_string(std::string_view* out, const What& what) {
        uint64_t len = 0;
        if (!read(&len)) return truncated("length of " + what());
        if (len > left()) {
            return fail(ErrorCode::kCorruptFile,
                        what() + " has length " + std::to_string(len) + " at offset " +
                            std::to_string(pos_ - 8) + " but only " + std::to_string(left()) +
                            " bytes remain");
        }
        *out = std::string_view(reinterpret_cast<const char*>(data_ + pos_), len);
        pos_ += static_cast<size_t>(len);
        return Status::ok();
    }

private:
    const uint8_t* data_;
    size_t size_;
    size_t pos_ = 0;
    const std::string& name_;
};

template <typename T>
T load(const uint8_t* p) {
    T v;
    std::memcpy(&v, p, sizeof(T));
    return v;
}

// Scalars are widened into u/i/f; unsigned values that fit int64 also fill i, and
// non-negative signed values also fill u, so getters need not care which width was used.
template <typename What>
Status read_scalar(Cursor& c, GgufType type, GgufValue* v, const What& what) {
    const size_t n = scalar_size(type);
    if (n > c.left()) return c.truncated(what());
    const uint8_t* p = c.here();
    switch (type) {
        case GgufType::kU8: v->u = load<uint8_t>(p); break;
        case GgufType::kU16: v->u = load<uint16_t>(p); break;
        case GgufType::kU32: v->u = load<uint32_t>(p); break;
        case GgufType::kU64: v->u = load<uint64_t>(p); break;
        case GgufType::kBool: v->u = load<uint8_t>(p) != 0; break;
        case GgufType::kI8: v->i = load<int8_t>(p); break;
        case GgufType::kI16: v->i = load<int16_t>(p); break;
        case GgufType::kI32: v->i = load<int32_t>(p); break;
        case GgufType::kI64: v->i = load<int64_t>(p); break;
        case GgufType::kF32: v->f = load<float>(p); break;
        case GgufType::kF64: v->f = load<double>(p); break;
        default: return c.fail(ErrorCode::kInternal, "read_scalar on non-scalar type");
    }
    switch (type) {
        case GgufType::kU8: case GgufType::kU16: case GgufType::kU32: case GgufType::kU64:
        case GgufType::kBool:
            if (v->u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
                v->i = static_cast<int64_t>(v->u);
            break;
        case GgufType::kI8: case GgufType::kI16: case GgufType::kI32: case GgufType::kI64:
            if (v->i >= 0) v->u = static_cast<uint64_t>(v->i);
            break;
        default: break;
    }
    c.skip(n);
    return Status::ok();
}

template <typename What>
Status read_value(Cursor& c, GgufType type, GgufValue* v, const What& what) {
    v->type = type;
    if (type == GgufType::kString) return c.read_string(&v->str, what);
    if (type != GgufType::kArray) return read_scalar(c, type, v, what);

    uint32_t elem = 0;
    uint64_t count = 0;
    if (!c.read(&elem)) return c.truncated("array element type of " + what());
    if (!c.read(&count)) return c.truncated("array length of " + what());
    if (!valid_type(elem)) {
        return c.fail(ErrorCode::kCorruptFile,
                      what() + " is an array of unknown metadata type " + std::to_string(elem));
    }
    // A nested array would need recursion over attacker-chosen depth; no model uses one.
    if (elem == static_cast<uint32_t>(GgufType::kArray)) {
        return c.fail(ErrorCode::kUnsupported, what() + " is a nested array (not supported)");
    }
    v->array_type = static_cast<GgufType>(elem);
    v->array_len = count;
    if (v->array_type == GgufType::kString) {
        // Each string needs at least its 8-byte length: bound the count before reserving.
        if (count > c.left() / 8) {
            return c.fail(ErrorCode::kCorruptFile,
                          what() + " claims " + std::to_string(count) +
                              " strings but only " + std::to_string(c.left()) +
                              " bytes remain");
        }
        v->strings.reserve(static_cast<size_t>(count));
        for (uint64_t k = 0; k < count; ++k) {
            std::string_view s;
            TK_RETURN_IF_ERROR(c.read_string(
                &s, [&] { return what() + " element " + std::to_string(k); }));
            v->strings.push_back(s);
        }
        return Status::ok();
    }
    const size_t esize = scalar_size(v->array_type);
    if (count > c.left() / esize) {
        return c.fail(ErrorCode::kCorruptFile,
                      what() + " claims " + std::to_string(count) + " elements of " +
                          std::to_string(esize) + " bytes but only " +
                          std::to_string(c.left()) + " bytes remain");
    }
    v->array_data = c.here();
    c.skip(count * esize);
    return Status::ok();
}

}  // namespace

const char* gguf_type_name(GgufType t) {
    switch (t) {
        case GgufType::kU8: return "u8";
        case GgufType::kI8: return "i8";
        case GgufType::kU16: return "u16";
        case GgufType::kI16: return "i16";
        case GgufType::kU32: return "u32";
        case GgufType::kI32: return "i32";
        case GgufType::kF32: return "f32";
        case GgufType::kBool: return "bool";
        case GgufType::kString: return "string";
        case GgufType::kArray: return "array";
        case GgufType::kU64: return "u64";
        case GgufType::kI64: return "i64";
        case GgufType::kF64: return "f64";
    }
    return "unknown";
}

Result<std::unique_ptr<GgufFile>> GgufFile::open(const std::string& path) {
    TK_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> map, MappedFile::open(path));
    std::unique_ptr<GgufFile> f(new GgufFile());
    f->data_ = map->data();
    f->size_ = map->size();
    f->name_ = path;
    f->map_ = std::move(map);
    TK_RETURN_IF_ERROR(f->parse_all());
    return f;
}

Result<std::unique_ptr<GgufFile>> GgufFile::parse(const uint8_t* data, size_t size,
                                                  const std::string& name) {
    std::unique_ptr<GgufFile> f(new GgufFile());
    f->data_ = data;
    f->size_ = data == nullptr ? 0 : size;
    f->name_ = name;
    TK_RETURN_IF_ERROR(f->parse_all());
    return f;
}

Result<std::unique_ptr<GgufFile>> GgufFile::parse(const uint8_t* data, size_t size,
                                                  const std::string& name,
                                                  std::shared_ptr<const void> keep_alive,
                                                  const std::string& format) {
    TK_ASSIGN_OR_RETURN(std::unique_ptr<GgufFile> f, parse(data, size, name));
    f->keep_alive_ = std::move(keep_alive);
    f->format_ = format;
    return f;
}

GgufFile::~GgufFile() = default;

Result<std::unique_ptr<GgufFile>> GgufFile::from_parts(std::string name, std::string format,
                                                       uint64_t source_bytes,
                                                       std::vector<GgufKV> kvs,
                                                       std::vector<GgufTensorInfo> tensors,
                                                       std::unique_ptr<GgufStorage> storage) {
    std::unique_ptr<GgufFile> f(new GgufFile());
    f->name_ = std::move(name);
    f->format_ = std::move(format);
    f->size_ = static_cast<size_t>(source_bytes);
    f->version_ = 3;
    f->storage_ = std::move(storage);
    f->kvs_ = std::move(kvs);
    f->tensors_ = std::move(tensors);
    auto fail = [&](const std::string& msg) {
        return make_error(ErrorCode::kCorruptFile, f->name_ + ": " + msg);
    };
    // The index keys view the strings now owned by the members, which never move again.
    for (size_t k = 0; k < f->kvs_.size(); ++k) {
        if (!f->kv_index_.emplace(f->kvs_[k].key, k).second) {
            return fail("duplicate metadata key '" + f->kvs_[k].key + "'");
        }
    }
    uint64_t offset = 0;
    for (size_t t = 0; t < f->tensors_.size(); ++t) {
        GgufTensorInfo& ti = f->tensors_[t];
        if (!f->tensor_index_.emplace(ti.name, t).second) {
            return fail("duplicate tensor name '" + ti.name + "'");
        }
        TensorView& v = ti.view;
        const DTypeInfo* info = dtype_info_by_id(static_cast<uint32_t>(v.type));
        if (info == nullptr || v.n_dims < 1 || v.n_dims > static_cast<int>(kMaxDims) ||
            v.data == nullptr) {
            return fail("tensor '" + ti.name + "' has no data, an unknown type or bad rank");
        }
        int64_t n = 1;
        for (int d = 0; d < v.n_dims; ++d) {
            if (v.shape[d] <= 0 || __builtin_mul_overflow(n, v.shape[d], &n)) {
                return fail("tensor '" + ti.name + "' has invalid shape " + shape_to_string(v));
            }
        }
        for (int d = v.n_dims; d < static_cast<int>(kMaxDims); ++d) v.shape[d] = 1;
        if (v.cols() % info->block_elems != 0 ||
            __builtin_mul_overflow(n / info->block_elems, info->block_bytes, &v.nbytes)) {
            return fail("tensor '" + ti.name + "' row length " + std::to_string(v.cols()) +
                        " does not fit type " + std::string(info->name));
        }
        ti.offset = offset;
        offset += (static_cast<uint64_t>(v.nbytes) + kDefaultAlignment - 1) / kDefaultAlignment *
                  kDefaultAlignment;
    }
    return f;
}

Status GgufFile::parse_all() {
    Cursor c(data_, size_, name_);

    uint32_t magic = 0;
    if (!c.read(&magic)) return c.truncated("magic");
    if (magic != kMagic) {
        return c.fail(ErrorCode::kCorruptFile, "bad magic (not a GGUF file)");
    }
    if (!c.read(&version_)) return c.truncated("version");
    if (version_ == 1) {
        return c.fail(ErrorCode::kUnsupported, "GGUF version 1 is not supported (only 2 and 3)");
    }
    if (version_ != 2 && version_ != 3) {
        // A byte-swapped small version means a big-endian file.
        const uint32_t swapped = __builtin_bswap32(version_);
        if (swapped == 2 || swapped == 3) {
            return c.fail(ErrorCode::kUnsupported, "big-endian GGUF is not supported");
        }
        return c.fail(ErrorCode::kUnsupported,
                      "unknown GGUF version " + std::to_string(version_) + " (expected 2 or 3)");
    }

    uint64_t n_tensors = 0, n_kv = 0;
    if (!c.read(&n_tensors)) return c.truncated("tensor count");
    if (!c.read(&n_kv)) return c.truncated("metadata count");
    if (n_kv > c.left() / kMinKvBytes) {
        return c.fail(ErrorCode::kCorruptFile, "metadata count " + std::to_string(n_kv) +
                                                   " is larger than the file can hold");
    }
    if (n_tensors > c.left() / kMinTensorInfoBytes) {
        return c.fail(ErrorCode::kCorruptFile, "tensor count " + std::to_string(n_tensors) +
                                                   " is larger than the file can hold");
    }

    // Metadata.
    kvs_.reserve(static_cast<size_t>(n_kv));
    kv_index_.reserve(static_cast<size_t>(n_kv));
    for (uint64_t k = 0; k < n_kv; ++k) {
        std::string_view key;
        TK_RETURN_IF_ERROR(
            c.read_string(&key, [&] { return "key of metadata entry " + std::to_string(k); }));
        uint32_t type = 0;
        if (!c.read(&type)) return c.truncated("value type of key '" + std::string(key) + "'");
        if (!valid_type(type)) {
            return c.fail(ErrorCode::kCorruptFile, "key '" + std::string(key) +
                                                       "' has unknown metadata type " +
                                                       std::to_string(type));
        }
        if (!kv_index_.emplace(key, kvs_.size()).second) {
            return c.fail(ErrorCode::kCorruptFile,
                          "duplicate metadata key '" + std::string(key) + "'");
        }
        GgufKV kv;
        kv.key = std::string(key);
        TK_RETURN_IF_ERROR(read_value(c, static_cast<GgufType>(type), &kv.value,
                                      [&] { return "value of key '" + kv.key + "'"; }));
        kvs_.push_back(std::move(kv));
    }

    // Alignment: any integer type is accepted (the spec says u32) as long as the value is
    // a nonzero power of two that fits u32.
    alignment_ = kDefaultAlignment;
    if (const GgufValue* a = find("general.alignment")) {
        const bool is_int = a->type != GgufType::kF32 && a->type != GgufType::kF64 &&
                            scalar_size(a->type) != 0 && a->type != GgufType::kBool;
        const uint64_t v = a->u;
        if (!is_int || v == 0 || (v & (v - 1)) != 0 ||
            v > std::numeric_limits<uint32_t>::max()) {
            return c.fail(ErrorCode::kCorruptFile,
                          "invalid general.alignment (must be a nonzero power of two u32)");
        }
        alignment_ = v;
    }

    // Tensor infos.
    tensors_.reserve(static_cast<size_t>(n_tensors));
    tensor_index_.reserve(static_cast<size_t>(n_tensors));
    for (uint64_t t = 0; t < n_tensors; ++t) {
        std::string_view name;
        TK_RETURN_IF_ERROR(
            c.read_string(&name, [&] { return "name of tensor info " + std::to_string(t); }));
        const std::string tname = "tensor '" + std::string(name) + "'";
        uint32_t n_dims = 0;
        if (!c.read(&n_dims)) return c.truncated("n_dims of " + tname);
        if (n_dims > kMaxDims) {
            return c.fail(ErrorCode::kCorruptFile, tname + " has n_dims " +
                                                       std::to_string(n_dims) + " (max 4)");
        }
        int64_t ne[kMaxDims] = {1, 1, 1, 1};
        for (uint32_t d = 0; d < n_dims; ++d) {
            if (!c.read(&ne[d])) return c.truncated("dims of " + tname);
        }
        uint32_t type_id = 0;
        uint64_t offset = 0;
        if (!c.read(&type_id)) return c.truncated("type of " + tname);
        if (!c.read(&offset)) return c.truncated("data offset of " + tname);

        if (!tensor_index_.emplace(name, tensors_.size()).second) {
            return c.fail(ErrorCode::kCorruptFile, "duplicate tensor name '" +
                                                       std::string(name) + "'");
        }
        const DTypeInfo* info = dtype_info_by_id(type_id);
        if (info == nullptr) {
            return c.fail(ErrorCode::kUnsupported, tname + " has unknown ggml type id " +
                                                       std::to_string(type_id));
        }
        int64_t n_elems = 1;
        for (uint32_t d = 0; d < n_dims; ++d) {
            if (ne[d] <= 0) {
                return c.fail(ErrorCode::kCorruptFile,
                              tname + " has invalid dimension ne[" + std::to_string(d) +
                                  "] = " + std::to_string(ne[d]) + " (must be positive)");
            }
            if (__builtin_mul_overflow(n_elems, ne[d], &n_elems)) {
                return c.fail(ErrorCode::kCorruptFile, tname + " element count overflows");
            }
        }
        if (ne[0] % info->block_elems != 0) {
            return c.fail(ErrorCode::kCorruptFile,
                          tname + " row length " + std::to_string(ne[0]) +
                              " is not a multiple of the " + std::string(info->name) +
                              " block size " + std::to_string(info->block_elems));
        }
        // nbytes = blocks per row * block bytes * rows; the element count fits int64, and
        // block_bytes <= 292 per >= 1 element, so only the byte count can still overflow.
        int64_t nbytes = 0;
        if (__builtin_mul_overflow(n_elems / info->block_elems, info->block_bytes, &nbytes)) {
            return c.fail(ErrorCode::kCorruptFile, tname + " byte size overflows");
        }
        if (offset % alignment_ != 0) {
            return c.fail(ErrorCode::kCorruptFile,
                          tname + " data offset " + std::to_string(offset) +
                              " is not aligned to " + std::to_string(alignment_));
        }

        GgufTensorInfo ti;
        ti.name = std::string(name);
        ti.offset = offset;
        ti.view.type = info->type;
        ti.view.n_dims = static_cast<int>(n_dims);
        for (uint32_t d = 0; d < n_dims; ++d) ti.view.shape[n_dims - 1 - d] = ne[d];
        ti.view.nbytes = nbytes;
        tensors_.push_back(std::move(ti));
    }

    // The data section starts at the first aligned offset after the tensor infos. A file
    // without tensors (vocab-only) may end before that point.
    const uint64_t pos = c.pos();
    data_offset_ = (pos + alignment_ - 1) / alignment_ * alignment_;

    for (GgufTensorInfo& ti : tensors_) {
        const uint64_t nbytes = static_cast<uint64_t>(ti.view.nbytes);
        const bool fits = data_offset_ <= size_ && ti.offset <= size_ - data_offset_ &&
                          nbytes <= size_ - data_offset_ - ti.offset;
        if (!fits) {
            return c.fail(ErrorCode::kCorruptFile,
                          "tensor '" + ti.name + "' data (offset " + std::to_string(ti.offset) +
                              ", " + std::to_string(nbytes) + " bytes) runs past the end of "
                              "the file (" + std::to_string(size_) + " bytes)");
        }
        ti.view.data = data_ + data_offset_ + ti.offset;
    }

    // Overlap check on tensors sorted by offset (files are usually already in order).
    std::vector<uint32_t> order(tensors_.size());
    std::iota(order.begin(), order.end(), 0u);
    std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
        return tensors_[a].offset < tensors_[b].offset;
    });
    for (size_t k = 1; k < order.size(); ++k) {
        const GgufTensorInfo& prev = tensors_[order[k - 1]];
        const GgufTensorInfo& cur = tensors_[order[k]];
        if (prev.offset + static_cast<uint64_t>(prev.view.nbytes) > cur.offset) {
            return c.fail(ErrorCode::kCorruptFile, "tensor '" + prev.name + "' and tensor '" +
                                                       cur.name + "' overlap in the data");
        }
    }
    return Status::ok();
}

const GgufValue* GgufFile::find(std::string_view key) const {
    auto it = kv_index_.find(key);
    return it == kv_index_.end() ? nullptr : &kvs_[it->second].value;
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
    auto it = tensor_index_.find(name);
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

namespace {

bool is_unsigned(GgufType t) {
    return t == GgufType::kU8 || t == GgufType::kU16 || t == GgufType::kU32 ||
           t == GgufType::kU64 || t == GgufType::kBool;
}
bool is_signed(GgufType t) {
    return t == GgufType::kI8 || t == GgufType::kI16 || t == GgufType::kI32 ||
           t == GgufType::kI64;
}
bool is_float(GgufType t) { return t == GgufType::kF32 || t == GgufType::kF64; }

// Element k of a numeric array as int64 (nullopt for u64 values above INT64_MAX).
std::optional<int64_t> array_int(const GgufValue& v, uint64_t k) {
    const uint8_t* p = v.array_data + k * scalar_size(v.array_type);
    switch (v.array_type) {
        case GgufType::kU8: return load<uint8_t>(p);
        case GgufType::kBool: return load<uint8_t>(p) != 0;
        case GgufType::kI8: return load<int8_t>(p);
        case GgufType::kU16: return load<uint16_t>(p);
        case GgufType::kI16: return load<int16_t>(p);
        case GgufType::kU32: return load<uint32_t>(p);
        case GgufType::kI32: return load<int32_t>(p);
        case GgufType::kI64: return load<int64_t>(p);
        case GgufType::kU64: {
            const uint64_t u = load<uint64_t>(p);
            if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
                return std::nullopt;
            return static_cast<int64_t>(u);
        }
        default: return std::nullopt;
    }
}

}  // namespace

std::optional<int64_t> GgufFile::get_int(std::string_view key) const {
    const GgufValue* v = find(key);
    if (v == nullptr) return std::nullopt;
    if (is_signed(v->type)) return v->i;
    if (is_unsigned(v->type)) {
        if (v->u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
            return std::nullopt;
        return static_cast<int64_t>(v->u);
    }
    return std::nullopt;
}

std::optional<double> GgufFile::get_float(std::string_view key) const {
    const GgufValue* v = find(key);
    if (v == nullptr) return std::nullopt;
    if (is_float(v->type)) return v->f;
    if (is_signed(v->type)) return static_cast<double>(v->i);
    if (is_unsigned(v->type) && v->type != GgufType::kBool) return static_cast<double>(v->u);
    return std::nullopt;
}

std::optional<bool> GgufFile::get_bool(std::string_view key) const {
    const GgufValue* v = find(key);
    if (v == nullptr || v->type != GgufType::kBool) return std::nullopt;
    return v->u != 0;
}

std::optional<std::string_view> GgufFile::get_string(std::string_view key) const {
    const GgufValue* v = find(key);
    if (v == nullptr || v->type != GgufType::kString) return std::nullopt;
    return v->str;
}

const std::vector<std::string_view>* GgufFile::get_string_array(std::string_view key) const {
    const GgufValue* v = find(key);
    if (v == nullptr || v->type != GgufType::kArray || v->array_type != GgufType::kString)
        return nullptr;
    return &v->strings;
}

std::optional<std::vector<float>> GgufFile::get_f32_array(std::string_view key) const {
    const GgufValue* v = find(key);
    if (v == nullptr || v->type != GgufType::kArray) return std::nullopt;
    const GgufType t = v->array_type;
    if (t == GgufType::kString || t == GgufType::kBool) return std::nullopt;
    std::vector<float> out(static_cast<size_t>(v->array_len));
    if (t == GgufType::kF32) {
        if (!out.empty()) std::memcpy(out.data(), v->array_data, out.size() * sizeof(float));
        return out;
    }
    for (uint64_t k = 0; k < v->array_len; ++k) {
        if (t == GgufType::kF64) {
            out[k] = static_cast<float>(load<double>(v->array_data + k * 8));
        } else if (t == GgufType::kU64) {
            out[k] = static_cast<float>(load<uint64_t>(v->array_data + k * 8));
        } else {
            out[k] = static_cast<float>(*array_int(*v, k));
        }
    }
    return out;
}

std::optional<std::vector<int64_t>> GgufFile::get_int_array(std::string_view key) const {
    const GgufValue* v = find(key);
    if (v == nullptr || v->type != GgufType::kArray) return std::nullopt;
    const GgufType t = v->array_type;
    if (!is_signed(t) && !is_unsigned(t)) return std::nullopt;
    std::vector<int64_t> out(static_cast<size_t>(v->array_len));
    for (uint64_t k = 0; k < v->array_len; ++k) {
        std::optional<int64_t> x = array_int(*v, k);
        if (!x) return std::nullopt;
        out[k] = *x;
    }
    return out;
}

}  // namespace tk::formats
