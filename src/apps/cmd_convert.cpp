// tokamak convert: any model tokamak reads (GGUF, llamafile, Hugging Face SafeTensors folder,
// llama2.c checkpoint) -> a standard GGUF file, optionally re-typed or quantized.
// Metadata is copied as open_model presents it (GGUF key names), so the output loads in tokamak
// and in llama.cpp. With --type, matrices are converted (quantized with the ggml-identical
// reference quantizers); 1-D tensors (norms, biases) are always written as F32.
#include <cstdio>
#include <map>
#include <optional>

#include "apps/cli.h"
#include "base/log.h"
#include "base/progress.h"
#include "base/thread_pool.h"
#include "base/timer.h"
#include "formats/gguf.h"
#include "formats/hub.h"
#include "formats/model_file.h"
#include "kernels/kernel_table.h"
#include "kernels/quantize.h"

namespace tk::apps {
namespace {

struct ConvertArgs {
    std::string input;
    std::string output;
    std::string type;
    std::string tokenizer;
    int n_threads = 0;
};

// llama.cpp's llama_ftype for a file whose matrices are mostly `t` (K-quants: the _S mixes).
uint32_t ftype_of(DType t) {
    switch (t) {
        case DType::kF32: return 0;
        case DType::kF16: return 1;
        case DType::kQ4_0: return 2;
        case DType::kQ4_1: return 3;
        case DType::kQ8_0: return 7;
        case DType::kQ5_0: return 8;
        case DType::kQ5_1: return 9;
        case DType::kQ2_K: return 10;
        case DType::kQ3_K: return 11;
        case DType::kQ4_K: return 14;
        case DType::kQ5_K: return 16;
        case DType::kQ6_K: return 18;
        case DType::kIQ4_NL: return 25;
        case DType::kIQ4_XS: return 30;
        case DType::kBF16: return 32;
        default: return 0;
    }
}

// Type for a matrix whose rows do not split into blocks of `want`: llama-quantize's fallbacks,
// then F16, which fits every row length.
DType fit_type(DType want, int64_t cols) {
    if (cols % dtype_block_elems(want) == 0) return want;
    DType next = DType::kF16;
    switch (want) {
        case DType::kQ2_K: case DType::kQ3_K: case DType::kIQ4_XS: next = DType::kIQ4_NL; break;
        case DType::kQ4_K: next = DType::kQ5_0; break;
        case DType::kQ5_K: next = DType::kQ5_1; break;
        case DType::kQ6_K: next = DType::kQ8_0; break;
        default: break;
    }
    return cols % dtype_block_elems(next) == 0 ? next : DType::kF16;
}

// Converts `src` (any type with a to_float kernel) to `type`, rows split over the pool.
Status convert_tensor(const TensorView& src, DType type, uint8_t* dst, ThreadPool& pool) {
    const int64_t rows = src.rows(), cols = src.cols();
    const auto to_float = kernels::kernels().of(src.type).to_float;
    if (to_float == nullptr) {
        return make_error(ErrorCode::kUnsupported,
                          "cannot read tensors of type " + std::string(dtype_name(src.type)));
    }
    constexpr int64_t kRowsPerTask = 16;
    const int64_t n_tasks = (rows + kRowsPerTask - 1) / kRowsPerTask;
    std::vector<std::vector<float>> scratch(static_cast<size_t>(pool.size()));
    std::vector<Status> errors(static_cast<size_t>(n_tasks));
    const int64_t dst_row = dtype_row_bytes(type, cols);
    pool.parallel_for(n_tasks, [&](int64_t task, int thread) {
        const int64_t r0 = task * kRowsPerTask;
        const int64_t nr = std::min(kRowsPerTask, rows - r0);
        std::vector<float>& f = scratch[static_cast<size_t>(thread)];
        f.resize(static_cast<size_t>(nr * cols));
        for (int64_t r = 0; r < nr; ++r) to_float(src.row(r0 + r), f.data() + r * cols, cols);
        errors[static_cast<size_t>(task)] =
            kernels::quantize_rows(type, f.data(), dst + r0 * dst_row, nr, cols);
    });
    for (Status& s : errors) TK_RETURN_IF_ERROR(s);
    return Status::ok();
}

int run(const ConvertArgs& a) {
    Timer timer;
    std::optional<DType> want;
    if (!a.type.empty()) {
        want = dtype_from_name(a.type);
        if (!want || !kernels::can_quantize(*want)) {
            return report_error(make_error(
                ErrorCode::kInvalidArgument,
                "--type " + a.type + ": not a weight type tokamak can write (F32, F16, BF16, "
                                     "Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K, IQ4_NL, IQ4_XS)"));
        }
    }
    formats::OpenModelOptions oo;
    oo.tokenizer_path = a.tokenizer;
    std::string input = a.input;
    if (formats::is_hub_uri(input)) {
        auto f = formats::parse_hub_uri(input);
        if (!f.is_ok()) return report_error(f.status());
        auto local = formats::hub_download(*f);
        if (!local.is_ok()) return report_error(local.status());
        input = *local;
    }
    auto opened = formats::open_model(input, oo);
    if (!opened.is_ok()) return report_error(opened.status());
    const formats::GgufFile& in = **opened;
    if (in.find("tokenizer.ggml.tokens") == nullptr) {
        log_warn(a.input + ": no vocabulary; the output will not load without one");
    }

    formats::GgufWriter w;
    for (const formats::GgufKV& kv : in.metadata()) w.set_value(kv.key, kv.value);

    ThreadPool pool(a.n_threads);
    std::map<DType, int64_t> matrix_elems;
    int n_fallback = 0;
    bool quantized = false;
    int64_t out_bytes = 0;
    for (const formats::GgufTensorInfo& t : in.tensors()) {
        const TensorView& v = t.view;
        DType type = v.type;
        if (v.n_dims == 1 || v.rows() == 1) {
            type = DType::kF32;  // norms and biases: llama.cpp keeps them F32
        } else if (want) {
            type = fit_type(*want, v.cols());
            if (type != *want) ++n_fallback;
        }
        if (v.n_dims > 1) matrix_elems[type] += v.n_elements();
        quantized = quantized || dtype_is_quantized(type);
        out_bytes += dtype_row_bytes(type, v.cols()) * v.rows();
        std::vector<int64_t> shape(v.shape.begin(), v.shape.begin() + v.n_dims);
        if (type == v.type) {
            w.add_tensor(t.name, type, shape, v.data);  // bytes as they are (zero copy)
            continue;
        }
        w.add_tensor(t.name, type, shape, [&v, type, &pool, name = t.name](uint8_t* dst, size_t) {
            Status s = convert_tensor(v, type, dst, pool);
            if (!s.is_ok()) return make_error(s.code(), "tensor '" + name + "': " + s.message());
            return Status::ok();
        });
    }
    DType main_type = DType::kF32;
    int64_t most = -1;
    for (const auto& [type, n] : matrix_elems) {
        if (n > most) {
            most = n;
            main_type = type;
        }
    }
    w.set_u32("general.file_type", ftype_of(want ? *want : main_type));
    if (quantized) {
        w.set_u32("general.quantization_version", 2);
    } else {
        w.remove("general.quantization_version");
    }
    if (n_fallback > 0) {
        log_warn(std::to_string(n_fallback) + " matrices have rows that do not split into " +
                 std::string(dtype_name(*want)) + " blocks; they use a fallback type");
    }

    ProgressBar bar("converting", static_cast<int64_t>(in.tensors().size()));
    const Status s = w.write(a.output, [&](size_t done, size_t) {
        bar.update(static_cast<int64_t>(done));
    });
    bar.finish();
    if (!s.is_ok()) return report_error(s);
    std::printf("wrote %s: %s model from %s (%s), %zu tensors, %.2f MiB, %s, %.1f s\n",
                a.output.c_str(), std::string(in.get_string("general.architecture").value_or("?")).c_str(),
                a.input.c_str(), in.format().c_str(), in.tensors().size(),
                static_cast<double>(out_bytes) / (1024.0 * 1024.0),
                std::string(dtype_name(want ? *want : main_type)).c_str(), timer.seconds());
    return 0;
}

}  // namespace

void add_convert_command(CLI::App& app, int& exit_code) {
    auto args = std::make_shared<ConvertArgs>();
    CLI::App* cmd = app.add_subcommand(
        "convert", "Convert a model (GGUF, llamafile, Hugging Face folder, llama2.c) to GGUF");
    cmd->add_option("input", args->input,
                    "Model: GGUF, llamafile, Hugging Face folder (config.json + *.safetensors) "
                    "or llama2.c .bin; or hf://OWNER/REPO/FILE (downloaded into the cache)")
        ->required();
    cmd->add_option("output", args->output, "Output GGUF file")->required();
    cmd->add_option("--type", args->type,
                    "Type of weight matrices: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, "
                    "Q2_K..Q6_K, IQ4_NL, IQ4_XS (default: keep; norms are always F32)");
    cmd->add_option("--tokenizer", args->tokenizer,
                    "Vocabulary for models without one: llama2.c tokenizer.bin, HF "
                    "tokenizer.json, or a GGUF");
    cmd->add_option("-t,--threads", args->n_threads, "Threads (default: all cores)");
    cmd->callback([args, &exit_code] { exit_code = run(*args); });
}

}  // namespace tk::apps
