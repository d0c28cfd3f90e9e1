#pragma once
// Shared test helpers: paths into ../shared, reading files, temp dirs.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tk::testing {

// Absolute path of a file under shared/ (TK_SHARED_DIR env overrides the CMake default).
std::string shared_path(const std::string& rel);
// Path of the tokamak binary built beside the tests.
std::string tokamak_binary();
std::vector<uint8_t> read_file_bytes(const std::string& path);
nlohmann::json read_json(const std::string& path);
// A fresh directory under the system temp dir, removed by the destructor.
class TempDir {
public:
    TempDir();
    ~TempDir();
    const std::string& path() const { return path_; }
    std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

// Runs a shell command, returns exit status; stdout captured into *out if given.
int run_command(const std::string& cmd, std::string* out = nullptr);

}  // namespace tk::testing
