#include "base/status.h"

namespace tk {

const char* error_code_name(ErrorCode code) {
    switch (code) {
        case ErrorCode::kOk: return "ok";
        case ErrorCode::kInvalidArgument: return "invalid argument";
        case ErrorCode::kNotFound: return "not found";
        case ErrorCode::kCorruptFile: return "corrupt file";
        case ErrorCode::kUnsupported: return "unsupported";
        case ErrorCode::kOutOfRange: return "out of range";
        case ErrorCode::kResourceExhausted: return "resource exhausted";
        case ErrorCode::kIo: return "i/o error";
        case ErrorCode::kCancelled: return "cancelled";
        case ErrorCode::kInternal: return "internal error";
    }
    return "unknown error";
}

int error_code_http_status(ErrorCode code) {
    switch (code) {
        case ErrorCode::kOk: return 200;
        case ErrorCode::kInvalidArgument: return 400;
        case ErrorCode::kNotFound: return 404;
        case ErrorCode::kCorruptFile: return 500;
        case ErrorCode::kUnsupported: return 400;
        case ErrorCode::kOutOfRange: return 400;
        case ErrorCode::kResourceExhausted: return 503;
        case ErrorCode::kIo: return 500;
        case ErrorCode::kCancelled: return 499;
        case ErrorCode::kInternal: return 500;
    }
    return 500;
}

int error_code_exit_code(ErrorCode code) {
    switch (code) {
        case ErrorCode::kOk: return 0;
        case ErrorCode::kInvalidArgument: return 2;
        case ErrorCode::kNotFound: return 3;
        case ErrorCode::kCorruptFile: return 4;
        case ErrorCode::kUnsupported: return 5;
        case ErrorCode::kOutOfRange: return 6;
        case ErrorCode::kResourceExhausted: return 7;
        case ErrorCode::kIo: return 8;
        case ErrorCode::kCancelled: return 9;
        case ErrorCode::kInternal: return 10;
    }
    return 1;
}

std::string Status::to_string() const {
    if (is_ok()) return "ok";
    return std::string(error_code_name(code_)) + ": " + message_;
}

}  // namespace tk
