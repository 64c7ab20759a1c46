#pragma once
// Expert dropout: inverted dropout on an expert's hidden units (Srivastava et al. 2014), as in
// Switch Transformers' "expert dropout" (Fedus et al. 2021, §3: a higher rate inside experts than
// in the rest of the model when fine-tuning).
#include "moerb/core/rng.hpp"
#include "moerb/core/detail/workspace.hpp"

namespace moerb::detail {

/// Fills `mask` (n × width) with 0 (probability `rate`) or 1 / (1 − rate). Row r draws from
/// `rng.split(r)`, so the mask is a pure function of the stream, the row and the column, whatever
/// the number of threads.
template <class S, class Block>
void fill_dropout_mask(Block&& mask, double rate, const Rng& rng) {
  const S keep_scale = static_cast<S>(1.0 / (1.0 - rate));
  const Index width = mask.cols();
  for_each_row(mask.rows(), width * 8, [&](Index r) {
    Rng row_rng = rng.split(static_cast<std::uint64_t>(r));
    S* m = mask.row(r).data();
    for (Index j = 0; j < width; ++j) m[j] = row_rng.uniform() < rate ? S(0) : keep_scale;
  });
}

}  // namespace moerb::detail
