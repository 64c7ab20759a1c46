// Tests for include/moerb/core/context.hpp
#include <boost/test/unit_test.hpp>
#include <cstdint>
#include <set>
#include <vector>

#include "moerb/core/context.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_core_context {

using moerb::ForwardContext;
using moerb::Rng;

BOOST_AUTO_TEST_SUITE(context)

BOOST_AUTO_TEST_CASE(defaults_are_evaluation_mode_seed_zero_no_tokens) {
  const ForwardContext ctx;
  BOOST_TEST(!ctx.training);
  BOOST_TEST(ctx.token_ids.empty());
  BOOST_TEST(ctx.rng.key() == Rng(0).key());
  Rng a = ctx.rng, b(0);
  for (int i = 0; i < 8; ++i) BOOST_TEST(a.next_u64() == b.next_u64());
}

BOOST_AUTO_TEST_CASE(with_rng_replaces_only_the_stream) {
  const std::vector<std::int32_t> ids = {5, 1, 4};
  ForwardContext ctx;
  ctx.training = true;
  ctx.rng = Rng(1);
  ctx.token_ids = ids;

  const Rng step = Rng(42).split(3);
  const ForwardContext next = ctx.with_rng(step);
  BOOST_TEST(next.rng.key() == step.key());
  BOOST_TEST(next.training);
  BOOST_TEST(next.token_ids.data() == ids.data());
  BOOST_TEST(next.token_ids.size() == ids.size());
  // The original is unchanged.
  BOOST_TEST(ctx.rng.key() == Rng(1).key());

  // The new context draws the same numbers as the stream it was given.
  Rng from_ctx = next.rng, direct = step;
  for (int i = 0; i < 8; ++i) BOOST_TEST(from_ctx.next_u64() == direct.next_u64());
}

BOOST_AUTO_TEST_CASE(rng_tags_are_distinct) {
  namespace tag = moerb::rng_tag;
  // Fixed tags, then per-expert and per-shared-expert ranges for a layer far larger than any
  // the study uses: no two components may share a tag.
  const std::uint64_t experts = 4096, shared_experts = 64;
  std::set<std::uint64_t> tags = {tag::router, tag::router_jitter, tag::dense_ffn};
  BOOST_TEST(tags.size() == 3u);
  for (std::uint64_t e = 0; e < experts; ++e) tags.insert(tag::expert_base + e);
  for (std::uint64_t s = 0; s < shared_experts; ++s) tags.insert(tag::shared_expert_base + s);
  BOOST_TEST(tags.size() == 3u + experts + shared_experts);
  BOOST_TEST(tag::expert_base > tag::dense_ffn);
  BOOST_TEST(tag::expert_base + experts <= tag::shared_expert_base);
}

BOOST_AUTO_TEST_CASE(tagged_streams_are_distinct) {
  namespace tag = moerb::rng_tag;
  const ForwardContext ctx = ForwardContext{}.with_rng(Rng(2024).split(7));
  std::set<std::uint64_t> keys = {ctx.rng.split(tag::router).key(),
                                  ctx.rng.split(tag::router_jitter).key(),
                                  ctx.rng.split(tag::dense_ffn).key()};
  for (std::uint64_t e = 0; e < 64; ++e) keys.insert(ctx.rng.split(tag::expert_base + e).key());
  for (std::uint64_t s = 0; s < 4; ++s)
    keys.insert(ctx.rng.split(tag::shared_expert_base + s).key());
  BOOST_TEST(keys.size() == 3u + 64u + 4u);
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_core_context
