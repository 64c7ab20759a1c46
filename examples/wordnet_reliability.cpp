// wordnet_reliability: the library's training path end to end on real text that ships with
// Debian (wordnet-base). It trains a Mixture-of-Experts classifier and its dense counterpart (same
// trunk, dense FFN with the MoE's active parameter count) to name a WordNet definition's topic,
// then measures what the reliability study looks at:
//   - in-distribution accuracy (held-out definitions),
//   - accuracy under a style shift (the synsets' example sentences instead of definitions),
//   - the MoE model evaluated with top-1 and top-4 routing instead of top-2, and with the
//     random-routing baseline,
//   - how well each model's scores tell the shifted inputs from in-distribution ones (AUROC of
//     the maximum softmax probability and the energy score),
//   - how evenly the trained router spreads tokens over experts,
// and saves both models as safetensors checkpoints (reloaded and checked), with the tokenizer and
// the dev and shifted test sets as TSV files, which evaluate_checkpoint reads:
//
//   scripts/demo.sh                      (installs what is missing, builds, runs the demos)
//   build/release/examples/wordnet_reliability [output-dir] [seed]
//   build/release/examples/evaluate_checkpoint <output-dir>/moe_classifier.safetensors
//   <output-dir>/shifted_test.tsv
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "moerb/core/detail/atomic_file.hpp"
#include "moerb/core/gemm_engine.hpp"
#include "moerb/data/encode.hpp"
#include "moerb/data/wordnet.hpp"
#include "moerb/evaluation/ood_evaluation.hpp"
#include "moerb/experts/gated_expert.hpp"
#include "moerb/io/checkpoint.hpp"
#include "moerb/layers/dense_ffn.hpp"
#include "moerb/layers/moe_layer.hpp"
#include "moerb/metrics/confidence.hpp"
#include "moerb/metrics/ood.hpp"
#include "moerb/models/encoder_classifier.hpp"
#include "moerb/routing/top_k_router.hpp"
#include "moerb/text/word_tokenizer.hpp"
#include "moerb/train/trainer.hpp"

namespace {

using namespace moerb;
using MoE = MoELayer<TopKRouter<float>, SwiGLUExpert<float>>;
using Dense = DenseFFN<SwiGLUExpert<float>>;

constexpr std::size_t max_length = 32;

struct Data {
  WordNetTask task;
  std::optional<WordTokenizer> tokenizer;  // set by load()
  std::vector<EncodedExample> train, dev, shifted;
  Index vocab_size = 0;
  Index num_classes = 0;
};

Data load(std::uint64_t seed) {
  Data d;
  WordNetStyleShiftOptions o;
  o.max_train_per_class = 400;
  o.max_test_per_class = 100;
  o.seed = seed;
  d.task = wordnet_style_shift_task(o);
  std::vector<std::string> corpus;
  for (const auto& e : d.task.train.examples) corpus.push_back(e.text_a);
  WordTokenizer::Options to;
  to.min_count = 2;
  d.tokenizer = WordTokenizer::train(corpus, to);
  d.vocab_size = static_cast<Index>(d.tokenizer->vocab_size());
  d.num_classes = static_cast<Index>(d.task.train.label_names.size());
  d.train = encode_dataset(*d.tokenizer, d.task.train, max_length);
  d.dev = encode_dataset(*d.tokenizer, d.task.dev, max_length);
  d.shifted = encode_dataset(*d.tokenizer, d.task.test, max_length);
  return d;
}

TransformerConfig trunk_config(const Data& d) {
  TransformerConfig c;
  c.vocab_size = d.vocab_size;
  c.d_model = 64;
  c.num_heads = 4;
  c.num_layers = 2;
  c.max_positions = 32;
  return c;
}

Recipe recipe(std::uint64_t seed) {
  Recipe r;
  r.learning_rate = 2e-3;
  r.batch_size = 32;
  r.epochs = 5;
  r.dropout = 0.1;
  r.expert_dropout = 0.1;
  r.early_stopping_patience = 2;
  r.seed = seed;
  return r;
}

template <class FFN>
EncoderClassifier<FFN> build(const Data& d, FeedForwardSpec<FFN> spec, const Recipe& r,
                             std::uint64_t seed) {
  TransformerConfig c = trunk_config(d);
  apply_recipe(r, c, spec);
  typename EncoderClassifier<FFN>::Options o;
  o.transformer = c;
  o.num_classes = d.num_classes;
  EncoderClassifier<FFN> model(o, spec);
  Rng rng(seed);
  model.initialize(rng);
  return model;
}

template <class Model>
double accuracy(Model& model, const std::vector<EncodedExample>& data) {
  return ClassificationTask::evaluate(model, std::span<const EncodedExample>(data), 64);
}

/// What evaluate_checkpoint needs beyond the architecture: the class names, the tokenizer file
/// (next to the checkpoint) and the examples' token budget.
std::map<std::string, std::string> checkpoint_metadata(const Data& d) {
  std::string names;
  for (const auto& n : d.task.train.label_names) names += (names.empty() ? "" : ",") + n;
  return {{"label_names", names},
          {"tokenizer", "tokenizer.txt"},
          {"max_length", std::to_string(max_length)}};
}

/// Writes `data` as a GLUE-style TSV (sentence, label name), atomically.
void write_tsv(const TextDataset& data, const std::filesystem::path& path) {
  std::string text = "sentence\tlabel\n";
  for (const TextExample& e : data.examples) {
    std::string sentence = e.text_a;
    for (char& c : sentence) {
      if (c == '\t' || c == '\n' || c == '\r') c = ' ';
    }
    text += sentence + "\t" + data.label_names[static_cast<std::size_t>(e.label)] + "\n";
  }
  detail::write_file_atomically(path, "wordnet_reliability", [&](const detail::WriteChunk& write) {
    write(text.data(), text.size());
  });
}

template <class Model>
void save_and_check(Model& model, const std::filesystem::path& path, const Data& d) {
  save_checkpoint(model, path, checkpoint_metadata(d));
  Model copy = model;
  Rng rng(12345);
  copy.initialize(rng);  // different weights, then the file's
  load_checkpoint(copy, path);
  const double a = accuracy(model, d.dev), b = accuracy(copy, d.dev);
  std::printf("  saved %s (%.1f KiB); reloaded model's dev accuracy %.3f (%s)\n",
              path.string().c_str(), static_cast<double>(std::filesystem::file_size(path)) / 1024,
              b, a == b ? "identical" : "DIFFERENT");
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::filesystem::path out_dir =
        argc > 1 ? std::filesystem::path(argv[1])
                 : std::filesystem::temp_directory_path() / "moerb_wordnet_reliability";
    const std::uint64_t seed = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 7;
    std::filesystem::create_directories(out_dir);
    // Kernels narrower than the CPU (an OpenBLAS older than it, no -march=native) train slower.
    if (const std::string note = gemm_engine_kernel_warning(); !note.empty()) {
      std::fprintf(stderr, "note: %s\n", note.c_str());
    }

    std::printf("Loading WordNet from %s ...\n", WordNet::default_directory().c_str());
    const Data d = load(seed);
    std::printf("%s\nvocabulary: %ld words\n\n", d.task.summary.c_str(),
                static_cast<long>(d.vocab_size));

    const Recipe r = recipe(seed);
    FeedForwardSpec<MoE> moe_spec;
    moe_spec.router.input_dim = 64;
    moe_spec.router.num_experts = 8;
    moe_spec.router.k = 2;
    moe_spec.moe.expert.d_model = 64;
    moe_spec.moe.expert.d_ff = 96;
    auto moe = build(d, moe_spec, r, seed);

    FeedForwardSpec<Dense> dense_spec;
    dense_spec.dense = dense_options_for_active_params(*moe.trunk().block(0).ffn().sparse());
    dense_spec.dense.expert_dropout = 0;
    auto dense = build(d, dense_spec, r, seed);
    std::printf("MoE: 8 SwiGLU experts (d_ff 96), top-2; dense counterpart: d_ff %ld\n",
                static_cast<long>(dense_spec.dense.d_ff));

    std::printf("\nTraining the MoE classifier ...\n");
    const TrainResult moe_run = ClassifierTrainer<decltype(moe)>(moe, r).fit(d.train, d.dev);
    std::printf("\nTraining the dense classifier ...\n");
    const TrainResult dense_run = ClassifierTrainer<decltype(dense)>(dense, r).fit(d.train, d.dev);

    const double majority = d.task.test.majority_fraction();
    std::printf("\n%-28s %10s %10s\n", "", "MoE", "dense");
    std::printf("%-28s %10.0f %10.0f\n", "training tokens/s", moe_run.tokens_per_second,
                dense_run.tokens_per_second);
    std::printf("%-28s %10.3f %10.3f\n", "dev accuracy (definitions)", accuracy(moe, d.dev),
                accuracy(dense, d.dev));
    std::printf("%-28s %10.3f %10.3f   (majority baseline %.3f)\n", "shifted accuracy (examples)",
                accuracy(moe, d.shifted), accuracy(dense, d.shifted), majority);

    // Can the models tell the style shift? Definitions (dev) are in-distribution, example
    // sentences (shifted) out-of-distribution; higher scores should mean in-distribution.
    std::printf("\nOOD detection, dev definitions vs example sentences (AUROC; 0.5 = chance):\n");
    for (const char* name : {"max softmax probability", "energy"}) {
      std::printf("  %-26s", name);
      const auto run = [&](auto& model, const char* label) {
        OodDetection detection;
        const std::span<const EncodedExample> in(d.dev), out(d.shifted);
        if (std::string_view(name) == "energy") {
          evaluate_ood(model, in, out, Energy{}, detection);
        } else {
          evaluate_ood(model, in, out, MaxSoftmaxProbability{}, detection);
        }
        const ConfidenceInterval ci =
            bootstrap_ci(detection, BootstrapOptions{}, &OodSummary::auroc);
        std::printf("  %s %.3f [%.3f, %.3f]", label, ci.estimate, ci.lower, ci.upper);
      };
      run(moe, "MoE");
      run(dense, "dense");
      std::printf("\n");
    }

    std::printf("\nMoE inference techniques (shifted accuracy):\n");
    for (Index k : {1, 4}) {
      moe.set_inference_k(k);
      std::printf("  top-%ld at inference: %.3f\n", static_cast<long>(k), accuracy(moe, d.shifted));
    }
    moe.set_inference_k(2);
    moe.set_random_inference_routing(true);
    std::printf("  random routing:       %.3f\n", accuracy(moe, d.shifted));
    moe.set_random_inference_routing(false);

    // Router load over the dev set, first MoE block.
    {
      TokenBatch batch;
      for (const auto& e : d.dev) batch.push_back(e.ids, e.segments);
      moe.forward(batch, ForwardContext{});
      const auto trace = moe.trace();
      for (const auto& layer : trace.moe_layers) {
        std::printf("\nblock %ld expert load on the dev set:", static_cast<long>(layer.layer));
        for (Index l : layer.load) std::printf(" %ld", static_cast<long>(l));
        std::printf("  (load-balancing loss %.3f; 1.0 = uniform)", layer.load_balancing_loss);
      }
      std::printf("\n");
    }

    std::printf("\nCheckpoints:\n");
    save_and_check(moe, out_dir / "moe_classifier.safetensors", d);
    save_and_check(dense, out_dir / "dense_classifier.safetensors", d);
    d.tokenizer->save(out_dir / "tokenizer.txt");
    write_tsv(d.task.dev, out_dir / "dev.tsv");
    write_tsv(d.task.test, out_dir / "shifted_test.tsv");
    std::printf("  tokenizer.txt, dev.tsv and shifted_test.tsv written to %s\n",
                out_dir.string().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wordnet_reliability: %s\n", e.what());
    return 1;
  }
}
