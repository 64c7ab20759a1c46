#include "moerb/train/encoded_example.hpp"

#include <boost/test/unit_test.hpp>
#include <vector>

#include "moerb/train/trainer.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_train_encoded_example {

using namespace moerb;

BOOST_AUTO_TEST_SUITE(encoded_example)

BOOST_AUTO_TEST_CASE(default_example_is_unlabeled_and_empty) {
  const EncodedExample e;
  BOOST_TEST(e.ids.empty());
  BOOST_TEST(e.segments.empty());
  BOOST_TEST(e.label == -1);
}

BOOST_AUTO_TEST_CASE(examples_become_a_packed_batch_with_their_labels) {
  const std::vector<EncodedExample> examples = {
      {{2, 7, 3, 9, 3}, {0, 0, 0, 1, 1}, 1},  // a sentence pair
      {{2, 5, 3}, {}, 0},                     // a single sentence: segment 0
  };
  std::vector<std::int32_t> labels;
  const TokenBatch batch = ClassificationTask::make_batch(examples, labels);
  BOOST_TEST(batch.num_sequences() == 2);
  BOOST_TEST(batch.ids == (std::vector<std::int32_t>{2, 7, 3, 9, 3, 2, 5, 3}),
             boost::test_tools::per_element());
  BOOST_TEST(batch.segments == (std::vector<std::int32_t>{0, 0, 0, 1, 1, 0, 0, 0}),
             boost::test_tools::per_element());
  BOOST_TEST(labels == (std::vector<std::int32_t>{1, 0}), boost::test_tools::per_element());
  BOOST_TEST(ClassificationTask::weight(examples) == 2.0);
  BOOST_TEST(ClassificationTask::tokens(examples) == 8);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_train_encoded_example
