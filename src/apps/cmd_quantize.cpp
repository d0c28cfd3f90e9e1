// tokamak quantize: rewrite a GGUF model with llama-quantize's type mixes (Q4_K_M, ...).
// From the same F32 source it writes the same bytes as llama-quantize at llama.cpp c392e509:
// metadata copied in order plus general.quantization_version and general.file_type (moved to
// the end, as gguf_set_val does), tensors in llama.cpp's order, ggml's reference quantizers.
#include <sys/stat.h>

#include <cstdio>
#include <map>
#include <memory>

#include "apps/cli.h"
#include "base/progress.h"
#include "base/thread_pool.h"
#include "base/timer.h"
#include "formats/gguf.h"
#include "kernels/quantize.h"
#include "model/quant_mix.h"

namespace tk::apps {
namespace {

constexpr uint32_t kQuantizationVersion = 2;  // GGML_QNT_VERSION

struct QuantizeArgs {
    std::string input, output, type;
    std::string output_type, token_embd_type;
    bool pure = false;
    bool allow_requantize = false;
    bool leave_output = false;
    bool verbose = false;
    int n_threads = 0;
};

Status invalid(const std::string& msg) { return make_error(ErrorCode::kInvalidArgument, msg); }

Result<DType> parse_tensor_type(const std::string& name, const char* option) {
    const auto t = dtype_from_name(name);
    if (!t || !kernels::can_quantize(*t)) {
        return invalid(std::string(option) + ": unknown or unsupported tensor type '" + name +
                       "' (valid: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, "
                       "Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS)");
    }
    return *t;
}

bool same_file(const struct stat& a, const struct stat& b) {
    return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

// The writer streams into "<output>.tmp" and renames it over <output>; either one being the
// input would truncate the file we are reading from (through the mapping).
Status check_not_input(const std::string& input, const std::string& output) {
    struct stat in_st {};
    if (::stat(input.c_str(), &in_st) != 0) return Status::ok();  // open() reports it
    for (const std::string& p : {output, output + ".tmp"}) {
        struct stat st {};
        if (::stat(p.c_str(), &st) == 0 && same_file(in_st, st)) {
            return invalid("output " + p + " is the input file " + input +
                           "; write the quantized model to another path");
        }
    }
    return Status::ok();
}

double mib(double bytes) { return bytes / (1024.0 * 1024.0); }

int run(const QuantizeArgs& a) {
    const auto preset = model::parse_quant_preset(a.type);
    if (!preset) {
        return report_error(invalid("unknown quantization type '" + a.type +
                                    "'; valid types: " + model::quant_preset_list()));
    }
    model::MixOptions opts;
    opts.pure = a.pure;
    opts.allow_requantize = a.allow_requantize;
    opts.leave_output = a.leave_output;
    if (!a.output_type.empty()) {
        auto t = parse_tensor_type(a.output_type, "--output-type");
        if (!t) return report_error(t.status());
        opts.output_type = *t;
    }
    if (!a.token_embd_type.empty()) {
        auto t = parse_tensor_type(a.token_embd_type, "--token-embd-type");
        if (!t) return report_error(t.status());
        opts.token_embd_type = *t;
    }
    if (Status s = check_not_input(a.input, a.output); !s.is_ok()) return report_error(s);

    auto opened = formats::GgufFile::open(a.input);
    if (!opened) return report_error(opened.status());
    const formats::GgufFile& in = **opened;
    auto info = model::mix_model_info_from_gguf(in);
    if (!info) return report_error(info.status());
    const std::vector<model::MixTensor> tensors = model::mix_tensors_from_gguf(in);
    auto plan = model::plan_quant_mix(tensors, *info, *preset, opts);
    if (!plan) {
        return report_error(
            make_error(plan.status().code(), a.input + ": " + plan.status().message()));
    }

    formats::GgufWriter w;
    for (const formats::GgufKV& kv : in.metadata()) w.set_value(kv.key, kv.value);
    for (const char* key : {"split.no", "split.count", "split.tensors.count"}) w.remove(key);
    // gguf_set_val_u32 removes an existing key and appends it: both end up last.
    w.remove("general.quantization_version");
    w.set_u32("general.quantization_version", kQuantizationVersion);
    w.remove("general.file_type");
    w.set_u32("general.file_type", static_cast<uint32_t>(preset->ftype));

    ThreadPool pool(a.n_threads);
    std::printf("quantize: %s -> %s as %s (file type %u, %d threads)\n", a.input.c_str(),
                a.output.c_str(), std::string(preset->name).c_str(),
                static_cast<unsigned>(preset->ftype), pool.size());
    int64_t bytes_in = 0, bytes_out = 0, n_elements = 0;
    int n_converted = 0, n_fallback = 0;
    std::map<std::string, int> type_counts;
    std::vector<int64_t> done_elements;
    std::vector<std::string> names;
    for (const model::MixDecision& d : *plan) {
        const formats::GgufTensorInfo& t = in.tensors()[d.index];
        const TensorView view = t.view;
        std::vector<int64_t> shape(view.shape.begin(), view.shape.begin() + view.n_dims);
        const int64_t n = view.n_elements();
        const int64_t out_bytes = n / dtype_block_elems(d.type) * dtype_block_bytes(d.type);
        bytes_in += view.nbytes;
        bytes_out += out_bytes;
        n_elements += n;
        done_elements.push_back(n_elements);
        names.push_back(t.name);
        ++type_counts[std::string(dtype_name(d.type))];
        n_converted += d.convert ? 1 : 0;
        n_fallback += d.fallback ? 1 : 0;
        if (a.verbose) {
            std::printf("%-36s %-16s %6s -> %-6s%s\n", t.name.c_str(),
                        shape_to_string(view).c_str(),
                        std::string(dtype_name(view.type)).c_str(),
                        std::string(dtype_name(d.type)).c_str(), d.fallback ? " (fallback)" : "");
        }
        if (!d.convert) {
            w.add_tensor(t.name, view.type, std::move(shape), view.data);
            continue;
        }
        const DType type = d.type;
        w.add_tensor(t.name, type, std::move(shape), [view, type, &pool](uint8_t* dst, size_t) {
            return model::convert_tensor(view, type, dst, &pool);
        });
    }

    Timer timer;
    {
        ProgressBar bar("quantizing", n_elements);
        Status s = w.write(a.output, [&](size_t done, size_t) {
            bar.update(done_elements[done - 1], names[done - 1]);
        });
        if (!s.is_ok()) return report_error(s);
    }
    const double n = n_elements > 0 ? static_cast<double>(n_elements) : 1.0;
    std::printf("  model size: %10.2f MiB (%.2f bits per weight)\n", mib(bytes_in),
                bytes_in * 8.0 / n);
    std::printf("  quant size: %10.2f MiB (%.2f bits per weight)\n", mib(bytes_out),
                bytes_out * 8.0 / n);
    std::string counts;
    for (const auto& [name, c] : type_counts) counts += " " + name + ":" + std::to_string(c);
    std::printf("  tensors:    %zu (%d converted, %d with a fallback type) -%s\n", plan->size(),
                n_converted, n_fallback, counts.c_str());
    struct stat out_st {};
    if (::stat(a.output.c_str(), &out_st) == 0) {
        std::printf("  file size:  %10.2f MiB (input file %.2f MiB)\n",
                    mib(static_cast<double>(out_st.st_size)),
                    mib(static_cast<double>(in.file_size())));
    }
    std::printf("  time:       %.2f s\n", timer.seconds());
    return 0;
}

}  // namespace

void add_quantize_command(CLI::App& app, int& exit_code) {
    auto a = std::make_shared<QuantizeArgs>();
    CLI::App* cmd = app.add_subcommand(
        "quantize", "Quantize a GGUF model with llama-quantize's presets (Q4_K_M, Q8_0, ...)");
    cmd->add_option("input", a->input, "Input GGUF (F32, F16 or BF16 weights)")->required();
    cmd->add_option("output", a->output, "Output GGUF")->required();
    cmd->add_option("type", a->type,
                    "Preset: " + model::quant_preset_list() + "; or a numeric file type")
        ->required();
    cmd->add_flag("--pure", a->pure, "Every quantized tensor gets the preset's base type (no mix)");
    cmd->add_flag("--allow-requantize", a->allow_requantize,
                  "Accept already-quantized tensors (loses quality)");
    cmd->add_flag("--leave-output-tensor", a->leave_output, "Keep output.weight as it is");
    cmd->add_option("--output-type", a->output_type, "Type of output.weight (e.g. Q8_0)");
    cmd->add_option("--token-embd-type", a->token_embd_type, "Type of token_embd.weight");
    cmd->add_option("-t,--threads", a->n_threads, "Threads (default: all cores)");
    cmd->add_flag("-v,--verbose", a->verbose, "List every tensor's type");
    cmd->callback([a, &exit_code] { exit_code = run(*a); });
}

}  // namespace tk::apps
