#pragma once
// In-place quantization at load (--isq): the float weights of a just-opened model are
// quantized in memory with the same per-tensor rules as `tokamak quantize` (quant_mix), so a
// model runs quantized without a conversion step. Peak memory stays near the quantized model
// plus one tensor of scratch: each source tensor's mapped pages are released once converted.
#include <memory>
#include <string>

#include "base/status.h"
#include "base/thread_pool.h"

namespace tk::formats {
class GgufFile;
}

namespace tk::model {

// `preset` is a quantize preset or type name (Q4_K_M, Q8_0, Q4_K = Q4_K_M, ...). Tensors that are
// already quantized are kept as they are.
Result<std::unique_ptr<formats::GgufFile>> quantize_in_memory(std::unique_ptr<formats::GgufFile> src,
                                                              const std::string& preset,
                                                              ThreadPool* pool);

}  // namespace tk::model
