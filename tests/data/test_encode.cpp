// Tests for include/moerb/data/encode.hpp
#include "moerb/data/encode.hpp"

#include <boost/test/unit_test.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "moerb/models/token_batch.hpp"
#include "moerb/text/word_tokenizer.hpp"
#include "support/router_testing.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_data_encode {

using namespace moerb;

namespace {

using Ids = std::vector<std::int32_t>;

constexpr std::int32_t CLS = Vocabulary::cls_id;
constexpr std::int32_t SEP = Vocabulary::sep_id;
constexpr std::int32_t UNK = Vocabulary::unk_id;

/// the = 7, cat = 8, sat = 9, on = 10, mat = 11, a = 12, dog = 13, ran = 14.
WordTokenizer tokenizer() {
  Vocabulary v;
  for (const char* w : {"the", "cat", "sat", "on", "mat", "a", "dog", "ran"}) v.add(w);
  return WordTokenizer(std::move(v), WordTokenizer::Options{});
}

TextExample example(std::string a, std::string b, std::int32_t label) {
  TextExample e;
  e.text_a = std::move(a);
  e.text_b = std::move(b);
  e.label = label;
  return e;
}

TextDataset dataset() {
  TextDataset d;
  d.name = "toy";
  d.label_names = {"no", "yes"};
  d.examples = {example("The cat sat", "", 1),                      // single
                example("the dog ran", "a cat sat on the mat", 0),  // pair
                example("a zebra", "", -1),                         // unlabeled, unknown word
                example("dog", "cat", 1)};
  return d;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(encode)

BOOST_AUTO_TEST_CASE(singles_and_pairs_without_truncation) {
  const auto encoded = encode_dataset(tokenizer(), dataset(), no_max_length);
  BOOST_REQUIRE(encoded.size() == 4u);

  // Singles: [CLS] a [SEP], no segment ids.
  BOOST_TEST(encoded[0].ids == (Ids{CLS, 7, 8, 9, SEP}), boost::test_tools::per_element());
  BOOST_TEST(encoded[0].segments.empty());
  BOOST_TEST(encoded[0].label == 1);
  BOOST_TEST(encoded[2].ids == (Ids{CLS, 12, UNK, SEP}), boost::test_tools::per_element());
  BOOST_TEST(encoded[2].segments.empty());
  BOOST_TEST(encoded[2].label == -1);

  // Pairs: [CLS] a [SEP] b [SEP] with segments 0 for "[CLS] a [SEP]" and 1 for "b [SEP]".
  BOOST_TEST(encoded[1].ids == (Ids{CLS, 7, 13, 14, SEP, 12, 8, 9, 10, 7, 11, SEP}),
             boost::test_tools::per_element());
  BOOST_TEST(encoded[1].segments == (Ids{0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1}),
             boost::test_tools::per_element());
  BOOST_TEST(encoded[1].label == 0);
  BOOST_TEST(encoded[3].ids == (Ids{CLS, 13, SEP, 8, SEP}), boost::test_tools::per_element());
  BOOST_TEST(encoded[3].segments == (Ids{0, 0, 0, 1, 1}), boost::test_tools::per_element());
  BOOST_TEST(encoded[3].label == 1);
}

BOOST_AUTO_TEST_CASE(truncation_to_max_length) {
  const auto encoded = encode_dataset(tokenizer(), dataset(), 6);
  BOOST_REQUIRE(encoded.size() == 4u);
  for (const auto& e : encoded) BOOST_TEST(e.ids.size() <= 6u);
  // A single keeps its first max_length − 2 words.
  BOOST_TEST(encoded[0].ids == (Ids{CLS, 7, 8, 9, SEP}), boost::test_tools::per_element());
  const auto short_single = encode_dataset(tokenizer(), dataset(), 4);
  BOOST_TEST(short_single[0].ids == (Ids{CLS, 7, 8, SEP}), boost::test_tools::per_element());
  BOOST_TEST(short_single[0].segments.empty());
  // A pair (3 + 6 words, budget 6 − 3 = 3): longest first leaves a 2 words and b 1.
  BOOST_TEST(encoded[1].ids == (Ids{CLS, 7, 13, SEP, 12, SEP}), boost::test_tools::per_element());
  BOOST_TEST(encoded[1].segments == (Ids{0, 0, 0, 0, 1, 1}), boost::test_tools::per_element());
  // Budget 8 − 3 = 5: b is cut until it is as long as a, then b and a in turn: a keeps 3, b 2.
  const auto eight = encode_dataset(tokenizer(), dataset(), 8);
  BOOST_TEST(eight[1].ids == (Ids{CLS, 7, 13, 14, SEP, 12, 8, SEP}),
             boost::test_tools::per_element());
  BOOST_TEST(eight[1].segments.size() == eight[1].ids.size());
  // Exactly long enough: nothing is cut.
  const auto exact = encode_dataset(tokenizer(), dataset(), 12);
  BOOST_TEST(exact[1].ids.size() == 12u);
  // A pair that fits is unchanged.
  BOOST_TEST(encoded[3].ids == (Ids{CLS, 13, SEP, 8, SEP}), boost::test_tools::per_element());
  // Labels are copied whatever the length.
  BOOST_TEST(encoded[2].label == -1);
  BOOST_TEST(encoded[1].label == 0);
}

BOOST_AUTO_TEST_CASE(too_small_max_length_is_rejected) {
  TextDataset singles;
  singles.examples = {example("the cat", "", 0)};
  CHECK_THROWS_NAMING(encode_dataset(tokenizer(), singles, 1), "encode_single: max_length = 1");
  BOOST_TEST(encode_dataset(tokenizer(), singles, 2)[0].ids == (Ids{CLS, SEP}),
             boost::test_tools::per_element());
  TextDataset pairs;
  pairs.examples = {example("the cat", "a dog", 0)};
  CHECK_THROWS_NAMING(encode_dataset(tokenizer(), pairs, 2), "encode_pair: max_length = 2");
  BOOST_TEST(encode_dataset(tokenizer(), pairs, 3)[0].ids == (Ids{CLS, SEP, SEP}),
             boost::test_tools::per_element());
  BOOST_TEST(encode_dataset(tokenizer(), pairs, 3)[0].segments == (Ids{0, 0, 1}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(empty_dataset_and_batches_from_the_output) {
  BOOST_TEST(encode_dataset(tokenizer(), TextDataset{}, 16).empty());
  // Singles (no segments) and pairs mix in one TokenBatch with aligned segment ids.
  const auto encoded = encode_dataset(tokenizer(), dataset(), no_max_length);
  TokenBatch batch;
  for (const auto& e : encoded) batch.push_back(e.ids, e.segments);
  BOOST_CHECK_NO_THROW(batch.validate("test"));
  BOOST_TEST(batch.num_sequences() == 4);
  BOOST_REQUIRE(batch.segments.size() == batch.ids.size());
  const TokenBatch pair = batch.slice(1, 1);
  BOOST_TEST(pair.segments == encoded[1].segments, boost::test_tools::per_element());
  const TokenBatch single = batch.slice(0, 1);
  BOOST_TEST(single.segments == (Ids{0, 0, 0, 0, 0}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_data_encode
