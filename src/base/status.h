#pragma once
// Status / Result<T>: errors caused by input or environment travel as values.
// Every ErrorCode maps to an HTTP status and a CLI exit code (see status.cpp).
#include <cstdlib>
#include <string>
#include <utility>
#include <variant>

namespace tk {

enum class ErrorCode {
    kOk = 0,
    kInvalidArgument,    // bad option, bad request field
    kNotFound,           // missing file, key, tensor
    kCorruptFile,        // a file that breaks its format's rules
    kUnsupported,        // valid but not handled (unknown arch, tensor type)
    kOutOfRange,         // prompt longer than context, count over a limit
    kResourceExhausted,  // KV blocks, queue full, memory
    kIo,                 // read/write/mmap failures
    kCancelled,          // client went away
    kInternal,
};

const char* error_code_name(ErrorCode code);
int error_code_http_status(ErrorCode code);
int error_code_exit_code(ErrorCode code);

class [[nodiscard]] Status {
public:
    Status() = default;
    Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}
    static Status ok() { return {}; }

    bool is_ok() const { return code_ == ErrorCode::kOk; }
    explicit operator bool() const { return is_ok(); }
    ErrorCode code() const { return code_; }
    const std::string& message() const { return message_; }
    // "corrupt file: model.gguf: tensor 'x' data out of bounds"
    std::string to_string() const;

private:
    ErrorCode code_ = ErrorCode::kOk;
    std::string message_;
};

inline Status make_error(ErrorCode code, std::string message) { return {code, std::move(message)}; }

template <typename T>
class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
    Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
        if (std::get<Status>(v_).is_ok()) v_ = Status(ErrorCode::kInternal, "Result built from ok Status");
    }

    bool is_ok() const { return std::holds_alternative<T>(v_); }
    explicit operator bool() const { return is_ok(); }
    const Status& status() const {
        static const Status kOkStatus;
        return is_ok() ? kOkStatus : std::get<Status>(v_);
    }
    T& value() & { return std::get<T>(v_); }
    const T& value() const& { return std::get<T>(v_); }
    T&& value() && { return std::get<T>(std::move(v_)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

private:
    std::variant<T, Status> v_;
};

}  // namespace tk

// Propagate an error Status from an expression returning Status.
#define TK_RETURN_IF_ERROR(expr)                      \
    do {                                              \
        ::tk::Status tk_status_tmp_ = (expr);         \
        if (!tk_status_tmp_.is_ok()) return tk_status_tmp_; \
    } while (0)

#define TK_CONCAT_INNER_(a, b) a##b
#define TK_CONCAT_(a, b) TK_CONCAT_INNER_(a, b)
// TK_ASSIGN_OR_RETURN(auto x, f());
#define TK_ASSIGN_OR_RETURN(lhs, expr) TK_ASSIGN_OR_RETURN_IMPL_(TK_CONCAT_(tk_res_, __LINE__), lhs, expr)
#define TK_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
    auto tmp = (expr);                            \
    if (!tmp.is_ok()) return tmp.status();        \
    lhs = std::move(tmp).value()
