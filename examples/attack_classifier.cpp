// attack_classifier: attacks a saved EncoderClassifier checkpoint (MoE or dense, as
// wordnet_reliability saves them) on a data file named on the command line with a recipe named by
// a flag, writes one result per example (CSV or JSONL) and prints the summary table.
//
//   build/release/examples/wordnet_reliability /tmp/wr        (saves the checkpoints and data)
//   build/release/examples/attack_classifier /tmp/wr/moe_classifier.safetensors
//       /tmp/wr/dev.tsv --recipe textfooler --output /tmp/wr/textfooler.csv
//   attack_classifier model.safetensors anli_r1_dev.jsonl --format anli --recipe pwws -n 200
//   attack_classifier model.safetensors dev.tsv --recipe pgd --epsilons 0,0.002,0.005,0.01
//
// Recipes (moerb/attacks/recipes.hpp, hotflip.hpp, embedding_pgd.hpp): textfooler, pwws,
// deepwordbug, textbugger, corruption (with --severity 1-5), hotflip, pgd (robust accuracy
// under embedding PGD for each --epsilons value) and router (MoE only: how much the router
// attack changes routing and accuracy, next to a random perturbation of the same budget). The
// lexical recipes read WordNet from --wordnet (default: Debian's wordnet-base directory);
// TextFooler and TextBugger take their neighbours from the victim's own word embedding table. Data
// formats as evaluate_checkpoint: GLUE TSV, SNLI/MNLI JSONL, ANLI JSONL, AdvGLUE; pairs are
// attacked on their second side (the hypothesis).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "checkpoint_support.hpp"
#include "moerb/attacks/attack_result.hpp"
#include "moerb/attacks/embedding_pgd.hpp"
#include "moerb/attacks/hotflip.hpp"
#include "moerb/attacks/recipes.hpp"
#include "moerb/attacks/router_attack.hpp"
#include "moerb/data/encode.hpp"
#include "moerb/io/attack_results.hpp"

namespace {

using namespace moerb;
using namespace moerb_examples;

struct Settings : DataSettings {
  std::filesystem::path checkpoint, tokenizer, output, wordnet = WordNet::default_directory();
  std::string recipe = "textfooler";
  std::size_t max_examples = 0;
  std::size_t max_length = 0;
  int severity = 3;
  AttackOptions attack;
  RecipeOptions recipe_options;
  std::vector<double> epsilons{0, 0.001, 0.002, 0.005, 0.01, 0.02};
  BootstrapOptions bootstrap;
  double router_epsilon = 0.1;
  Index router_swaps = 2;
};

void print_interval(const char* name, const ConfidenceInterval& ci, const char* how) {
  std::printf("  %-30s %9.4f   [%.4f, %.4f] %s\n", name, ci.estimate, ci.lower, ci.upper, how);
}

void print_summary(const Settings& s, const std::vector<AttackResult>& results, bool moe) {
  const AttackSummary sum = summarize_attacks(results, s.bootstrap);
  std::printf("\n%s attack on %s (%s), %ld examples\n", s.recipe.c_str(),
              s.checkpoint.filename().string().c_str(), moe ? "MoE" : "dense",
              static_cast<long>(sum.examples));
  std::printf("  %-30s %ld / %ld / %ld\n", "succeeded / failed / skipped",
              static_cast<long>(sum.succeeded), static_cast<long>(sum.failed),
              static_cast<long>(sum.skipped));
  print_interval("original accuracy", sum.original_accuracy, "Wilson");
  print_interval("accuracy under attack", sum.accuracy_under_attack, "Wilson");
  print_interval("attack success rate", sum.success_rate, "Wilson");
  print_interval("perturbed words (%)", sum.perturbed_word_percentage, "bootstrap");
  print_interval("words per input", sum.words_per_input, "bootstrap");
  print_interval("queries per attacked example", sum.queries, "bootstrap");
  const double share = sum.seconds > 0 ? 100.0 * sum.model_seconds / sum.seconds : 0.0;
  std::printf("  %-30s %9.2f s  (victim forward/backward %.1f %%)\n", "time", sum.seconds, share);
}

void print_stability(const char* name, const RoutingStabilitySummary& r, double accuracy) {
  std::printf("  %-28s %9.4f %9.4f %9.4f %9.4f %9.4f\n", name, r.top1_change_rate, r.mean_jaccard,
              r.mean_kl, r.mean_js, accuracy);
}

/// The router attack (router_attack.hpp) on every example at once: embedding PGD in an L2 ball of
/// radius --router-epsilon per sequence and gradient-guided token swaps (--router-swaps per
/// sequence), each next to a random perturbation of the same budget.
template <class Model>
int router_report(const Settings& s, Model& model, const WordTokenizer& tokenizer,
                  const TextDataset& data, std::size_t max_length) {
  const std::vector<EncodedExample> encoded = encode_dataset(tokenizer, data, max_length);
  TokenBatch batch;
  std::vector<std::int32_t> labels;
  for (const EncodedExample& e : encoded) {
    batch.push_back(e.ids, e.segments);
    labels.push_back(e.label);
  }
  RouterPGDOptions pgd;
  pgd.epsilon = s.router_epsilon;
  pgd.seed = s.attack.seed;
  const auto embedding = router_attack_embeddings(model, batch, pgd, labels);
  RouterSwapOptions swap;
  swap.max_swaps = s.router_swaps;
  swap.seed = s.attack.seed;
  const auto tokens = router_attack_tokens(model, batch, swap, labels);
  std::printf("\nrouter attack (divergence objective) on %s, %zu sequences; clean accuracy %.4f\n",
              s.checkpoint.filename().string().c_str(), encoded.size(),
              embedding.report.clean_accuracy);
  std::printf("  %-28s %9s %9s %9s %9s %9s\n", "", "top-1 chg", "Jaccard", "KL", "JS", "accuracy");
  char name[64];
  std::snprintf(name, sizeof name, "PGD, L2 eps %.3g", s.router_epsilon);
  print_stability(name, embedding.report.attack, embedding.report.attack_accuracy);
  print_stability("random, same ball", embedding.report.random, embedding.report.random_accuracy);
  std::snprintf(name, sizeof name, "token swaps (%ld per seq.)", static_cast<long>(s.router_swaps));
  print_stability(name, tokens.report.attack, tokens.report.attack_accuracy);
  print_stability("random swaps, same number", tokens.report.random, tokens.report.random_accuracy);
  std::printf("  (%.2f s and %.2f s)\n", embedding.report.seconds, tokens.report.seconds);
  return 0;
}

template <class FFN>
int run(const Settings& s, const Metadata& metadata, const FeedForwardSpec<FFN>& spec) {
  EncoderClassifier<FFN> model(classifier_options<FFN>(metadata), spec);
  load_checkpoint(model, s.checkpoint);
  const WordTokenizer tokenizer = load_tokenizer(s.tokenizer, model);
  TextDataset data = read_data(s, metadata);
  MOERB_REQUIRE(static_cast<Index>(data.label_names.size()) == model.num_classes(), "'",
                s.data.string(), "' has ", data.label_names.size(), " classes but the model has ",
                model.num_classes());
  std::erase_if(data.examples, [](const TextExample& e) { return e.label < 0; });
  if (s.max_examples > 0 && data.examples.size() > s.max_examples) {
    data.examples.resize(s.max_examples);
  }
  MOERB_REQUIRE(!data.examples.empty(), "'", s.data.string(), "' has no labelled example");
  AttackOptions options = s.attack;
  options.max_length = s.max_length > 0 ? s.max_length
                       : metadata.contains("max_length")
                           ? static_cast<std::size_t>(index_field(metadata, "max_length"))
                           : static_cast<std::size_t>(model.config().max_positions);
  std::printf("%s\n", data.balance_summary().c_str());
  constexpr bool moe = is_moe_layer_v<FFN>;

  if (s.recipe == "pgd") {
    const std::vector<EncodedExample> encoded = encode_dataset(tokenizer, data, options.max_length);
    EmbeddingPGDOptions pgd;
    const auto points = robust_accuracy(model, std::span<const EncodedExample>(encoded),
                                        std::span<const double>(s.epsilons), pgd, Rng(options.seed),
                                        s.bootstrap.level);
    std::printf("\nembedding PGD (L-inf, %ld steps, random start) on %s (%s):\n",
                static_cast<long>(pgd.steps), s.checkpoint.filename().string().c_str(),
                moe ? "MoE" : "dense");
    std::printf("  %8s  %9s   %s\n", "epsilon", "accuracy", "Wilson 95 %");
    for (const auto& p : points) {
      std::printf("  %8.3f  %9.4f   [%.4f, %.4f]\n", p.epsilon, p.accuracy.estimate,
                  p.accuracy.lower, p.accuracy.upper);
    }
    return 0;
  }

  if (s.recipe == "router") {
    if constexpr (moe) {
      return router_report(s, model, tokenizer, data, options.max_length);
    } else {
      throw error("--recipe router needs an MoE checkpoint (this one is dense)");
    }
  }

  std::optional<AttackResultStream> stream;
  if (!s.output.empty()) stream.emplace(s.output, attack_result_format(s.output));
  std::vector<AttackResult> results;
  const auto keep = [&](AttackResult&& r) {
    if (stream) stream->write(r);
    results.push_back(std::move(r));
  };
  const auto embeddings = [&] {
    return std::make_shared<const WordEmbeddingIndex<float>>(model.word_embedding_table(),
                                                             tokenizer.vocabulary());
  };
  const auto lexicon = [&] {
    return std::make_shared<const WordNetSynonyms>(WordNetSynonyms::load(s.wordnet));
  };
  const std::span<const TextExample> examples(data.examples);
  if (s.recipe == "textfooler") {
    make_textfooler<float>(embeddings(), lexicon(), s.recipe_options)
        .attack_each(model, tokenizer, examples, options, keep);
  } else if (s.recipe == "pwws") {
    make_pwws(lexicon(), s.recipe_options).attack_each(model, tokenizer, examples, options, keep);
  } else if (s.recipe == "deepwordbug") {
    make_deepwordbug(s.recipe_options).attack_each(model, tokenizer, examples, options, keep);
  } else if (s.recipe == "textbugger") {
    make_textbugger<float>(embeddings(), s.recipe_options)
        .attack_each(model, tokenizer, examples, options, keep);
  } else if (s.recipe == "corruption") {
    make_random_corruption(s.severity).attack_each(model, tokenizer, examples, options, keep);
  } else if (s.recipe == "hotflip") {
    const std::vector<EncodedExample> encoded = encode_dataset(tokenizer, data, options.max_length);
    HotFlipOptions hf;
    hf.query_budget = options.query_budget;
    for (std::size_t i = 0; i < encoded.size(); ++i) {
      keep(hotflip(model, encoded[i], hf, tokenizer, i));
    }
  } else {
    throw error("unknown --recipe " + s.recipe);
  }
  if (stream) {
    stream->commit();
    std::printf("results: %s (%zu rows)\n", s.output.string().c_str(), stream->written());
  }
  print_summary(s, results, moe);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  s.attack.threads = 0;
  CLI::App app{"Attacks a saved moerb EncoderClassifier checkpoint on a data file."};
  app.add_option("checkpoint", s.checkpoint, "the .safetensors checkpoint")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("data", s.data, "the data file (TSV, JSONL, or AdvGLUE dev.json)")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("-r,--recipe", s.recipe,
                 "textfooler, pwws, deepwordbug, textbugger, corruption, hotflip, pgd or router")
      ->check(CLI::IsMember({"textfooler", "pwws", "deepwordbug", "textbugger", "corruption",
                             "hotflip", "pgd", "router"}));
  app.add_option("-o,--output", s.output, "results file, .csv or .jsonl");
  app.add_option("-t,--tokenizer", s.tokenizer,
                 "the tokenizer file (default: the one the checkpoint's metadata names)");
  add_data_options(app, s);
  app.add_option("-n,--max-examples", s.max_examples, "attack the first N labelled examples");
  app.add_option("--max-length", s.max_length, "tokens per example (default: the checkpoint's)");
  app.add_option("--budget", s.attack.query_budget, "queries per example (0 = unlimited)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--batch-size", s.attack.batch_size, "candidates per forward")
      ->check(CLI::PositiveNumber);
  app.add_option("--threads", s.attack.threads, "threads over examples (0 = all cores)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--seed", s.attack.seed, "seed of the attacks' random choices");
  app.add_option("--severity", s.severity, "corruption severity, 1 to 5")->check(CLI::Range(1, 5));
  app.add_option("--max-modified", s.recipe_options.max_modified_fraction,
                 "largest fraction of words an attack may change")
      ->check(CLI::Range(0.01, 1.0));
  app.add_option("--wordnet", s.wordnet, "directory of WordNet's data.* files");
  app.add_option("--epsilons", s.epsilons, "pgd: radii of the L-inf ball")->delimiter(',');
  app.add_option("--router-epsilon", s.router_epsilon, "router: L2 radius per sequence")
      ->check(CLI::PositiveNumber);
  app.add_option("--router-swaps", s.router_swaps, "router: token swaps per sequence")
      ->check(CLI::PositiveNumber);
  return parse_and_run(app, argc, argv, "attack_classifier", s.checkpoint, s.tokenizer,
                       [&]<class FFN>(const Metadata& metadata, const FeedForwardSpec<FFN>& spec) {
                         return run<FFN>(s, metadata, spec);
                       });
}
