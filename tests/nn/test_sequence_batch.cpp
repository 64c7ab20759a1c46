// Tests for include/moerb/nn/sequence_batch.hpp
#include "moerb/nn/sequence_batch.hpp"

#include <boost/test/unit_test.hpp>
#include <span>
#include <string>
#include <vector>

#include "support/router_testing.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_nn_sequence_batch {

using namespace moerb;

namespace {

std::vector<Index> offsets_of(const SequenceBatch& b) {
  return {b.offsets().begin(), b.offsets().end()};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(sequence_batch)

BOOST_AUTO_TEST_CASE(default_batch_is_empty) {
  const SequenceBatch b;
  BOOST_TEST(b.num_sequences() == 0);
  BOOST_TEST(b.num_tokens() == 0);
  BOOST_TEST(b.max_length() == 0);
  BOOST_TEST(offsets_of(b) == std::vector<Index>{0}, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(from_lengths_gives_offsets_and_ranges) {
  const SequenceBatch b = SequenceBatch::from_lengths({5, 1, 3});
  BOOST_TEST(b.num_sequences() == 3);
  BOOST_TEST(b.num_tokens() == 9);
  BOOST_TEST(offsets_of(b) == (std::vector<Index>{0, 5, 6, 9}), boost::test_tools::per_element());
  const std::vector<Index> begins{0, 5, 6}, ends{5, 6, 9}, lengths{5, 1, 3};
  for (Index i = 0; i < 3; ++i) {
    const auto s = static_cast<std::size_t>(i);
    BOOST_TEST(b.begin(i) == begins[s]);
    BOOST_TEST(b.end(i) == ends[s]);
    BOOST_TEST(b.length(i) == lengths[s]);
  }
  BOOST_TEST(b.max_length() == 5);
  // The longest sequence last, and in the middle.
  BOOST_TEST(SequenceBatch::from_lengths({1, 2, 7}).max_length() == 7);
  BOOST_TEST(SequenceBatch::from_lengths({2, 4, 1}).max_length() == 4);
}

BOOST_AUTO_TEST_CASE(span_single_and_push_back_agree) {
  const std::vector<Index> lengths{2, 4, 1};
  const SequenceBatch from_span = SequenceBatch::from_lengths(std::span<const Index>(lengths));
  SequenceBatch pushed;
  for (Index l : lengths) pushed.push_back(l);
  BOOST_TEST((from_span == pushed));
  BOOST_TEST((from_span == SequenceBatch::from_lengths({2, 4, 1})));
  BOOST_TEST(!(from_span == SequenceBatch::from_lengths({2, 1, 4})));  // same total, other layout

  const SequenceBatch one = SequenceBatch::single(6);
  BOOST_TEST(one.num_sequences() == 1);
  BOOST_TEST(one.begin(0) == 0);
  BOOST_TEST(one.end(0) == 6);
  BOOST_TEST(one.max_length() == 6);
  BOOST_TEST((one == SequenceBatch::from_lengths({6})));
}

BOOST_AUTO_TEST_CASE(invalid_lengths_are_rejected) {
  CHECK_THROWS_NAMING(SequenceBatch::from_lengths({3, 0, 2}), "lengths[1] = 0");
  CHECK_THROWS_NAMING(SequenceBatch::from_lengths({-2}), "lengths[0] = -2");
  CHECK_THROWS_NAMING(SequenceBatch::single(0), "expected >= 1");
  SequenceBatch b = SequenceBatch::from_lengths({2});
  CHECK_THROWS_NAMING(b.push_back(0), "SequenceBatch::push_back: length = 0");
  CHECK_THROWS_NAMING(b.push_back(-1), "length = -1");
  // A rejected push_back leaves the batch as it was.
  BOOST_TEST((b == SequenceBatch::from_lengths({2})));
}

BOOST_AUTO_TEST_CASE(out_of_range_sequence_index_throws) {
  const SequenceBatch b = SequenceBatch::from_lengths({2, 3});
  CHECK_THROWS_NAMING((void)b.begin(2), "sequence index 2, expected in [0, 2)");
  CHECK_THROWS_NAMING((void)b.end(-1), "sequence index -1");
  CHECK_THROWS_NAMING((void)b.length(5), "sequence index 5");
  CHECK_THROWS_NAMING((void)SequenceBatch().begin(0), "expected in [0, 0)");
}

BOOST_AUTO_TEST_CASE(require_rows_names_the_caller_and_counts) {
  const SequenceBatch b = SequenceBatch::from_lengths({2, 3});
  BOOST_CHECK_NO_THROW(b.require_rows(5, "Caller::forward"));
  BOOST_CHECK_EXCEPTION(b.require_rows(4, "Caller::forward"), moerb::error,
                        [](const moerb::error& e) {
                          return std::string(e.what()) ==
                                 "Caller::forward: the activations have 4 rows but the "
                                 "SequenceBatch covers 5 tokens in 2 sequences";
                        });
  CHECK_THROWS_NAMING(SequenceBatch().require_rows(1, "Empty"), "Empty");
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_nn_sequence_batch
