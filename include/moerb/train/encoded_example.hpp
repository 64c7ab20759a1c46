#pragma once
// EncodedExample: a tokenized classification example, what ClassifierTrainer consumes.
#include <cstdint>
#include <vector>

namespace moerb {

/// Token ids (non-empty), optional segment ids (same length, or empty) and the class label.
struct EncodedExample {
  std::vector<std::int32_t> ids;
  std::vector<std::int32_t> segments;
  std::int32_t label = -1;
};

}  // namespace moerb
