// Fuzzes read_advglue and advglue_tasks_in (include/moerb/data/advglue.hpp) with an AdvGLUE
// dev.json.
//
// Input: byte 0 picks the task (bits 4-7, modulo 6: sst2, qqp, mnli, mnli-mm, qnli, rte) and the
// ReadOptions (bits 0-3, see fuzz_dataset.hpp); the rest is the file (the reader takes a path, so
// it is written to a per-process temporary file). Checks: both functions succeed or throw
// moerb::error; the data set is consistent (check_dataset) and named after the task, a task that
// reads is among the tasks advglue_tasks_in lists, and a file holding a NUL byte, which JSON allows
// nowhere, is rejected by both.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz_dataset.hpp"
#include "moerb/data/advglue.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static const moerb::fuzz::TempFile file("advglue.json");
  const auto& tasks = moerb::advglue_tasks();
  const std::string task(tasks[(data[0] >> 4) % tasks.size()].name);
  const moerb::ReadOptions options = moerb::fuzz::read_options(data[0]);
  const auto& path = file.write(data + 1, size - 1);

  std::vector<std::string> present;
  const bool listed = moerb::fuzz::parses([&] { present = moerb::advglue_tasks_in(path); });
  moerb::ReadReport report;
  const bool read = moerb::fuzz::parses([&] {
    const moerb::TextDataset d = moerb::read_advglue(path, task, options, &report);
    moerb::fuzz::check_dataset(d, options, report);
    MOERB_FUZZ_CHECK(d.name == "advglue/" + task, d.name);
  });
  const bool has_nul = std::memchr(data + 1, '\0', size - 1) != nullptr;
  MOERB_FUZZ_CHECK(!(listed && has_nul), "advglue_tasks_in accepted a NUL byte");
  MOERB_FUZZ_CHECK(!(read && has_nul), "read_advglue accepted a NUL byte");
  if (read) {
    MOERB_FUZZ_CHECK(listed, "advglue_tasks_in fails on a file read_advglue reads");
    MOERB_FUZZ_CHECK(std::find(present.begin(), present.end(), task) != present.end(), task);
  }
  return 0;
}
