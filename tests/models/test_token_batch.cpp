// Tests for include/moerb/models/token_batch.hpp
#include "moerb/models/token_batch.hpp"

#include <boost/test/unit_test.hpp>
#include <cstdint>
#include <vector>

#include "support/router_testing.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_models_token_batch {

using namespace moerb;

namespace {

using Ids = std::vector<std::int32_t>;

Ids ids_of(const TokenBatch& b) {
  return b.ids;
}
Ids segments_of(const TokenBatch& b) {
  return b.segments;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(token_batch)

BOOST_AUTO_TEST_CASE(push_back_without_segments_packs_ids) {
  TokenBatch b;
  b.push_back(Ids{4, 5, 6});
  b.push_back(Ids{7});
  BOOST_TEST(b.num_sequences() == 2);
  BOOST_TEST(b.num_tokens() == 4);
  BOOST_TEST(ids_of(b) == (Ids{4, 5, 6, 7}), boost::test_tools::per_element());
  BOOST_TEST(b.segments.empty());
  BOOST_TEST((b.sequences == SequenceBatch::from_lengths({3, 1})));
  BOOST_CHECK_NO_THROW(b.validate("test"));
}

BOOST_AUTO_TEST_CASE(segments_first_then_without) {
  TokenBatch b;
  b.push_back(Ids{2, 7, 3}, Ids{0, 1, 1});
  BOOST_TEST(segments_of(b) == (Ids{0, 1, 1}), boost::test_tools::per_element());
  b.push_back(Ids{4, 8});
  BOOST_TEST(ids_of(b) == (Ids{2, 7, 3, 4, 8}), boost::test_tools::per_element());
  BOOST_TEST(segments_of(b) == (Ids{0, 1, 1, 0, 0}), boost::test_tools::per_element());
  BOOST_CHECK_NO_THROW(b.validate("test"));
}

BOOST_AUTO_TEST_CASE(segments_after_sequences_without_are_zero_filled) {
  TokenBatch b;
  b.push_back(Ids{4, 8});
  BOOST_TEST(b.segments.empty());
  b.push_back(Ids{2, 7, 3}, Ids{0, 0, 1});
  b.push_back(Ids{9});
  b.push_back(Ids{5, 6}, Ids{1, 1});
  BOOST_TEST(ids_of(b) == (Ids{4, 8, 2, 7, 3, 9, 5, 6}), boost::test_tools::per_element());
  BOOST_TEST(segments_of(b) == (Ids{0, 0, 0, 0, 1, 0, 1, 1}), boost::test_tools::per_element());
  BOOST_TEST((b.sequences == SequenceBatch::from_lengths({2, 3, 1, 2})));
  BOOST_CHECK_NO_THROW(b.validate("test"));
}

BOOST_AUTO_TEST_CASE(bad_push_back_is_rejected) {
  TokenBatch b;
  CHECK_THROWS_NAMING(b.push_back(Ids{}), "TokenBatch::push_back: empty sequence");
  CHECK_THROWS_NAMING(b.push_back(Ids{1, 2, 3}, Ids{0, 1}),
                      "TokenBatch::push_back: 2 segment ids for 3 tokens");
  BOOST_TEST(b.ids.empty());
  BOOST_TEST(b.num_sequences() == 0);
}

BOOST_AUTO_TEST_CASE(slice_keeps_ids_segments_and_layout) {
  TokenBatch b;
  b.push_back(Ids{2, 7, 3}, Ids{0, 0, 1});
  b.push_back(Ids{4});
  b.push_back(Ids{5, 6}, Ids{1, 1});
  b.push_back(Ids{9, 10});

  const TokenBatch mid = b.slice(1, 2);
  BOOST_TEST(mid.num_sequences() == 2);
  BOOST_TEST(ids_of(mid) == (Ids{4, 5, 6}), boost::test_tools::per_element());
  BOOST_TEST(segments_of(mid) == (Ids{0, 1, 1}), boost::test_tools::per_element());
  BOOST_TEST((mid.sequences == SequenceBatch::from_lengths({1, 2})));

  const TokenBatch last = b.slice(3, 1);
  BOOST_TEST(ids_of(last) == (Ids{9, 10}), boost::test_tools::per_element());
  BOOST_TEST(segments_of(last) == (Ids{0, 0}), boost::test_tools::per_element());

  const TokenBatch all = b.slice(0, b.num_sequences());
  BOOST_TEST(ids_of(all) == ids_of(b), boost::test_tools::per_element());
  BOOST_TEST(segments_of(all) == segments_of(b), boost::test_tools::per_element());
  BOOST_TEST((all.sequences == b.sequences));

  TokenBatch plain;
  plain.push_back(Ids{1, 2});
  plain.push_back(Ids{3});
  const TokenBatch p = plain.slice(1, 1);
  BOOST_TEST(ids_of(p) == (Ids{3}), boost::test_tools::per_element());
  BOOST_TEST(p.segments.empty());

  BOOST_TEST(b.slice(2, 0).num_sequences() == 0);
  CHECK_THROWS_NAMING((void)b.slice(3, 2), "sequence index 4");
}

BOOST_AUTO_TEST_CASE(validate_names_the_inconsistency) {
  TokenBatch b;
  b.push_back(Ids{1, 2, 3});
  b.push_back(Ids{4, 5});

  TokenBatch extra_id = b;
  extra_id.ids.push_back(6);
  CHECK_THROWS_NAMING(extra_id.validate("Model::forward"),
                      "Model::forward: TokenBatch has 6 ids but its sequences cover 5 tokens");

  TokenBatch short_segments = b;
  short_segments.segments = {0, 0, 1};
  CHECK_THROWS_NAMING(short_segments.validate("Model::forward"),
                      "Model::forward: TokenBatch has 3 segment ids for 5 ids");

  CHECK_THROWS_NAMING(TokenBatch{}.validate("Model::forward"), "Model::forward: empty TokenBatch");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_models_token_batch
