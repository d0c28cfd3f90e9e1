#pragma once
// TK_CHECK: our own invariant broken -> log file:line and abort. Never for input errors.
// TK_DCHECK: hot-path invariant, compiled out in release builds (NDEBUG).
#include <cstdio>
#include <cstdlib>

namespace tk::detail {
[[noreturn]] inline void check_failed(const char* file, int line, const char* expr) {
    std::fprintf(stderr, "tokamak: internal check failed at %s:%d: %s\n", file, line, expr);
    std::abort();
}
}  // namespace tk::detail

#define TK_CHECK(cond) \
    ((cond) ? (void)0 : ::tk::detail::check_failed(__FILE__, __LINE__, #cond))

#ifdef NDEBUG
#define TK_DCHECK(cond) ((void)0)
#else
#define TK_DCHECK(cond) TK_CHECK(cond)
#endif
