#pragma once
// A fresh directory under the system temporary directory for one test, removed with its contents on
// destruction. The name holds the process id and a per-process counter, and the directory is
// created exclusively, so suites running in parallel (ctest -j, two build trees at once) never
// share a path.
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace moerb::test {

class ScratchDir {
 public:
  explicit ScratchDir(std::string_view tag = "test") {
    static std::atomic<unsigned> counter{0};
    const auto base = std::filesystem::temp_directory_path();
    for (int attempt = 0; attempt < 100; ++attempt) {
      path_ = base / ("moerb-" + std::string(tag) + "-" + std::to_string(::getpid()) + "-" +
                      std::to_string(counter++));
      std::error_code ec;
      if (std::filesystem::create_directory(path_, ec) && !ec) return;
    }
    throw std::runtime_error("ScratchDir: cannot create a fresh directory under " + base.string());
  }
  ~ScratchDir() {
    std::error_code ec;
    // Tests may have made the directory read-only to provoke write errors.
    std::filesystem::permissions(path_, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::add, ec);
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  [[nodiscard]] std::filesystem::path operator/(std::string_view name) const {
    return path_ / name;
  }

  /// Names of the directory's entries (to check that no temporary file is left behind).
  [[nodiscard]] std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(path_)) {
      names.push_back(e.path().filename().string());
    }
    return names;
  }

  /// Writes `content` byte for byte to <dir>/<name> and returns the path.
  std::filesystem::path write(std::string_view name, std::string_view content) const {
    const std::filesystem::path file = path_ / name;
    std::ofstream out(file, std::ios::binary);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    if (!out.good()) throw std::runtime_error("ScratchDir: cannot write " + file.string());
    return file;
  }

 private:
  std::filesystem::path path_;
};

}  // namespace moerb::test
