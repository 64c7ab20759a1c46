#pragma once
// rows × tableᵀ for the gradient attacks: HotFlip's first-order estimates, GCG's one-hot token
// gradient and the router attack's token gains all multiply a few gradient rows (n × d_model, n
// from one to a few hundred) by the transposed embedding table (d_model × vocab).
//
// Why not one Eigen product: with n ≈ 15 rows and a vocabulary of thousands, Eigen's GEMM spends
// most of its time packing the table, and when it parallelises such a short, wide product its
// threads each pack the whole table, so two threads were slower than one (AVX-512 machine,
// d_model 128, vocabulary 5,000: 0.41 ms on two threads, 0.23 ms on one). Here the vocabulary is
// cut into fixed blocks of `table_block_rows` words, handed out to the OpenMP threads; each block
// is one single-threaded product, so a thread packs only its own part of the table: 0.14 ms on
// two threads. The block boundaries do not depend on the thread count, and every block is computed
// the same way by whichever thread runs it, so the result is bit-identical for any number of
// threads, on either GEMM engine. (Inside an active parallel region Eigen and OpenBLAS's OpenMP
// build compute on the calling thread anyway; a team of one thread is not such a region, so each
// block also runs under a SerialScope, or OpenBLAS would split a block over its own threads and
// round differently.)
#include <Eigen/Core>
#include <algorithm>
#include <exception>

#include "moerb/core/detail/serial_scope.hpp"
#include "moerb/core/types.hpp"

namespace moerb::detail::attacks {

using moerb::detail::SerialScope;

/// Words per block of the table: 256 rows of a d_model-128 float table are 128 KiB, which stays in
/// a core's L2 cache while its product runs (256 was the fastest of 128-2,560 in the measurement
/// above).
inline constexpr Index table_block_rows = 256;

/// out (rows.rows() × table.rows()) = rows · tableᵀ, over OpenMP threads in fixed vocabulary
/// blocks. The caller checks that rows.cols() == table.cols().
template <class S>
void times_table_transposed(const Eigen::Ref<const Matrix<S>>& rows, const Matrix<S>& table,
                            Matrix<S>& out) {
  const Index vocab = table.rows();
  out.resize(rows.rows(), vocab);
  if (rows.rows() == 0 || vocab == 0) return;
  const Index blocks = (vocab + table_block_rows - 1) / table_block_rows;
  const auto block_product = [&](Index b) {
    const Index begin = b * table_block_rows;
    const Index len = std::min(table_block_rows, vocab - begin);
    out.middleCols(begin, len).noalias() = rows * table.middleRows(begin, len).transpose();
  };
#ifdef _OPENMP
  const int threads = Eigen::nbThreads();
  std::exception_ptr failure;
#pragma omp parallel for schedule(static) num_threads(threads)
  for (Index b = 0; b < blocks; ++b) {
    try {
      const SerialScope one_thread(true);
      block_product(b);
    } catch (...) {
#pragma omp critical(moerb_times_table_transposed)
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
#else
  for (Index b = 0; b < blocks; ++b) block_product(b);
#endif
}

}  // namespace moerb::detail::attacks
