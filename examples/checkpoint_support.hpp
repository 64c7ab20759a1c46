#pragma once
// Shared by the examples that load a saved EncoderClassifier checkpoint (evaluate_checkpoint,
// attack_classifier): the model rebuilt from the checkpoint's metadata (TopKRouter + SwiGLU MoE, or
// the dense SwiGLU counterpart, LayerNorm), its tokenizer, and the data-file readers with their
// command-line options.
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
#include "moerb/data/glue_tsv.hpp"
#include "moerb/data/jsonl.hpp"
#include "moerb/experts/gated_expert.hpp"
#include "moerb/io/checkpoint.hpp"
#include "moerb/io/safetensors.hpp"
#include "moerb/layers/dense_ffn.hpp"
#include "moerb/layers/moe_layer.hpp"
#include "moerb/models/encoder_classifier.hpp"
#include "moerb/routing/top_k_router.hpp"
#include "moerb/text/word_tokenizer.hpp"

namespace moerb_examples {

using namespace moerb;
using MoE = MoELayer<TopKRouter<float>, SwiGLUExpert<float>>;
using Dense = DenseFFN<SwiGLUExpert<float>>;
using Metadata = std::map<std::string, std::string>;

/// Where the data comes from and how to read it (the options add_data_options declares).
struct DataSettings {
  std::filesystem::path data;
  std::string format = "auto", task, text_a, text_b, label_column;
  std::vector<std::string> labels;
};

// ---- the model, rebuilt from the checkpoint's metadata
// -------------------------------------------

inline std::string field(const Metadata& m, const std::string& key) {
  const auto it = m.find(key);
  MOERB_REQUIRE(it != m.end(), "the checkpoint's metadata lacks '", key,
                "' (was it saved by save_checkpoint from an EncoderClassifier?)");
  return it->second;
}

inline Index index_field(const Metadata& m, const std::string& key) {
  const std::string v = field(m, key);
  const std::optional<Index> x = detail::parse_unsigned<Index>(v);
  MOERB_REQUIRE(x.has_value(), "the checkpoint's metadata has ", key, " = '", v,
                "', expected a non-negative integer");
  return *x;
}

inline TransformerConfig config_from(const Metadata& m) {
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

inline FeedForwardSpec<MoE> moe_spec(const Metadata& m) {
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

inline FeedForwardSpec<Dense> dense_spec(const Metadata& m) {
  FeedForwardSpec<Dense> spec;
  spec.dense.d_model = index_field(m, "d_model");
  spec.dense.d_ff = index_field(m, "ffn.d_ff");
  return spec;
}

// ---- the data ----------------------------------------------------------------------------------

inline std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) out.push_back(item);
  return out;
}

inline std::string resolved_format(const DataSettings& s) {
  if (s.format != "auto") return s.format;
  const std::string ext = s.data.extension().string();
  if (ext == ".tsv") return "tsv";
  if (ext == ".jsonl") return s.task == "anli" ? "anli" : "jsonl";
  if (ext == ".json") return "advglue";
  throw error(detail::concat("cannot tell the format of '", s.data.string(),
                             "' from its extension; pass --format tsv|jsonl|anli|advglue"));
}

inline GlueTsvFields tsv_fields(const DataSettings& s, const Metadata& m) {
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

inline TextDataset read_data(const DataSettings& s, const Metadata& m) {
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

/// The data options shared by the examples.
inline void add_data_options(CLI::App& app, DataSettings& s) {
  app.add_option("-f,--format", s.format, "auto, tsv, jsonl, anli or advglue")
      ->check(CLI::IsMember({"auto", "tsv", "jsonl", "anli", "advglue"}));
  app.add_option("--task", s.task, "AdvGLUE task, or GLUE TSV preset (sst2, mnli, rte, ...)");
  app.add_option("--text-a", s.text_a, "column or member of the first text");
  app.add_option("--text-b", s.text_b, "column or member of the second text");
  app.add_option("--label-column", s.label_column, "column or member of the label");
  app.add_option("--labels", s.labels, "class names, in the model's class order")->delimiter(',');
}

/// The checkpoint's metadata, checked to describe a model these examples rebuild; fills
/// `tokenizer` from the metadata when it is empty.
inline Metadata checkpoint_metadata(const std::filesystem::path& checkpoint,
                                    std::filesystem::path& tokenizer) {
  Metadata metadata = SafetensorsFile::open(checkpoint).metadata();
  MOERB_REQUIRE(field(metadata, "model") == "EncoderClassifier", "'", checkpoint.string(),
                "' holds a ", field(metadata, "model"), ", expected an EncoderClassifier");
  MOERB_REQUIRE(field(metadata, "norm") == "layer_norm", "the checkpoint's norm is ",
                field(metadata, "norm"), "; this program rebuilds LayerNorm models");
  if (tokenizer.empty()) {
    const auto it = metadata.find("tokenizer");
    MOERB_REQUIRE(it != metadata.end(),
                  "the checkpoint names no tokenizer file; pass --tokenizer PATH");
    tokenizer = checkpoint.parent_path() / it->second;
  }
  return metadata;
}

/// Loads the tokenizer and checks that it matches the model's vocabulary.
template <class Model>
WordTokenizer load_tokenizer(const std::filesystem::path& path, const Model& model) {
  WordTokenizer tokenizer = WordTokenizer::load(path);
  MOERB_REQUIRE(static_cast<Index>(tokenizer.vocab_size()) == model.config().vocab_size,
                "the tokenizer '", path.string(), "' has ", tokenizer.vocab_size(),
                " words but the model's vocabulary has ", model.config().vocab_size);
  return tokenizer;
}

/// Calls run.template operator()<FFN>(spec) with the feed-forward type the metadata names.
template <class Run>
int with_feed_forward(const Metadata& metadata, Run&& run) {
  const std::string ffn = field(metadata, "ffn");
  if (ffn == "moe") return run(moe_spec(metadata));
  if (ffn == "dense") return run(dense_spec(metadata));
  throw error(detail::concat("the checkpoint's ffn is '", ffn, "', expected moe or dense"));
}

/// The programs' main: parses the command line (CLI11's exit code for --help or a parse error),
/// reads the checkpoint's metadata and calls run.template operator()<FFN>(metadata, spec) for the
/// feed-forward type it names. Any exception is printed as "<program>: <message>" and gives 1.
template <class Run>
int parse_and_run(CLI::App& app, int argc, char** argv, const char* program,
                  const std::filesystem::path& checkpoint, std::filesystem::path& tokenizer,
                  Run&& run) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    const Metadata metadata = checkpoint_metadata(checkpoint, tokenizer);
    return with_feed_forward(metadata, [&]<class FFN>(const FeedForwardSpec<FFN>& spec) {
      return run.template operator()<FFN>(metadata, spec);
    });
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", program, e.what());
    return 1;
  }
}

}  // namespace moerb_examples
