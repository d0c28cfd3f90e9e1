#include "base/log.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace tk {
namespace {

LogLevel initial_level() {
    const char* env = std::getenv("TK_LOG_LEVEL");
    if (env == nullptr) return LogLevel::kWarn;
    if (!std::strcmp(env, "debug")) return LogLevel::kDebug;
    if (!std::strcmp(env, "info")) return LogLevel::kInfo;
    if (!std::strcmp(env, "error")) return LogLevel::kError;
    if (!std::strcmp(env, "silent")) return LogLevel::kSilent;
    return LogLevel::kWarn;
}

std::atomic<LogLevel>& level_ref() {
    static std::atomic<LogLevel> level{initial_level()};
    return level;
}

}  // namespace

void set_log_level(LogLevel level) { level_ref().store(level); }
LogLevel log_level() { return level_ref().load(); }

void log_message(LogLevel level, const std::string& message) {
    if (level < log_level()) return;
    static std::mutex mu;
    static const char* const kNames[] = {"debug", "info", "warn", "error", ""};
    std::lock_guard<std::mutex> lock(mu);
    std::fprintf(stderr, "tokamak %s: %s\n", kNames[static_cast<int>(level)], message.c_str());
}

}  // namespace tk
