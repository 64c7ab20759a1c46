// Golden tests of whole models (include/moerb/models/encoder_classifier.hpp, decoder_lm.hpp)
// against the independent PyTorch reference tests/reference/moe_transformer_torch.py.
//
// tests/reference/make_golden_models.py writes, for each case, the weights as a safetensors file
// (written by Python, not by moerb) and a golden text file with the packed input, the logits, the
// losses, the routing and the gradients of loss = cross entropy + MoE auxiliary losses with respect
// to every parameter and to the word embeddings. Here the same architectures are built in C++,
// the weights are loaded with load_checkpoint, and an evaluation forward (dropout 0) and backward
// are compared. Tolerances (relative error of a whole tensor, ‖a − b‖ / (‖a‖ + ‖b‖)): 1e-10 for
// double models; 2e-5 for float models loaded from the same files.
//
// Cases (keep in sync with CASES in make_golden_models.py):
//   encoder_moe         EncoderClassifier<MoE, LayerNorm>: MoE in both blocks, learned positions,
//                       2 segments, first pooling, tanh head of width 5, 3 classes
//   encoder_dense       EncoderClassifier<Dense, LayerNorm>: SwiGLU d_ff 12, mean pooling, linear
//                       head
//   decoder_moe         DecoderLM<MoE, LayerNorm>: rotary, tied head, moe_every = 2
//   decoder_untied_f32  DecoderLM<MoE, RMSNorm>: learned positions, no attention biases, untied
//                       head with bias, top-2 weights not renormalised; weights stored as F32
// MoE = MoELayer<TopKRouter, SwiGLUExpert> with 4 experts of d_ff 6, top-2; every model has
// vocab 13, d_model 8, 2 heads, 2 layers, max_positions 16.
#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "moerb/experts/gated_expert.hpp"
#include "moerb/io/checkpoint.hpp"
#include "moerb/io/safetensors.hpp"
#include "moerb/layers/dense_ffn.hpp"
#include "moerb/layers/moe_layer.hpp"
#include "moerb/models/decoder_lm.hpp"
#include "moerb/models/encoder_classifier.hpp"
#include "moerb/nn/layer_norm.hpp"
#include "moerb/nn/rms_norm.hpp"
#include "moerb/routing/top_k_router.hpp"
#include "support/golden.hpp"
#include "support/scratch_dir.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_models_model_golden {

using namespace moerb;
using moerb::test::GoldenFile;
using moerb::test::ScratchDir;
namespace fs = std::filesystem;

namespace {

template <class S>
using MoE = MoELayer<TopKRouter<S>, SwiGLUExpert<S>>;
template <class S>
using Dense = DenseFFN<SwiGLUExpert<S>>;

template <class S>
using EncoderMoE = EncoderClassifier<MoE<S>, LayerNorm>;
template <class S>
using EncoderDense = EncoderClassifier<Dense<S>, LayerNorm>;
template <class S>
using DecoderMoE = DecoderLM<MoE<S>, LayerNorm>;
template <class S>
using DecoderUntied = DecoderLM<MoE<S>, RMSNorm>;

TransformerConfig base_config() {
  TransformerConfig c;
  c.vocab_size = 13;
  c.d_model = 8;
  c.num_heads = 2;
  c.num_layers = 2;
  c.max_positions = 16;
  c.dropout = 0.0;
  c.attention_dropout = 0.0;
  return c;
}

template <class S>
FeedForwardSpec<MoE<S>> moe_spec(bool renormalize = true, double load_balancing_weight = 0.01,
                                 double z_loss_weight = 0.001) {
  FeedForwardSpec<MoE<S>> spec;
  spec.router.input_dim = 8;
  spec.router.num_experts = 4;
  spec.router.k = 2;
  spec.router.renormalize = renormalize;
  spec.router.load_balancing_weight = load_balancing_weight;
  spec.router.z_loss_weight = z_loss_weight;
  spec.moe.expert.d_model = 8;
  spec.moe.expert.d_ff = 6;
  return spec;
}

template <class S>
EncoderMoE<S> make_encoder_moe(Index num_layers = 2, Pooling pooling = Pooling::first) {
  typename EncoderMoE<S>::Options o;
  o.transformer = base_config();
  o.transformer.num_layers = num_layers;
  o.transformer.num_segments = 2;
  o.num_classes = 3;
  o.pooling = pooling;
  o.head_hidden = 5;
  o.head_dropout = 0.0;
  return EncoderMoE<S>(o, moe_spec<S>());
}

template <class S>
EncoderDense<S> make_encoder_dense() {
  typename EncoderDense<S>::Options o;
  o.transformer = base_config();
  o.transformer.num_segments = 2;
  o.num_classes = 3;
  o.pooling = Pooling::mean;
  o.head_hidden = 0;
  o.head_dropout = 0.0;
  FeedForwardSpec<Dense<S>> spec;
  spec.dense.d_model = 8;
  spec.dense.d_ff = 12;
  return EncoderDense<S>(o, spec);
}

template <class S>
DecoderMoE<S> make_decoder_moe(bool tie_embeddings = true) {
  typename DecoderMoE<S>::Options o;
  o.transformer = base_config();
  o.transformer.position = PositionEncoding::rotary;
  o.transformer.moe_every = 2;
  o.tie_embeddings = tie_embeddings;
  o.head_bias = false;
  return DecoderMoE<S>(o, moe_spec<S>());
}

template <class S>
DecoderUntied<S> make_decoder_untied() {
  typename DecoderUntied<S>::Options o;
  o.transformer = base_config();
  o.transformer.attention_bias = false;
  o.tie_embeddings = false;
  o.head_bias = true;
  return DecoderUntied<S>(o, moe_spec<S>(/*renormalize=*/false, 0.02, 0.005));
}

fs::path weights_path(const std::string& name) {
  return moerb::test::golden_dir() / ("model_" + name + ".safetensors");
}

template <class S>
constexpr double tolerance() {
  return std::is_same_v<S, double> ? 1e-10 : 2e-5;
}

double rel_error(const Matrix<double>& a, const Matrix<double>& b) {
  const double denom = std::max(a.norm() + b.norm(), 1e-300);
  return (a - b).norm() / denom;
}

double rel_error(double a, double b) {
  return std::abs(a - b) / std::max(std::abs(a) + std::abs(b), 1e-300);
}

template <class Model>
constexpr bool is_language_model = requires {
  Model::ignore_index;
};

std::vector<std::int32_t> as_ids(const Matrix<double>& column) {
  std::vector<std::int32_t> out(static_cast<std::size_t>(column.size()));
  for (Index i = 0; i < column.size(); ++i) {
    out[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(column.data()[i]);
  }
  return out;
}

/// The packed batch the golden file was computed on.
TokenBatch golden_batch(const GoldenFile& g) {
  const std::vector<std::int32_t> ids = as_ids(g.tensor("ids"));
  const std::vector<std::int32_t> segments =
      g.has_tensor("segments") ? as_ids(g.tensor("segments")) : std::vector<std::int32_t>{};
  TokenBatch batch;
  std::size_t begin = 0;
  for (const std::int32_t length : as_ids(g.tensor("lengths"))) {
    const auto n = static_cast<std::size_t>(length);
    const std::span<const std::int32_t> seq(ids.data() + begin, n);
    if (segments.empty()) {
      batch.push_back(seq);
    } else {
      batch.push_back(seq, std::span<const std::int32_t>(segments.data() + begin, n));
    }
    begin += n;
  }
  BOOST_TEST_REQUIRE(begin == ids.size());
  return batch;
}

/// Loads the case's weights into `model`, runs an evaluation forward, the loss and backward, and
/// compares everything the golden file holds.
template <class Model>
void check_against_golden(Model& model, const std::string& name) {
  using S = typename Model::Scalar;
  const double tol = tolerance<S>();
  BOOST_TEST_CONTEXT("case " << name << (std::is_same_v<S, double> ? " (double)" : " (float)")) {
    const auto metadata = load_checkpoint(model, weights_path(name));
    BOOST_TEST((metadata == model.config_metadata()), "the file's metadata is config_metadata()");
    const GoldenFile g("model_" + name + ".txt");
    const TokenBatch batch = golden_batch(g);

    zero_grad(model);
    const Matrix<S>& logits = model.forward(batch, ForwardContext{});
    const double logits_err = rel_error(logits.template cast<double>(), g.tensor("logits"));
    BOOST_TEST(logits_err < tol, "logits: relative error " << logits_err);

    // The same experts are chosen for every token (the generator keeps router logits apart).
    Index moe_blocks = 0;
    if constexpr (is_moe_layer_v<typename Model::FeedForward>) {
      model.trunk().for_each_moe([&](Index layer, const auto& moe) {
        const std::string key = "routing." + std::to_string(layer) + ".";
        const auto& r = moe.routing();
        BOOST_TEST((r.selected.template cast<double>() == g.tensor(key + "selected")),
                   "experts selected in block " << layer);
        BOOST_TEST(rel_error(r.load_balancing_loss, g.scalar(key + "load_balancing_loss")) < tol);
        BOOST_TEST(rel_error(r.z_loss, g.scalar(key + "z_loss")) < tol);
        ++moe_blocks;
      });
    }
    Index golden_moe_blocks = 0;
    for (Index i = 0; i < model.config().num_layers; ++i) {
      golden_moe_blocks += g.has_tensor("routing." + std::to_string(i) + ".selected") ? 1 : 0;
    }
    BOOST_TEST(moe_blocks == golden_moe_blocks);

    Matrix<S> d_logits;
    S ce = 0;
    if constexpr (is_language_model<Model>) {
      BOOST_TEST((Model::next_token_targets(batch) == as_ids(g.tensor("targets"))));
      ce = model.lm_loss(logits, batch, d_logits);
    } else {
      const std::vector<std::int32_t> labels = as_ids(g.tensor("labels"));
      ce = model.loss(logits, labels, d_logits);
    }
    const S aux = model.aux_loss();
    BOOST_TEST(rel_error(ce, g.scalar("ce_loss")) < tol, "ce_loss " << ce);
    BOOST_TEST(rel_error(aux, g.scalar("aux_loss")) < tol, "aux_loss " << aux);
    BOOST_TEST(rel_error(ce + aux, g.scalar("loss")) < tol, "loss");

    const Matrix<S>& d_embeddings = model.backward(d_logits);
    const double e_err =
        rel_error(d_embeddings.template cast<double>(), g.tensor("grad.word_embeddings"));
    BOOST_TEST(e_err < tol, "grad.word_embeddings: relative error " << e_err);
    Index visited = 0;
    double worst = e_err;
    model.visit_parameters(
        [&](std::string_view param, Parameter<S>& p) {
          const Matrix<double>& want = g.tensor("grad." + std::string(param));
          BOOST_TEST_REQUIRE(want.rows() == p.grad.rows(), param);
          BOOST_TEST_REQUIRE(want.cols() == p.grad.cols(), param);
          const double err = rel_error(p.grad.template cast<double>(), want);
          BOOST_TEST(err < tol, "grad." << param << ": relative error " << err);
          worst = std::max(worst, err);
          ++visited;
        },
        "");
    BOOST_TEST_MESSAGE("logits relative error " << logits_err
                                                << ", largest gradient relative error " << worst);
    // The model has exactly the file's tensors (load_checkpoint is strict), all compared above.
    const SafetensorsFile file = SafetensorsFile::open(weights_path(name));
    BOOST_TEST(visited == static_cast<Index>(file.size()));
  }
}

template <class Model>
Matrix<typename Model::Scalar> eval_logits(Model& model, const TokenBatch& batch) {
  return model.forward(batch, ForwardContext{});
}

/// Loads the Python-written file into `loaded`, saves it with moerb (as `dtype`), loads that into
/// `fresh` (initialised differently first) and checks: the logits are bit-identical, and every
/// tensor of moerb's file has the same dtype, shape and bytes as in Python's file.
template <class Model>
void check_round_trip(Model& loaded, Model& fresh, const std::string& name, Dtype dtype) {
  BOOST_TEST_CONTEXT("case " << name) {
    load_checkpoint(loaded, weights_path(name));
    const TokenBatch batch = golden_batch(GoldenFile("model_" + name + ".txt"));
    const auto expected = eval_logits(loaded, batch);

    ScratchDir dir;
    const fs::path path = dir / "model.safetensors";
    save_checkpoint(loaded, path, {}, dtype);
    Rng rng(99);
    fresh.initialize(rng);
    BOOST_TEST((eval_logits(fresh, batch) != expected), "the fresh model starts different");
    const auto metadata = load_checkpoint(fresh, path);
    BOOST_TEST(metadata.at("format") == "moerb");
    BOOST_TEST((eval_logits(fresh, batch) == expected), "logits after the round trip");

    const SafetensorsFile python = SafetensorsFile::open(weights_path(name));
    const SafetensorsFile mine = SafetensorsFile::open(path);
    BOOST_TEST((python.names() == mine.names()));
    for (const std::string& tensor : python.names()) {
      if (!mine.contains(tensor)) continue;
      BOOST_TEST((python.info(tensor).dtype == mine.info(tensor).dtype), tensor);
      BOOST_TEST((python.info(tensor).shape == mine.info(tensor).shape), tensor);
      const auto a = python.bytes(tensor);
      const auto b = mine.bytes(tensor);
      BOOST_TEST((a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin())),
                 tensor << ": the stored bytes differ");
    }
  }
}

/// True when the error's message contains every part of `parts`.
auto message_contains(std::vector<std::string> parts) {
  return [parts = std::move(parts)](const moerb::error& e) {
    const std::string what = e.what();
    for (const std::string& p : parts) {
      if (what.find(p) == std::string::npos) {
        BOOST_TEST_MESSAGE("message '" << what << "' lacks '" << p << "'");
        return false;
      }
    }
    return true;
  };
}

/// All parameter values of a model, in visiting order.
template <class Model>
std::vector<Matrix<typename Model::Scalar>> parameter_values(Model& model) {
  std::vector<Matrix<typename Model::Scalar>> out;
  model.visit_parameters(
      [&](std::string_view, Parameter<typename Model::Scalar>& p) { out.push_back(p.value); }, "");
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(model_golden)

BOOST_AUTO_TEST_CASE(encoder_moe_matches_pytorch) {
  auto d = make_encoder_moe<double>();
  check_against_golden(d, "encoder_moe");
  auto f = make_encoder_moe<float>();
  check_against_golden(f, "encoder_moe");
}

BOOST_AUTO_TEST_CASE(encoder_dense_matches_pytorch) {
  auto d = make_encoder_dense<double>();
  check_against_golden(d, "encoder_dense");
  auto f = make_encoder_dense<float>();
  check_against_golden(f, "encoder_dense");
}

BOOST_AUTO_TEST_CASE(decoder_moe_matches_pytorch) {
  auto d = make_decoder_moe<double>();
  check_against_golden(d, "decoder_moe");
  auto f = make_decoder_moe<float>();
  check_against_golden(f, "decoder_moe");
}

BOOST_AUTO_TEST_CASE(decoder_untied_f32_matches_pytorch) {
  auto d = make_decoder_untied<double>();
  check_against_golden(d, "decoder_untied_f32");
  auto f = make_decoder_untied<float>();
  check_against_golden(f, "decoder_untied_f32");
}

BOOST_AUTO_TEST_CASE(moerb_checkpoints_round_trip_bit_identically) {
  {
    auto a = make_encoder_moe<double>();
    auto b = make_encoder_moe<double>();
    check_round_trip(a, b, "encoder_moe", Dtype::f64);
  }
  {
    auto a = make_encoder_dense<double>();
    auto b = make_encoder_dense<double>();
    check_round_trip(a, b, "encoder_dense", Dtype::f64);
  }
  {
    auto a = make_decoder_moe<double>();
    auto b = make_decoder_moe<double>();
    check_round_trip(a, b, "decoder_moe", Dtype::f64);
  }
  {
    // F32 values held in a double model save back to the same F32 bytes.
    auto a = make_decoder_untied<double>();
    auto b = make_decoder_untied<double>();
    check_round_trip(a, b, "decoder_untied_f32", Dtype::f32);
    auto fa = make_decoder_untied<float>();
    auto fb = make_decoder_untied<float>();
    check_round_trip(fa, fb, "decoder_untied_f32", Dtype::f32);
  }
}

BOOST_AUTO_TEST_CASE(a_different_architecture_is_rejected_by_its_metadata) {
  {
    auto model = make_encoder_moe<double>(/*num_layers=*/3);
    Rng rng(5);
    model.initialize(rng);
    const auto before = parameter_values(model);
    BOOST_CHECK_EXCEPTION(
        load_checkpoint(model, weights_path("encoder_moe")), moerb::error,
        message_contains({"EncoderClassifier checkpoint", "the checkpoint has num_layers = 2",
                          "the model has num_layers = 3"}));
    BOOST_TEST((parameter_values(model) == before), "a rejected file changes nothing");
  }
  {
    auto model = make_encoder_moe<double>(2, Pooling::mean);
    BOOST_CHECK_EXCEPTION(
        load_checkpoint(model, weights_path("encoder_moe")), moerb::error,
        message_contains({"EncoderClassifier checkpoint", "pooling = first", "mean"}));
  }
  {
    auto model = make_decoder_moe<double>(/*tie_embeddings=*/false);
    BOOST_CHECK_EXCEPTION(
        load_checkpoint(model, weights_path("decoder_moe")), moerb::error,
        message_contains({"DecoderLM checkpoint", "tie_embeddings = true", "false"}));
  }
  {
    // The same trunk configuration, the other model kind.
    typename DecoderLM<Dense<double>>::Options o;
    o.transformer = base_config();
    o.transformer.num_segments = 2;
    FeedForwardSpec<Dense<double>> spec;
    spec.dense.d_model = 8;
    spec.dense.d_ff = 12;
    DecoderLM<Dense<double>> model(o, spec);
    BOOST_CHECK_EXCEPTION(
        load_checkpoint(model, weights_path("encoder_dense")), moerb::error,
        message_contains(
            {"DecoderLM checkpoint", "the checkpoint has model = EncoderClassifier", "DecoderLM"}));
  }
  {
    auto model = make_decoder_untied<float>();
    BOOST_CHECK_EXCEPTION(
        load_checkpoint(model, weights_path("decoder_moe")), moerb::error,
        message_contains({"DecoderLM checkpoint", "the checkpoint has attention_bias = true",
                          "the model has attention_bias = false"}));
  }
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_models_model_golden
