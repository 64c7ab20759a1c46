// Tests for include/moerb/models/transformer_config.hpp
#include "moerb/models/transformer_config.hpp"

#include <boost/test/unit_test.hpp>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "support/router_testing.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_models_transformer_config {

using namespace moerb;

namespace {

TransformerConfig valid_config() {
  TransformerConfig c;
  c.vocab_size = 30;
  c.d_model = 8;
  c.num_heads = 2;
  c.num_layers = 3;
  return c;
}

struct BadField {
  std::string name;  ///< what the message must name
  std::function<void(TransformerConfig&)> spoil;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(transformer_config)

BOOST_AUTO_TEST_CASE(defaults_need_the_required_fields) {
  const TransformerConfig defaults;
  BOOST_TEST(defaults.max_positions == 512);
  BOOST_TEST((defaults.position == PositionEncoding::learned));
  BOOST_TEST(defaults.moe_every == 1);
  CHECK_THROWS_NAMING(defaults.validate("Model"), "Model: TransformerConfig::vocab_size = 0");
  BOOST_CHECK_NO_THROW(valid_config().validate("Model"));
  TransformerConfig rotary = valid_config();
  rotary.position = PositionEncoding::rotary;
  BOOST_CHECK_NO_THROW(rotary.validate("Model"));
}

BOOST_AUTO_TEST_CASE(validate_names_each_invalid_field) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<BadField> cases = {
      {"TransformerConfig::vocab_size = -1", [](auto& c) { c.vocab_size = -1; }},
      {"TransformerConfig::d_model = 0", [](auto& c) { c.d_model = 0; }},
      {"TransformerConfig::num_heads = 0", [](auto& c) { c.num_heads = 0; }},
      {"TransformerConfig::num_heads = 3, expected > 0 and dividing d_model = 8",
       [](auto& c) { c.num_heads = 3; }},
      {"TransformerConfig::num_layers = 0", [](auto& c) { c.num_layers = 0; }},
      {"TransformerConfig::max_positions = 0", [](auto& c) { c.max_positions = 0; }},
      {"TransformerConfig::num_segments = -1", [](auto& c) { c.num_segments = -1; }},
      {"TransformerConfig::dropout = 1", [](auto& c) { c.dropout = 1.0; }},
      {"TransformerConfig::dropout = -0.1", [](auto& c) { c.dropout = -0.1; }},
      {"TransformerConfig::dropout", [nan](auto& c) { c.dropout = nan; }},
      {"TransformerConfig::attention_dropout = 1.5", [](auto& c) { c.attention_dropout = 1.5; }},
      {"TransformerConfig::norm_eps = 0", [](auto& c) { c.norm_eps = 0; }},
      {"TransformerConfig::moe_every = 0", [](auto& c) { c.moe_every = 0; }},
      {"rotary positions need an even head dimension, got d_model / num_heads = 3",
       [](auto& c) {
         c.d_model = 6;
         c.num_heads = 2;
         c.position = PositionEncoding::rotary;
       }},
  };
  for (const auto& bad : cases) {
    BOOST_TEST_CONTEXT(bad.name) {
      TransformerConfig c = valid_config();
      bad.spoil(c);
      CHECK_THROWS_NAMING(c.validate("EncoderClassifier"), "EncoderClassifier: ");
      BOOST_CHECK_EXCEPTION(
          c.validate("EncoderClassifier"), moerb::error,
          [&](const moerb::error& e) { return moerb::test::message_names(e, bad.name); });
    }
  }
  // Learned positions accept an odd head dimension; zero segments and dropout 0 are valid.
  TransformerConfig odd = valid_config();
  odd.d_model = 6;
  odd.num_heads = 2;
  odd.num_segments = 0;
  odd.dropout = 0;
  BOOST_CHECK_NO_THROW(odd.validate("Model"));
}

BOOST_AUTO_TEST_CASE(validate_reports_the_first_invalid_field) {
  TransformerConfig c = valid_config();
  c.num_layers = 0;
  c.norm_eps = -1;
  CHECK_THROWS_NAMING(c.validate("Model"), "num_layers");
}

BOOST_AUTO_TEST_CASE(moe_placement_follows_moe_every) {
  TransformerConfig c = valid_config();
  const std::vector<std::vector<bool>> expected = {
      {true, true, true, true, true, true},       // moe_every 1: every block
      {false, true, false, true, false, true},    // 2: blocks 1, 3, 5 (Switch)
      {false, false, true, false, false, true}};  // 3: blocks 2, 5
  for (Index every = 1; every <= 3; ++every) {
    c.moe_every = every;
    for (Index layer = 0; layer < 6; ++layer) {
      BOOST_TEST(c.is_moe_block(layer) ==
                     expected[static_cast<std::size_t>(every - 1)][static_cast<std::size_t>(layer)],
                 "moe_every " << every << ", block " << layer);
    }
  }
}

BOOST_AUTO_TEST_CASE(metadata_round_trip) {
  TransformerConfig c = valid_config();
  c.max_positions = 64;
  c.position = PositionEncoding::rotary;
  c.num_segments = 2;
  c.moe_every = 2;
  c.attention_bias = false;
  const auto m = c.to_metadata();
  const std::map<std::string, std::string> expected = {
      {"vocab_size", "30"},  {"d_model", "8"},        {"num_heads", "2"},
      {"num_layers", "3"},   {"max_positions", "64"}, {"position", "rotary"},
      {"num_segments", "2"}, {"moe_every", "2"},      {"attention_bias", "false"}};
  BOOST_TEST((m == expected));
  BOOST_CHECK_NO_THROW(c.check_metadata(m, "load"));
  // Extra keys (a model's own entries) are ignored.
  auto extended = m;
  extended["model"] = "EncoderClassifier";
  BOOST_CHECK_NO_THROW(c.check_metadata(extended, "load"));
  // Dropout rates and norm_eps are not architecture: they may differ.
  TransformerConfig regularised = c;
  regularised.dropout = 0.3;
  regularised.attention_dropout = 0.2;
  regularised.norm_eps = 1e-6;
  BOOST_CHECK_NO_THROW(regularised.check_metadata(m, "load"));
  BOOST_TEST(valid_config().to_metadata().at("position") == "learned");
  BOOST_TEST(valid_config().to_metadata().at("attention_bias") == "true");
}

BOOST_AUTO_TEST_CASE(metadata_mismatch_names_the_field) {
  TransformerConfig c = valid_config();
  const auto m = c.to_metadata();
  TransformerConfig wider = c;
  wider.d_model = 16;
  CHECK_THROWS_NAMING(wider.check_metadata(m, "Checkpoint x.safetensors"),
                      "Checkpoint x.safetensors: the checkpoint has d_model = 8 but the model has "
                      "d_model = 16");
  TransformerConfig rotary = c;
  rotary.position = PositionEncoding::rotary;
  CHECK_THROWS_NAMING(rotary.check_metadata(m, "load"),
                      "the checkpoint has position = learned but the model has position = rotary");
  TransformerConfig every = c;
  every.moe_every = 2;
  CHECK_THROWS_NAMING(every.check_metadata(m, "load"), "moe_every = 1");
  auto missing = m;
  missing.erase("num_layers");
  CHECK_THROWS_NAMING(c.check_metadata(missing, "load"),
                      "load: the checkpoint's metadata lacks 'num_layers'");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_models_transformer_config
