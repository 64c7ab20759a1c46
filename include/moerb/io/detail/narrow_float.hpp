#pragma once
// Conversions between double and the 16-bit floating-point formats safetensors stores
// (IEEE 754 binary16 "F16" and bfloat16 "BF16"), written once for any small binary format with
// `exponent_bits` exponent bits and `mantissa_bits` stored significand bits.
//
// Narrowing rounds to nearest, ties to even, straight from double: going through float first
// would round twice and can land on the wrong neighbour (1 + 2^-11 + 2^-40 is above the F16 tie
// between 1 and 1 + 2^-10, but float keeps only 1 + 2^-11, exactly the tie, which then rounds to
// even = 1). The arithmetic below uses only exact operations (frexp, ldexp, floor and one
// subtraction), so it does not depend on the floating-point environment's rounding mode.
#include <bit>
#include <cmath>
#include <cstdint>

namespace moerb::detail::io {

template <int exponent_bits, int mantissa_bits>
struct NarrowFloat {
  static_assert(exponent_bits >= 2 && exponent_bits <= 8 && mantissa_bits >= 2 &&
                1 + exponent_bits + mantissa_bits == 16);

  static constexpr int bias = (1 << (exponent_bits - 1)) - 1;
  static constexpr int min_normal_exponent = 1 - bias;
  static constexpr std::uint16_t sign_mask = 0x8000;
  static constexpr std::uint16_t infinity_bits =
      static_cast<std::uint16_t>(((1u << exponent_bits) - 1u) << mantissa_bits);
  static constexpr std::uint16_t mantissa_mask =
      static_cast<std::uint16_t>((1u << mantissa_bits) - 1u);
  static constexpr std::uint16_t quiet_bit = static_cast<std::uint16_t>(1u << (mantissa_bits - 1));

  /// Round to nearest integer, ties to even, for 0 <= y < 2^52 (exact: y − floor(y) is exact).
  static double round_half_even(double y) {
    const double lower = std::floor(y);
    const double fraction = y - lower;
    if (fraction > 0.5) return lower + 1.0;
    if (fraction < 0.5) return lower;
    return std::fmod(lower, 2.0) == 0.0 ? lower : lower + 1.0;
  }

  /// Bits of the format's value nearest to `value` (ties to even). Values beyond the largest
  /// finite value round to ±inf as IEEE 754 prescribes; NaN stays a quiet NaN with its sign and
  /// the top `mantissa_bits − 1` payload bits.
  static std::uint16_t from_double(double value) {
    const auto bits = std::bit_cast<std::uint64_t>(value);
    const auto sign = static_cast<std::uint16_t>((bits >> 48) & sign_mask);
    if (std::isnan(value)) {
      const auto payload =
          static_cast<std::uint16_t>((bits >> (52 - mantissa_bits)) & mantissa_mask);
      return static_cast<std::uint16_t>(sign | infinity_bits | quiet_bit | payload);
    }
    const double magnitude = std::fabs(value);
    if (std::isinf(magnitude)) return static_cast<std::uint16_t>(sign | infinity_bits);
    if (magnitude < std::ldexp(1.0, min_normal_exponent)) {
      // Subnormal range: the encoding is the count of 2^(min_normal_exponent − mantissa_bits)
      // units; rounding up to 2^mantissa_bits units gives the smallest normal number's encoding.
      const double units =
          round_half_even(std::ldexp(magnitude, mantissa_bits - min_normal_exponent));
      return static_cast<std::uint16_t>(sign | static_cast<std::uint16_t>(units));
    }
    int frexp_exponent = 0;
    std::frexp(magnitude, &frexp_exponent);
    const int exponent = frexp_exponent - 1;  // magnitude in [2^exponent, 2^(exponent+1))
    if (exponent > bias) return static_cast<std::uint16_t>(sign | infinity_bits);
    // significand in [2^m, 2^(m+1)]; the biased exponent field plus the significand (with its
    // implicit leading one) carries into the next binade when rounding reaches 2^(m+1), and
    // into the infinity encoding past the largest finite value.
    const auto significand = static_cast<std::uint32_t>(
        round_half_even(std::ldexp(magnitude, mantissa_bits - exponent)));
    const std::uint32_t encoded =
        (static_cast<std::uint32_t>(exponent + bias - 1) << mantissa_bits) + significand;
    if (encoded >= infinity_bits) return static_cast<std::uint16_t>(sign | infinity_bits);
    return static_cast<std::uint16_t>(sign | encoded);
  }

  /// The exact value of `bits` (every value of the format is a double). NaN keeps its sign and
  /// payload (a signalling NaN is not quieted).
  static double to_double(std::uint16_t bits) {
    const bool negative = (bits & sign_mask) != 0;
    const unsigned field = (bits & 0x7fffu) >> mantissa_bits;
    const unsigned mantissa = bits & mantissa_mask;
    if (field == (1u << exponent_bits) - 1u) {
      const std::uint64_t out = (negative ? (std::uint64_t{1} << 63) : 0) |
                                (std::uint64_t{0x7ff} << 52) |
                                (static_cast<std::uint64_t>(mantissa) << (52 - mantissa_bits));
      return std::bit_cast<double>(out);
    }
    const double magnitude =
        field == 0 ? std::ldexp(static_cast<double>(mantissa), min_normal_exponent - mantissa_bits)
                   : std::ldexp(static_cast<double>(mantissa | (1u << mantissa_bits)),
                                static_cast<int>(field) - bias - mantissa_bits);
    return negative ? -magnitude : magnitude;
  }
};

/// IEEE 754 binary16: 5 exponent bits, 10 significand bits.
using Float16Format = NarrowFloat<5, 10>;
/// bfloat16: float32's 8 exponent bits, 7 significand bits.
using BFloat16Format = NarrowFloat<8, 7>;

}  // namespace moerb::detail::io
