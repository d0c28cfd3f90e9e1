#include "model/isq.h"

#include <sys/mman.h>
#include <unistd.h>

#include "base/progress.h"
#include "formats/gguf.h"
#include "model/quant_mix.h"

namespace tk::model {
namespace {

// Drops the resident pages of a read-only mapped range (they are reloaded from the file if
// touched again). Only whole pages inside the range are released.
void release_pages(const void* data, int64_t nbytes) {
    const auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
    const auto begin = reinterpret_cast<uintptr_t>(data);
    const uintptr_t first = (begin + page - 1) / page * page;
    const uintptr_t last = (begin + static_cast<uintptr_t>(nbytes)) / page * page;
    if (last > first) madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

}  // namespace

Result<std::unique_ptr<formats::GgufFile>> quantize_in_memory(std::unique_ptr<formats::GgufFile> src,
                                                              const std::string& preset_name,
                                                              ThreadPool* pool) {
    const auto preset = parse_quant_preset(preset_name);
    if (!preset) {
        return make_error(ErrorCode::kInvalidArgument,
                          "--isq: unknown type '" + preset_name + "' (valid: " + quant_preset_list() + ")");
    }
    TK_ASSIGN_OR_RETURN(MixModelInfo info, mix_model_info_from_gguf(*src));
    const std::vector<MixTensor> tensors = mix_tensors_from_gguf(*src);
    MixOptions opts;
    opts.allow_requantize = false;
    // Already-quantized tensors stay; only float sources are converted.
    std::vector<MixTensor> float_view = tensors;
    for (MixTensor& t : float_view)
        if (dtype_is_quantized(t.type)) t.type = DType::kF32;
    TK_ASSIGN_OR_RETURN(std::vector<MixDecision> plan, plan_quant_mix(float_view, info, *preset, opts));

    formats::GgufBuilder b;
    for (const formats::GgufKV& kv : src->metadata()) b.set_value(kv.key, kv.value);
    b.set_u32("general.file_type", static_cast<uint32_t>(preset->ftype));
    b.set_u32("general.quantization_version", 2);

    const formats::GgufFile& f = *src;
    ProgressBar bar("quantizing to " + std::string(preset->name), static_cast<int64_t>(plan.size()));
    int64_t done = 0;
    for (const MixDecision& d : plan) {
        const formats::GgufTensorInfo& t = f.tensors()[d.index];
        const bool already_quantized = dtype_is_quantized(t.view.type);
        if (!d.convert || already_quantized || d.type == t.view.type) {
            b.add_tensor(t.name, t.view.type, std::vector<int64_t>(t.view.shape.begin(), t.view.shape.begin() + t.view.n_dims),
                         t.view.data);
        } else {
            const size_t bytes = static_cast<size_t>(t.view.rows() * dtype_row_bytes(d.type, t.view.cols()));
            uint8_t* dst = b.alloc(bytes);
            TK_RETURN_IF_ERROR(convert_tensor(t.view, d.type, dst, pool));
            release_pages(t.view.data, t.view.nbytes);
            b.add_tensor(t.name, d.type, std::vector<int64_t>(t.view.shape.begin(), t.view.shape.begin() + t.view.n_dims),
                         dst);
        }
        bar.update(++done, t.name);
    }
    bar.finish();
    const std::string name = src->path();
    const uint64_t bytes = src->file_size();
    b.hold(std::shared_ptr<const void>(std::move(src)));
    return b.build(name, "gguf (isq " + std::string(preset->name) + ")", bytes);
}

}  // namespace tk::model
