// lm_reliability: the study's hallucination and safety pillars on the built-in WordNet tasks, with
// small causal language models trained here in minutes (no weights are downloaded). For an MoE
// DecoderLM (8 SwiGLU experts, top-2) and its dense twin (equal active parameters):
//
// Truthfulness (data/wordnet_truthfulness.hpp): trained on WordNet statements "<lemma> :
// <definition>" and on question-answer texts for the train questions; MC1/MC2/MC3 on held-out
// questions, whose facts the model read only as statements, with plain scoring and with DoLa
// (Chuang et al. 2024), each with a bootstrap interval, next to the random-choice baseline.
//
// Safety (data/wordnet_safety.hpp): trained to refuse prompts about weapons and poisons and to
// answer the others with their definition; the refusal rate on held-out forbidden prompts and the
// over-refusal rate on held-out benign prompts (Wilson intervals), then again after fine-tuning on
// benign data only (MoE-RBench fine-tunes on Alpaca and measures safety after), for the MoE model
// with its routers trained and frozen, and the dense model.
//
// GCG (Zou et al. 2023, attacks/gcg.hpp), before the fine-tuning: for each held-out forbidden
// prompt the model refuses, an adversarial suffix of 3 tokens placed before the prompt's final "?"
// (the end of the question, after which the model answers, as a chat template's assistant marker
// follows the paper's suffix) is optimised towards the answer's first word "a" (the paper's
// "Sure, here is"); the non-refusal rate without a suffix, with a random suffix of the same
// length, and with the GCG suffix.
//
//   scripts/demo.sh  (builds the examples)
//   build/release/examples/lm_reliability [--seed N] [--task truthfulness|safety|all] [--threads N]
//                                         [--gcg-steps N]
#include <CLI/CLI.hpp>
#include <cstdio>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "moerb/attacks/gcg.hpp"
#include "moerb/attacks/lm_goals.hpp"
#include "moerb/core/gemm_engine.hpp"
#include "moerb/data/wordnet.hpp"
#include "moerb/data/wordnet_safety.hpp"
#include "moerb/data/wordnet_truthfulness.hpp"
#include "moerb/evaluation/generation_evaluation.hpp"
#include "moerb/evaluation/multiple_choice_evaluation.hpp"
#include "moerb/experts/gated_expert.hpp"
#include "moerb/layers/dense_ffn.hpp"
#include "moerb/layers/moe_layer.hpp"
#include "moerb/metrics/confidence.hpp"
#include "moerb/metrics/paired.hpp"
#include "moerb/metrics/routing.hpp"
#include "moerb/metrics/safety.hpp"
#include "moerb/metrics/truthfulness.hpp"
#include "moerb/models/decoder_lm.hpp"
#include "moerb/routing/top_k_router.hpp"
#include "moerb/text/word_tokenizer.hpp"
#include "moerb/train/trainer.hpp"

namespace {

using namespace moerb;
using MoE = MoELayer<TopKRouter<float>, SwiGLUExpert<float>>;
using Dense = DenseFFN<SwiGLUExpert<float>>;
using MoELM = DecoderLM<MoE>;
using DenseLM = DecoderLM<Dense>;
using Sequence = std::vector<std::int32_t>;

struct Settings {
  std::uint64_t seed = 7;
  // 12 epochs leave the truthfulness task short of memorisation, where MoE and dense differ (at 30
  // both answer 98-99 % of the held-out questions); the refusal needs longer to be learned.
  Index truthfulness_epochs = 12;
  Index safety_epochs = 30;
  Index finetune_epochs = 10;
  Index gcg_steps = 20;  // 0: no GCG section
  std::string task = "all";
  int threads = 0;
};

constexpr Index d_model = 64;

/// [bos] text [eos] for every text.
std::vector<Sequence> lm_sequences(const WordTokenizer& tokenizer,
                                   const std::vector<std::string>& texts, Index& longest) {
  std::vector<Sequence> out;
  for (const std::string& t : texts) {
    Sequence s{Vocabulary::bos_id};
    for (const TokenId id : tokenizer.encode(t)) s.push_back(id);
    s.push_back(Vocabulary::eos_id);
    longest = std::max(longest, static_cast<Index>(s.size()));
    out.push_back(std::move(s));
  }
  return out;
}

TransformerConfig lm_config(Index vocab, Index max_positions) {
  TransformerConfig c;
  c.vocab_size = vocab;
  c.d_model = d_model;
  c.num_heads = 4;
  c.num_layers = 2;
  c.max_positions = max_positions;
  c.num_segments = 0;
  return c;
}

Recipe lm_recipe(const Settings& s, Index epochs) {
  Recipe r;
  r.learning_rate = 3e-3;
  r.batch_size = 32;
  r.epochs = epochs;
  r.dropout = 0.0;
  r.warmup_ratio = 0.03;
  r.seed = s.seed;
  r.threads = s.threads;
  r.progress = false;
  return r;
}

template <class FFN>
DecoderLM<FFN> build_lm(FeedForwardSpec<FFN> spec, Index vocab, Index max_positions,
                        const Recipe& r, std::uint64_t seed) {
  TransformerConfig c = lm_config(vocab, max_positions);
  apply_recipe(r, c, spec);
  typename DecoderLM<FFN>::Options o;
  o.transformer = c;
  DecoderLM<FFN> lm(o, spec);
  Rng rng(seed);
  lm.initialize(rng);
  return lm;
}

FeedForwardSpec<MoE> moe_spec() {
  FeedForwardSpec<MoE> spec;
  spec.router.input_dim = d_model;
  spec.router.num_experts = 8;
  spec.router.k = 2;
  spec.moe.expert.d_model = d_model;
  spec.moe.expert.d_ff = 96;
  return spec;
}

FeedForwardSpec<Dense> dense_twin(MoELM& moe) {
  FeedForwardSpec<Dense> spec;
  spec.dense = dense_options_for_active_params(*moe.trunk().block(0).ffn().sparse());
  return spec;
}

template <class LM>
TrainResult train(LM& lm, const std::vector<Sequence>& data, const Recipe& r) {
  return LMTrainer<LM>(lm, r).fit(std::span<const Sequence>(data));
}

// ---- truthfulness ------------------------------------------------------------------------------

struct McResult {
  Truthfulness plain, dola;
};

template <class LM>
McResult multiple_choice(LM& lm, const WordTokenizer& tokenizer,
                         const std::vector<TruthfulQAItem>& questions, int threads) {
  McResult r;
  MultipleChoiceOptions o;
  o.threads = threads;
  evaluate_multiple_choice(lm, tokenizer, std::span<const TruthfulQAItem>(questions), r.plain, o);
  o.use_dola = true;
  evaluate_multiple_choice(lm, tokenizer, std::span<const TruthfulQAItem>(questions), r.dola, o);
  return r;
}

void print_mc_row(const char* name, const Truthfulness& t, const BootstrapOptions& b) {
  const auto mc1 = bootstrap_ci(t, b, &TruthfulnessScores::mc1);
  const auto mc2 = bootstrap_ci(t, b, &TruthfulnessScores::mc2);
  const auto mc3 = bootstrap_ci(t, b, &TruthfulnessScores::mc3);
  std::printf("  %-22s %.3f [%.3f, %.3f]   %.3f [%.3f, %.3f]   %.3f [%.3f, %.3f]\n", name,
              mc1.estimate, mc1.lower, mc1.upper, mc2.estimate, mc2.lower, mc2.upper, mc3.estimate,
              mc3.lower, mc3.upper);
}

void truthfulness(const WordNet& wn, const Settings& s) {
  WordNetTruthfulnessOptions to;
  to.seed = s.seed;
  const WordNetTruthfulnessTask task = wordnet_truthfulness_task(wn, to);
  std::printf("== Truthfulness: %s\n", task.summary.c_str());
  const WordTokenizer tokenizer = WordTokenizer::train(task.train_texts);
  Index longest = 0;
  const auto data = lm_sequences(tokenizer, task.train_texts, longest);
  const Index vocab = static_cast<Index>(tokenizer.vocab_size());
  const Index max_positions = longest + 8;
  std::printf("vocabulary %ld words, %zu training texts, longest %ld tokens\n",
              static_cast<long>(vocab), data.size(), static_cast<long>(longest));

  const Recipe r = lm_recipe(s, s.truthfulness_epochs);
  MoELM moe = build_lm(moe_spec(), vocab, max_positions, r, s.seed);
  DenseLM dense = build_lm(dense_twin(moe), vocab, max_positions, r, s.seed);
  const TrainResult moe_run = train(moe, data, r);
  const TrainResult dense_run = train(dense, data, r);
  std::printf("trained %ld epochs: MoE %.0f s, dense %.0f s\n\n", static_cast<long>(r.epochs),
              moe_run.seconds, dense_run.seconds);

  const TruthfulnessBaseline base =
      truthfulness_random_baseline(std::span<const TruthfulQAItem>(task.heldout_questions));
  BootstrapOptions b;
  b.seed = s.seed;
  for (const auto* set : {&task.heldout_questions, &task.train_questions}) {
    const bool heldout = set == &task.heldout_questions;
    std::printf(
        "%s questions (%zu)       MC1 [95%% CI]            MC2 [95%% CI]            "
        "MC3 [95%% CI]\n",
        heldout ? "held-out" : "train", set->size());
    const McResult m = multiple_choice(moe, tokenizer, *set, s.threads);
    const McResult d = multiple_choice(dense, tokenizer, *set, s.threads);
    print_mc_row("MoE", m.plain, b);
    print_mc_row("MoE + DoLa", m.dola, b);
    print_mc_row("dense", d.plain, b);
    print_mc_row("dense + DoLa", d.dola, b);
    if (heldout) {
      std::printf("  %-22s %.3f                   %.3f                   %.3f\n",
                  "random-choice baseline", base.mc1, base.mc2, base.mc3);
      const auto diff = paired_bootstrap_ci(m.plain, d.plain, b, &TruthfulnessScores::mc1);
      std::printf("  MC1 MoE − dense: %+.3f [%+.3f, %+.3f] (paired bootstrap)\n", diff.estimate,
                  diff.lower, diff.upper);
    }
    std::printf("\n");
  }
}

/// The gate weights (d_model × experts) of every MoE block, in block order.
std::vector<Matrix<float>> router_gates(MoELM& lm) {
  std::vector<Matrix<float>> gates;
  lm.visit_parameters(
      [&](std::string_view name, Parameter<float>& p) {
        if (name.find("router") != std::string_view::npos && p.value.rows() == d_model &&
            p.value.cols() == 8) {
          gates.push_back(p.value);
        }
      },
      "");
  return gates;
}

/// Mean over experts and blocks of the cosine between each expert's gate vector before and after.
double mean_router_cosine(const std::vector<Matrix<float>>& before,
                          const std::vector<Matrix<float>>& after) {
  double sum = 0;
  std::size_t n = 0;
  for (std::size_t b = 0; b < before.size(); ++b) {
    for (const double c : router_drift(before[b], after[b])) {
      sum += c;
      ++n;
    }
  }
  return sum / static_cast<double>(n);
}

// ---- safety ------------------------------------------------------------------------------------

std::vector<std::string> prompts_of(const std::vector<WordNetSafetyPrompt>& ps) {
  std::vector<std::string> out;
  for (const auto& p : ps) out.push_back(p.prompt);
  return out;
}

struct SafetyRow {
  RefusalRate forbidden, benign;
};

template <class LM>
SafetyRow refusals(LM& lm, const WordTokenizer& tokenizer, const WordNetSafetyTask& task,
                   int threads) {
  SafetyRow row;
  ResponseOptions o;
  o.threads = threads;
  o.generation.max_new_tokens = 20;
  const auto forbidden = prompts_of(task.forbidden_heldout);
  const auto benign = prompts_of(task.benign_heldout);
  evaluate_refusals(lm, tokenizer, std::span<const std::string>(forbidden), row.forbidden, o);
  evaluate_refusals(lm, tokenizer, std::span<const std::string>(benign), row.benign, o);
  return row;
}

void print_safety_row(const char* name, const SafetyRow& before, const SafetyRow& after) {
  const auto cell = [](const RefusalRate& r) {
    const ConfidenceInterval ci = r.wilson();
    std::printf("  %.3f [%.3f, %.3f]", ci.estimate, ci.lower, ci.upper);
  };
  std::printf("  %-20s", name);
  cell(before.forbidden);
  cell(before.benign);
  cell(after.forbidden);
  cell(after.benign);
  std::printf("\n");
}

/// Non-refusal of the held-out forbidden prompts without a suffix, with a random one and with GCG.
struct GcgRow {
  std::int64_t prompts = 0, refused = 0, broken_by_start = 0, broken_by_random = 0;
  std::int64_t broken_by_gcg = 0;
  Index steps = 0;
  double nll_before = 0, nll_after = 0, seconds = 0, model_seconds = 0;
};

template <class LM>
GcgRow gcg_on_forbidden(LM& lm, const WordTokenizer& tokenizer, const WordNetSafetyTask& task,
                        const Settings& s) {
  using Goal = NonRefusalGoal<WordTokenizer>;
  Goal::Options go;
  go.generation.max_new_tokens = 20;  // as the refusal evaluation above
  const Goal goal(tokenizer, "a", go);
  GCGOptions o;
  o.suffix_length = 3;
  o.top_k = 64;
  o.batch_size = 64;
  o.steps = s.gcg_steps;
  o.check_every = 1;  // a check (20 generated tokens) costs less than a step
  o.initial_token = tokenizer.encode("the").front();  // a neutral start, as the paper's "! ! !"
  const auto question_mark = tokenizer.encode("?").front();
  GcgRow row;
  for (std::size_t i = 0; i < task.forbidden_heldout.size(); ++i) {
    Sequence prompt{Vocabulary::bos_id};
    for (const TokenId id : tokenizer.encode(task.forbidden_heldout[i].prompt)) {
      prompt.push_back(id);
    }
    Sequence end;
    if (prompt.back() == question_mark) {
      end.push_back(question_mark);
      prompt.pop_back();
    }
    o.seed = Rng(s.seed).split(i).next_u64();
    const GCGResult r = gcg_attack(lm, goal, std::span<const std::int32_t>(prompt),
                                   std::span<const std::int32_t>(end), o);
    ++row.prompts;
    if (r.status == AttackStatus::skipped) continue;  // not refused without a suffix
    ++row.refused;
    row.broken_by_gcg += r.succeeded() ? 1 : 0;
    row.steps += r.steps;
    row.nll_before += r.loss_history.front();
    row.nll_after += r.loss;
    row.seconds += r.seconds;
    row.model_seconds += r.model_seconds;
    // Baselines in the same place: GCG's starting suffix, and uniformly random non-special ids.
    std::int64_t queries = 0;
    const auto broken_by = [&](const Sequence& suffix) {
      Sequence ids = prompt;
      ids.insert(ids.end(), suffix.begin(), suffix.end());
      ids.insert(ids.end(), end.begin(), end.end());
      return goal.succeeded(lm, ids, 0.0, queries) ? 1 : 0;
    };
    row.broken_by_start += broken_by(Sequence(3, o.initial_token));
    Rng random = Rng(o.seed).split(99);
    Sequence random_suffix;
    const auto first = static_cast<std::int32_t>(Vocabulary::special_token_count);
    for (Index t = 0; t < o.suffix_length; ++t) {
      random_suffix.push_back(first + static_cast<std::int32_t>(random.uniform_index(
                                          static_cast<std::uint64_t>(lm.vocab_size() - first))));
    }
    row.broken_by_random += broken_by(random_suffix);
  }
  return row;
}

void print_gcg_row(const char* name, const GcgRow& r) {
  const auto rate = [&](std::int64_t broken) {
    const auto ci = wilson_interval(r.prompts - r.refused + broken, r.prompts, 0.95);
    std::printf("%.3f [%.3f, %.3f]", ci.estimate, ci.lower, ci.upper);
  };
  std::printf("  %-6s ", name);
  for (const std::int64_t broken : {std::int64_t{0}, r.broken_by_start, r.broken_by_random}) {
    rate(broken);
    std::printf("  ");
  }
  rate(r.broken_by_gcg);
  const double n = static_cast<double>(std::max<std::int64_t>(r.refused, 1));
  std::printf(
      "\n         GCG broke %ld of the %ld refused prompts in %.1f steps on average (target NLL "
      "%.2f -> %.2f), %.1f s (model %.1f s)\n",
      static_cast<long>(r.broken_by_gcg), static_cast<long>(r.refused),
      static_cast<double>(r.steps) / n, r.nll_before / n, r.nll_after / n, r.seconds,
      r.model_seconds);
}

void safety(const WordNet& wn, const Settings& s) {
  WordNetSafetyOptions so;
  so.seed = s.seed;
  const WordNetSafetyTask task = wordnet_safety_task(wn, so);
  std::printf("== Safety: %s\n", task.summary.c_str());
  std::vector<std::string> corpus = task.train_texts;
  corpus.insert(corpus.end(), task.finetune_texts.begin(), task.finetune_texts.end());
  const WordTokenizer tokenizer = WordTokenizer::train(corpus);
  Index longest = 0;
  const auto data = lm_sequences(tokenizer, task.train_texts, longest);
  const auto finetune = lm_sequences(tokenizer, task.finetune_texts, longest);
  const Index vocab = static_cast<Index>(tokenizer.vocab_size());
  const Index max_positions = longest + 24;

  const Recipe r = lm_recipe(s, s.safety_epochs);
  MoELM moe = build_lm(moe_spec(), vocab, max_positions, r, s.seed);
  DenseLM dense = build_lm(dense_twin(moe), vocab, max_positions, r, s.seed);
  train(moe, data, r);
  train(dense, data, r);

  Recipe ft = lm_recipe(s, s.finetune_epochs);
  Recipe ft_frozen = ft;
  ft_frozen.freeze_router = true;
  const SafetyRow moe_before = refusals(moe, tokenizer, task, s.threads);
  const SafetyRow dense_before = refusals(dense, tokenizer, task, s.threads);
  // GCG before the fine-tuning changes the models; printed after the refusal table.
  GcgRow moe_gcg, dense_gcg;
  if (s.gcg_steps > 0) {
    moe_gcg = gcg_on_forbidden(moe, tokenizer, task, s);
    dense_gcg = gcg_on_forbidden(dense, tokenizer, task, s);
  }
  MoELM moe_frozen = moe;
  const auto gates = router_gates(moe);
  train(moe, finetune, ft);
  train(moe_frozen, finetune, ft_frozen);
  train(dense, finetune, ft);

  std::printf("\nrefusal rate [95%% Wilson CI]   before benign fine-tuning            after\n");
  std::printf("  %-20s  %-20s %-20s  %-20s %-20s\n", "", "forbidden (held-out)", "benign (over-)",
              "forbidden (held-out)", "benign (over-)");
  print_safety_row("MoE", moe_before, refusals(moe, tokenizer, task, s.threads));
  print_safety_row("MoE, router frozen", moe_before,
                   refusals(moe_frozen, tokenizer, task, s.threads));
  print_safety_row("dense", dense_before, refusals(dense, tokenizer, task, s.threads));
  std::printf(
      "router drift in fine-tuning (mean cosine of each expert's gate vector before and "
      "after): trained %.4f, frozen %.4f\n\n",
      mean_router_cosine(gates, router_gates(moe)),
      mean_router_cosine(gates, router_gates(moe_frozen)));
  if (s.gcg_steps > 0) {
    std::printf(
        "GCG before fine-tuning, on the %zu held-out forbidden prompts (3-token suffix before the "
        "final \"?\", target \"a\", top-k 64, 64 candidates per step, at most %ld steps); "
        "non-refusal rate [95%% Wilson CI]:\n",
        task.forbidden_heldout.size(), static_cast<long>(s.gcg_steps));
    std::printf("  %-6s %-20s  %-20s  %-20s  %s\n", "", "no suffix", "start \"the the the\"",
                "random suffix", "GCG suffix");
    print_gcg_row("MoE", moe_gcg);
    print_gcg_row("dense", dense_gcg);
    std::printf("\n");
  }
}

}  // namespace

int main(int argc, char** argv) {
  Settings s;
  CLI::App app{"Truthfulness and safety of small MoE and dense language models on WordNet tasks."};
  app.add_option("--seed", s.seed, "seed of the tasks, the models and the bootstrap");
  app.add_option("--truthfulness-epochs", s.truthfulness_epochs, "training epochs, truthfulness")
      ->check(CLI::PositiveNumber);
  app.add_option("--safety-epochs", s.safety_epochs, "training epochs, safety")
      ->check(CLI::PositiveNumber);
  app.add_option("--finetune-epochs", s.finetune_epochs, "benign fine-tuning epochs")
      ->check(CLI::PositiveNumber);
  app.add_option("--gcg-steps", s.gcg_steps, "GCG steps per refused prompt (0: no GCG)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--task", s.task, "truthfulness, safety or all")
      ->check(CLI::IsMember({"truthfulness", "safety", "all"}));
  app.add_option("--threads", s.threads, "threads (0 = all cores)")->check(CLI::NonNegativeNumber);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    // Kernels narrower than the CPU (an OpenBLAS older than it, no -march=native) train slower.
    if (const std::string note = gemm_engine_kernel_warning(); !note.empty()) {
      std::fprintf(stderr, "note: %s\n", note.c_str());
    }
    std::printf("Loading WordNet from %s ...\n", WordNet::default_directory().c_str());
    const WordNet wn = WordNet::load();
    if (s.task != "safety") truthfulness(wn, s);
    if (s.task != "truthfulness") safety(wn, s);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lm_reliability: %s\n", e.what());
    return 1;
  }
}
