#include "core/tensor_view.h"

namespace tk {

std::string shape_to_string(const TensorView& t) {
    std::string s = "[";
    for (int i = 0; i < t.n_dims; ++i) {
        if (i) s += ", ";
        s += std::to_string(t.shape[i]);
    }
    return s + "]";
}

}  // namespace tk
