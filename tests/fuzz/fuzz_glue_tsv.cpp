// Fuzzes read_glue_tsv (include/moerb/data/glue_tsv.hpp) with the GLUE presets.
//
// Input: byte 0 picks the preset (bits 4-7, modulo 7: SST-2, MNLI, RTE, QNLI, QQP, MRPC, WNLI) and
// the ReadOptions (bits 0-3, see fuzz_dataset.hpp); the rest is the TSV text, read through the
// stream overload. Checks: the reader succeeds or throws moerb::error, and the data set it returns
// is consistent (check_dataset).
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "fuzz_dataset.hpp"
#include "moerb/data/glue_tsv.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  using F = moerb::GlueTsvFields;
  static const F presets[] = {F::sst2(), F::mnli(), F::rte(), F::qnli(),
                              F::qqp(),  F::mrpc(), F::wnli()};
  const F& fields = presets[(data[0] >> 4) % 7];
  const moerb::ReadOptions options = moerb::fuzz::read_options(data[0]);
  std::istringstream in{std::string(moerb::fuzz::as_text(data + 1, size - 1))};
  moerb::ReadReport report;
  moerb::fuzz::parses([&] {
    const moerb::TextDataset d = moerb::read_glue_tsv(in, "fuzz.tsv", fields, options, &report);
    moerb::fuzz::check_dataset(d, options, report);
  });
  return 0;
}
