#include <cstdio>

#include "apps/cli.h"

namespace tk::apps {

int report_error(const Status& s) {
    std::fprintf(stderr, "tokamak: %s\n", s.to_string().c_str());
    return error_code_exit_code(s.code());
}

}  // namespace tk::apps
