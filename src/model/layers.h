#pragma once
// Position encoding, written to follow ggml's operation order (angles by repeated
// multiplication in float) so results match llama.cpp closely.
#include <cstdint>

namespace tk::model {

// Rotates n_rot dims of one head at position pos. Normal: pairs (2i, 2i+1); neox: (i, i + n_rot/2).
void rope(float* head, int64_t n_rot, int64_t pos, float freq_base, float freq_scale, bool neox);

}  // namespace tk::model
