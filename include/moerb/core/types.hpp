#pragma once
// Basic array types shared by every moerb header.
//
// Activations are row-major `tokens × features` matrices so that one token is one contiguous row:
// gathers and scatters for expert dispatch copy whole rows, and Eigen's GEMM reads them as blocks.
#include <Eigen/Core>
#include <concepts>
#include <cstdint>

namespace moerb {

using Index = Eigen::Index;

/// Row-major dense matrix (rows are tokens for activations).
template <class Scalar>
using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// Column vector.
template <class Scalar>
using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;

/// Row-major matrix of indices (e.g. `tokens × k` selected experts).
using IndexMatrix = Eigen::Matrix<Index, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// Read-only view of a row-major matrix, for non-template boundaries.
template <class Scalar>
using MatrixCRef = Eigen::Ref<const Matrix<Scalar>>;

/// Writable view of a row-major matrix.
template <class Scalar>
using MatrixRef = Eigen::Ref<Matrix<Scalar>>;

template <class T>
concept FloatingScalar = std::same_as<T, float> || std::same_as<T, double>;

}  // namespace moerb
