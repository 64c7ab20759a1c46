// evaluate_checkpoint: evaluates a saved EncoderClassifier checkpoint (an MoE model with top-k
// routed SwiGLU experts, or its dense SwiGLU counterpart, as wordnet_reliability saves them) with
// its tokenizer on a data file named on the command line, and prints
//   - accuracy with its Wilson and bootstrap 95 % intervals, and macro-F1,
//   - calibration: ECE (equal-width or equal-mass bins), MCE, Brier score and NLL, with bootstrap
//     intervals,
//   - for MoE models, the routing of every MoE block: load entropy, coefficient of variation,
//     max/mean load, drop rate and unrouted-token rate.
// The architecture is rebuilt from the checkpoint's metadata (save_checkpoint stores it), so the
// program needs no model flags.
//
//   build/release/examples/wordnet_reliability /tmp/wr        (saves the checkpoints and data)
//   build/release/examples/evaluate_checkpoint /tmp/wr/moe_classifier.safetensors
//   /tmp/wr/shifted_test.tsv evaluate_checkpoint model.safetensors dev.json --format advglue --task
//   sst2 -t tokenizer.txt evaluate_checkpoint model.safetensors anli_r1_dev.jsonl --format anli -t
//   tokenizer.txt
//
// Data formats: GLUE-style TSV (--task names a GLUE preset: sst2, mnli, rte, qnli, qqp, mrpc,
// wnli; otherwise --text-a/--text-b/--label-column/--labels, or the label names stored in the
// checkpoint), SNLI/MultiNLI JSONL ("jsonl"), ANLI JSONL ("anli") and AdvGLUE dev.json
// ("advglue", with --task). `--format auto` picks by extension: .tsv, .jsonl, .json (AdvGLUE).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "checkpoint_support.hpp"
#include "moerb/data/encode.hpp"
#include "moerb/evaluation/classifier_evaluation.hpp"
#include "moerb/metrics/calibration.hpp"
#include "moerb/metrics/classification.hpp"
#include "moerb/metrics/confidence.hpp"
#include "moerb/metrics/metric_set.hpp"
#include "moerb/metrics/routing.hpp"

namespace {

using namespace moerb;
using namespace moerb_examples;

struct Settings : DataSettings {
  std::filesystem::path checkpoint, tokenizer;
  std::size_t max_length = 0;
  EvaluationOptions evaluation;
  BootstrapOptions bootstrap;
  Index bins = 15;
  bool equal_mass = false;
  Index inference_k = 0;
};

// ---- evaluation and report ---------------------------------------------------------------------

void print_interval(const char* name, const ConfidenceInterval& ci, const char* how) {
  std::printf("  %-22s %.4f   [%.4f, %.4f] %s\n", name, ci.estimate, ci.lower, ci.upper, how);
}

template <class FFN>
int evaluate(const Settings& s, const Metadata& metadata, const FeedForwardSpec<FFN>& spec) {
  EncoderClassifier<FFN> model(classifier_options<FFN>(metadata), spec);
  load_checkpoint(model, s.checkpoint);  // checks the rebuilt architecture against the metadata
  if (s.inference_k > 0) {
    MOERB_REQUIRE(model.set_inference_k(s.inference_k) > 0,
                  "--inference-k: the model has no MoE block whose router takes it");
  }
  const WordTokenizer tokenizer = load_tokenizer(s.tokenizer, model);

  const TextDataset data = read_data(s, metadata);
  MOERB_REQUIRE(static_cast<Index>(data.label_names.size()) == model.num_classes(), "'",
                s.data.string(), "' has ", data.label_names.size(), " classes but the model has ",
                model.num_classes());
  std::size_t max_length = s.max_length;
  if (max_length == 0) {
    max_length = static_cast<std::size_t>(metadata.contains("max_length")
                                              ? index_field(metadata, "max_length")
                                              : model.config().max_positions);
  }
  const std::vector<EncodedExample> examples = encode_dataset(tokenizer, data, max_length);

  Calibration::Options calibration;
  calibration.num_bins = s.bins;
  calibration.binning =
      s.equal_mass ? CalibrationBinning::equal_mass : CalibrationBinning::equal_width;
  MetricSet<Accuracy, MacroF1, Calibration, ModelExpertLoad> metrics(
      Accuracy{}, MacroF1{}, Calibration(calibration), ModelExpertLoad{});
  evaluate_classifier(model, std::span<const EncodedExample>(examples), metrics, s.evaluation);

  std::printf("%s\n", data.balance_summary().c_str());
  std::printf("model: %s, %s\n\n", s.checkpoint.filename().string().c_str(),
              is_moe_layer_v<FFN> ? "MoE" : "dense");
  const auto& accuracy = metrics.template get<Accuracy>();
  const auto& calib = metrics.template get<Calibration>();
  char bootstrap[64];
  std::snprintf(bootstrap, sizeof bootstrap, "bootstrap, B = %ld",
                static_cast<long>(s.bootstrap.resamples));
  print_interval("accuracy", accuracy.wilson(s.bootstrap.level), "Wilson");
  print_interval("accuracy", bootstrap_ci(accuracy, s.bootstrap), bootstrap);
  print_interval("macro-F1", bootstrap_ci(metrics.template get<MacroF1>(), s.bootstrap), bootstrap);
  const std::string ece_name =
      detail::concat("ECE (", s.bins, s.equal_mass ? " equal-mass)" : " equal-width)");
  print_interval(ece_name.c_str(), bootstrap_ci(calib, s.bootstrap, &CalibrationSummary::ece),
                 bootstrap);
  print_interval("MCE", bootstrap_ci(calib, s.bootstrap, &CalibrationSummary::mce), bootstrap);
  print_interval("Brier score", bootstrap_ci(calib, s.bootstrap, &CalibrationSummary::brier),
                 bootstrap);
  print_interval("NLL", bootstrap_ci(calib, s.bootstrap, &CalibrationSummary::nll), bootstrap);

  if constexpr (is_moe_layer_v<FFN>) {
    std::printf("\nrouting (per MoE block; entropy 1 and CV 0 = uniform load):\n");
    std::printf("  %-6s %9s %9s %9s %9s %9s   %s\n", "block", "entropy", "CV", "max/mean",
                "dropped", "unrouted", "load per expert");
    const auto loads = metrics.template get<ModelExpertLoad>().value();
    const auto& layers = metrics.template get<ModelExpertLoad>().layers();
    for (std::size_t i = 0; i < loads.size(); ++i) {
      const ExpertLoadSummary& l = loads[i];
      std::printf("  %-6ld %9.4f %9.4f %9.4f %9.4f %9.4f  ", static_cast<long>(layers[i]),
                  l.normalized_entropy, l.coefficient_of_variation, l.max_over_mean, l.drop_rate,
                  l.unrouted_rate);
      for (const auto x : l.load) std::printf(" %ld", static_cast<long>(x));
      std::printf("\n");
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  CLI::App app{"Evaluates a saved moerb EncoderClassifier checkpoint on a data file."};
  app.add_option("checkpoint", s.checkpoint, "the .safetensors checkpoint")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("data", s.data, "the data file (TSV, JSONL, or AdvGLUE dev.json)")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option(
      "-t,--tokenizer", s.tokenizer,
      "the tokenizer file (default: the one the checkpoint's metadata names, next to it)");
  add_data_options(app, s);
  app.add_option("--max-length", s.max_length, "tokens per example (default: the checkpoint's)");
  app.add_option("--batch-size", s.evaluation.batch_size, "examples per forward")
      ->check(CLI::PositiveNumber);
  app.add_option("--threads", s.evaluation.threads, "threads (0 = all cores)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--seed", s.bootstrap.seed, "seed of the bootstrap resamples");
  app.add_option("--bootstrap", s.bootstrap.resamples, "bootstrap resamples")
      ->check(CLI::PositiveNumber);
  app.add_option("--level", s.bootstrap.level, "confidence level")->check(CLI::Range(0.5, 0.999));
  app.add_option("--bins", s.bins, "calibration bins")->check(CLI::PositiveNumber);
  app.add_flag("--equal-mass", s.equal_mass, "equal-mass calibration bins (default equal-width)");
  app.add_option("--inference-k", s.inference_k, "experts per token at inference (MoE)")
      ->check(CLI::PositiveNumber);
  return parse_and_run(app, argc, argv, "evaluate_checkpoint", s.checkpoint, s.tokenizer,
                       [&]<class FFN>(const Metadata& metadata, const FeedForwardSpec<FFN>& spec) {
                         return evaluate<FFN>(s, metadata, spec);
                       });
}
