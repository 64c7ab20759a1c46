// Fuzzes load_checkpoint (include/moerb/io/checkpoint.hpp) into a tiny EncoderClassifier, the
// architecture of tests/reference/golden/model_encoder_dense.safetensors (vocab 13, d_model 8,
// 2 heads, 2 layers, dense SwiGLU d_ff 12, mean pooling, linear head, 3 classes), whose
// configuration metadata check runs on every file.
//
// Checks: loading succeeds or throws moerb::error, in strict mode and, after a failure, with
// LoadOptions{.strict = false}; loading is all-or-nothing (a failed load leaves every parameter
// and buffer bit for bit as it was, a successful one sets each to the file's tensor converted to
// double).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "moerb/experts/gated_expert.hpp"
#include "moerb/io/checkpoint.hpp"
#include "moerb/io/safetensors.hpp"
#include "moerb/layers/dense_ffn.hpp"
#include "moerb/models/encoder_classifier.hpp"
#include "moerb/nn/layer_norm.hpp"

namespace {

using S = double;
using Model = moerb::EncoderClassifier<moerb::DenseFFN<moerb::SwiGLUExpert<S>>, moerb::LayerNorm>;

Model make_model() {
  Model::Options o;
  o.transformer.vocab_size = 13;
  o.transformer.d_model = 8;
  o.transformer.num_heads = 2;
  o.transformer.num_layers = 2;
  o.transformer.max_positions = 16;
  o.transformer.num_segments = 2;
  o.transformer.dropout = 0.0;
  o.transformer.attention_dropout = 0.0;
  o.num_classes = 3;
  o.pooling = moerb::Pooling::mean;
  o.head_hidden = 0;
  o.head_dropout = 0.0;
  moerb::FeedForwardSpec<moerb::DenseFFN<moerb::SwiGLUExpert<S>>> spec;
  spec.dense.d_model = 8;
  spec.dense.d_ff = 12;
  return Model(o, spec);
}

/// Every parameter value and buffer of the model, in visiting order.
std::vector<moerb::Matrix<S>> snapshot(Model& model) {
  std::vector<moerb::Matrix<S>> values;
  model.visit_parameters(
      [&](std::string_view, moerb::Parameter<S>& p) { values.push_back(p.value); }, {});
  model.visit_buffers([&](std::string_view, moerb::Matrix<S>& b) { values.push_back(b); }, {});
  return values;
}

bool same_bits(const std::vector<moerb::Matrix<S>>& a, const std::vector<moerb::Matrix<S>>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].rows() != b[i].rows() || a[i].cols() != b[i].cols()) return false;
    const auto bytes = static_cast<std::size_t>(a[i].size()) * sizeof(S);
    if (bytes != 0 && std::memcmp(a[i].data(), b[i].data(), bytes) != 0) return false;
  }
  return true;
}

/// The model's tensors as the file holds them (a 1-D [n] as 1 × n), converted to S.
std::vector<moerb::Matrix<S>> file_values(Model& model, const std::filesystem::path& path) {
  const auto file = moerb::SafetensorsFile::open(path);
  std::vector<moerb::Matrix<S>> values;
  const auto add = [&](std::string_view name) { values.push_back(file.to_matrix<S>(name)); };
  model.visit_parameters([&](std::string_view name, moerb::Parameter<S>&) { add(name); }, {});
  model.visit_buffers([&](std::string_view name, moerb::Matrix<S>&) { add(name); }, {});
  return values;
}

/// One load: a failed one must leave the model as it was, a successful one must leave it holding
/// the file's values. Returns whether it succeeded.
bool load(Model& model, const std::filesystem::path& path, bool strict) {
  const std::vector<moerb::Matrix<S>> before = snapshot(model);
  const bool ok = moerb::fuzz::parses(
      [&] { (void)moerb::load_checkpoint(model, path, moerb::LoadOptions{.strict = strict}); });
  if (!ok) {
    MOERB_FUZZ_CHECK(same_bits(before, snapshot(model)), "a failed load changed the model");
  } else {
    moerb::fuzz::must_not_throw(
        [&] {
          MOERB_FUZZ_CHECK(same_bits(file_values(model, path), snapshot(model)),
                           "a load did not write the file's values");
        },
        "reading back a loaded file");
  }
  return ok;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const moerb::fuzz::TempFile input("checkpoint");
  static Model model = make_model();
  const auto& path = input.write(data, size);
  if (!load(model, path, /*strict=*/true)) (void)load(model, path, /*strict=*/false);
  return 0;
}
