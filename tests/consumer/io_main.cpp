// A downstream program on the moerb::io target: builds a tiny MoE classifier, trains it for one
// step, saves it as safetensors and loads it into a second model, which must give the same logits.
#include <unistd.h>

#include <moerb/moerb_io.hpp>

#include <filesystem>
#include <string>
#include <iostream>
#include <vector>

int main() {
  using MoE = moerb::MixtralMoE<float>;
  moerb::TransformerConfig trunk{.vocab_size = 20, .d_model = 8, .num_heads = 2, .num_layers = 2,
                                 .max_positions = 16, .moe_every = 2};
  moerb::FeedForwardSpec<MoE> ffn;
  ffn.router = {.input_dim = 8, .num_experts = 4, .k = 2};
  ffn.moe.expert = {.d_model = 8, .d_ff = 6};
  moerb::EncoderClassifier<MoE> model({.transformer = trunk, .num_classes = 2}, ffn);
  moerb::Rng rng(1);
  model.initialize(rng);

  std::vector<moerb::EncodedExample> data(4);
  for (std::size_t i = 0; i < data.size(); ++i) {
    data[i].ids = {2, static_cast<std::int32_t>(5 + i), 3};
    data[i].label = static_cast<std::int32_t>(i % 2);
  }
  moerb::Recipe recipe;
  recipe.epochs = 1;
  recipe.progress = false;
  moerb::ClassifierTrainer<decltype(model)>(model, recipe).fit(data);

  const auto path = std::filesystem::temp_directory_path() /
                    ("moerb_consumer_io_" + std::to_string(::getpid()) + ".safetensors");
  moerb::save_checkpoint(model, path);
  auto copy = model;
  moerb::Rng other(2);
  copy.initialize(other);
  moerb::load_checkpoint(copy, path);
  std::filesystem::remove(path);

  moerb::TokenBatch batch;
  batch.push_back(data[0].ids);
  const moerb::Matrix<float> a = model.forward(batch, {});
  const moerb::Matrix<float> b = copy.forward(batch, {});
  if ((a - b).norm() != 0.0f) {
    std::cerr << "consumer io check failed: reloaded logits differ\n";
    return 1;
  }
  std::cout << "moerb::io consumer OK\n";
  return 0;
}
