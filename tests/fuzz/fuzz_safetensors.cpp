// Fuzzes SafetensorsFile::open (include/moerb/io/safetensors.hpp) with arbitrary file contents.
//
// Checks: open succeeds or throws moerb::error; an opened file is consistent (names sorted and
// unique, byte counts = element count × dtype size, bytes() and to_matrix agree with the shapes),
// and writing its tensors and metadata back with write_safetensors gives a file that reads back
// identically.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz_support.hpp"
#include "moerb/io/safetensors.hpp"

namespace {

using moerb::SafetensorsFile;

void check_consistent(const SafetensorsFile& file) {
  const std::vector<std::string>& names = file.names();
  MOERB_FUZZ_CHECK(names.size() == file.size(), "size() counts the names");
  for (std::size_t i = 0; i < names.size(); ++i) {
    MOERB_FUZZ_CHECK(i == 0 || names[i - 1] < names[i], "names sorted and unique");
    const moerb::TensorInfo& info = file.info(names[i]);
    MOERB_FUZZ_CHECK(info.byte_count() == info.element_count() * moerb::dtype_size(info.dtype),
                     names[i]);
    MOERB_FUZZ_CHECK(file.bytes(names[i]).size() == info.byte_count(), names[i]);
    if (info.shape.size() == 1 || info.shape.size() == 2) {
      const auto f = file.to_matrix<float>(names[i]);
      const auto d = file.to_matrix<double>(names[i]);
      MOERB_FUZZ_CHECK(static_cast<std::uint64_t>(f.size()) == info.element_count(), names[i]);
      MOERB_FUZZ_CHECK(f.rows() == d.rows() && f.cols() == d.cols(), names[i]);
    } else {
      MOERB_FUZZ_CHECK(!moerb::fuzz::parses([&] { (void)file.to_matrix<double>(names[i]); }),
                       "to_matrix rejects ranks other than 1 and 2");
    }
  }
}

void check_round_trip(const SafetensorsFile& file, const moerb::fuzz::TempFile& copy) {
  std::vector<moerb::TensorRecord> records;
  for (const std::string& name : file.names()) {
    const moerb::TensorInfo& info = file.info(name);
    const auto bytes = file.bytes(name);
    records.push_back({name, info.dtype, info.shape, {bytes.begin(), bytes.end()}});
  }
  moerb::write_safetensors(copy.path(), records, file.metadata());
  const SafetensorsFile back = SafetensorsFile::open(copy.path());
  MOERB_FUZZ_CHECK(back.names() == file.names(), "names survive a rewrite");
  MOERB_FUZZ_CHECK(back.metadata() == file.metadata(), "metadata survives a rewrite");
  for (const moerb::TensorRecord& r : records) {
    const moerb::TensorInfo& info = back.info(r.name);
    const auto bytes = back.bytes(r.name);
    MOERB_FUZZ_CHECK(info.dtype == r.dtype && info.shape == r.shape, r.name);
    MOERB_FUZZ_CHECK(
        bytes.size() == r.bytes.size() &&
            (bytes.empty() || std::memcmp(bytes.data(), r.bytes.data(), bytes.size()) == 0),
        r.name);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const moerb::fuzz::TempFile input("safetensors-in");
  static const moerb::fuzz::TempFile copy("safetensors-copy");
  const auto& path = input.write(data, size);
  moerb::fuzz::parses([&] {
    const SafetensorsFile file = SafetensorsFile::open(path);
    moerb::fuzz::must_not_throw(
        [&] {
          check_consistent(file);
          check_round_trip(file, copy);
        },
        "checking an opened file");
  });
  return 0;
}
