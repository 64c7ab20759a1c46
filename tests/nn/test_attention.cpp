// Tests for include/moerb/nn/attention.hpp, including the golden files of an independent PyTorch
// reference (tests/reference/make_golden_attention.py).
#include <stdexcept>
#define EIGEN_RUNTIME_NO_MALLOC
#define eigen_assert(x)                                                \
  do {                                                                 \
    if (!(x)) throw std::runtime_error("Eigen assertion failed: " #x); \
  } while (false)

#include <Eigen/Core>
#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "moerb/nn/attention.hpp"
#include "support/golden.hpp"
#include "support/gradcheck.hpp"
#include "support/messages.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_nn_attention {

using moerb::ForwardContext;
using moerb::Index;
using moerb::Rng;
using moerb::SequenceBatch;
template <class S>
using Matrix = moerb::Matrix<S>;
template <class S>
using MHA = moerb::MultiHeadAttention<S>;
using Options = MHA<double>::Options;
using Mask = std::vector<std::uint8_t>;

namespace {

using moerb::test::message_has;

Matrix<double> random_matrix(Index rows, Index cols, Rng& rng, double lo = -1.0, double hi = 1.0) {
  Matrix<double> m(rows, cols);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = rng.uniform(lo, hi);
  return m;
}

template <class S>
MHA<S> make_layer(const typename MHA<S>::Options& o, std::uint64_t seed = 1) {
  MHA<S> layer(o);
  Rng rng(seed);
  layer.initialize(rng);
  return layer;
}

double max_abs(const Matrix<double>& m) {
  return m.size() == 0 ? 0.0 : m.cwiseAbs().maxCoeff();
}

/// The parameter gradients of `layer` by name.
std::vector<Matrix<double>> grads(MHA<double>& layer) {
  std::vector<Matrix<double>> g;
  layer.visit_parameters(
      [&](std::string_view, moerb::Parameter<double>& p) { g.push_back(p.grad); }, "");
  return g;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(attention)

BOOST_AUTO_TEST_CASE(parameters_names_shapes_and_initialization) {
  auto layer = make_layer<double>({.d_model = 12, .num_heads = 3});
  std::vector<std::string> names;
  std::vector<std::pair<Index, Index>> shapes;
  layer.visit_parameters(
      [&](std::string_view n, moerb::Parameter<double>& p) {
        names.emplace_back(n);
        shapes.emplace_back(p.value.rows(), p.value.cols());
        // nn.Linear default: U(±1/√fan_in), fan_in = d_model.
        BOOST_TEST(p.value.cwiseAbs().maxCoeff() <= 1.0 / std::sqrt(12.0));
        BOOST_TEST(p.value.cwiseAbs().maxCoeff() > 0.5 / std::sqrt(12.0));
      },
      "blocks.0.attn");
  BOOST_TEST(names == (std::vector<std::string>{"blocks.0.attn.w_qkv", "blocks.0.attn.b_qkv",
                                                "blocks.0.attn.w_out", "blocks.0.attn.b_out"}),
             boost::test_tools::per_element());
  BOOST_TEST(
      (shapes == std::vector<std::pair<Index, Index>>{{12, 36}, {1, 36}, {12, 12}, {1, 12}}));
  BOOST_TEST(moerb::parameter_count(layer) == MHA<double>::parameter_count(layer.options()));
  BOOST_TEST(MHA<double>::parameter_count(layer.options()) == 4 * 144 + 4 * 12);
  BOOST_TEST(layer.head_dim() == 4);
  BOOST_TEST(layer.flops_per_token(10.0) == 8.0 * 144 + 4.0 * 12 * 10);
  BOOST_TEST(layer.rotary() == nullptr);

  MHA<double> no_bias({.d_model = 8, .num_heads = 2, .bias = false, .rotary = true});
  names.clear();
  no_bias.visit_parameters([&](std::string_view n, auto&) { names.emplace_back(n); }, "");
  BOOST_TEST(names == (std::vector<std::string>{"w_qkv", "w_out"}),
             boost::test_tools::per_element());
  BOOST_TEST(no_bias.rotary() != nullptr);
  BOOST_TEST(no_bias.rotary()->head_dim() == 4);
}

BOOST_AUTO_TEST_CASE(gradients_match_finite_differences) {
  struct Case {
    std::string name;
    Options options;
    Mask key_valid;
    bool training = false;
    std::string frozen;
  };
  // Sequences of lengths 3, 1 and 4 (8 tokens).
  const std::vector<Case> cases = {
      {"bidirectional", {.d_model = 8, .num_heads = 2}, {}, false, ""},
      {"causal", {.d_model = 8, .num_heads = 2, .causal = true}, {}, false, ""},
      {"rotary",
       {.d_model = 8, .num_heads = 2, .rotary = true, .rotary_base = 50.0},
       {},
       false,
       ""},
      {"rotary causal",
       {.d_model = 8, .num_heads = 2, .causal = true, .rotary = true},
       {},
       false,
       ""},
      // Sequence 1 (one token) has no attendable key.
      {"key mask", {.d_model = 8, .num_heads = 2}, {1, 0, 1, 0, 1, 1, 0, 1}, false, ""},
      // Query 0 of sequence 0 has no attendable key (its only key is masked).
      {"causal key mask",
       {.d_model = 8, .num_heads = 4, .causal = true},
       {0, 1, 1, 1, 1, 0, 1, 1},
       false,
       ""},
      {"no bias", {.d_model = 8, .num_heads = 1, .bias = false}, {}, false, ""},
      {"dropout",
       {.d_model = 8, .num_heads = 2, .causal = true, .attention_dropout = 0.3},
       {},
       true,
       ""},
      {"frozen", {.d_model = 8, .num_heads = 2, .rotary = true}, {}, false, "w_qkv"},
  };
  const auto batch = SequenceBatch::from_lengths({3, 1, 4});
  for (const auto& c : cases) {
    BOOST_TEST_CONTEXT("case " << c.name) {
      auto layer = make_layer<double>(c.options, 2);
      if (!c.frozen.empty()) moerb::set_frozen(layer, c.frozen);
      Rng rng(3);
      Matrix<double> x = random_matrix(8, 8, rng);
      const Matrix<double> G = random_matrix(8, 8, rng);
      const ForwardContext ctx{.training = c.training, .rng = Rng(4)};
      auto loss = [&] {
        const Matrix<double>& y = layer.forward(x, batch, ctx, c.key_valid);
        return (y.array() * G.array()).sum();
      };
      auto backward = [&](Matrix<double>& dx) {
        layer.forward(x, batch, ctx, c.key_valid);
        dx = layer.backward(x, G);
      };
      const auto results = moerb::test::check_gradients(layer, x, loss, backward);
      BOOST_TEST(results.size() >= 3u);
    }
  }
}

BOOST_AUTO_TEST_CASE(packed_sequences_equal_separate_runs) {
  // Causal + rotary: positions restart in every sequence and nothing leaks across sequences.
  auto layer = make_layer<double>({.d_model = 8, .num_heads = 2, .causal = true, .rotary = true});
  Rng rng(5);
  const Matrix<double> x = random_matrix(8, 8, rng);
  const Matrix<double> G = random_matrix(8, 8, rng);
  moerb::zero_grad(layer);
  const Matrix<double> y_packed = layer.forward(x, SequenceBatch::from_lengths({5, 3}), {});
  const Matrix<double> dx_packed = layer.backward(x, G);
  const auto g_packed = grads(layer);

  moerb::zero_grad(layer);
  const Matrix<double> xa = x.topRows(5), xb = x.bottomRows(3);
  const Matrix<double> ya = layer.forward(xa, SequenceBatch::single(5), {});
  const Matrix<double> dxa = layer.backward(xa, G.topRows(5));
  const Matrix<double> yb = layer.forward(xb, SequenceBatch::single(3), {});
  const Matrix<double> dxb = layer.backward(xb, G.bottomRows(3));
  const auto g_separate = grads(layer);  // accumulated over both runs

  BOOST_TEST(max_abs(y_packed.topRows(5) - ya) < 1e-13);
  BOOST_TEST(max_abs(y_packed.bottomRows(3) - yb) < 1e-13);
  BOOST_TEST(max_abs(dx_packed.topRows(5) - dxa) < 1e-13);
  BOOST_TEST(max_abs(dx_packed.bottomRows(3) - dxb) < 1e-13);
  for (std::size_t i = 0; i < g_packed.size(); ++i) {
    BOOST_TEST(max_abs(g_packed[i] - g_separate[i]) < 1e-12, "parameter " << i);
  }
}

BOOST_AUTO_TEST_CASE(masked_padding_equals_the_unpadded_batch) {
  // Sequences of 5 and 3 real tokens, padded to 7 with garbage rows whose keys are masked.
  const std::vector<Options> configs = {
      {.d_model = 8, .num_heads = 2},
      {.d_model = 8, .num_heads = 2, .causal = true, .rotary = true},
  };
  for (const auto& o : configs) {
    BOOST_TEST_CONTEXT("causal " << o.causal) {
      auto layer = make_layer<double>(o, 6);
      Rng rng(7);
      const Matrix<double> x = random_matrix(8, 8, rng);
      const Matrix<double> G = random_matrix(8, 8, rng);
      Matrix<double> xp = random_matrix(14, 8, rng, -30.0, 30.0);
      Matrix<double> Gp = Matrix<double>::Zero(14, 8);
      xp.topRows(5) = x.topRows(5);
      xp.middleRows(7, 3) = x.bottomRows(3);
      Gp.topRows(5) = G.topRows(5);
      Gp.middleRows(7, 3) = G.bottomRows(3);
      Mask valid(14, 0);
      for (Index i = 0; i < 5; ++i) valid[static_cast<std::size_t>(i)] = 1;
      for (Index i = 7; i < 10; ++i) valid[static_cast<std::size_t>(i)] = 1;

      moerb::zero_grad(layer);
      const Matrix<double> y = layer.forward(x, SequenceBatch::from_lengths({5, 3}), {});
      const Matrix<double> dx = layer.backward(x, G);
      const auto g = grads(layer);
      moerb::zero_grad(layer);
      const Matrix<double> yp = layer.forward(xp, SequenceBatch::from_lengths({7, 7}), {}, valid);
      const Matrix<double> dxp = layer.backward(xp, Gp);
      const auto gp = grads(layer);

      BOOST_TEST(max_abs(yp.topRows(5) - y.topRows(5)) < 1e-13);
      BOOST_TEST(max_abs(yp.middleRows(7, 3) - y.bottomRows(3)) < 1e-13);
      BOOST_TEST(max_abs(dxp.topRows(5) - dx.topRows(5)) < 1e-13);
      BOOST_TEST(max_abs(dxp.middleRows(7, 3) - dx.bottomRows(3)) < 1e-13);
      // Masked pads neither influence nor receive gradient.
      BOOST_TEST(max_abs(dxp.middleRows(5, 2)) == 0.0);
      BOOST_TEST(max_abs(dxp.bottomRows(4)) == 0.0);
      for (std::size_t i = 0; i < g.size(); ++i) {
        BOOST_TEST(max_abs(g[i] - gp[i]) < 1e-12, "parameter " << i);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(causal_output_does_not_depend_on_later_tokens) {
  auto layer = make_layer<double>({.d_model = 8, .num_heads = 2, .causal = true, .rotary = true});
  Rng rng(8);
  const Matrix<double> x = random_matrix(6, 8, rng);
  const auto batch = SequenceBatch::single(6);
  const Matrix<double> y = layer.forward(x, batch, {});
  for (Index t = 0; t < 5; ++t) {
    Matrix<double> changed = x;
    changed.bottomRows(5 - t) = random_matrix(5 - t, 8, rng, -5.0, 5.0);
    const Matrix<double>& y2 = layer.forward(changed, batch, {});
    BOOST_TEST(max_abs(y2.topRows(t + 1) - y.topRows(t + 1)) < 1e-14, "t = " << t);
    BOOST_TEST(max_abs(y2.bottomRows(5 - t) - y.bottomRows(5 - t)) > 1e-6, "t = " << t);
  }
  // Bidirectional attention does depend on later tokens.
  auto bidir = make_layer<double>({.d_model = 8, .num_heads = 2});
  const Matrix<double> yb = bidir.forward(x, batch, {});
  Matrix<double> changed = x;
  changed.row(5).setConstant(2.0);
  BOOST_TEST(max_abs(bidir.forward(changed, batch, {}).row(0) - yb.row(0)) > 1e-6);
}

// Decoding with a key-value cache: tokens fed in chunks get the rows of a whole-sequence forward.
BOOST_AUTO_TEST_CASE(cached_forward_matches_the_whole_sequence) {
  for (const bool rotary : {false, true}) {
    auto layer =
        make_layer<double>({.d_model = 8, .num_heads = 2, .causal = true, .rotary = rotary});
    Rng rng(21);
    const Matrix<double> x = random_matrix(9, 8, rng);
    const Matrix<double> whole = layer.forward(x, SequenceBatch::single(9), {});
    MHA<double>::KeyValueCache cache;
    Index begin = 0;
    for (const Index chunk : {4, 1, 3, 1}) {
      const Matrix<double> part = x.middleRows(begin, chunk);
      const Matrix<double>& y = layer.forward_cached(part, cache);
      BOOST_TEST(max_abs(y - whole.middleRows(begin, chunk)) < 1e-14,
                 "rotary " << rotary << ", tokens " << begin << "+" << chunk);
      begin += chunk;
      BOOST_TEST(cache.length == begin);
    }
    // It invalidates backward (which needs a whole-sequence forward).
    BOOST_CHECK_THROW((void)layer.backward(x, whole), moerb::error);
  }
  Rng rng(22);
  const Matrix<double> x = random_matrix(2, 8, rng);
  auto bidirectional = make_layer<double>({.d_model = 8, .num_heads = 2});
  MHA<double>::KeyValueCache cache;
  BOOST_CHECK_EXCEPTION((void)bidirectional.forward_cached(x, cache), moerb::error,
                        message_has({"forward_cached", "causal"}));
  auto causal = make_layer<double>({.d_model = 8, .num_heads = 2, .causal = true});
  cache.keys.resize(4, 6);
  cache.values.resize(4, 6);
  cache.length = 3;
  BOOST_CHECK_EXCEPTION((void)causal.forward_cached(x, cache), moerb::error,
                        message_has({"cache", "d_model = 8"}));
}

BOOST_AUTO_TEST_CASE(probabilities_follow_the_masks) {
  auto layer = make_layer<double>({.d_model = 8, .num_heads = 2, .causal = true});
  Rng rng(9);
  const Matrix<double> x = random_matrix(7, 8, rng);
  // Sequence 0: 4 tokens, token 0 masked (so query 0 has no attendable key) and token 2 masked.
  const Mask valid = {0, 1, 0, 1, 1, 1, 1};
  const auto batch = SequenceBatch::from_lengths({4, 3});
  const Matrix<double>& y = layer.forward(x, batch, {}, valid);
  for (Index h = 0; h < 2; ++h) {
    const Matrix<double> p = layer.attention_probabilities(0, h);
    BOOST_TEST(p.rows() == 4);
    BOOST_TEST(p.row(0).isZero(0.0));
    BOOST_TEST(p.col(0).isZero(0.0));
    BOOST_TEST(p.col(2).isZero(0.0));
    for (Index i = 1; i < 4; ++i) BOOST_TEST(std::abs(p.row(i).sum() - 1.0) < 1e-14);
    BOOST_TEST(p(1, 1) == 1.0);  // query 1 attends only key 1
    for (Index i = 0; i < 4; ++i) {
      for (Index j = i + 1; j < 4; ++j) BOOST_TEST(p(i, j) == 0.0);
    }
    const Matrix<double> p1 = layer.attention_probabilities(1, h);
    BOOST_TEST(p1.rows() == 3);
    BOOST_TEST(p1(0, 0) == 1.0);
  }
  // A query with no attendable key has a zero attention output: y = b_out.
  BOOST_TEST(max_abs(y.row(0) - layer.b_out().value) < 1e-15);
}

BOOST_AUTO_TEST_CASE(huge_inputs_stay_finite) {
  auto check = [](auto tag, const Options& od) {
    using S = decltype(tag);
    typename MHA<S>::Options o{
        .d_model = od.d_model, .num_heads = od.num_heads, .causal = od.causal, .rotary = od.rotary};
    auto layer = make_layer<S>(o, 10);
    Rng rng(11);
    const Matrix<S> x = (random_matrix(9, 8, rng) * 1e4).cast<S>();
    const Matrix<S> G = random_matrix(9, 8, rng).cast<S>();
    const auto batch = SequenceBatch::from_lengths({6, 3});
    const Matrix<S>& y = layer.forward(x, batch, {});
    BOOST_TEST(y.allFinite());
    for (Index b = 0; b < 2; ++b) {
      for (Index h = 0; h < 2; ++h) {
        const auto p = layer.attention_probabilities(b, h);
        BOOST_TEST(p.allFinite());
        BOOST_TEST((p.rowwise().sum().array() - S(1)).abs().maxCoeff() < S(1e-5));
      }
    }
    BOOST_TEST(layer.backward(x, G).allFinite());
  };
  check(double{}, {.d_model = 8, .num_heads = 2});
  check(float{}, {.d_model = 8, .num_heads = 2});
  check(float{}, {.d_model = 8, .num_heads = 2, .causal = true, .rotary = true});

  // Logits that overflow to inf are reported instead of producing NaN.
  auto layer = make_layer<float>({.d_model = 8, .num_heads = 2}, 10);
  const Matrix<float> x = Matrix<float>::Constant(3, 8, 1e25f);
  BOOST_CHECK_EXCEPTION(
      layer.forward(x, SequenceBatch::single(3), {}), moerb::error,
      message_has({"MultiHeadAttention::forward", "sequence 0, head 0", "overflowed"}));
}

BOOST_AUTO_TEST_CASE(dropout_is_deterministic_and_off_in_evaluation) {
  auto layer = make_layer<double>({.d_model = 8, .num_heads = 2, .attention_dropout = 0.4});
  auto plain = layer;
  plain.set_attention_dropout(0.0);
  Rng rng(12);
  const Matrix<double> x = random_matrix(10, 8, rng);
  const auto batch = SequenceBatch::from_lengths({6, 4});
  const ForwardContext train{.training = true, .rng = Rng(13)};
  const Matrix<double> y1 = layer.forward(x, batch, train);
  const Matrix<double> p1 = layer.attention_probabilities(0, 1);
  const Matrix<double> y2 = layer.forward(x, batch, train);
  BOOST_TEST((y1 == y2));
  const Matrix<double> y3 = layer.forward(x, batch, {.training = true, .rng = Rng(14)});
  BOOST_TEST(max_abs(y3 - y1) > 1e-6);
  // Evaluation: no dropout, the same as a layer without it.
  const Matrix<double> y_eval = layer.forward(x, batch, {});
  const Matrix<double> y_plain = plain.forward(x, batch, train);
  BOOST_TEST((y_eval == y_plain));
  BOOST_TEST(max_abs(y_eval - y1) > 1e-6);
  // The probabilities are reported before dropout.
  BOOST_TEST((layer.attention_probabilities(0, 1) == p1));
  // The thread-independent stream: ctx.rng.split(dropout_rng_tag).split(sequence).split(head).
  BOOST_TEST(MHA<double>::dropout_rng_tag != moerb::rng_tag::router);
}

BOOST_AUTO_TEST_CASE(results_do_not_depend_on_the_thread_count) {
  auto layer = make_layer<double>(
      {.d_model = 16, .num_heads = 4, .causal = true, .rotary = true, .attention_dropout = 0.1});
  Rng rng(15);
  const std::vector<Index> lengths = {40, 1, 33, 64, 7};
  const auto batch = SequenceBatch::from_lengths(lengths);
  const Matrix<double> x = random_matrix(batch.num_tokens(), 16, rng);
  const Matrix<double> G = random_matrix(batch.num_tokens(), 16, rng);
  const ForwardContext ctx{.training = true, .rng = Rng(16)};
  const int threads = Eigen::nbThreads();
  Eigen::setNbThreads(1);
  moerb::zero_grad(layer);
  const Matrix<double> y1 = layer.forward(x, batch, ctx);
  const Matrix<double> dx1 = layer.backward(x, G);
  const auto g1 = grads(layer);
  Eigen::setNbThreads(std::max(threads, 2));
  moerb::zero_grad(layer);
  const Matrix<double> y2 = layer.forward(x, batch, ctx);
  const Matrix<double> dx2 = layer.backward(x, G);
  const auto g2 = grads(layer);
  Eigen::setNbThreads(threads);
  BOOST_TEST((y1 == y2));
  BOOST_TEST((dx1 == dx2));
  for (std::size_t i = 0; i < g1.size(); ++i) BOOST_TEST((g1[i] == g2[i]), "parameter " << i);
}

BOOST_AUTO_TEST_CASE(copies_are_independent) {
  auto layer = make_layer<double>({.d_model = 8, .num_heads = 2, .rotary = true});
  Rng rng(17);
  const Matrix<double> x = random_matrix(5, 8, rng);
  const auto batch = SequenceBatch::single(5);
  const Matrix<double> y = layer.forward(x, batch, {});
  auto copy = layer;
  BOOST_TEST((copy.forward(x, batch, {}) == y));
  copy.w_out().value.setZero();
  BOOST_TEST((layer.forward(x, batch, {}) == y));
}

BOOST_AUTO_TEST_CASE(steady_state_forward_and_backward_do_not_allocate) {
  MHA<float> layer(
      {.d_model = 8, .num_heads = 2, .causal = true, .rotary = true, .attention_dropout = 0.1});
  Rng init(18);
  layer.initialize(init);
  Rng rng(19);
  const Matrix<float> x = random_matrix(12, 8, rng).cast<float>();
  const auto batch = SequenceBatch::from_lengths({5, 7});
  const Mask valid(12, 1);
  const ForwardContext ctx{.training = true, .rng = Rng(20)};
  layer.forward(x, batch, ctx, valid);
  layer.backward(x, x);
  // A batch of the same total size but other lengths reuses the buffers too.
  const auto other = SequenceBatch::from_lengths({6, 6});
  Eigen::internal::set_is_malloc_allowed(false);
  bool threw = false;
  try {
    layer.forward(x, batch, ctx, valid);
    layer.backward(x, x);
    layer.forward(x, other, ctx);
    layer.backward(x, x);
  } catch (const std::exception& e) {
    threw = true;
    BOOST_TEST_MESSAGE(e.what());
  }
  Eigen::internal::set_is_malloc_allowed(true);
  BOOST_TEST(!threw);
}

// ------------------------------------------------------------------ golden files (PyTorch)

namespace {

template <class S>
constexpr double golden_tolerance() {
  return std::is_same_v<S, double> ? 1e-10 : 2e-5;
}

template <class S>
void check_golden(const std::string& file) {
  const moerb::test::GoldenFile g(file);
  const double tol = golden_tolerance<S>();
  typename MHA<S>::Options o{.d_model = static_cast<Index>(g.scalar("d_model")),
                             .num_heads = static_cast<Index>(g.scalar("num_heads")),
                             .causal = g.scalar("causal") != 0,
                             .bias = g.scalar("bias") != 0,
                             .rotary = g.scalar("rotary") != 0,
                             .rotary_base = g.scalar("rotary_base")};
  MHA<S> layer(o);
  layer.visit_parameters(
      [&](std::string_view name, moerb::Parameter<S>& p) {
        const Matrix<double>& m = g.tensor(std::string(name));
        BOOST_TEST_REQUIRE(m.rows() == p.value.rows(), name << " rows");
        BOOST_TEST_REQUIRE(m.cols() == p.value.cols(), name << " cols");
        p.value = m.cast<S>();
      },
      "");
  SequenceBatch batch;
  const Matrix<double>& lengths = g.tensor("lengths");
  for (Index b = 0; b < lengths.rows(); ++b) batch.push_back(static_cast<Index>(lengths(b, 0)));
  auto to_mask = [](const Matrix<double>& m) {
    Mask v(static_cast<std::size_t>(m.rows()));
    for (Index i = 0; i < m.rows(); ++i) v[static_cast<std::size_t>(i)] = m(i, 0) != 0 ? 1 : 0;
    return v;
  };
  const Mask valid = to_mask(g.tensor("key_valid"));
  const bool all_valid = std::all_of(valid.begin(), valid.end(), [](auto v) { return v != 0; });

  auto run = [&](const Matrix<S>& x, const SequenceBatch& sb, const Mask& kv, const Matrix<S>& G) {
    moerb::zero_grad(layer);
    const Matrix<double> y = layer.forward(x, sb, {}, kv).template cast<double>();
    const Matrix<double> dx = layer.backward(x, G).template cast<double>();
    return std::pair{y, dx};
  };
  auto check_param_grads = [&] {
    layer.visit_parameters(
        [&](std::string_view name, moerb::Parameter<S>& p) {
          const double err = moerb::test::relative_error(p.grad.template cast<double>(),
                                                         g.tensor("grad." + std::string(name)));
          BOOST_TEST(err < tol, "grad." << name << ": relative error " << err);
        },
        "");
  };

  // Packed layout: real tokens only (the key mask only when the case masks a real token).
  const auto [y, dx] =
      run(g.tensor_as<S>("x"), batch, all_valid ? Mask{} : valid, g.tensor_as<S>("G"));
  BOOST_TEST(moerb::test::relative_error(y, g.tensor("y")) < tol, "y");
  BOOST_TEST(moerb::test::relative_error(dx, g.tensor("grad.x")) < tol, "grad.x");
  check_param_grads();

  // Padded layout with the padding mask, as a user with padded batches would run it.
  if (g.has_scalar("padded_length")) {
    const auto padded = static_cast<Index>(g.scalar("padded_length"));
    SequenceBatch padded_batch;
    for (Index b = 0; b < batch.num_sequences(); ++b) padded_batch.push_back(padded);
    const auto [yp, dxp] = run(g.tensor_as<S>("padded_x"), padded_batch,
                               to_mask(g.tensor("padded_key_valid")), g.tensor_as<S>("padded_G"));
    Matrix<double> y_real(batch.num_tokens(), o.d_model), dx_real(batch.num_tokens(), o.d_model);
    for (Index b = 0; b < batch.num_sequences(); ++b) {
      y_real.middleRows(batch.begin(b), batch.length(b)) =
          yp.middleRows(b * padded, batch.length(b));
      dx_real.middleRows(batch.begin(b), batch.length(b)) =
          dxp.middleRows(b * padded, batch.length(b));
      BOOST_TEST(
          max_abs(dxp.middleRows(b * padded + batch.length(b), padded - batch.length(b))) == 0.0,
          "pads of sequence " << b << " received a gradient");
    }
    BOOST_TEST(moerb::test::relative_error(y_real, g.tensor("y")) < tol, "padded y");
    BOOST_TEST(moerb::test::relative_error(dx_real, g.tensor("grad.x")) < tol, "padded grad.x");
    check_param_grads();
  }
}

const std::vector<std::string> golden_cases = {
    "attention_bidirectional.txt", "attention_causal.txt", "attention_rotary.txt",
    "attention_rotary_causal.txt", "attention_key_mask.txt"};

}  // namespace

BOOST_AUTO_TEST_CASE(matches_pytorch_in_double) {
  for (const auto& c : golden_cases) {
    BOOST_TEST_CONTEXT(c) {
      check_golden<double>(c);
    }
  }
}

BOOST_AUTO_TEST_CASE(matches_pytorch_in_float) {
  for (const auto& c : golden_cases) {
    BOOST_TEST_CONTEXT(c) {
      check_golden<float>(c);
    }
  }
}

BOOST_AUTO_TEST_CASE(bad_inputs_throw) {
  using moerb::error;
  BOOST_CHECK_EXCEPTION(MHA<double>({.d_model = 0}), error,
                        message_has({"MultiHeadAttention", "d_model = 0"}));
  BOOST_CHECK_EXCEPTION(MHA<double>({.d_model = 8, .num_heads = 0}), error,
                        message_has({"MultiHeadAttention", "num_heads = 0"}));
  BOOST_CHECK_EXCEPTION(MHA<double>({.d_model = 8, .num_heads = 3}), error,
                        message_has({"d_model = 8 is not a multiple of", "num_heads = 3"}));
  BOOST_CHECK_EXCEPTION(
      MHA<double>({.d_model = 6, .num_heads = 2, .rotary = true}), error,
      message_has({"rotary", "even head_dim", "head_dim = d_model / num_heads = 3"}));
  BOOST_CHECK_EXCEPTION(
      MHA<double>({.d_model = 8, .num_heads = 2, .rotary = true, .rotary_base = 0.0}), error,
      message_has({"rotary_base = 0"}));
  BOOST_CHECK_EXCEPTION(MHA<double>({.d_model = 8, .attention_dropout = 1.0}), error,
                        message_has({"attention_dropout = 1", "[0, 1)"}));

  auto layer = make_layer<double>({.d_model = 8, .num_heads = 2});
  BOOST_CHECK_EXCEPTION(layer.set_attention_dropout(-0.1), error,
                        message_has({"set_attention_dropout", "rate = -0.1"}));
  Matrix<double> x = Matrix<double>::Ones(5, 8);
  const auto batch = SequenceBatch::from_lengths({2, 3});
  BOOST_CHECK_EXCEPTION(layer.backward(x, x), error,
                        message_has({"MultiHeadAttention::backward", "before forward"}));
  BOOST_CHECK_EXCEPTION(static_cast<void>(layer.attention_probabilities(0, 0)), error,
                        message_has({"attention_probabilities", "before forward"}));
  const Matrix<double> wrong = Matrix<double>::Ones(5, 6);
  BOOST_CHECK_EXCEPTION(
      layer.forward(wrong, batch, {}), error,
      message_has({"MultiHeadAttention::forward", "x has 6 columns", "expected 8"}));
  BOOST_CHECK_EXCEPTION(
      layer.forward(x, SequenceBatch::from_lengths({2, 2}), {}), error,
      message_has({"MultiHeadAttention::forward", "5 rows", "covers 4 tokens in 2 sequences"}));
  const Mask short_mask(4, 1);
  BOOST_CHECK_EXCEPTION(
      layer.forward(x, batch, {}, short_mask), error,
      message_has({"MultiHeadAttention::forward", "key_valid has 4 entries", "one per token (5)"}));
  x(3, 2) = std::numeric_limits<double>::infinity();
  BOOST_CHECK_EXCEPTION(layer.forward(x, batch, {}), error,
                        message_has({"MultiHeadAttention::forward", "x(3, 2) is inf"}));
  // A failed forward leaves no state for backward.
  BOOST_CHECK_EXCEPTION(layer.backward(x, x), error, message_has({"before forward"}));
  x(3, 2) = 0;
  layer.forward(x, batch, {});
  BOOST_CHECK_EXCEPTION(
      layer.backward(x, wrong), error,
      message_has({"MultiHeadAttention::backward", "dy has shape 5×6", "expected 5×8"}));
  const Matrix<double> x4 = Matrix<double>::Ones(4, 8);
  BOOST_CHECK_EXCEPTION(layer.backward(x4, x4), error,
                        message_has({"MultiHeadAttention::backward", "x has shape 4×8"}));
  Matrix<double> dy = Matrix<double>::Ones(5, 8);
  dy(1, 1) = std::numeric_limits<double>::quiet_NaN();
  BOOST_CHECK_EXCEPTION(layer.backward(x, dy), error,
                        message_has({"MultiHeadAttention::backward", "dy(1, 1) is nan"}));
  BOOST_CHECK_EXCEPTION(static_cast<void>(layer.attention_probabilities(2, 0)), error,
                        message_has({"attention_probabilities", "sequence = 2", "[0, 2)"}));
  BOOST_CHECK_EXCEPTION(static_cast<void>(layer.attention_probabilities(0, 2)), error,
                        message_has({"attention_probabilities", "head = 2", "[0, 2)"}));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_nn_attention
