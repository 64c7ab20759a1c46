// A downstream program on the moerb::io target: builds a tiny MoE classifier, saves it as
// safetensors and loads it into a differently initialised second model, which must then give the
// same logits. (No training step: the unit tests train; this program checks the target's usage
// requirements, and a trainer would double its compile time.)
#include <unistd.h>

#include <moerb/moerb_io.hpp>

#include <cstdint>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

int main() {
  using MoE = moerb::MixtralMoE<float>;
  moerb::TransformerConfig trunk{.vocab_size = 20,
                                 .d_model = 8,
                                 .num_heads = 2,
                                 .num_layers = 2,
                                 .max_positions = 16,
                                 .moe_every = 2};
  moerb::FeedForwardSpec<MoE> ffn;
  ffn.router = {.input_dim = 8, .num_experts = 4, .k = 2};
  ffn.moe.expert = {.d_model = 8, .d_ff = 6};
  moerb::EncoderClassifier<MoE> model({.transformer = trunk, .num_classes = 2}, ffn);
  moerb::Rng rng(1);
  model.initialize(rng);

  const auto path = std::filesystem::temp_directory_path() /
                    ("moerb_consumer_io_" + std::to_string(::getpid()) + ".safetensors");
  moerb::save_checkpoint(model, path);
  auto copy = model;
  moerb::Rng other(2);
  copy.initialize(other);
  moerb::load_checkpoint(copy, path);
  std::filesystem::remove(path);

  moerb::TokenBatch batch;
  const std::vector<std::int32_t> ids{2, 5, 3};
  batch.push_back(ids);
  const moerb::Matrix<float> a = model.forward(batch, {});
  const moerb::Matrix<float> b = copy.forward(batch, {});
  if ((a - b).norm() != 0.0f) {
    std::cerr << "consumer io check failed: reloaded logits differ\n";
    return 1;
  }
  std::cout << "moerb::io consumer OK\n";
  return 0;
}
