#pragma once
// moerb::io umbrella: everything in <moerb/moerb.hpp> plus the data-set readers, the built-in
// WordNet tasks, safetensors checkpoints and the metrics' JSON round trips, which use
// nlohmann-json. Link moerb::io.
#include "moerb/moerb.hpp"

// data: readers with field mapping, built-in WordNet tasks, encoding for the trainer
#include "moerb/data/advglue.hpp"
#include "moerb/data/csv.hpp"
#include "moerb/data/encode.hpp"
#include "moerb/data/example.hpp"
#include "moerb/data/glue_tsv.hpp"
#include "moerb/data/jsonl.hpp"
#include "moerb/data/prompts.hpp"
#include "moerb/data/truthfulqa.hpp"
#include "moerb/data/wordnet.hpp"
#include "moerb/data/wordnet_safety.hpp"
#include "moerb/data/wordnet_truthfulness.hpp"

// io: safetensors files, model checkpoints, JSON round trips of the metric accumulators, attack
// results as JSONL / CSV
#include "moerb/io/attack_results.hpp"
#include "moerb/io/checkpoint.hpp"
#include "moerb/io/metrics_json.hpp"
#include "moerb/io/safetensors.hpp"
