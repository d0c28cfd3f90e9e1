#pragma once
// Helpers shared by the eval tests.
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "model/model.h"
#include "testutil/testutil.h"

namespace tk::eval::test {

inline std::string read_text(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// One thread by default: results do not depend on the count, and the shared 2-core test machine
// is often busy, which makes a 2-thread pool slower than one thread on these tiny models.
inline std::unique_ptr<model::Model> load(const std::string& rel, int n_threads = 1) {
    model::LoadOptions lo;
    lo.n_threads = n_threads;
    auto m = model::Model::load(testing::shared_path(rel), lo);
    EXPECT_TRUE(m.is_ok()) << m.status().to_string();
    return m.is_ok() ? std::move(*m) : nullptr;
}

// reference/perplexity-input.txt: 19,060 tokens with the stories260K vocabulary.
inline const std::string& oracle_text() {
    static const std::string t = read_text(testing::shared_path("reference/perplexity-input.txt"));
    return t;
}

}  // namespace tk::eval::test
