#include "moerb/attacks/embedding_gradient.hpp"

#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string_view>
#include <vector>

#include "moerb/core/parameter.hpp"
#include "moerb/models/encoder_classifier.hpp"
#include "support/gradcheck.hpp"
#include "support/model_testing.hpp"
#include "support/router_testing.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_attacks_embedding_gradient {

using namespace moerb;
using namespace moerb::test;

namespace {

template <class FFN>
EncoderClassifier<FFN> make_classifier(const FeedForwardSpec<FFN>& spec,
                                       const TransformerConfig& c) {
  typename EncoderClassifier<FFN>::Options o;
  o.transformer = c;
  o.num_classes = 3;
  o.head_dropout = 0.0;
  EncoderClassifier<FFN> model(o, spec);
  Rng rng(3);
  model.initialize(rng);
  // Larger weights than the default init, so every path carries a visible gradient.
  std::uint64_t seed = 200;
  model.visit_parameters(
      [&](std::string_view, Parameter<double>& p) {
        p.value += random_matrix(p.value.rows(), p.value.cols(), 0.3, seed++);
      },
      "");
  return model;
}

const std::vector<std::int32_t> tiny_labels{0, 2, 1};  // one per sequence of tiny_batch()

// Σ_b −log softmax(logits_b)[label_b] + aux_loss, recomputed from scratch (the objective the
// gradient is of).
template <class Model>
double reference_objective(Model& model, const Matrix<double>& embeddings, const TokenBatch& batch,
                           std::span<const std::int32_t> labels) {
  const Matrix<double>& logits = model.forward_embeddings(embeddings, batch, ForwardContext{});
  double loss = 0;
  for (Index b = 0; b < logits.rows(); ++b) {
    const double lse = std::log(logits.row(b).array().exp().sum());
    loss += lse - logits(b, labels[static_cast<std::size_t>(b)]);
  }
  return loss + static_cast<double>(model.aux_loss());
}

template <class Model>
void check_against_finite_differences(Model& model) {
  const TokenBatch batch = tiny_batch();
  Matrix<double> embeddings = model.embed(batch);
  const EmbeddingGradient<double> g = embedding_gradient_at(model, batch, embeddings, tiny_labels);
  BOOST_TEST(g.gradient.rows() == batch.num_tokens());
  BOOST_TEST(g.gradient.cols() == model.config().d_model);
  BOOST_TEST(g.gradient.norm() > 1e-3);
  const Matrix<double> numeric = numeric_gradient(
      embeddings, [&] { return reference_objective(model, embeddings, batch, tiny_labels); });
  BOOST_TEST(relative_error(numeric, g.gradient) < 1e-6);
  // The reported loss and the per-sequence losses agree with the probabilities.
  double sum = 0;
  for (Index b = 0; b < batch.num_sequences(); ++b) {
    const double p = g.probabilities(b, tiny_labels[static_cast<std::size_t>(b)]);
    BOOST_TEST(g.losses[static_cast<std::size_t>(b)] == -std::log(p),
               boost::test_tools::tolerance(1e-12));
    BOOST_TEST(g.probabilities.row(b).sum() == 1.0, boost::test_tools::tolerance(1e-12));
    sum += g.losses[static_cast<std::size_t>(b)];
  }
  BOOST_TEST(g.loss == sum, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(
      g.loss + g.aux_loss == reference_objective(model, model.embed(batch), batch, tiny_labels),
      boost::test_tools::tolerance(1e-12));
}

/// A white-box victim that is not a moerb model: logits_b = (Σ_t e_t) W over its sequence, so
/// ∂L/∂e_t = (∂L/∂logits_b) Wᵀ exactly. It has no visit_parameters.
struct SumPoolVictim {
  using Scalar = double;
  Matrix<double> table;    ///< vocab × d
  Matrix<double> weights;  ///< d × classes
  Matrix<double> embedded, logits, d_embeddings;
  TokenBatch last;

  [[nodiscard]] Index num_classes() const { return weights.cols(); }
  [[nodiscard]] const Matrix<double>& word_embedding_table() const { return table; }
  const Matrix<double>& embed(const TokenBatch& batch) {
    embedded.resize(batch.num_tokens(), table.cols());
    for (Index t = 0; t < batch.num_tokens(); ++t) {
      embedded.row(t) = table.row(batch.ids[static_cast<std::size_t>(t)]);
    }
    return embedded;
  }
  const Matrix<double>& forward_embeddings(const Matrix<double>& e, const TokenBatch& batch,
                                           const ForwardContext&) {
    last = batch;
    logits.resize(batch.num_sequences(), weights.cols());
    for (Index b = 0; b < batch.num_sequences(); ++b) {
      logits.row(b) =
          e.middleRows(batch.sequences.begin(b), batch.sequences.length(b)).colwise().sum() *
          weights;
    }
    return logits;
  }
  const Matrix<double>& forward(const TokenBatch& batch, const ForwardContext& ctx) {
    const Matrix<double> e = embed(batch);
    return forward_embeddings(e, batch, ctx);
  }
  const Matrix<double>& backward(const Matrix<double>& d_logits, bool) {
    d_embeddings.resize(last.num_tokens(), table.cols());
    for (Index b = 0; b < last.num_sequences(); ++b) {
      for (Index t = last.sequences.begin(b); t < last.sequences.end(b); ++t) {
        d_embeddings.row(t) = d_logits.row(b) * weights.transpose();
      }
    }
    return d_embeddings;
  }
};
static_assert(WhiteBoxClassifierVictim<SumPoolVictim>);

}  // namespace

BOOST_AUTO_TEST_SUITE(embedding_gradient)

BOOST_AUTO_TEST_CASE(matches_finite_differences_for_a_moe_classifier) {
  const TransformerConfig c = tiny_config();
  auto model = make_classifier(tiny_moe_spec<double>(c), c);
  check_against_finite_differences(model);
}

BOOST_AUTO_TEST_CASE(matches_finite_differences_for_a_dense_classifier) {
  const TransformerConfig c = tiny_config();
  auto model = make_classifier(tiny_dense_spec<double>(c), c);
  check_against_finite_differences(model);
  BOOST_TEST(moerb::embedding_gradient(model, tiny_batch(), tiny_labels).aux_loss == 0.0);
}

BOOST_AUTO_TEST_CASE(own_embeddings_give_the_same_gradient_as_given_ones) {
  const TransformerConfig c = tiny_config();
  auto model = make_classifier(tiny_moe_spec<double>(c), c);
  const TokenBatch batch = tiny_batch();
  const Matrix<double> embeddings = model.embed(batch);
  const auto own = moerb::embedding_gradient(model, batch, tiny_labels);
  const auto given = embedding_gradient_at(model, batch, embeddings, tiny_labels);
  BOOST_TEST((own.gradient - given.gradient).cwiseAbs().maxCoeff() == 0.0);
  BOOST_TEST(own.loss == given.loss);
  // A perturbation changes the loss and the gradient. (Not a constant shift of every entry: the
  // pre-norm blocks and the final LayerNorm remove a constant added to a row, so the loss would
  // stay the same up to rounding.)
  Matrix<double> shifted = embeddings;
  for (Index j = 0; j < shifted.cols(); ++j)
    shifted.col(j).array() += 0.1 * static_cast<double>(j % 3);
  const auto moved = embedding_gradient_at(model, batch, shifted, tiny_labels);
  BOOST_TEST(moved.loss != own.loss);
}

BOOST_AUTO_TEST_CASE(the_loss_is_summed_so_each_sequence_gets_its_own_gradient) {
  // A dense model: no auxiliary loss couples the sequences of the batch.
  const TransformerConfig c = tiny_config();
  auto model = make_classifier(tiny_dense_spec<double>(c), c);
  const TokenBatch batch = tiny_batch();
  const auto all = moerb::embedding_gradient(model, batch, tiny_labels);
  for (Index b = 0; b < batch.num_sequences(); ++b) {
    const TokenBatch one = batch.slice(b, 1);
    const std::vector<std::int32_t> label{tiny_labels[static_cast<std::size_t>(b)]};
    const auto alone = moerb::embedding_gradient(model, one, label);
    const Matrix<double> rows =
        all.gradient.middleRows(batch.sequences.begin(b), batch.sequences.length(b));
    BOOST_TEST(relative_error(rows, alone.gradient) < 1e-12);
    BOOST_TEST(alone.loss == all.losses[static_cast<std::size_t>(b)],
               boost::test_tools::tolerance(1e-12));
  }
}

BOOST_AUTO_TEST_CASE(parameter_gradients_are_zeroed_or_accumulated_and_values_kept) {
  const TransformerConfig c = tiny_config();
  auto model = make_classifier(tiny_moe_spec<double>(c), c);
  std::vector<Matrix<double>> before;
  model.visit_parameters([&](std::string_view, Parameter<double>& p) { before.push_back(p.value); },
                         "");
  const auto grad_norm = [&] {
    double s = 0;
    model.visit_parameters([&](std::string_view, Parameter<double>& p) { s += p.grad.norm(); }, "");
    return s;
  };
  (void)moerb::embedding_gradient(model, tiny_batch(), tiny_labels);
  BOOST_TEST(grad_norm() == 0.0);
  (void)moerb::embedding_gradient(model, tiny_batch(), tiny_labels,
                                  ParameterGradients::accumulated);
  const double once = grad_norm();
  BOOST_TEST(once > 0.0);
  (void)moerb::embedding_gradient(model, tiny_batch(), tiny_labels,
                                  ParameterGradients::accumulated);
  BOOST_TEST(grad_norm() > once);
  std::size_t i = 0;
  model.visit_parameters(
      [&](std::string_view, Parameter<double>& p) {
        BOOST_TEST((p.value - before[i++]).norm() == 0.0);
      },
      "");
}

BOOST_AUTO_TEST_CASE(a_victim_that_is_not_a_moerb_model) {
  SumPoolVictim v;
  v.table = random_matrix(9, 4, 1.0, 31);
  v.weights = random_matrix(4, 3, 1.0, 32);
  TokenBatch batch;
  batch.push_back(std::vector<std::int32_t>{1, 4, 8});
  batch.push_back(std::vector<std::int32_t>{5, 5});
  const std::vector<std::int32_t> labels{2, 0};
  const auto g = moerb::embedding_gradient(v, batch, labels);
  // Hand-computed: (p_b − onehot(label_b)) Wᵀ for each token of sequence b.
  for (Index b = 0; b < 2; ++b) {
    Matrix<double> d = g.probabilities.row(b);
    d(0, labels[static_cast<std::size_t>(b)]) -= 1.0;
    const Matrix<double> expected = d * v.weights.transpose();
    for (Index t = batch.sequences.begin(b); t < batch.sequences.end(b); ++t) {
      BOOST_TEST(relative_error(g.gradient.row(t), expected) < 1e-14);
    }
  }
  BOOST_TEST(g.aux_loss == 0.0);
}

BOOST_AUTO_TEST_CASE(bad_input_throws) {
  const TransformerConfig c = tiny_config();
  auto model = make_classifier(tiny_dense_spec<double>(c), c);
  const TokenBatch batch = tiny_batch();
  const std::vector<std::int32_t> too_few{0, 1};
  const std::vector<std::int32_t> out_of_range{0, 3, 1};
  const std::vector<std::int32_t> negative{0, -1, 1};
  BOOST_CHECK_THROW((void)moerb::embedding_gradient(model, batch, too_few), moerb::error);
  BOOST_CHECK_THROW((void)moerb::embedding_gradient(model, batch, out_of_range), moerb::error);
  BOOST_CHECK_THROW((void)moerb::embedding_gradient(model, batch, negative), moerb::error);
  Matrix<double> wrong_shape = Matrix<double>::Zero(batch.num_tokens() + 1, c.d_model);
  BOOST_CHECK_THROW((void)embedding_gradient_at(model, batch, wrong_shape, tiny_labels),
                    moerb::error);
  Matrix<double> nan = model.embed(batch);
  nan(2, 3) = std::numeric_limits<double>::quiet_NaN();
  BOOST_CHECK_THROW((void)embedding_gradient_at(model, batch, nan, tiny_labels), moerb::error);
  BOOST_CHECK_THROW(
      (void)moerb::embedding_gradient(model, TokenBatch{}, std::vector<std::int32_t>{}),
      moerb::error);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_attacks_embedding_gradient
