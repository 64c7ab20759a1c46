#pragma once
// Reader for the golden files that tests/reference/*.py write with PyTorch.
//
// Format (text, one file per case):
//   # free comment lines
//   scalar <name> <value>
//   tensor <name> <rows> <cols>
//   <rows*cols values, row-major, whitespace separated>
// Values are written with 17 significant digits from float64 tensors.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>

#include "moerb/core/types.hpp"

namespace moerb::test {

/// tests/reference/golden: $MOERB_GOLDEN_DIR (CTest sets it), else found by walking up from the
/// test executable (build trees live under the source tree). Not a compile-time path, so that
/// compiler caches hit across clones of the repository.
inline std::filesystem::path golden_dir() {
  if (const char* env = std::getenv("MOERB_GOLDEN_DIR"); env != nullptr && *env != '\0') {
    return env;
  }
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  for (auto dir = exe.parent_path(); !ec && !dir.empty(); dir = dir.parent_path()) {
    const auto candidate = dir / "tests" / "reference" / "golden";
    if (std::filesystem::is_directory(candidate)) return candidate;
    if (dir == dir.root_path()) break;
  }
  throw std::runtime_error(
      "golden files not found: set MOERB_GOLDEN_DIR to tests/reference/golden (ctest sets it)");
}

class GoldenFile {
 public:
  explicit GoldenFile(const std::string& name)
      : path_(golden_dir() / name) {
    std::ifstream in(path_);
    if (!in) throw std::runtime_error("cannot open golden file " + path_.string());
    std::string line;
    Index line_no = 0;
    while (std::getline(in, line)) {
      ++line_no;
      if (line.empty() || line[0] == '#') continue;
      std::istringstream ls(line);
      std::string kind, key;
      ls >> kind >> key;
      if (kind == "scalar") {
        double v = 0;
        if (!(ls >> v)) fail(line_no, "bad scalar");
        scalars_[key] = v;
      } else if (kind == "tensor") {
        Index r = 0, c = 0;
        if (!(ls >> r >> c) || r < 0 || c < 0) fail(line_no, "bad tensor header");
        Matrix<double> m(r, c);
        for (Index i = 0; i < r * c; ++i) {
          if (!(in >> m.data()[i])) fail(line_no, "truncated tensor " + key);
        }
        tensors_[key] = std::move(m);
      } else {
        fail(line_no, "unknown record '" + kind + "'");
      }
    }
  }

  [[nodiscard]] const Matrix<double>& tensor(const std::string& key) const {
    auto it = tensors_.find(key);
    if (it == tensors_.end()) throw std::runtime_error(path_.string() + ": no tensor " + key);
    return it->second;
  }
  template <class S>
  [[nodiscard]] Matrix<S> tensor_as(const std::string& key) const {
    return tensor(key).template cast<S>();
  }
  [[nodiscard]] double scalar(const std::string& key) const {
    auto it = scalars_.find(key);
    if (it == scalars_.end()) throw std::runtime_error(path_.string() + ": no scalar " + key);
    return it->second;
  }
  [[nodiscard]] bool has_tensor(const std::string& key) const { return tensors_.count(key) != 0; }
  [[nodiscard]] bool has_scalar(const std::string& key) const { return scalars_.count(key) != 0; }

 private:
  [[noreturn]] void fail(Index line_no, const std::string& what) const {
    throw std::runtime_error(path_.string() + ":" + std::to_string(line_no) + ": " + what);
  }
  std::filesystem::path path_;
  std::map<std::string, Matrix<double>> tensors_;
  std::map<std::string, double> scalars_;
};

}  // namespace moerb::test
