// Second translation unit including the umbrella header (see main.cpp).
#include <moerb/moerb.hpp>

#include <cstdint>

double second_unit_sum(std::uint64_t seed) {
  moerb::Rng rng(seed);
  double sum = 0;
  for (int i = 0; i < 100; ++i) sum += rng.uniform(-1.0, 1.0);
  return sum;
}
