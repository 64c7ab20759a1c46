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
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "moerb/data/advglue.hpp"
#include "moerb/data/detail/text.hpp"
#include "moerb/data/encode.hpp"
#include "moerb/data/glue_tsv.hpp"
#include "moerb/data/jsonl.hpp"
#include "moerb/evaluation/classifier_evaluation.hpp"
#include "moerb/experts/gated_expert.hpp"
#include "moerb/io/checkpoint.hpp"
#include "moerb/layers/dense_ffn.hpp"
#include "moerb/layers/moe_layer.hpp"
#include "moerb/metrics/calibration.hpp"
#include "moerb/metrics/classification.hpp"
#include "moerb/metrics/confidence.hpp"
#include "moerb/metrics/metric_set.hpp"
#include "moerb/metrics/routing.hpp"
#include "moerb/models/encoder_classifier.hpp"
#include "moerb/routing/top_k_router.hpp"
#include "moerb/text/word_tokenizer.hpp"

namespace {

using namespace moerb;
using MoE = MoELayer<TopKRouter<float>, SwiGLUExpert<float>>;
using Dense = DenseFFN<SwiGLUExpert<float>>;
using Metadata = std::map<std::string, std::string>;

struct Settings {
  std::filesystem::path checkpoint, data, tokenizer;
  std::string format = "auto", task, text_a, text_b, label_column;
  std::vector<std::string> labels;
  std::size_t max_length = 0;
  EvaluationOptions evaluation;
  BootstrapOptions bootstrap;
  Index bins = 15;
  bool equal_mass = false;
  Index inference_k = 0;
};

// ---- the model, rebuilt from the checkpoint's metadata
// -------------------------------------------

std::string field(const Metadata& m, const std::string& key) {
  const auto it = m.find(key);
  MOERB_REQUIRE(it != m.end(), "the checkpoint's metadata lacks '", key,
                "' (was it saved by save_checkpoint from an EncoderClassifier?)");
  return it->second;
}

Index index_field(const Metadata& m, const std::string& key) {
  const std::string v = field(m, key);
  const std::optional<Index> x = detail::parse_unsigned<Index>(v);
  MOERB_REQUIRE(x.has_value(), "the checkpoint's metadata has ", key, " = '", v,
                "', expected a non-negative integer");
  return *x;
}

TransformerConfig config_from(const Metadata& m) {
  TransformerConfig c;
  c.vocab_size = index_field(m, "vocab_size");
  c.d_model = index_field(m, "d_model");
  c.num_heads = index_field(m, "num_heads");
  c.num_layers = index_field(m, "num_layers");
  c.max_positions = index_field(m, "max_positions");
  c.position =
      field(m, "position") == "rotary" ? PositionEncoding::rotary : PositionEncoding::learned;
  c.num_segments = index_field(m, "num_segments");
  c.moe_every = index_field(m, "moe_every");
  c.attention_bias = field(m, "attention_bias") == "true";
  c.dropout = 0;
  return c;
}

template <class FFN>
typename EncoderClassifier<FFN>::Options classifier_options(const Metadata& m) {
  typename EncoderClassifier<FFN>::Options o;
  o.transformer = config_from(m);
  o.num_classes = index_field(m, "num_classes");
  o.pooling = field(m, "pooling") == "mean" ? Pooling::mean : Pooling::first;
  o.head_hidden = index_field(m, "head_hidden");
  return o;
}

FeedForwardSpec<MoE> moe_spec(const Metadata& m) {
  const std::string router = field(m, "ffn.router");
  MOERB_REQUIRE(router == TopKRouter<float>::name, "the checkpoint's router is ", router,
                "; this program rebuilds TopKRouter models (instantiate EncoderClassifier with "
                "your router type to evaluate others)");
  FeedForwardSpec<MoE> spec;
  const Index d_model = index_field(m, "d_model");
  spec.router.input_dim = d_model;
  spec.router.num_experts = index_field(m, "ffn.num_experts");
  spec.router.k = index_field(m, "ffn.k");
  spec.router.renormalize = field(m, "ffn.renormalize") == "true";
  spec.moe.num_shared_experts = index_field(m, "ffn.num_shared_experts");
  spec.moe.expert.d_model = d_model;
  spec.moe.expert.d_ff = index_field(m, "ffn.d_ff");
  spec.dense = spec.moe.expert;
  spec.dense.d_ff = index_field(m, "ffn.dense_d_ff");
  return spec;
}

FeedForwardSpec<Dense> dense_spec(const Metadata& m) {
  FeedForwardSpec<Dense> spec;
  spec.dense.d_model = index_field(m, "d_model");
  spec.dense.d_ff = index_field(m, "ffn.d_ff");
  return spec;
}

// ---- the data ----------------------------------------------------------------------------------

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) out.push_back(item);
  return out;
}

std::string resolved_format(const Settings& s) {
  if (s.format != "auto") return s.format;
  const std::string ext = s.data.extension().string();
  if (ext == ".tsv") return "tsv";
  if (ext == ".jsonl") return s.task == "anli" ? "anli" : "jsonl";
  if (ext == ".json") return "advglue";
  throw error(detail::concat("cannot tell the format of '", s.data.string(),
                             "' from its extension; pass --format tsv|jsonl|anli|advglue"));
}

GlueTsvFields tsv_fields(const Settings& s, const Metadata& m) {
  static const std::map<std::string, GlueTsvFields (*)()> presets = {
      {"sst2", &GlueTsvFields::sst2}, {"mnli", &GlueTsvFields::mnli},
      {"rte", &GlueTsvFields::rte},   {"qnli", &GlueTsvFields::qnli},
      {"qqp", &GlueTsvFields::qqp},   {"mrpc", &GlueTsvFields::mrpc},
      {"wnli", &GlueTsvFields::wnli}};
  GlueTsvFields f;
  if (!s.task.empty()) {
    const auto it = presets.find(s.task);
    MOERB_REQUIRE(it != presets.end(), "--task ", s.task,
                  " is not a GLUE TSV preset (sst2, mnli, rte, qnli, qqp, mrpc, wnli)");
    f = it->second();
  } else if (const auto it = m.find("label_names"); it != m.end()) {
    f.label_names = split_commas(it->second);
  }
  if (!s.text_a.empty()) f.text_a = s.text_a;
  if (!s.text_b.empty()) f.text_b = s.text_b;
  if (!s.label_column.empty()) f.label = s.label_column;
  if (!s.labels.empty()) f.label_names = s.labels;
  MOERB_REQUIRE(!f.label_names.empty(), "the class names of '", s.data.string(),
                "' are unknown: pass --labels a,b,... or --task");
  return f;
}

TextDataset read_data(const Settings& s, const Metadata& m) {
  const std::string format = resolved_format(s);
  if (format == "tsv") return read_glue_tsv(s.data, tsv_fields(s, m));
  if (format == "jsonl" || format == "anli") {
    JsonlFields f = format == "anli" ? JsonlFields::anli() : JsonlFields::snli();
    if (!s.text_a.empty()) f.text_a = s.text_a;
    if (!s.text_b.empty()) f.text_b = s.text_b;
    if (!s.label_column.empty()) f.label = s.label_column;
    if (!s.labels.empty()) f.label_names = s.labels;
    return read_jsonl(s.data, f);
  }
  if (format == "advglue") {
    MOERB_REQUIRE(!s.task.empty(),
                  "AdvGLUE needs --task (one of: ", detail::join(advglue_tasks_in(s.data), ", "),
                  ")");
    return read_advglue(s.data, s.task);
  }
  throw error(
      detail::concat("--format ", format, " is not one of auto, tsv, jsonl, anli, advglue"));
}

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
  const WordTokenizer tokenizer = WordTokenizer::load(s.tokenizer);
  MOERB_REQUIRE(static_cast<Index>(tokenizer.vocab_size()) == model.config().vocab_size,
                "the tokenizer '", s.tokenizer.string(), "' has ", tokenizer.vocab_size(),
                " words but the model's vocabulary has ", model.config().vocab_size);

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
  app.add_option("-f,--format", s.format, "auto, tsv, jsonl, anli or advglue")
      ->check(CLI::IsMember({"auto", "tsv", "jsonl", "anli", "advglue"}));
  app.add_option("--task", s.task, "AdvGLUE task, or GLUE TSV preset (sst2, mnli, rte, ...)");
  app.add_option("--text-a", s.text_a, "column or member of the first text");
  app.add_option("--text-b", s.text_b, "column or member of the second text");
  app.add_option("--label-column", s.label_column, "column or member of the label");
  app.add_option("--labels", s.labels, "class names, in the model's class order")->delimiter(',');
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
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    const Metadata metadata = SafetensorsFile::open(s.checkpoint).metadata();
    MOERB_REQUIRE(field(metadata, "model") == "EncoderClassifier", "'", s.checkpoint.string(),
                  "' holds a ", field(metadata, "model"), ", expected an EncoderClassifier");
    MOERB_REQUIRE(field(metadata, "norm") == "layer_norm", "the checkpoint's norm is ",
                  field(metadata, "norm"), "; this program rebuilds LayerNorm models");
    if (s.tokenizer.empty()) {
      const auto it = metadata.find("tokenizer");
      MOERB_REQUIRE(it != metadata.end(),
                    "the checkpoint names no tokenizer file; pass --tokenizer PATH");
      s.tokenizer = s.checkpoint.parent_path() / it->second;
    }
    const std::string ffn = field(metadata, "ffn");
    if (ffn == "moe") return evaluate<MoE>(s, metadata, moe_spec(metadata));
    if (ffn == "dense") return evaluate<Dense>(s, metadata, dense_spec(metadata));
    throw error(detail::concat("the checkpoint's ffn is '", ffn, "', expected moe or dense"));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "evaluate_checkpoint: %s\n", e.what());
    return 1;
  }
}
