#include "moerb/models/decoder_lm.hpp"

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "support/gradcheck.hpp"
#include "support/model_testing.hpp"
#include "support/router_testing.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_models_decoder_lm {

using namespace moerb;
using namespace moerb::test;

namespace {

template <class FFN>
DecoderLM<FFN> make_lm(const FeedForwardSpec<FFN>& spec, const TransformerConfig& c, bool tied) {
  typename DecoderLM<FFN>::Options o;
  o.transformer = c;
  o.tie_embeddings = tied;
  o.head_bias = !tied;
  DecoderLM<FFN> model(o, spec);
  Rng rng(4);
  model.initialize(rng);
  std::uint64_t seed = 200;
  model.visit_parameters(
      [&](std::string_view, Parameter<double>& p) {
        p.value += random_matrix(p.value.rows(), p.value.cols(), 0.3, seed++);
      },
      "");
  return model;
}

TransformerConfig lm_config(PositionEncoding position) {
  TransformerConfig c = tiny_config(position);
  c.num_segments = 0;
  return c;
}

TokenBatch lm_batch() {
  TokenBatch b;
  b.push_back(std::vector<std::int32_t>{1, 7, 3, 9, 3});
  b.push_back(std::vector<std::int32_t>{4, 2});
  b.push_back(std::vector<std::int32_t>{2, 11, 12, 5});
  return b;
}

double log_softmax_at(const Matrix<double>& logits, Index row, Index col) {
  const auto r = logits.row(row);
  const double m = r.maxCoeff();
  return r(col) - m - std::log((r.array() - m).exp().sum());
}

template <class Model>
void check_lm_gradients(Model& model, const TokenBatch& batch) {
  Matrix<double> x = model.embed(batch);
  const ForwardContext ctx;
  Matrix<double> d_logits;
  const auto loss = [&] {
    const Matrix<double>& logits = model.forward_embeddings(x, batch, ctx);
    Matrix<double> d;
    return model.lm_loss(logits, batch, d) + model.aux_loss();
  };
  const auto backward = [&](Matrix<double>& dx) {
    const Matrix<double>& logits = model.forward_embeddings(x, batch, ctx);
    model.lm_loss(logits, batch, d_logits);
    dx = model.backward(d_logits, false);
  };
  // The table enters through x only when untied; with tied weights it is also the output layer,
  // so the check keeps it unfrozen there and the input path is accounted for separately below.
  if (!model.options().tie_embeddings) set_frozen(model, "embeddings.tokens");
  check_gradients(model, x, loss, backward, 1e-6);
  set_frozen(model, "embeddings.tokens", false);
  // Full ids path on the table only.
  Matrix<double> unused = Matrix<double>::Zero(1, 1);
  set_frozen(model, "");
  set_frozen(model, "embeddings.tokens", false);
  check_gradients(
      model, unused,
      [&] {
        const Matrix<double>& logits = model.forward(batch, ctx);
        Matrix<double> d;
        return model.lm_loss(logits, batch, d) + model.aux_loss();
      },
      [&](Matrix<double>& dx) {
        const Matrix<double>& logits = model.forward(batch, ctx);
        model.lm_loss(logits, batch, d_logits);
        model.backward(d_logits, true);
        dx.setZero();
      },
      1e-6);
  set_frozen(model, "", false);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(decoder_lm)

BOOST_AUTO_TEST_CASE(tied_moe_rotary_gradients_match_finite_differences) {
  const TransformerConfig c = lm_config(PositionEncoding::rotary);
  auto model = make_lm(tiny_moe_spec<double>(c), c, true);
  check_lm_gradients(model, lm_batch());
}

BOOST_AUTO_TEST_CASE(untied_dense_gradients_match_finite_differences) {
  const TransformerConfig c = lm_config(PositionEncoding::learned);
  auto model = make_lm(tiny_dense_spec<double>(c), c, false);
  check_lm_gradients(model, lm_batch());
}

BOOST_AUTO_TEST_CASE(targets_and_loss) {
  const TransformerConfig c = lm_config(PositionEncoding::learned);
  auto model = make_lm(tiny_moe_spec<double>(c), c, true);
  const TokenBatch batch = lm_batch();
  const auto targets = decltype(model)::next_token_targets(batch);
  const std::vector<std::int32_t> expected = {7, 3, 9, 3, -100, 2, -100, 11, 12, 5, -100};
  BOOST_TEST(targets == expected, boost::test_tools::per_element());
  const Matrix<double> logits = model.forward(batch, ForwardContext{});
  Matrix<double> d;
  const double loss = model.lm_loss(logits, batch, d);
  double manual = 0;
  int n = 0;
  for (std::size_t t = 0; t < targets.size(); ++t) {
    if (targets[t] < 0) continue;
    manual -= log_softmax_at(logits, static_cast<Index>(t), targets[t]);
    ++n;
  }
  BOOST_TEST(loss == manual / n, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(model.perplexity(batch) == std::exp(manual / n), boost::test_tools::tolerance(1e-12));
}

BOOST_AUTO_TEST_CASE(causal_logits_ignore_later_tokens) {
  const TransformerConfig c = lm_config(PositionEncoding::rotary);
  auto model = make_lm(tiny_moe_spec<double>(c), c, true);
  TokenBatch a, b;
  a.push_back(std::vector<std::int32_t>{1, 7, 3, 9, 3});
  b.push_back(std::vector<std::int32_t>{1, 7, 3, 2, 8});
  const Matrix<double> la = model.forward(a, ForwardContext{});
  const Matrix<double> lb = model.forward(b, ForwardContext{});
  BOOST_TEST((la.topRows(3) - lb.topRows(3)).cwiseAbs().maxCoeff() < 1e-12);
  BOOST_TEST((la.row(3) - lb.row(3)).cwiseAbs().maxCoeff() > 1e-9);
}

BOOST_AUTO_TEST_CASE(scoring_matches_log_softmax_sums) {
  const TransformerConfig c = lm_config(PositionEncoding::learned);
  auto model = make_lm(tiny_moe_spec<double>(c), c, true);
  const std::vector<std::int32_t> prompt = {1, 7, 3}, answer = {9, 3};
  const ContinuationScore s = model.score_continuation(prompt, answer);
  TokenBatch full;
  full.push_back(std::vector<std::int32_t>{1, 7, 3, 9, 3});
  const Matrix<double> logits = model.forward(full, ForwardContext{});
  const double manual = log_softmax_at(logits, 2, 9) + log_softmax_at(logits, 3, 3);
  BOOST_TEST(s.num_tokens == 2);
  BOOST_TEST(s.sum_log_prob == manual, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(s.mean_log_prob == manual / 2, boost::test_tools::tolerance(1e-12));
  // Batched scoring equals one-by-one scoring.
  const auto batch = model.score_continuations({{prompt, answer}, {{4}, {2, 5, 6}}});
  const ContinuationScore second =
      model.score_continuation(std::vector<std::int32_t>{4}, std::vector<std::int32_t>{2, 5, 6});
  BOOST_TEST(batch[0].sum_log_prob == s.sum_log_prob, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(batch[1].sum_log_prob == second.sum_log_prob, boost::test_tools::tolerance(1e-12));
  BOOST_TEST(batch[1].num_tokens == 3);
  CHECK_THROWS_NAMING(model.score_continuations({{prompt, {}}}), "empty");
}

BOOST_AUTO_TEST_CASE(early_exit_of_the_last_layer_is_the_output) {
  const TransformerConfig c = lm_config(PositionEncoding::learned);
  auto model = make_lm(tiny_moe_spec<double>(c), c, false);
  const TokenBatch batch = lm_batch();
  const Matrix<double> logits = model.forward(batch, ForwardContext{});
  const Matrix<double> last = model.layer_logits(model.num_layers());
  BOOST_TEST((last - logits).cwiseAbs().maxCoeff() < 1e-12);
  const std::vector<Index> rows = {4, 0};
  const Matrix<double> some = model.layer_logits(1, rows);
  const Matrix<double> all = model.layer_logits(1);
  BOOST_TEST((some.row(0) - all.row(4)).cwiseAbs().maxCoeff() < 1e-12);
  BOOST_TEST((some.row(1) - all.row(0)).cwiseAbs().maxCoeff() < 1e-12);
  // layer_logits reuses the head: backward needs a fresh forward.
  CHECK_THROWS_NAMING(model.backward(logits), "forward");
  CHECK_THROWS_NAMING(model.layer_logits(3), "layer");
}

BOOST_AUTO_TEST_CASE(greedy_generation_follows_the_argmax) {
  const TransformerConfig c = lm_config(PositionEncoding::rotary);
  auto model = make_lm(tiny_moe_spec<double>(c), c, true);
  GenerationOptions g;
  g.max_new_tokens = 4;
  const std::vector<std::int32_t> prompt = {1, 7};
  const auto out = model.generate(prompt, g);
  BOOST_REQUIRE(out.size() == 4u);
  std::vector<std::int32_t> seq = prompt;
  for (std::int32_t id : out) {
    TokenBatch b;
    b.push_back(seq);
    const Matrix<double> logits = model.forward(b, ForwardContext{});
    Index best = 0;
    logits.row(logits.rows() - 1).maxCoeff(&best);
    BOOST_TEST(id == best);
    seq.push_back(id);
  }
  // Stops at eos and at max_positions.
  g.eos_id = out[1];
  const auto first =
      static_cast<std::size_t>(std::find(out.begin(), out.end(), out[1]) - out.begin());
  BOOST_TEST(model.generate(prompt, g).size() == first + 1);
  g.eos_id = -1;
  g.max_new_tokens = 100;
  BOOST_TEST(model.generate(prompt, g).size() == 14u);  // max_positions 16
}

BOOST_AUTO_TEST_CASE(sampling_is_seeded) {
  const TransformerConfig c = lm_config(PositionEncoding::learned);
  auto model = make_lm(tiny_moe_spec<double>(c), c, true);
  GenerationOptions g;
  g.max_new_tokens = 8;
  g.temperature = 1.5;
  g.top_p = 0.95;
  g.seed = 7;
  const std::vector<std::int32_t> prompt = {3};
  const auto a = model.generate(prompt, g);
  BOOST_TEST(model.generate(prompt, g) == a, boost::test_tools::per_element());
  bool differs = false;
  for (std::uint64_t seed = 8; seed < 14 && !differs; ++seed) {
    g.seed = seed;
    differs = model.generate(prompt, g) != a;
  }
  BOOST_TEST(differs);
  g.temperature = -1;
  CHECK_THROWS_NAMING(model.generate(prompt, g), "temperature");
}

// The key-value cache gives the tokens of re-running the prefix at every step, greedy and
// sampled, from short and long prompts up to max_positions.
template <class FFN>
void check_cached_generation(const FeedForwardSpec<FFN>& spec, PositionEncoding position,
                             bool tied) {
  TransformerConfig c = lm_config(position);
  c.max_positions = 24;
  auto model = make_lm(spec, c, tied);
  BOOST_TEST_REQUIRE(model.trunk().supports_cached_decoding());
  const std::vector<std::vector<std::int32_t>> prompts = {
      {1}, {1, 7, 3, 9}, {2, 11, 12, 5, 4, 6, 8, 10, 3}};
  struct Setting {
    double temperature, top_p;
    std::uint64_t seed;
  };
  for (const Setting& s : {Setting{0.0, 1.0, 0}, Setting{1.0, 1.0, 3}, Setting{1.5, 0.9, 5}}) {
    for (const auto& prompt : prompts) {
      GenerationOptions g;
      g.max_new_tokens = 40;  // runs into max_positions
      g.temperature = s.temperature;
      g.top_p = s.top_p;
      g.seed = s.seed;
      g.kv_cache = false;
      const auto reference = model.generate(prompt, g);
      g.kv_cache = true;
      const auto cached = model.generate(prompt, g);
      BOOST_TEST(reference.size() == static_cast<std::size_t>(24) - prompt.size());
      BOOST_TEST(cached == reference, boost::test_tools::per_element());
    }
  }
}

BOOST_AUTO_TEST_CASE(kv_cache_generates_the_tokens_of_full_reruns) {
  const TransformerConfig learned = lm_config(PositionEncoding::learned);
  const TransformerConfig rotary = lm_config(PositionEncoding::rotary);
  check_cached_generation(tiny_moe_spec<double>(learned), PositionEncoding::learned, true);
  check_cached_generation(tiny_moe_spec<double>(rotary), PositionEncoding::rotary, false);
  check_cached_generation(tiny_dense_spec<double>(learned), PositionEncoding::learned, false);
  check_cached_generation(tiny_dense_spec<double>(rotary), PositionEncoding::rotary, true);
}

// Fed in chunks, the cached trunk gives each token the final-norm output of a whole-sequence
// forward, for MoE and dense blocks (moe_every = 2 mixes them) and both position encodings.
BOOST_AUTO_TEST_CASE(cached_trunk_outputs_match_the_whole_sequence_forward) {
  for (const PositionEncoding position : {PositionEncoding::learned, PositionEncoding::rotary}) {
    TransformerConfig c = lm_config(position);
    c.moe_every = 2;
    auto model = make_lm(tiny_moe_spec<double>(c), c, true);
    const std::vector<std::int32_t> ids = {2, 11, 12, 5, 4, 6, 8, 10, 3, 1};
    TokenBatch batch;
    batch.push_back(ids);
    const Matrix<double> whole = model.trunk().forward(batch, ForwardContext{});
    typename DecoderLM<TestMoE<double>>::Trunk::DecodingCache cache;
    std::size_t begin = 0;
    for (const std::size_t chunk : {3u, 1u, 1u, 4u, 1u}) {
      const auto part = std::span<const std::int32_t>(ids).subspan(begin, chunk);
      const Matrix<double> got = model.trunk().forward_cached(part, cache);
      BOOST_TEST_REQUIRE(got.rows() == static_cast<Index>(chunk));
      const double diff =
          (got - whole.middleRows(static_cast<Index>(begin), static_cast<Index>(chunk)))
              .cwiseAbs()
              .maxCoeff();
      BOOST_TEST(diff < 1e-12, "tokens " << begin << "+" << chunk << ": " << diff);
      begin += chunk;
      BOOST_TEST(cache.length == static_cast<Index>(begin));
    }
    // Past max_positions (16), and a bidirectional trunk, are refused by name.
    const std::vector<std::int32_t> seven(7, 1);
    CHECK_THROWS_NAMING(model.trunk().forward_cached(seven, cache), "max_positions");
    TransformerTrunk<TestMoE<double>, LayerNorm> encoder(c, tiny_moe_spec<double>(c), false);
    typename TransformerTrunk<TestMoE<double>, LayerNorm>::DecodingCache fresh;
    CHECK_THROWS_NAMING(encoder.forward_cached(seven, fresh), "causal");
  }
}

// Routing that depends on the other tokens of a forward (an evaluation capacity, random
// inference routing) turns the cache off: generate falls back to re-running the prefix.
BOOST_AUTO_TEST_CASE(batch_dependent_routing_disables_the_cache) {
  const TransformerConfig c = lm_config(PositionEncoding::learned);
  auto spec = tiny_moe_spec<double>(c);
  spec.router.eval_capacity_factor = 1.0;
  auto capped = make_lm(spec, c, true);
  BOOST_TEST(!capped.trunk().supports_cached_decoding());
  GenerationOptions g;
  g.max_new_tokens = 6;
  const std::vector<std::int32_t> prompt = {1, 7, 3};
  const auto cached = capped.generate(prompt, g);
  g.kv_cache = false;
  BOOST_TEST(capped.generate(prompt, g) == cached, boost::test_tools::per_element());

  auto model = make_lm(tiny_moe_spec<double>(c), c, true);
  BOOST_TEST(model.trunk().supports_cached_decoding());
  model.trunk().set_random_inference_routing(true);
  BOOST_TEST(!model.trunk().supports_cached_decoding());
  model.trunk().set_random_inference_routing(false);
  BOOST_TEST(model.trunk().supports_cached_decoding());
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_models_decoder_lm
