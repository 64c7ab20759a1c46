#pragma once
// Helpers shared by the data-reader test suites: a temporary directory that removes itself, fixture
// files written into it, and a check that a moerb::error message names what was wrong.
#include <unistd.h>
#include <atomic>
#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "moerb/core/error.hpp"
#include "support/messages.hpp"

namespace moerb::test {

/// A fresh directory under the system temp directory, removed with its contents on destruction.
class TempDir {
 public:
  TempDir() {
    static std::atomic<unsigned> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("moerb_data_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

  /// Writes `content` byte for byte to <dir>/<name> and returns the path.
  std::filesystem::path write(std::string_view name, std::string_view content) const {
    const std::filesystem::path file = path_ / name;
    std::ofstream out(file, std::ios::binary);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    BOOST_REQUIRE_MESSAGE(out.good(), "cannot write fixture " << file);
    return file;
  }

 private:
  std::filesystem::path path_;
};

}  // namespace moerb::test
