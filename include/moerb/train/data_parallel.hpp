#pragma once
// DataParallel<Model>: synchronous data-parallel gradient computation across the machine's cores
// with a deterministic reduction order.
//
// Each worker owns a replica of the model. A step (1) copies the master's parameter values,
// frozen flags and buffers into every replica, (2) runs the caller's work on shard s with replica
// s, all shards at once (OpenMP threads; layers inside a worker run single-threaded), and
// (3) adds Σ_s weight_s · grad_s into the master's gradients, summing shards in order
// s = 0, 1, … for every element. The result depends on the number of shards, never on thread
// timing, so a seed and a thread count give the same weights bit for bit.
//
// A shard's objective includes its MoE layers' auxiliary losses computed on the shard's own
// tokens (as per-device load balancing in distributed MoE training): with those losses on, the
// gradient depends on how the batch is split, i.e. on the number of workers.
#include <cstddef>
#include <exception>
#include <functional>
#include <span>
#include <string_view>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "moerb/core/error.hpp"
#include "moerb/core/parameter.hpp"

namespace moerb {

/// Cores OpenMP would use (1 without OpenMP).
inline int available_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

/// What DataParallel::accumulate does with the master's gradients.
enum class MasterGradients {
  /// master.grad += Σ_s w_s · grad_s (gradient accumulation over micro-batches).
  add,
  /// master.grad = Σ_s w_s · grad_s, bit for bit what zero_grad followed by `add` gives, without
  /// the pass that zeroes them first (the first micro-batch of a step); frozen parameters'
  /// gradients are set to zero.
  replace,
};

template <class Model>
class DataParallel {
 public:
  using Scalar = typename Model::Scalar;
  using S = Scalar;

  /// `num_workers` replicas of `master` (0 = available_threads()). `master` must outlive this.
  DataParallel(Model& master, int num_workers) {
    const int n = num_workers > 0 ? num_workers : available_threads();
    replicas_.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) replicas_.push_back(master);
    collect(master, master_params_, master_buffers_);
    replica_params_.resize(replicas_.size());
    replica_buffers_.resize(replicas_.size());
    for (std::size_t i = 0; i < replicas_.size(); ++i) {
      collect(replicas_[i], replica_params_[i], replica_buffers_[i]);
      MOERB_REQUIRE(replica_params_[i].size() == master_params_.size(),
                    "DataParallel: a replica has a different parameter list");
    }
  }
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  [[nodiscard]] int num_workers() const { return static_cast<int>(replicas_.size()); }
  Model& replica(int i) { return replicas_[static_cast<std::size_t>(i)]; }

  /// Runs `work(replica, shard)` for shard = 0 .. weights.size()−1 (at most num_workers()) on
  /// freshly synchronised replicas with zeroed gradients, then adds Σ weight_s · grad_s to the
  /// master's gradients (`MasterGradients::replace`: sets them to it). `work` returns the shard's
  /// loss; the result is Σ weight_s · loss_s.
  template <class Work>
  double accumulate(std::span<const double> weights, Work&& work,
                    MasterGradients master = MasterGradients::add) {
    const auto n = weights.size();
    MOERB_REQUIRE(n >= 1 && n <= replicas_.size(), "DataParallel::accumulate: ", n,
                  " shards, expected 1 ..", replicas_.size());
    std::vector<double> losses(n, 0.0);
    std::vector<std::exception_ptr> errors(n);
    // Each worker synchronises its own replica (in parallel, and the copies land in the cache of
    // the core that reads them next); a single worker splits the copying over every thread.
    const auto run = [&](std::size_t s) {
      try {
        synchronize(s, /*parallel=*/n == 1);
        losses[s] = work(replicas_[s], static_cast<Index>(s));
      } catch (...) {
        errors[s] = std::current_exception();
      }
    };
    if (n == 1) {
      run(0);  // the layers may use every core themselves
    } else {
#ifdef _OPENMP
#pragma omp parallel for num_threads(static_cast <int>(n)) schedule(static, 1)
#endif
      for (std::size_t s = 0; s < n; ++s) run(s);
    }
    for (auto& e : errors) {
      if (e) std::rethrow_exception(e);
    }
    reduce(weights, master);
    double loss = 0;
    for (std::size_t s = 0; s < n; ++s) loss += weights[s] * losses[s];
    return loss;
  }

 private:
  static void collect(Model& m, std::vector<Parameter<S>*>& params,
                      std::vector<Matrix<S>*>& buffers) {
    m.visit_parameters([&](std::string_view, Parameter<S>& p) { params.push_back(&p); }, "");
    if constexpr (requires { m.visit_buffers([](std::string_view, Matrix<S>&) {}, ""); }) {
      m.visit_buffers([&](std::string_view, Matrix<S>& b) { buffers.push_back(&b); }, "");
    }
  }

  // Replica r ← the master's parameter values, frozen flags and buffers, with zeroed gradients;
  // with `parallel`, the parameters are spread over OpenMP threads.
  void synchronize(std::size_t r, bool parallel) {
    auto& params = replica_params_[r];
    const auto P = static_cast<std::ptrdiff_t>(params.size());
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) if (parallel)
#endif
    for (std::ptrdiff_t i = 0; i < P; ++i) {
      const auto k = static_cast<std::size_t>(i);
      params[k]->value = master_params_[k]->value;
      params[k]->frozen = master_params_[k]->frozen;
      params[k]->grad.setZero();
    }
    auto& buffers = replica_buffers_[r];
    for (std::size_t i = 0; i < buffers.size(); ++i) *buffers[i] = *master_buffers_[i];
  }

  // master.grad += Σ_s w_s · grad_s (or = with `replace`), shards summed in order for every
  // element; parameters are spread over threads (each element is still summed in the same order).
  void reduce(std::span<const double> weights, MasterGradients master) {
    const auto P = static_cast<std::ptrdiff_t>(master_params_.size());
    const bool replace = master == MasterGradients::replace;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1)
#endif
    for (std::ptrdiff_t i = 0; i < P; ++i) {
      const auto k = static_cast<std::size_t>(i);
      Parameter<S>& m = *master_params_[k];
      if (m.frozen) {
        if (replace) m.grad.setZero();
        continue;
      }
      for (std::size_t s = 0; s < weights.size(); ++s) {
        const auto& g = replica_params_[s][k]->grad;
        if (s == 0 && replace) {
          // + 0 keeps zero_grad-then-add's result to the bit: 0 + (−0) is +0, and so is −0 + 0.
          m.grad.array() = static_cast<S>(weights[s]) * g.array() + S(0);
        } else {
          m.grad.noalias() += static_cast<S>(weights[s]) * g;
        }
      }
    }
  }

  std::vector<Model> replicas_;
  std::vector<Parameter<S>*> master_params_;
  std::vector<Matrix<S>*> master_buffers_;
  std::vector<std::vector<Parameter<S>*>> replica_params_;
  std::vector<std::vector<Matrix<S>*>> replica_buffers_;
};

}  // namespace moerb
