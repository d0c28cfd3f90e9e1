#pragma once
// Position encoding and normalization, written to follow ggml's operation order (angles by
// repeated multiplication in float, sums in double) so results match llama.cpp closely.
#include <cstdint>

namespace tk::model {

// Rotates n_rot dims of one head at position pos. Normal: pairs (2i, 2i+1); neox: (i, i + n_rot/2).
// Pair i turns by freq_scale * pos * freq_base^(-2i/n_rot) / freq_factors[i] (factors may be
// null: all 1); cos and sin are multiplied by attn_factor (ggml_rope_ext's mscale).
void rope(float* head, int64_t n_rot, int64_t pos, float freq_base, float freq_scale, bool neox,
          const float* freq_factors = nullptr, float attn_factor = 1.0f);

// ggml_norm then mul and add: y = (x - mean) * 1/sqrtf(var + eps) * w + b, mean and variance
// summed in double. w and b may be null (skipped). out may alias x.
void layer_norm(const float* x, const float* w, const float* b, int64_t n, float eps, float* out);

}  // namespace tk::model
