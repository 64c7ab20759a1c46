// Tests for include/moerb/train/recipe.hpp
#include "moerb/train/recipe.hpp"

#include <boost/test/unit_test.hpp>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "moerb/models/decoder_lm.hpp"
#include "moerb/models/encoder_classifier.hpp"
#include "moerb/routing/hash_router.hpp"
#include "support/model_testing.hpp"
#include "support/router_testing.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_train_recipe {

using namespace moerb;
using namespace moerb::test;

namespace {

struct BadKnob {
  std::string message;  ///< what the error must say
  std::function<void(Recipe&)> spoil;
};

/// Names of the frozen parameters and the number of parameters.
template <class Model>
std::pair<std::vector<std::string>, Index> frozen_names(Model& model) {
  std::vector<std::string> frozen;
  Index total = 0;
  model.visit_parameters(
      [&](std::string_view name, auto& p) {
        ++total;
        if (p.frozen) frozen.emplace_back(name);
      },
      "");
  return {frozen, total};
}

template <class Model>
std::vector<std::string> names_where(Model& model, const std::function<bool(std::string_view)>& f) {
  std::vector<std::string> out;
  model.visit_parameters(
      [&](std::string_view name, auto&) {
        if (f(name)) out.emplace_back(name);
      },
      "");
  return out;
}

EncoderClassifier<TestMoE<double>> small_classifier() {
  const TransformerConfig c = tiny_config();
  EncoderClassifier<TestMoE<double>>::Options o;
  o.transformer = c;
  o.head_hidden = 4;  // head.dense.* and head.out.*
  return EncoderClassifier<TestMoE<double>>(o, tiny_moe_spec<double>(c));
}

DecoderLM<TestMoE<double>> small_decoder(bool tied, bool head_bias) {
  const TransformerConfig c = tiny_config();
  DecoderLM<TestMoE<double>>::Options o;
  o.transformer = c;
  o.tie_embeddings = tied;
  o.head_bias = head_bias;
  return DecoderLM<TestMoE<double>>(o, tiny_moe_spec<double>(c));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(recipe)

BOOST_AUTO_TEST_CASE(defaults_are_valid) {
  const Recipe r;
  BOOST_CHECK_NO_THROW(r.validate("test"));
  BOOST_TEST(!r.adversarial.enabled());
  BOOST_TEST(!r.freeze_router);
  BOOST_TEST(!r.freeze_all_but_head);
}

BOOST_AUTO_TEST_CASE(validate_names_each_knob) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<BadKnob> cases = {
      {"Recipe::learning_rate = 0", [](Recipe& r) { r.learning_rate = 0; }},
      {"Recipe::learning_rate = -0.1", [](Recipe& r) { r.learning_rate = -0.1; }},
      {"Recipe::learning_rate = nan", [nan](Recipe& r) { r.learning_rate = nan; }},
      {"Recipe::learning_rate = inf", [inf](Recipe& r) { r.learning_rate = inf; }},
      {"Recipe::batch_size = 0", [](Recipe& r) { r.batch_size = 0; }},
      {"Recipe::grad_accumulation_steps = 0", [](Recipe& r) { r.grad_accumulation_steps = 0; }},
      {"Recipe::epochs = 0", [](Recipe& r) { r.epochs = 0; }},
      {"Recipe::max_steps = -1", [](Recipe& r) { r.max_steps = -1; }},
      {"Recipe::weight_decay = -0.01", [](Recipe& r) { r.weight_decay = -0.01; }},
      {"Recipe::warmup_ratio = 1.5", [](Recipe& r) { r.warmup_ratio = 1.5; }},
      {"Recipe::warmup_ratio = -0.5", [](Recipe& r) { r.warmup_ratio = -0.5; }},
      {"Recipe::max_grad_norm = -1", [](Recipe& r) { r.max_grad_norm = -1; }},
      {"Recipe::dropout = 1", [](Recipe& r) { r.dropout = 1; }},
      {"Recipe::attention_dropout = -0.2", [](Recipe& r) { r.attention_dropout = -0.2; }},
      {"Recipe::expert_dropout = 1.2", [](Recipe& r) { r.expert_dropout = 1.2; }},
      {"Recipe::router_jitter = 1", [](Recipe& r) { r.router_jitter = 1; }},
      {"load_balancing_weight = -0.01", [](Recipe& r) { r.load_balancing_weight = -0.01; }},
      {"z_loss_weight = -1", [](Recipe& r) { r.z_loss_weight = -1; }},
      {"Recipe::threads = -1", [](Recipe& r) { r.threads = -1; }},
      {"eval_every", [](Recipe& r) { r.eval_every = -1; }},
      {"early_stopping_patience", [](Recipe& r) { r.early_stopping_patience = -2; }},
      {"FreeLBOptions::steps = -1", [](Recipe& r) { r.adversarial.steps = -1; }},
      {"FreeLBOptions::adv_lr = -0.1", [](Recipe& r) { r.adversarial.adv_lr = -0.1; }},
  };
  for (const auto& bad : cases) {
    BOOST_TEST_CONTEXT(bad.message) {
      Recipe r;
      bad.spoil(r);
      BOOST_CHECK_EXCEPTION(r.validate("Trainer"), moerb::error, [&](const moerb::error& e) {
        return message_names(e, "Trainer: ") && message_names(e, bad.message);
      });
    }
  }
  // Boundary values that are valid.
  Recipe edge;
  edge.warmup_ratio = 1;
  edge.max_grad_norm = 0;
  edge.weight_decay = 0;
  edge.load_balancing_weight = 0;
  edge.dropout = 0;
  edge.threads = 0;
  edge.max_steps = 0;
  BOOST_CHECK_NO_THROW(edge.validate("Trainer"));
}

BOOST_AUTO_TEST_CASE(apply_recipe_shapes_an_moe_model) {
  Recipe r;
  r.dropout = 0.15;
  r.attention_dropout = 0.05;
  r.expert_dropout = 0.4;
  r.load_balancing_weight = 0.02;
  r.z_loss_weight = 0.003;
  r.router_jitter = 0.01;
  TransformerConfig c = tiny_config();
  auto spec = tiny_moe_spec<double>(c);
  const auto before = spec;
  apply_recipe(r, c, spec);
  BOOST_TEST(c.dropout == 0.15);
  BOOST_TEST(c.attention_dropout == 0.05);
  BOOST_TEST(spec.moe.expert.expert_dropout == 0.4);
  BOOST_TEST(spec.router.load_balancing_weight == 0.02);
  BOOST_TEST(spec.router.z_loss_weight == 0.003);
  BOOST_TEST(spec.router.jitter == 0.01);
  // The rest of the spec and the architecture are untouched.
  BOOST_TEST(spec.router.k == before.router.k);
  BOOST_TEST(spec.router.num_experts == before.router.num_experts);
  BOOST_TEST(spec.moe.expert.d_ff == before.moe.expert.d_ff);
  BOOST_TEST(c.d_model == tiny_config().d_model);
  BOOST_TEST(c.num_layers == tiny_config().num_layers);

  // The built model carries the values.
  EncoderClassifier<TestMoE<double>>::Options o;
  o.transformer = c;
  EncoderClassifier<TestMoE<double>> model(o, spec);
  BOOST_TEST(model.config().dropout == 0.15);
  model.trunk().for_each_moe([&](Index, auto& moe) {
    BOOST_TEST(moe.expert(0).expert_dropout() == 0.4);
    BOOST_TEST(moe.router().options().jitter == 0.01);
  });
}

BOOST_AUTO_TEST_CASE(expert_dropout_stays_out_of_dense_blocks) {
  // Expert dropout is the MoE-specific knob (Switch: 0.4 at expert layers, 0.1 elsewhere): the
  // dense blocks of an MoE model (moe_every = 2) keep the experts' other options without it.
  Recipe r;
  r.expert_dropout = 0.4;
  TransformerConfig c = tiny_config();
  c.moe_every = 2;
  auto spec = tiny_moe_spec<double>(c);
  apply_recipe(r, c, spec);
  TransformerTrunk<TestMoE<double>, LayerNorm> trunk(c, spec, false);
  BOOST_REQUIRE(!trunk.block(0).ffn().is_sparse());
  BOOST_REQUIRE(trunk.block(1).ffn().is_sparse());
  BOOST_TEST(trunk.block(1).ffn().sparse()->expert(0).expert_dropout() == 0.4);
  trunk.block(0).ffn().visit([](auto& layer) {
    if constexpr (is_dense_ffn_v<std::decay_t<decltype(layer)>>) {
      BOOST_TEST(layer.block().expert_dropout() == 0.0);
      BOOST_TEST(layer.hidden_dim() == 6);  // still the experts' width
    }
  });
}

BOOST_AUTO_TEST_CASE(apply_recipe_leaves_dense_and_knobless_options_alone) {
  Recipe r;
  r.dropout = 0.2;
  r.attention_dropout = 0.1;
  r.expert_dropout = 0.4;
  r.router_jitter = 0.05;
  TransformerConfig c = tiny_config();
  auto dense = tiny_dense_spec<double>(c);
  apply_recipe(r, c, dense);
  BOOST_TEST(c.dropout == 0.2);
  BOOST_TEST(c.attention_dropout == 0.1);
  BOOST_TEST(dense.dense.expert_dropout == 0.0);
  BOOST_TEST(dense.dense.d_ff == 12);
  BOOST_TEST(dense.dense.d_model == 8);

  // A router without loss weights or jitter (hash routing) still gets expert dropout.
  using HashMoE = MoELayer<HashRouter<double>, SwiGLUExpert<double>>;
  FeedForwardSpec<HashMoE> hash;
  hash.router.input_dim = 8;
  hash.router.num_experts = 2;
  hash.router.vocab_size = 13;
  hash.moe.expert.d_model = 8;
  hash.moe.expert.d_ff = 4;
  apply_recipe(r, c, hash);
  BOOST_TEST(hash.moe.expert.expert_dropout == 0.4);
  BOOST_TEST(hash.router.num_experts == 2);

  // An invalid recipe is rejected before anything is written.
  Recipe bad;
  bad.expert_dropout = 1.0;
  TransformerConfig untouched = tiny_config();
  auto spec = tiny_moe_spec<double>(untouched);
  CHECK_THROWS_NAMING(apply_recipe(bad, untouched, spec), "apply_recipe: Recipe::expert_dropout");
  BOOST_TEST(untouched.dropout == tiny_config().dropout);
}

BOOST_AUTO_TEST_CASE(name_has_component_matches_whole_components) {
  BOOST_TEST(name_has_component("blocks.1.ffn.router.weight", "router"));
  BOOST_TEST(name_has_component("blocks.1.ffn.router.weight", "blocks"));
  BOOST_TEST(name_has_component("blocks.1.ffn.router.weight", "weight"));
  BOOST_TEST(name_has_component("blocks.1.ffn.router.weight", "1"));
  BOOST_TEST(name_has_component("router", "router"));
  BOOST_TEST(!name_has_component("blocks.1.ffn.router.weight", "rout"));
  BOOST_TEST(!name_has_component("blocks.1.ffn.router.weight", "outer"));
  BOOST_TEST(!name_has_component("blocks.1.ffn.routers.weight", "router"));
  BOOST_TEST(!name_has_component("blocks.1.ffn.router.weight", "ffn.router"));
  BOOST_TEST(!name_has_component("blocks.11.ffn.w_out", "1"));
  BOOST_TEST(!name_has_component("", "router"));
}

BOOST_AUTO_TEST_CASE(freeze_router_on_an_encoder) {
  auto model = small_classifier();
  Recipe r;
  r.freeze_router = true;
  const Index n = apply_freezing(r, model);
  const auto [frozen, total] = frozen_names(model);
  const std::vector<std::string> routers = {"blocks.0.ffn.router.weight",
                                            "blocks.1.ffn.router.weight"};
  BOOST_TEST(n == 2);
  BOOST_TEST(frozen == routers, boost::test_tools::per_element());
  BOOST_TEST(total > 10);

  // No knob: nothing is frozen (and nothing is unfrozen).
  auto other = small_classifier();
  BOOST_TEST(apply_freezing(Recipe{}, other) == 0);
  BOOST_TEST(frozen_names(other).first.empty());
  set_frozen(other, "head.out");
  BOOST_TEST(apply_freezing(Recipe{}, other) == 0);
  BOOST_TEST(frozen_names(other).first.size() == 2u);  // head.out.weight and head.out.bias
}

BOOST_AUTO_TEST_CASE(freeze_all_but_head_on_an_encoder) {
  auto model = small_classifier();
  Recipe r;
  r.freeze_all_but_head = true;
  const Index n = apply_freezing(r, model);
  const auto [frozen, total] = frozen_names(model);
  const auto trunk =
      names_where(model, [](std::string_view name) { return !name_has_prefix(name, "head"); });
  const auto head =
      names_where(model, [](std::string_view name) { return name_has_prefix(name, "head"); });
  BOOST_TEST(head.size() == 4u);  // head.dense.{weight,bias}, head.out.{weight,bias}
  BOOST_TEST(frozen == trunk, boost::test_tools::per_element());
  BOOST_TEST(n == static_cast<Index>(trunk.size()));
  BOOST_TEST(n + 4 == total);

  // Both knobs: the routers are in the trunk, counted once.
  auto both = small_classifier();
  r.freeze_router = true;
  BOOST_TEST(apply_freezing(r, both) == n);
}

BOOST_AUTO_TEST_CASE(freeze_all_but_head_on_a_decoder) {
  Recipe r;
  r.freeze_all_but_head = true;
  // Tied head: the output projection is the token embedding table, which stays frozen; only a
  // head bias (if any) trains.
  auto tied = small_decoder(true, true);
  const Index n_tied = apply_freezing(r, tied);
  const auto [frozen_tied, total_tied] = frozen_names(tied);
  BOOST_TEST(n_tied == total_tied - 1);
  const auto trainable =
      names_where(tied, [](std::string_view name) { return name_has_prefix(name, "lm_head"); });
  BOOST_TEST(trainable == std::vector<std::string>{"lm_head.bias"},
             boost::test_tools::per_element());
  BOOST_TEST(tied.trunk().token_embedding().weight().frozen);

  auto tied_no_bias = small_decoder(true, false);
  const Index n_all = apply_freezing(r, tied_no_bias);
  BOOST_TEST(n_all == frozen_names(tied_no_bias).second);  // everything

  // Untied: lm_head.weight trains, the embeddings do not.
  auto untied = small_decoder(false, false);
  apply_freezing(r, untied);
  bool head_trains = false;
  untied.visit_parameters(
      [&](std::string_view name, Parameter<double>& p) {
        if (name == "lm_head.weight")
          head_trains = !p.frozen;
        else
          BOOST_TEST(p.frozen, name);
      },
      "");
  BOOST_TEST(head_trains);

  Recipe routers;
  routers.freeze_router = true;
  auto decoder = small_decoder(true, false);
  BOOST_TEST(apply_freezing(routers, decoder) == 2);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_train_recipe
