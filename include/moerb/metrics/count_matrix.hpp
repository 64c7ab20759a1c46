#pragma once
// CountMatrix: a dense matrix of example counts (a confusion matrix, expert × label counts).
#include <cstdint>

#include "moerb/core/types.hpp"

namespace moerb {

/// Row-major matrix of counts; exact under merging (integer addition).
using CountMatrix = Eigen::Matrix<std::int64_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

}  // namespace moerb
