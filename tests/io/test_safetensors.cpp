// Tests for include/moerb/io/safetensors.hpp
#include "moerb/io/safetensors.hpp"

#include <Eigen/Core>
#include <bit>
#include <boost/test/unit_test.hpp>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "moerb/core/rng.hpp"
#include "support/golden.hpp"
#include "support/messages.hpp"
#include "support/scratch_dir.hpp"

// The file's own namespace lets an area's suites share one unity build (tests/CMakeLists.txt).
namespace moerb_test_io_safetensors {

namespace fs = std::filesystem;
using moerb::Dtype;
using moerb::Index;
using moerb::SafetensorsFile;
using moerb::TensorRecord;
template <class S>
using Matrix = moerb::Matrix<S>;

namespace {

using moerb::test::message_has;
using moerb::test::ScratchDir;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_file(const fs::path& path, const std::string& bytes) {
  // A new file rather than a truncated one: ext4 flushes files rewritten through truncation to
  // disk on close (auto_da_alloc), which made the corruption loops I/O bound.
  std::error_code ignored;
  fs::remove(path, ignored);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  BOOST_REQUIRE(out.good());
}

std::string length_field(std::uint64_t n) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i)
    out[static_cast<std::size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out;
}

/// A file whose header is `header` verbatim (unpadded) followed by `data_bytes` zero bytes.
std::string crafted(const std::string& header, std::size_t data_bytes) {
  return length_field(header.size()) + header + std::string(data_bytes, '\0');
}

template <class T>
std::vector<std::byte> bytes_of(const std::vector<T>& values) {
  std::vector<std::byte> out(values.size() * sizeof(T));
  if (!values.empty()) std::memcpy(out.data(), values.data(), out.size());
  return out;
}

template <class S>
bool same_bits(const Matrix<S>& a, const Matrix<S>& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() &&
         (a.size() == 0 ||
          std::memcmp(a.data(), b.data(), static_cast<std::size_t>(a.size()) * sizeof(S)) == 0);
}

/// Special values: ±0, the smallest subnormal, the largest finite, ±inf and NaNs with payloads.
template <class S>
Matrix<S> special_values() {
  using Bits = std::conditional_t<std::same_as<S, float>, std::uint32_t, std::uint64_t>;
  using L = std::numeric_limits<S>;
  Matrix<S> m(3, 4);
  m << S(0), -S(0), L::denorm_min(), -L::denorm_min(), L::max(), L::lowest(), L::infinity(),
      -L::infinity(), L::min(), S(1) / S(3), S(-2.5), S(0);
  // Quiet NaN with a payload and a negative quiet NaN (signalling NaNs may be quieted by the
  // loads that Eigen and the compiler emit, so they are only checked through raw records).
  const Bits quiet = std::same_as<S, float> ? Bits(0x7fc12345u) : Bits(0x7ff8000123456789ull);
  const Bits negative_quiet =
      std::same_as<S, float> ? Bits(0xffc00abcu) : Bits(0xfff80000abcdef01ull);
  m(2, 3) = std::bit_cast<S>(quiet);
  m(2, 2) = std::bit_cast<S>(negative_quiet);
  return m;
}

const fs::path golden_dir = moerb::test::golden_dir();

}  // namespace

BOOST_AUTO_TEST_SUITE(safetensors)

BOOST_AUTO_TEST_CASE(dtype_names_and_sizes) {
  for (const Dtype d : {Dtype::f16, Dtype::bf16, Dtype::f32, Dtype::f64}) {
    BOOST_TEST((moerb::dtype_from_name(moerb::dtype_name(d)) == d));
  }
  BOOST_TEST(moerb::dtype_name(Dtype::bf16) == "BF16");
  BOOST_TEST(moerb::dtype_size(Dtype::f16) == 2u);
  BOOST_TEST(moerb::dtype_size(Dtype::bf16) == 2u);
  BOOST_TEST(moerb::dtype_size(Dtype::f32) == 4u);
  BOOST_TEST(moerb::dtype_size(Dtype::f64) == 8u);
  BOOST_TEST(!moerb::dtype_from_name("f32").has_value());
  BOOST_TEST(!moerb::dtype_from_name("I64").has_value());
  BOOST_TEST((moerb::native_dtype<float> == Dtype::f32));
  BOOST_TEST((moerb::native_dtype<double> == Dtype::f64));
}

BOOST_AUTO_TEST_CASE(float16_known_bit_patterns) {
  const std::vector<std::pair<double, std::uint16_t>> cases = {
      {0.0, 0x0000},
      {-0.0, 0x8000},
      {1.0, 0x3c00},
      {-2.0, 0xc000},
      {0.5, 0x3800},
      {65504.0, 0x7bff},   // largest finite
      {65519.99, 0x7bff},  // below the tie with 65536
      {65520.0, 0x7c00},   // tie with 2^16 rounds to even: overflow
      {1e10, 0x7c00},
      {-1e300, 0xfc00},
      {std::ldexp(1.0, -14), 0x0400},             // smallest normal
      {std::ldexp(1.0, -24), 0x0001},             // smallest subnormal
      {std::ldexp(1023.0, -24), 0x03ff},          // largest subnormal
      {std::ldexp(1023.5, -24), 0x0400},          // tie rounds up to even (into the normals)
      {std::ldexp(1.0, -25), 0x0000},             // tie with 0 rounds to even
      {std::ldexp(1.0, -25) * 1.000001, 0x0001},  // above the tie
      {std::ldexp(3.0, -25), 0x0002},             // tie 1.5 units → 2
      {std::ldexp(5.0, -25), 0x0002},             // tie 2.5 units → 2
      {1.0 + std::ldexp(1.0, -11), 0x3c00},       // tie → even
      {1.0 + std::ldexp(3.0, -11), 0x3c02},       // tie → even (up)
      {1.0 + std::ldexp(1.0, -11) + 1e-12, 0x3c01},
      {0.1, 0x2e66},
      {1.0 / 3.0, 0x3555},
      {-1.0 / 3.0, 0xb555},
      {std::ldexp(1.0, -1074), 0x0000},  // double subnormal
      {std::numeric_limits<double>::infinity(), 0x7c00},
      {-std::numeric_limits<double>::infinity(), 0xfc00},
  };
  for (const auto& [value, bits] : cases) {
    BOOST_TEST_CONTEXT("value " << value) {
      BOOST_TEST(moerb::float16_bits(value) == bits);
    }
  }
  BOOST_TEST(moerb::float16_value(0x7bff) == 65504.0);
  BOOST_TEST(moerb::float16_value(0x0001) == std::ldexp(1.0, -24));
  BOOST_TEST(moerb::float16_value(0x3555) == 0.333251953125);
  BOOST_TEST(std::signbit(moerb::float16_value(0x8000)));
  BOOST_TEST(moerb::float16_value(0xfc00) == -std::numeric_limits<double>::infinity());
}

BOOST_AUTO_TEST_CASE(bfloat16_known_bit_patterns) {
  const double float_max = std::numeric_limits<float>::max();
  const std::vector<std::pair<double, std::uint16_t>> cases = {
      {0.0, 0x0000},
      {-0.0, 0x8000},
      {1.0, 0x3f80},
      {-2.0, 0xc000},
      {0.1, 0x3dcd},
      {1.0 / 3.0, 0x3eab},
      {3.140625, 0x4049},
      {std::ldexp(255.0, 120), 0x7f7f},     // largest finite: (2 − 2^-7)·2^127
      {float_max, 0x7f80},                  // float's max rounds up to inf
      {std::ldexp(1.0, -126), 0x0080},      // smallest normal
      {std::ldexp(1.0, -133), 0x0001},      // smallest subnormal
      {std::ldexp(1.0, -134), 0x0000},      // tie with 0 → even
      {std::ldexp(3.0, -134), 0x0002},      // tie 1.5 → 2
      {1.0 + std::ldexp(1.0, -8), 0x3f80},  // tie → even
      {1.0 + std::ldexp(3.0, -8), 0x3f82},  // tie → even (up)
      {-(1.0 + std::ldexp(3.0, -8)), 0xbf82},
      {1e39, 0x7f80},
      {-std::numeric_limits<double>::infinity(), 0xff80},
  };
  for (const auto& [value, bits] : cases) {
    BOOST_TEST_CONTEXT("value " << value) {
      BOOST_TEST(moerb::bfloat16_bits(value) == bits);
    }
  }
  BOOST_TEST(moerb::bfloat16_value(0x3f80) == 1.0);
  BOOST_TEST(moerb::bfloat16_value(0x7f7f) == std::ldexp(255.0, 120));
  BOOST_TEST(moerb::bfloat16_value(0x0001) == std::ldexp(1.0, -133));
}

BOOST_AUTO_TEST_CASE(narrowing_rounds_once_from_double) {
  // Through float these land exactly on a tie and round to even; the double is above the tie.
  const double f16_case = 1.0 + std::ldexp(1.0, -11) + std::ldexp(1.0, -40);
  BOOST_TEST(moerb::float16_bits(static_cast<float>(f16_case)) == 0x3c00);
  BOOST_TEST(moerb::float16_bits(f16_case) == 0x3c01);
  const double bf16_case = 1.0 + std::ldexp(1.0, -8) + std::ldexp(1.0, -30);
  BOOST_TEST(moerb::bfloat16_bits(static_cast<float>(bf16_case)) == 0x3f80);
  BOOST_TEST(moerb::bfloat16_bits(bf16_case) == 0x3f81);
  // And the records made from doubles use the direct rounding.
  Matrix<double> m(1, 2);
  m << f16_case, bf16_case;
  const TensorRecord h = moerb::make_tensor_record("h", m, Dtype::f16);
  const TensorRecord b = moerb::make_tensor_record("b", m, Dtype::bf16);
  BOOST_TEST(std::to_integer<int>(h.bytes[0]) == 0x01);
  BOOST_TEST(std::to_integer<int>(h.bytes[1]) == 0x3c);
  BOOST_TEST(std::to_integer<int>(b.bytes[2]) == 0x81);
  BOOST_TEST(std::to_integer<int>(b.bytes[3]) == 0x3f);
}

BOOST_AUTO_TEST_CASE(every_16_bit_pattern_widens_exactly_and_round_trips) {
  int f16_nans = 0;
  int bf16_nans = 0;
  double previous_f16 = -1.0;
  double previous_bf16 = -1.0;
  for (std::uint32_t bits = 0; bits <= 0xffff; ++bits) {
    const auto b = static_cast<std::uint16_t>(bits);
    const double h = moerb::float16_value(b);
    const double bf = moerb::bfloat16_value(b);
    // BF16 is the top half of a float32.
    const float as_float = std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16);
    if (std::isnan(bf)) {
      ++bf16_nans;
      BOOST_TEST(std::isnan(as_float));
    } else {
      BOOST_TEST(bf == static_cast<double>(as_float));
    }
    for (const auto& [value, back, quiet] :
         {std::tuple{h, moerb::float16_bits(h), std::uint16_t(0x0200)},
          std::tuple{bf, moerb::bfloat16_bits(bf), std::uint16_t(0x0040)}}) {
      if (std::isnan(value)) {
        // NaN keeps its sign and payload; a signalling NaN comes back quieted.
        if (b != back) BOOST_TEST(back == static_cast<std::uint16_t>(b | quiet));
      } else if (b != back) {
        BOOST_TEST(back == b, "pattern " << std::hex << bits << " came back as " << back);
      }
    }
    if (std::isnan(h)) ++f16_nans;
    // Non-negative finite patterns are increasing in value.
    if (bits < 0x7c00) {
      if (bits > 0) BOOST_TEST(h > previous_f16);
      previous_f16 = h;
    }
    if (bits < 0x7f80) {
      if (bits > 0) BOOST_TEST(bf > previous_bf16);
      previous_bf16 = bf;
    }
  }
  BOOST_TEST(f16_nans == 2 * 1023);
  BOOST_TEST(bf16_nans == 2 * 127);
}

BOOST_AUTO_TEST_CASE(nan_keeps_sign_and_top_payload_bits) {
  const double payload_nan = std::bit_cast<double>(0xfff4c00000000000ull);  // negative, signalling
  const std::uint16_t h = moerb::float16_bits(payload_nan);
  // sign | exponent | quiet bit | top 10 payload bits (0x4c00... >> 42 = 0x130)
  BOOST_TEST(h == 0xff30);
  BOOST_TEST(std::isnan(moerb::float16_value(h)));
  BOOST_TEST(std::signbit(moerb::float16_value(h)));
  const std::uint16_t b = moerb::bfloat16_bits(std::bit_cast<double>(0x7ff8000000000000ull));
  BOOST_TEST(b == 0x7fc0);
  BOOST_TEST(std::isnan(static_cast<float>(moerb::bfloat16_value(0x7f81))));
}

BOOST_AUTO_TEST_CASE(raw_records_round_trip_bit_exact) {
  ScratchDir dir;
  const std::vector<std::uint32_t> f32_bits = {0x00000000, 0x80000000, 0x00000001, 0x807fffff,
                                               0x7f800000, 0xff800000, 0x7fc12345, 0x7f800001,
                                               0xffbfffff, 0x3f800000};
  const std::vector<std::uint64_t> f64_bits = {
      0x0000000000000000, 0x8000000000000000, 0x0000000000000001, 0x000fffffffffffff,
      0x7ff0000000000000, 0xfff0000000000000, 0x7ff8000000abcdef, 0x7ff0000000000001};
  const std::vector<std::uint16_t> half_bits = {0x0000, 0x8000, 0x0001, 0x7c00,
                                                0xfc00, 0x7e01, 0x7c01, 0x3c00};
  const std::vector<TensorRecord> records = {
      {"z_f32", Dtype::f32, {2, 5}, bytes_of(f32_bits)},
      {"a_f64", Dtype::f64, {8}, bytes_of(f64_bits)},
      {"m_f16", Dtype::f16, {2, 2, 2}, bytes_of(half_bits)},
      {"n_bf16", Dtype::bf16, {8}, bytes_of(half_bits)},
      {"scalar", Dtype::f64, {}, bytes_of(std::vector<double>{2.5})},
      {"empty", Dtype::f32, {0, 7}, {}},
  };
  const std::map<std::string, std::string> metadata = {{"format", "pt"}, {"note", "σ ✓"}};
  const fs::path path = dir / "raw.safetensors";
  moerb::write_safetensors(path, records, metadata);

  const SafetensorsFile file = SafetensorsFile::open(path);
  BOOST_TEST(file.names() ==
                 (std::vector<std::string>{"a_f64", "empty", "m_f16", "n_bf16", "scalar", "z_f32"}),
             boost::test_tools::per_element());
  BOOST_TEST((file.metadata() == metadata));
  for (const TensorRecord& r : records) {
    BOOST_TEST_CONTEXT("tensor " << r.name) {
      const moerb::TensorInfo& info = file.info(r.name);
      BOOST_TEST((info.dtype == r.dtype));
      BOOST_TEST(info.shape == r.shape, boost::test_tools::per_element());
      BOOST_TEST(info.byte_count() == r.bytes.size());
      const auto stored = file.bytes(r.name);
      BOOST_TEST((std::vector<std::byte>(stored.begin(), stored.end()) == r.bytes));
    }
  }
  BOOST_TEST(file.info("empty").element_count() == 0u);
  BOOST_TEST(file.info("scalar").element_count() == 1u);
}

BOOST_AUTO_TEST_CASE(file_layout_matches_the_reference_writer) {
  ScratchDir dir;
  const std::vector<TensorRecord> records = {
      moerb::make_tensor_record("w", Matrix<float>::Constant(2, 3, 1.5f), Dtype::f32),
      moerb::make_tensor_record("b", Matrix<double>::Constant(1, 3, -1.0), Dtype::bf16, {3}),
  };
  const fs::path path = dir / "layout.safetensors";
  moerb::write_safetensors(path, records);
  const std::string bytes = read_file(path);
  std::uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  BOOST_TEST(n % 8 == 0u);
  const std::string header = bytes.substr(8, n);
  const std::string compact = R"({"b":{"data_offsets":[0,6],"dtype":"BF16","shape":[3]},)"
                              R"("w":{"data_offsets":[6,30],"dtype":"F32","shape":[2,3]}})";
  BOOST_TEST(header.substr(0, compact.size()) == compact);
  BOOST_TEST(header.substr(compact.size()) == std::string(n - compact.size(), ' '));
  BOOST_TEST(bytes.size() == 8 + n + 30);
  // b (BF16 −1 = 0xbf80) first, then w: name order, contiguous.
  BOOST_TEST(static_cast<unsigned char>(bytes[8 + n]) == 0x80u);
  BOOST_TEST(static_cast<unsigned char>(bytes[8 + n + 1]) == 0xbfu);
  float first_w = 0;
  std::memcpy(&first_w, bytes.data() + 8 + n + 6, 4);
  BOOST_TEST(first_w == 1.5f);
  BOOST_TEST(dir.entries() == std::vector<std::string>{"layout.safetensors"},
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(matrix_records_round_trip_bit_exact) {
  ScratchDir dir;
  const Matrix<float> f = special_values<float>();
  const Matrix<double> d = special_values<double>();
  moerb::Rng rng(7);
  Matrix<double> random(5, 6);
  for (Index i = 0; i < random.size(); ++i) random.data()[i] = rng.normal(0.0, 3.0);
  const fs::path path = dir / "matrices.safetensors";
  moerb::write_safetensors(
      path,
      {moerb::make_tensor_record("f", f, Dtype::f32), moerb::make_tensor_record("d", d, Dtype::f64),
       moerb::make_tensor_record("r", random, Dtype::f64),
       moerb::make_tensor_record("row", Matrix<double>(random.row(1)), Dtype::f64, {6})});
  const SafetensorsFile file = SafetensorsFile::open(path);
  BOOST_TEST(same_bits(file.to_matrix<float>("f"), f));
  BOOST_TEST(same_bits(file.to_matrix<double>("d"), d));
  BOOST_TEST(same_bits(file.to_matrix<double>("r"), random));
  const Matrix<double> row = file.to_matrix<double>("row");
  BOOST_TEST(row.rows() == 1);
  BOOST_TEST(same_bits(row, Matrix<double>(random.row(1))));
  // Widening F32 → double and narrowing F64 → float convert like static_cast.
  const Matrix<double> widened = file.to_matrix<double>("f");
  const Matrix<float> narrowed = file.to_matrix<float>("r");
  for (Index i = 0; i < f.size(); ++i) {
    if (!std::isnan(f.data()[i])) {
      BOOST_TEST(widened.data()[i] == static_cast<double>(f.data()[i]));
    } else {
      BOOST_TEST(std::isnan(widened.data()[i]));
    }
  }
  BOOST_TEST(same_bits(narrowed, Matrix<float>(random.cast<float>())));
}

BOOST_AUTO_TEST_CASE(matrix_records_convert_to_16_bit_dtypes) {
  ScratchDir dir;
  moerb::Rng rng(11);
  Matrix<double> values(4, 5);
  for (Index i = 0; i < values.size(); ++i) values.data()[i] = rng.normal(0.0, 100.0);
  values(0, 0) = 1e6;   // F16 overflow
  values(0, 1) = 1e-7;  // F16 subnormal
  values(0, 2) = -0.0;
  const Matrix<float> values_f = values.cast<float>();
  const fs::path path = dir / "half.safetensors";
  moerb::write_safetensors(path, {moerb::make_tensor_record("h", values, Dtype::f16),
                                  moerb::make_tensor_record("b", values, Dtype::bf16),
                                  moerb::make_tensor_record("hf", values_f, Dtype::f16),
                                  moerb::make_tensor_record("bf", values_f, Dtype::bf16)});
  const SafetensorsFile file = SafetensorsFile::open(path);
  const Matrix<double> h = file.to_matrix<double>("h");
  const Matrix<double> b = file.to_matrix<double>("b");
  const Matrix<float> hf = file.to_matrix<float>("hf");
  const Matrix<float> bf = file.to_matrix<float>("bf");
  for (Index i = 0; i < values.size(); ++i) {
    const double v = values.data()[i];
    const double vf = values_f.data()[i];
    BOOST_TEST(h.data()[i] == moerb::float16_value(moerb::float16_bits(v)));
    BOOST_TEST(b.data()[i] == moerb::bfloat16_value(moerb::bfloat16_bits(v)));
    BOOST_TEST(hf.data()[i] == static_cast<float>(moerb::float16_value(moerb::float16_bits(vf))));
    BOOST_TEST(bf.data()[i] == static_cast<float>(moerb::bfloat16_value(moerb::bfloat16_bits(vf))));
    if (std::isfinite(h.data()[i]) && v != 0.0) {
      // Nearest: within half a unit in the last place (relative 2^-11 for normals).
      BOOST_TEST(std::abs(h.data()[i] - v) <=
                 std::max(std::abs(v) * std::ldexp(1.0, -11), std::ldexp(1.0, -25)));
    }
    BOOST_TEST(std::abs(b.data()[i] - v) <= std::abs(v) * std::ldexp(1.0, -8));
  }
  BOOST_TEST(std::isinf(h(0, 0)));
  BOOST_TEST(h(0, 1) == std::ldexp(2.0, -24));  // 1e-7 / 2^-24 = 1.68 → 2 units
  BOOST_TEST(std::signbit(h(0, 2)));
}

BOOST_AUTO_TEST_CASE(accessors_reject_unknown_names_and_other_ranks) {
  ScratchDir dir;
  const fs::path path = dir / "ranks.safetensors";
  moerb::write_safetensors(
      path, {moerb::make_tensor_record("cube", Matrix<double>::Ones(2, 4), Dtype::f32, {2, 2, 2}),
             {"scalar", Dtype::f64, {}, bytes_of(std::vector<double>{1.0})}});
  const SafetensorsFile file = SafetensorsFile::open(path);
  BOOST_TEST(file.contains("cube"));
  BOOST_TEST(!file.contains("nope"));
  BOOST_CHECK_EXCEPTION(static_cast<void>(file.info("nope")), moerb::error,
                        message_has({path.string(), "no tensor 'nope'"}));
  BOOST_CHECK_EXCEPTION(static_cast<void>(file.to_matrix<double>("cube")), moerb::error,
                        message_has({"'cube'", "[2, 2, 2]", "1-D and 2-D"}));
  BOOST_CHECK_EXCEPTION(static_cast<void>(file.to_matrix<float>("scalar")), moerb::error,
                        message_has({"'scalar'", "[]"}));
  BOOST_TEST(file.bytes("cube").size() == 32u);
}

BOOST_AUTO_TEST_CASE(writer_rejects_bad_records_and_writes_nothing) {
  ScratchDir dir;
  const fs::path path = dir / "bad.safetensors";
  const TensorRecord ok = moerb::make_tensor_record("ok", Matrix<float>::Zero(1, 2), Dtype::f32);
  BOOST_CHECK_EXCEPTION(moerb::write_safetensors(path, {ok, ok}), moerb::error,
                        message_has({path.string(), "'ok' appears twice"}));
  TensorRecord reserved = ok;
  reserved.name = "__metadata__";
  BOOST_CHECK_EXCEPTION(moerb::write_safetensors(path, {reserved}), moerb::error,
                        message_has({"reserved"}));
  TensorRecord short_bytes = ok;
  short_bytes.bytes.pop_back();
  BOOST_CHECK_EXCEPTION(moerb::write_safetensors(path, {short_bytes}), moerb::error,
                        message_has({"'ok'", "[1, 2]", "needs 8 bytes", "has 7"}));
  TensorRecord overflow = ok;
  overflow.shape = {std::uint64_t{1} << 62, 4};
  BOOST_CHECK_EXCEPTION(moerb::write_safetensors(path, {overflow}), moerb::error,
                        message_has({"overflows"}));
  TensorRecord bad_utf8 = ok;
  bad_utf8.name = "w\xff";
  BOOST_CHECK_EXCEPTION(moerb::write_safetensors(path, {bad_utf8}), moerb::error,
                        message_has({"UTF-8"}));
  BOOST_CHECK_EXCEPTION(moerb::write_safetensors(path, {ok}, {{"k", "\xc0\xaf"}}), moerb::error,
                        message_has({"UTF-8"}));
  BOOST_CHECK_EXCEPTION(
      static_cast<void>(moerb::make_tensor_record("x", Matrix<float>::Zero(2, 3), Dtype::f32, {5})),
      moerb::error, message_has({"'x'", "[5]", "2×3"}));
  BOOST_TEST(dir.entries().empty());
}

BOOST_AUTO_TEST_CASE(writes_atomically) {
  ScratchDir dir;
  const fs::path path = dir / "target.safetensors";
  const TensorRecord one = moerb::make_tensor_record("x", Matrix<double>::Ones(2, 2), Dtype::f64);
  const TensorRecord two = moerb::make_tensor_record("y", Matrix<double>::Zero(1, 1), Dtype::f64);
  moerb::write_safetensors(path, {one});
  const std::string before = read_file(path);
  // Replacing works and leaves no temporary file.
  moerb::write_safetensors(path, {two});
  BOOST_TEST(SafetensorsFile::open(path).names() == std::vector<std::string>{"y"},
             boost::test_tools::per_element());
  moerb::write_safetensors(path, {one});
  BOOST_TEST(read_file(path) == before);
  BOOST_TEST(dir.entries() == std::vector<std::string>{"target.safetensors"},
             boost::test_tools::per_element());

  // A directory that does not exist: an error naming the path, nothing created.
  const fs::path nowhere = dir / "missing" / "x.safetensors";
  BOOST_CHECK_EXCEPTION(moerb::write_safetensors(nowhere, {one}), moerb::error,
                        message_has({nowhere.string(), "temporary file"}));
  BOOST_TEST(!fs::exists(dir / "missing"));

  // The rename fails when the target is a non-empty directory: the temporary file is removed.
  const fs::path occupied = dir / "occupied";
  fs::create_directories(occupied / "inside");
  BOOST_CHECK_EXCEPTION(moerb::write_safetensors(occupied, {one}), moerb::error,
                        message_has({occupied.string(), "rename"}));
  BOOST_TEST(fs::is_directory(occupied / "inside"));
  BOOST_TEST(dir.entries().size() == 2u);  // target.safetensors and occupied only
  BOOST_TEST(read_file(path) == before);
}

BOOST_AUTO_TEST_CASE(reads_files_written_by_python) {
  const moerb::test::GoldenFile golden("fixture_safetensors_values.txt");
  const std::map<std::string, std::string> metadata = {
      {"format", "pt"}, {"producer", "make_safetensors_fixtures.py"}, {"note", "σ-MoE ✓"}};
  for (const auto& [dtype_name, dtype] : std::vector<std::pair<std::string, Dtype>>{
           {"F64", Dtype::f64}, {"F32", Dtype::f32}, {"F16", Dtype::f16}, {"BF16", Dtype::bf16}}) {
    BOOST_TEST_CONTEXT("dtype " << dtype_name) {
      std::string lower = dtype_name;
      for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      const SafetensorsFile file =
          SafetensorsFile::open(golden_dir / ("fixture_" + lower + ".safetensors"));
      BOOST_TEST((file.metadata() == metadata));
      BOOST_TEST(file.names() == (std::vector<std::string>{"block.bias", "block.weight", "empty"}),
                 boost::test_tools::per_element());
      BOOST_TEST(file.info("block.weight").shape == (std::vector<std::uint64_t>{3, 4}),
                 boost::test_tools::per_element());
      BOOST_TEST(file.info("block.bias").shape == (std::vector<std::uint64_t>{4}),
                 boost::test_tools::per_element());
      BOOST_TEST(file.info("empty").shape == (std::vector<std::uint64_t>{0, 3}),
                 boost::test_tools::per_element());
      for (const std::string name : {"block.weight", "block.bias", "empty"}) {
        BOOST_TEST((file.info(name).dtype == dtype));
        Matrix<double> expected = golden.tensor(dtype_name + "." + name);
        if (name == "block.bias") expected.transposeInPlace();  // golden stores 1-D as n × 1
        const Matrix<double> got = file.to_matrix<double>(name);
        BOOST_TEST(same_bits(got, expected), name << ": read " << got << " expected " << expected);
        if (dtype != Dtype::f64) {
          BOOST_TEST(same_bits(file.to_matrix<float>(name), Matrix<float>(expected.cast<float>())));
        }
      }
    }
  }
  const SafetensorsFile mixed = SafetensorsFile::open(golden_dir / "fixture_mixed.safetensors");
  BOOST_TEST(mixed.metadata().empty());
  for (const std::string name : {"a_f64", "b_f32", "c_bf16", "d_f16"}) {
    Matrix<double> expected = golden.tensor("mixed." + name);
    if (mixed.info(name).shape.size() == 1) expected.transposeInPlace();
    BOOST_TEST(same_bits(mixed.to_matrix<double>(name), expected), name);
  }
}

BOOST_AUTO_TEST_CASE(rounds_to_16_bits_like_torch) {
  // The float32 sources torch rounded with Tensor.to(float16 / bfloat16), rounded by moerb: the
  // bytes must equal torch's.
  const moerb::test::GoldenFile golden("fixture_safetensors_values.txt");
  for (const auto& [dtype_name, dtype] :
       std::vector<std::pair<std::string, Dtype>>{{"F16", Dtype::f16}, {"BF16", Dtype::bf16}}) {
    std::string lower = dtype_name;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const SafetensorsFile file =
        SafetensorsFile::open(golden_dir / ("fixture_" + lower + ".safetensors"));
    for (const std::string name : {"block.weight", "block.bias"}) {
      const Matrix<float> source = golden.tensor_as<float>(dtype_name + ".source." + name);
      const TensorRecord mine = moerb::make_tensor_record(name, source, dtype);
      const auto torch = file.bytes(name);
      BOOST_TEST((mine.bytes == std::vector<std::byte>(torch.begin(), torch.end())),
                 dtype_name << " " << name);
    }
  }
}

BOOST_AUTO_TEST_CASE(rewriting_python_files_is_byte_identical) {
  ScratchDir dir;
  for (const std::string fixture : {"f64", "f32", "f16", "bf16", "mixed"}) {
    const fs::path original = golden_dir / ("fixture_" + fixture + ".safetensors");
    const SafetensorsFile file = SafetensorsFile::open(original);
    std::vector<TensorRecord> records;
    for (const std::string& name : file.names()) {
      const auto b = file.bytes(name);
      records.push_back({name, file.info(name).dtype, file.info(name).shape, {b.begin(), b.end()}});
    }
    const fs::path copy = dir / ("copy_" + fixture + ".safetensors");
    moerb::write_safetensors(copy, records, file.metadata());
    BOOST_TEST(read_file(copy) == read_file(original), fixture);
  }
}

BOOST_AUTO_TEST_CASE(every_truncation_is_rejected) {
  ScratchDir dir;
  const fs::path source = dir / "whole.safetensors";
  moerb::write_safetensors(
      source,
      {moerb::make_tensor_record("a", Matrix<float>::Constant(2, 3, 0.5f), Dtype::f32),
       moerb::make_tensor_record("b", Matrix<double>::Constant(1, 2, -3.0), Dtype::f16, {2})},
      {{"k", "v"}});
  const std::string whole = read_file(source);
  BOOST_REQUIRE_NO_THROW(static_cast<void>(SafetensorsFile::open(source)));
  const fs::path cut = dir / "cut.safetensors";
  for (std::size_t length = 0; length < whole.size(); ++length) {
    write_file(cut, whole.substr(0, length));
    BOOST_CHECK_EXCEPTION(static_cast<void>(SafetensorsFile::open(cut)), moerb::error,
                          message_has({cut.string()}));
  }
  // One byte more is trailing data.
  write_file(cut, whole + std::string(1, '\0'));
  BOOST_CHECK_EXCEPTION(static_cast<void>(SafetensorsFile::open(cut)), moerb::error,
                        message_has({"1 trailing bytes"}));
}

BOOST_AUTO_TEST_CASE(flipped_bytes_are_rejected_or_read_consistently) {
  ScratchDir dir;
  const fs::path source = dir / "whole.safetensors";
  moerb::write_safetensors(
      source,
      {moerb::make_tensor_record("a", Matrix<float>::Constant(2, 3, 0.5f), Dtype::f32),
       moerb::make_tensor_record("b", Matrix<double>::Constant(1, 2, -3.0), Dtype::bf16, {2})},
      {{"k", "v"}});
  const std::string whole = read_file(source);
  const fs::path flipped = dir / "flipped.safetensors";
  int rejected = 0;
  int accepted = 0;
  for (std::size_t i = 0; i < whole.size(); ++i) {
    for (const unsigned mask : {0x01u, 0x02u, 0x08u, 0x20u, 0x40u, 0x80u, 0xffu}) {
      std::string bytes = whole;
      bytes[i] = static_cast<char>(static_cast<unsigned char>(bytes[i]) ^ mask);
      write_file(flipped, bytes);
      try {
        const SafetensorsFile file = SafetensorsFile::open(flipped);
        ++accepted;
        // Whatever was accepted is consistent: every tensor readable, sizes add up.
        std::uint64_t total = 0;
        for (const std::string& name : file.names()) {
          total += file.bytes(name).size();
          if (file.info(name).shape.size() == 1 || file.info(name).shape.size() == 2) {
            const Matrix<double> m = file.to_matrix<double>(name);
            BOOST_TEST(static_cast<std::uint64_t>(m.size()) == file.info(name).element_count());
          }
        }
        std::uint64_t n = 0;
        std::memcpy(&n, bytes.data(), 8);
        BOOST_TEST(total == bytes.size() - 8 - n);
      } catch (const moerb::error& e) {
        ++rejected;
        BOOST_TEST(std::string(e.what()).find(flipped.string()) != std::string::npos);
      }
    }
  }
  BOOST_TEST_MESSAGE("flipped bytes: " << rejected << " rejected, " << accepted << " accepted");
  BOOST_TEST(rejected > 0);
  BOOST_TEST(accepted > 0);  // flips in the data section only change values
}

BOOST_AUTO_TEST_CASE(rejects_bad_lengths) {
  ScratchDir dir;
  const fs::path path = dir / "length.safetensors";
  const auto expect = [&](const std::string& bytes, std::initializer_list<std::string> parts) {
    write_file(path, bytes);
    BOOST_CHECK_EXCEPTION(static_cast<void>(SafetensorsFile::open(path)), moerb::error,
                          message_has(parts));
  };
  const std::string header = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  expect("", {path.string(), "0 bytes", "shorter than the 8-byte"});
  expect("1234567", {"7 bytes"});
  expect(length_field(std::uint64_t{1} << 63) + header, {"9223372036854775808", "limit"});
  expect(length_field(~std::uint64_t{0}) + header, {"18446744073709551615", "limit"});
  expect(length_field(moerb::safetensors_max_header_bytes + 1) + header, {"limit"});
  expect(length_field(header.size() + 1) + header, {"exceeds the", "bytes after the length"});
  expect(length_field(0), {"does not start with '{'"});
  expect(length_field(0) + std::string(8, '\0'), {"does not start with '{'"});
  // The valid file from which these are cut.
  write_file(path, crafted(header, 8));
  BOOST_CHECK_NO_THROW(static_cast<void>(SafetensorsFile::open(path)));
  // Missing files and directories.
  BOOST_CHECK_EXCEPTION(static_cast<void>(SafetensorsFile::open(dir / "none.safetensors")),
                        moerb::error, message_has({"none.safetensors", "cannot read"}));
  BOOST_CHECK_EXCEPTION(static_cast<void>(SafetensorsFile::open(dir.path())), moerb::error,
                        message_has({dir.path().string()}));
}

BOOST_AUTO_TEST_CASE(rejects_crafted_headers) {
  ScratchDir dir;
  const fs::path path = dir / "crafted.safetensors";
  const auto expect = [&](const std::string& header, std::size_t data_bytes,
                          std::initializer_list<std::string> parts) {
    BOOST_TEST_CONTEXT("header " << header) {
      write_file(path, crafted(header, data_bytes));
      BOOST_CHECK_EXCEPTION(static_cast<void>(SafetensorsFile::open(path)), moerb::error,
                            message_has(parts));
      BOOST_CHECK_EXCEPTION(static_cast<void>(SafetensorsFile::open(path)), moerb::error,
                            message_has({path.string()}));
    }
  };
  const auto entry = [](const std::string& name, const std::string& dtype, const std::string& shape,
                        const std::string& offsets) {
    return "\"" + name + "\":{\"dtype\":" + dtype + ",\"shape\":" + shape +
           ",\"data_offsets\":" + offsets + "}";
  };
  const std::string a = entry("a", "\"F32\"", "[2]", "[0,8]");

  // Valid baselines: these open.
  for (const auto& [header, data] : std::vector<std::pair<std::string, std::size_t>>{
           {"{" + a + "}", 8},
           {"{}", 0},
           {"{" + a + "}   \t\n", 8},
           {" \r\n\t{" + a + "}", 8},  // JSON allows leading whitespace; so does serde_json
           {"{" + entry("e", "\"F16\"", "[0,5]", "[0,0]") + "," + a + "}", 8},
           {"{" + a + "," + entry("z", "\"BF16\"", "[0]", "[8,8]") + "}", 8},
           {R"({"__metadata__":{},)" + a + "}", 8}}) {
    write_file(path, crafted(header, data));
    BOOST_CHECK_NO_THROW(static_cast<void>(SafetensorsFile::open(path)));
  }

  // Not a JSON object / not JSON / not UTF-8.
  expect("[" + a + "]", 8, {"does not start with '{'"});
  expect(" [" + a + "]", 8, {"does not start with '{'"});
  expect("\"a\"", 8, {"does not start with '{'"});
  expect("   ", 0, {"does not start with '{'"});
  expect("\xef\xbb\xbf{" + a + "}", 8, {"does not start with '{'"});  // UTF-8 byte order mark
  expect("{" + a, 8, {"not valid JSON"});
  expect("{" + a + "}{}", 8, {"not valid JSON"});
  expect("{" + a + "}" + std::string(3, '\0'), 8, {"NUL byte at offset"});
  expect("{" + a + "}" + std::string(1, '\0') + "garbage", 8, {"NUL byte"});
  expect("{/*c*/" + a + "}", 8, {"not valid JSON"});
  expect("{\"\xff\":1}", 0, {"not valid JSON"});
  expect("{\"\xc0\xaf\":1}", 0, {"not valid JSON"});      // overlong encoding
  expect("{\"\xed\xa0\x80\":1}", 0, {"not valid JSON"});  // encoded surrogate
  expect(R"({"\ud800":1})", 0, {"not valid JSON"});       // lone surrogate escape
  expect("{" + entry("a", "\"F32\xff\"", "[2]", "[0,8]") + "}", 8, {"not valid JSON"});

  // Entries.
  expect(R"({"a":[0,8]})", 8, {"entry of tensor 'a' is array, expected an object"});
  expect(R"({"a":"F32"})", 8, {"entry of tensor 'a'", "string"});
  expect(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"offset":0}})", 8,
         {"tensor 'a'", "unknown key \"offset\""});
  expect(R"({"a":{"dtype":"F32","data_offsets":[0,8]}})", 8, {"tensor 'a' lacks \"shape\""});
  expect(R"({"a":{"dtype":"F32","shape":[2]}})", 8, {"tensor 'a' lacks \"data_offsets\""});
  expect(R"({"a":{"shape":[2],"data_offsets":[0,8]}})", 8, {"tensor 'a' lacks \"dtype\""});

  // dtypes.
  expect("{" + entry("a", "\"I64\"", "[1]", "[0,8]") + "}", 8, {"tensor 'a'", "\"I64\""});
  expect("{" + entry("a", "\"f32\"", "[2]", "[0,8]") + "}", 8, {"\"f32\"", "F16, BF16, F32"});
  expect("{" + entry("a", "\"F8_E4M3\"", "[8]", "[0,8]") + "}", 8, {"\"F8_E4M3\""});
  expect("{" + entry("a", "32", "[2]", "[0,8]") + "}", 8, {"tensor 'a'", "dtype is number"});

  // Shapes.
  expect("{" + entry("a", "\"F32\"", "2", "[0,8]") + "}", 8, {"tensor 'a'", "shape is number"});
  expect("{" + entry("a", "\"F32\"", "[-2]", "[0,8]") + "}", 8,
         {"tensor 'a'", "[-2]", "non-negative integers"});
  expect("{" + entry("a", "\"F32\"", "[2.0]", "[0,8]") + "}", 8, {"non-negative integers"});
  expect("{" + entry("a", "\"F32\"", "[\"2\"]", "[0,8]") + "}", 8, {"non-negative integers"});
  expect("{" + entry("a", "\"F32\"", "[true]", "[0,8]") + "}", 8, {"non-negative integers"});
  expect("{" + entry("a", "\"F32\"", "[{}]", "[0,8]") + "}", 8, {"nests"});
  expect("{" + entry("a", "\"F32\"", "[[2]]", "[0,8]") + "}", 8, {"nests"});
  expect(
      "{" + entry("a", "\"F32\"", std::string(5000, '[') + std::string(5000, ']'), "[0,8]") + "}",
      8, {"nests"});
  expect("{" + entry("a", "\"F32\"", "[18446744073709551616]", "[0,8]") + "}", 8,
         {"non-negative integers"});  // beyond u64: parsed as a float
  expect("{" + entry("a", "\"F32\"", "[4294967296,4294967296,2]", "[0,8]") + "}", 8,
         {"tensor 'a'", "overflows"});
  expect("{" + entry("a", "\"F64\"", "[2305843009213693952]", "[0,8]") + "}", 8, {"overflows"});
  expect("{" + entry("a", "\"F32\"", "[3]", "[0,8]") + "}", 8,
         {"tensor 'a'", "[3]", "needs 12 bytes", "[0, 8]"});
  expect("{" + entry("a", "\"F32\"", "[]", "[0,8]") + "}", 8, {"needs 4 bytes"});

  // Offsets.
  expect("{" + entry("a", "\"F32\"", "[2]", "[0]") + "}", 8,
         {"tensor 'a'", "data_offsets [0]", "two non-negative integers"});
  expect("{" + entry("a", "\"F32\"", "[2]", "[0,8,8]") + "}", 8, {"two non-negative integers"});
  expect("{" + entry("a", "\"F32\"", "[2]", "[-1,7]") + "}", 8, {"two non-negative integers"});
  expect("{" + entry("a", "\"F32\"", "[2]", "[0.0,8]") + "}", 8, {"two non-negative integers"});
  expect("{" + entry("a", "\"F32\"", "[2]", "\"0,8\"") + "}", 8, {"two non-negative integers"});
  expect("{" + entry("a", "\"F32\"", "[2]", "{\"0\":8}") + "}", 8, {"two non-negative integers"});
  expect("{" + entry("a", "\"F32\"", "[0]", "[8,0]") + "}", 8,
         {"tensor 'a'", "[8, 0]", "begin after they end"});
  expect("{" + entry("a", "\"F32\"", "[2]", "[8,16]") + "}", 8,
         {"tensor 'a'", "[8, 16]", "end beyond the data section (8 bytes)"});
  expect("{" + entry("a", "\"F32\"", "[2]", "[18446744073709551615,7]") + "}", 8,
         {"begin after they end"});

  // Layout of the data section.
  expect("{" + a + "," + entry("b", "\"F32\"", "[2]", "[4,12]") + "}", 12,
         {"tensor 'b'", "[4, 12]", "overlaps tensor 'a'"});
  expect("{" + a + "," + entry("b", "\"F32\"", "[2]", "[0,8]") + "}", 8, {"overlaps tensor"});
  expect("{" + a + "," + entry("b", "\"F32\"", "[0]", "[4,4]") + "}", 8,
         {"tensor 'b'", "overlaps tensor 'a'"});
  expect("{" + a + "," + entry("b", "\"F32\"", "[2]", "[12,20]") + "}", 20,
         {"gap of 4 bytes", "tensor 'b'", "[12, 20]"});
  expect("{" + entry("b", "\"F32\"", "[2]", "[4,12]") + "}", 12, {"gap of 4 bytes", "'b'"});
  expect("{" + a + "}", 12, {"4 trailing bytes", "[0, 8)", "12-byte data section"});
  expect("{}", 3, {"3 trailing bytes"});

  // Duplicates (a plain parser would keep the last one).
  expect("{" + a + "," + a + "}", 8, {"tensor name \"a\" appears twice"});
  expect("{" + a + "," + entry("a", "\"F32\"", "[0]", "[8,8]") + "}", 8, {"\"a\" appears twice"});
  expect(R"({"a":{"dtype":"F32","dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8,
         {"key \"dtype\" appears twice in the header entry \"a\""});
  expect(R"({"__metadata__":{"k":"v","k":"w"},)" + a + "}", 8,
         {"key \"k\" appears twice in the header entry \"__metadata__\""});
  expect(R"({"__metadata__":{},"__metadata__":{},)" + a + "}", 8,
         {"\"__metadata__\" appears twice"});

  // Metadata.
  expect(R"({"__metadata__":["k","v"],)" + a + "}", 8, {"\"__metadata__\" is not an object"});
  expect(R"({"__metadata__":"k",)" + a + "}", 8, {"\"__metadata__\" is not an object"});
  expect(R"({"__metadata__":{"k":1},)" + a + "}", 8,
         {"value of \"k\" is number, expected a string"});
  expect(R"({"__metadata__":{"k":null},)" + a + "}", 8, {"value of \"k\" is null"});
  expect(R"({"__metadata__":{"k":{"x":"y"}},)" + a + "}", 8, {"value of \"k\" is object"});
  expect(R"({"__metadata__":{"k":["v"]},)" + a + "}", 8, {"value of \"k\" is array"});
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace moerb_test_io_safetensors
