#pragma once
// safetensors files (https://github.com/huggingface/safetensors): the tensor container format of
// the Hugging Face ecosystem, so that moerb checkpoints load in PyTorch and the other way round.
//
// Layout (all integers little-endian):
//   bytes [0, 8)        N, an unsigned 64-bit header length
//   bytes [8, 8 + N)    UTF-8 JSON object: tensor name → {"dtype": "F32", "shape": [2, 3],
//                       "data_offsets": [begin, end]}, plus an optional "__metadata__" object of
//                       string → string; offsets count from the first byte after the header
//   bytes [8 + N, EOF)  the data section: every tensor's elements in C (row-major) order
// moerb reads and writes the floating-point dtypes F16 (IEEE binary16), BF16 (bfloat16), F32 and
// F64; files holding other dtypes (integers, bool, 8-bit floats) are rejected with an error.
//
// SafetensorsFile::open validates the whole file before exposing anything (see its comment for
// the rules); every violation raises moerb::error naming the file and the offending tensor.
#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "moerb/core/detail/atomic_file.hpp"
#include "moerb/core/error.hpp"
#include "moerb/core/types.hpp"
#include "moerb/io/detail/narrow_float.hpp"

namespace moerb {

// The data section is little-endian; on such hosts element bytes are copied as they are.
static_assert(std::endian::native == std::endian::little,
              "moerb/io/safetensors.hpp supports little-endian hosts only");

/// Element types moerb reads and writes, named in files as "F16", "BF16", "F32", "F64".
enum class Dtype { f16, bf16, f32, f64 };

/// The file's name of a dtype ("F16", "BF16", "F32", "F64").
[[nodiscard]] inline std::string_view dtype_name(Dtype dtype) {
  switch (dtype) {
    case Dtype::f16:
      return "F16";
    case Dtype::bf16:
      return "BF16";
    case Dtype::f32:
      return "F32";
    case Dtype::f64:
      return "F64";
  }
  throw error("dtype_name: invalid Dtype value");
}

/// The dtype a file names, or nullopt for names moerb does not read.
[[nodiscard]] inline std::optional<Dtype> dtype_from_name(std::string_view name) {
  if (name == "F16") return Dtype::f16;
  if (name == "BF16") return Dtype::bf16;
  if (name == "F32") return Dtype::f32;
  if (name == "F64") return Dtype::f64;
  return std::nullopt;
}

/// Bytes per element.
[[nodiscard]] inline std::size_t dtype_size(Dtype dtype) {
  switch (dtype) {
    case Dtype::f16:
    case Dtype::bf16:
      return 2;
    case Dtype::f32:
      return 4;
    case Dtype::f64:
      return 8;
  }
  throw error("dtype_size: invalid Dtype value");
}

/// The dtype that stores S exactly (F32 for float, F64 for double).
template <FloatingScalar S>
inline constexpr Dtype native_dtype = std::same_as<S, float> ? Dtype::f32 : Dtype::f64;

/// IEEE binary16 bits of the F16 value nearest to `value`: round to nearest, ties to even,
/// directly from double (no double rounding through float); beyond ±65504 (after rounding) →
/// ±inf; NaN → quiet NaN keeping the sign and the top 9 payload bits.
[[nodiscard]] inline std::uint16_t float16_bits(double value) {
  return detail::io::Float16Format::from_double(value);
}
/// bfloat16 bits of the BF16 value nearest to `value`, with the same rounding rules as
/// float16_bits (overflow past 3.3895e38 → ±inf; NaN keeps its sign and top 6 payload bits).
[[nodiscard]] inline std::uint16_t bfloat16_bits(double value) {
  return detail::io::BFloat16Format::from_double(value);
}
/// The exact value of F16 bits (a widening: every F16 value is a float and a double).
[[nodiscard]] inline double float16_value(std::uint16_t bits) {
  return detail::io::Float16Format::to_double(bits);
}
/// The exact value of BF16 bits.
[[nodiscard]] inline double bfloat16_value(std::uint16_t bits) {
  return detail::io::BFloat16Format::to_double(bits);
}

/// The largest header moerb accepts, the same 100 MB limit as the reference implementation:
/// larger length fields come from corrupt or hostile files, not from real checkpoints.
inline constexpr std::uint64_t safetensors_max_header_bytes = 100'000'000;

/// One tensor to write: `bytes` are the elements in C order, little-endian, of type `dtype`;
/// bytes.size() must equal product(shape) × dtype_size(dtype). An empty shape is a scalar.
struct TensorRecord {
  std::string name;
  Dtype dtype = Dtype::f32;
  std::vector<std::uint64_t> shape;
  std::vector<std::byte> bytes;
};

namespace detail::io {

[[nodiscard]] inline std::optional<std::uint64_t> checked_multiply(std::uint64_t a,
                                                                   std::uint64_t b) {
  if (a != 0 && b > std::numeric_limits<std::uint64_t>::max() / a) return std::nullopt;
  return a * b;
}

/// Element count × element size, or nullopt when the product overflows 64 bits.
[[nodiscard]] inline std::optional<std::uint64_t> tensor_byte_count(
    const std::vector<std::uint64_t>& shape, Dtype dtype) {
  std::optional<std::uint64_t> bytes = dtype_size(dtype);
  for (const std::uint64_t dim : shape) {
    bytes = checked_multiply(*bytes, dim);
    if (!bytes) return std::nullopt;
  }
  return bytes;
}

[[nodiscard]] inline std::string shape_string(const std::vector<std::uint64_t>& shape) {
  std::ostringstream os;
  os << '[';
  for (std::size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << ']';
  return os.str();
}

/// Text from a file, made printable for an error message (bytes outside printable ASCII become
/// \xNN), so that a corrupt header does not put control bytes or broken UTF-8 into logs.
[[nodiscard]] inline std::string printable(std::string_view text, std::size_t max_length = 200) {
  std::string out;
  for (std::size_t i = 0; i < text.size() && i < max_length; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      constexpr char hex[] = "0123456789abcdef";
      out += "\\x";
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 0xf]);
    }
  }
  if (text.size() > max_length) out += "...";
  return out;
}

template <class T>
void store_le(std::byte* out, T value) {
  std::memcpy(out, &value, sizeof(T));
}
template <class T>
[[nodiscard]] T load_le(const std::byte* in) {
  T value;
  std::memcpy(&value, in, sizeof(T));
  return value;
}

/// Encodes one value as `dtype` at `out` (dtype_size(dtype) bytes).
template <FloatingScalar S>
void encode_element(S value, Dtype dtype, std::byte* out) {
  switch (dtype) {
    case Dtype::f16:
      store_le(out, float16_bits(static_cast<double>(value)));
      return;
    case Dtype::bf16:
      store_le(out, bfloat16_bits(static_cast<double>(value)));
      return;
    case Dtype::f32:
      store_le(out, static_cast<float>(value));
      return;
    case Dtype::f64:
      store_le(out, static_cast<double>(value));
      return;
  }
}

/// Decodes one element of `dtype` at `in` as S (exact except F64 → float, which rounds).
template <FloatingScalar S>
[[nodiscard]] S decode_element(const std::byte* in, Dtype dtype) {
  switch (dtype) {
    case Dtype::f16:
      return static_cast<S>(float16_value(load_le<std::uint16_t>(in)));
    case Dtype::bf16:
      return static_cast<S>(bfloat16_value(load_le<std::uint16_t>(in)));
    case Dtype::f32:
      return static_cast<S>(load_le<float>(in));
    case Dtype::f64:
      return static_cast<S>(load_le<double>(in));
  }
  return S(0);
}

}  // namespace detail::io

/// A record holding `values` (a Matrix<float> / Matrix<double> or any Eigen expression of them)
/// in C order (row by row, as the row-major Matrix stores them) converted to `dtype`: F32/F64 by
/// static_cast (float → F64 exact, double → F32 rounds to nearest), F16/BF16 rounded to nearest
/// with ties to even (float16_bits / bfloat16_bits). The shape is [rows, cols].
template <class Derived>
requires FloatingScalar<typename Derived::Scalar>
[[nodiscard]] TensorRecord make_tensor_record(std::string name,
                                              const Eigen::MatrixBase<Derived>& values,
                                              Dtype dtype) {
  TensorRecord record{
      std::move(name),
      dtype,
      {static_cast<std::uint64_t>(values.rows()), static_cast<std::uint64_t>(values.cols())},
      {}};
  const std::size_t size = dtype_size(dtype);
  record.bytes.resize(static_cast<std::size_t>(values.size()) * size);
  std::byte* out = record.bytes.data();
  for (Index r = 0; r < values.rows(); ++r) {
    for (Index c = 0; c < values.cols(); ++c, out += size) {
      detail::io::encode_element(values(r, c), dtype, out);
    }
  }
  return record;
}

/// As above with an explicit `shape` (e.g. {n} for a 1-D tensor from a 1 × n matrix): the values
/// are taken in C order, so product(shape) must equal values.size().
template <class Derived>
requires FloatingScalar<typename Derived::Scalar>
[[nodiscard]] TensorRecord make_tensor_record(std::string name,
                                              const Eigen::MatrixBase<Derived>& values, Dtype dtype,
                                              std::vector<std::uint64_t> shape) {
  std::uint64_t count = 1;
  for (const std::uint64_t dim : shape) {
    const auto next = detail::io::checked_multiply(count, dim);
    MOERB_REQUIRE(next.has_value(), "make_tensor_record: tensor '", name, "': shape ",
            detail::io::shape_string(shape), " overflows");
    count = *next;
  }
  MOERB_REQUIRE(count == static_cast<std::uint64_t>(values.size()), "make_tensor_record: tensor '", name,
          "': shape ", detail::io::shape_string(shape), " holds ", count, " elements, values have ",
          values.size(), " (", values.rows(), "×", values.cols(), ")");
  TensorRecord record = make_tensor_record(std::move(name), values, dtype);
  record.shape = std::move(shape);
  return record;
}

/// Writes `tensors` and `metadata` to `path` as a safetensors file, atomically (a temporary file
/// in the same directory renamed over `path`; on failure `path` is untouched and the temporary
/// file removed).
///
/// Layout: the header is compact JSON with keys in byte order, "__metadata__" present only when
/// `metadata` is non-empty, padded with spaces so that N (and hence the data section's start) is
/// a multiple of 8, as the reference implementation pads it; the tensors follow in name order,
/// contiguous, without gaps (the reference orders by dtype first; readers accept any order that
/// covers the data section). Throws moerb::error (nothing written) for duplicate names,
/// the reserved name "__metadata__", names or metadata that are not valid UTF-8, and byte counts
/// that do not match shape × dtype.
inline void write_safetensors(const std::filesystem::path& path,
                              const std::vector<TensorRecord>& tensors,
                              const std::map<std::string, std::string>& metadata = {}) {
  const std::string where = detail::concat("write_safetensors('", path.string(), "')");
  std::map<std::string, const TensorRecord*> by_name;
  for (const TensorRecord& t : tensors) {
    MOERB_REQUIRE(t.name != "__metadata__", where,
            ": \"__metadata__\" is reserved for the metadata and cannot name a tensor");
    MOERB_REQUIRE(by_name.emplace(t.name, &t).second, where, ": tensor name '",
            detail::io::printable(t.name), "' appears twice");
    const auto expected = detail::io::tensor_byte_count(t.shape, t.dtype);
    MOERB_REQUIRE(expected.has_value(), where, ": tensor '", detail::io::printable(t.name), "': shape ",
            detail::io::shape_string(t.shape), " × ", dtype_size(t.dtype), " bytes overflows");
    MOERB_REQUIRE(*expected == t.bytes.size(), where, ": tensor '", detail::io::printable(t.name),
            "': shape ", detail::io::shape_string(t.shape), " of ", dtype_name(t.dtype), " needs ",
            *expected, " bytes, the record has ", t.bytes.size());
  }

  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::uint64_t offset = 0;
  for (const auto& [name, t] : by_name) {
    const std::uint64_t end = offset + t->bytes.size();
    header[name] = {{"dtype", std::string(dtype_name(t->dtype))},
                    {"shape", t->shape},
                    {"data_offsets", nlohmann::json::array({offset, end})}};
    offset = end;
  }
  std::string text;
  try {
    text = header.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
  } catch (const nlohmann::json::exception& e) {
    throw error(detail::concat(where, ": a tensor name or metadata string is not valid UTF-8 (",
                               detail::io::printable(e.what()), ")"));
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  MOERB_REQUIRE(text.size() <= safetensors_max_header_bytes, where, ": the header would be ", text.size(),
          " bytes, over the ", safetensors_max_header_bytes, "-byte limit");

  moerb::detail::write_file_atomically(path, where, [&](const moerb::detail::WriteChunk& write) {
    std::byte length[8];
    detail::io::store_le(length, static_cast<std::uint64_t>(text.size()));
    write(length, sizeof length);
    write(text.data(), text.size());
    for (const auto& [name, t] : by_name) write(t->bytes.data(), t->bytes.size());
  });
}

/// Where one tensor lies in a file: offsets [begin, end) count from the data section's start.
struct TensorInfo {
  Dtype dtype = Dtype::f32;
  std::vector<std::uint64_t> shape;
  std::uint64_t begin = 0;
  std::uint64_t end = 0;

  [[nodiscard]] std::uint64_t element_count() const {
    std::uint64_t n = 1;
    for (const std::uint64_t d : shape) n *= d;  // validated not to overflow when read
    return n;
  }
  [[nodiscard]] std::uint64_t byte_count() const { return end - begin; }
};

/// A safetensors file read into memory and validated.
///
/// open() reads the whole file (checkpoints of the models moerb trains fit in memory) and rejects,
/// with a moerb::error naming the file and the tensor, anything the format does not allow:
/// - a file shorter than the 8-byte length field; a header length beyond the rest of the file or
///   over safetensors_max_header_bytes (2^63 included: no arithmetic overflows);
/// - a header whose first byte after JSON whitespace is not '{' (moerb's check, made before
///   parsing; it also refuses a UTF-8 byte-order mark, which JSON does not allow), that is not
///   valid JSON (a NUL byte anywhere included), is not valid UTF-8, or nests
///   deeper than the format's object → entry → list;
/// - a key appearing twice in any object (duplicate tensor names included: a plain JSON parser
///   would silently keep the last one);
/// - "__metadata__" that is not an object of string → string;
/// - an entry that is not an object, lacks "dtype", "shape" or "data_offsets", or has any other
///   key; a dtype that is not a string naming F16, BF16, F32 or F64; a shape that is not a list
///   of non-negative integers; product(shape) × dtype size that overflows 64 bits or differs from
///   end − begin; data_offsets that are not a list of two non-negative integers with
///   begin <= end; end beyond the data section;
/// - tensors that overlap, gaps between them, or bytes after the last one: like the reference
///   implementation, moerb requires the tensors to cover the data section exactly.
class SafetensorsFile {
 public:
  [[nodiscard]] static SafetensorsFile open(const std::filesystem::path& path) {
    SafetensorsFile file;
    file.path_ = path;
    file.read_and_validate();
    return file;
  }

  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  /// Tensor names in byte order.
  [[nodiscard]] const std::vector<std::string>& names() const { return names_; }
  [[nodiscard]] bool contains(std::string_view name) const {
    return tensors_.find(name) != tensors_.end();
  }
  [[nodiscard]] std::size_t size() const { return names_.size(); }
  /// dtype, shape and offsets of `name`; throws moerb::error for an unknown name.
  [[nodiscard]] const TensorInfo& info(std::string_view name) const {
    const auto it = tensors_.find(name);
    if (it == tensors_.end()) fail("has no tensor '", name, "'");
    return it->second;
  }
  /// The "__metadata__" object (empty when the file has none).
  [[nodiscard]] const std::map<std::string, std::string>& metadata() const { return metadata_; }
  /// The tensor's stored bytes (C order, little-endian), valid while this object lives.
  [[nodiscard]] std::span<const std::byte> bytes(std::string_view name) const {
    const TensorInfo& t = info(name);
    if (t.byte_count() == 0) return {};
    return std::span<const std::byte>(data_.data() + t.begin, t.byte_count());
  }

  /// The tensor as a matrix: a 2-D tensor [r, c] as r × c, a 1-D tensor [n] as 1 × n, converted
  /// from its dtype to S (F16, BF16 and F32 widen exactly; F64 → float rounds to nearest).
  /// Throws moerb::error for other ranks.
  template <FloatingScalar S>
  [[nodiscard]] Matrix<S> to_matrix(std::string_view name) const {
    const TensorInfo& t = info(name);
    if (t.shape.size() != 1 && t.shape.size() != 2) {
      fail("tensor '", name, "' has shape ", detail::io::shape_string(t.shape),
           "; to_matrix reads 1-D and 2-D tensors");
    }
    const std::uint64_t rows = t.shape.size() == 2 ? t.shape[0] : 1;
    const std::uint64_t cols = t.shape.back();
    constexpr auto max_index = static_cast<std::uint64_t>(std::numeric_limits<Index>::max());
    if (rows > max_index || cols > max_index) {
      fail("tensor '", name, "' has shape ", detail::io::shape_string(t.shape),
           ", too large for a matrix");
    }
    Matrix<S> m(static_cast<Index>(rows), static_cast<Index>(cols));
    const std::size_t size = dtype_size(t.dtype);
    for (Index i = 0; i < m.size(); ++i) {
      m.data()[i] = detail::io::decode_element<S>(
          data_.data() + t.begin + static_cast<std::uint64_t>(i) * size, t.dtype);
    }
    return m;
  }

 private:
  SafetensorsFile() = default;

  template <class... Parts>
  [[noreturn]] void fail(const Parts&... parts) const {
    throw error(detail::concat("safetensors file '", path_.string(), "': ", parts...));
  }

  void read_and_validate() {
    namespace fs = std::filesystem;
    std::error_code ec;
    const std::uintmax_t file_size = fs::file_size(path_, ec);
    if (ec) fail("cannot read the file: ", ec.message());
    std::ifstream in(path_, std::ios::binary);
    if (!in) fail("cannot open the file");
    const auto read_exactly = [&](void* out, std::uint64_t count, std::string_view what) {
      if (count == 0) return;
      in.read(static_cast<char*>(out), static_cast<std::streamsize>(count));
      if (!in || static_cast<std::uint64_t>(in.gcount()) != count) {
        fail("cannot read the ", what, " (", count, " bytes); was the file truncated?");
      }
    };

    if (file_size < 8) {
      fail("the file is ", file_size, " bytes, shorter than the 8-byte header length field");
    }
    std::byte length_field[8];
    read_exactly(length_field, 8, "header length");
    const auto header_length = detail::io::load_le<std::uint64_t>(length_field);
    if (header_length > safetensors_max_header_bytes) {
      fail("header length ", header_length, " exceeds the limit of ", safetensors_max_header_bytes,
           " bytes");
    }
    if (header_length > file_size - 8) {
      fail("header length ", header_length, " exceeds the ", file_size - 8,
           " bytes after the length field");
    }
    std::string header(static_cast<std::size_t>(header_length), '\0');
    read_exactly(header.data(), header_length, "header");
    const std::uint64_t data_size = file_size - 8 - header_length;

    parse_header(header, data_size);

    data_.resize(static_cast<std::size_t>(data_size));
    read_exactly(data_.data(), data_size, "data section");
    if (in.peek() != std::ifstream::traits_type::eof()) {
      fail("the file grew while it was read");
    }
  }

  /// Parses the JSON (rejecting duplicate keys and deep nesting on the way) and validates every
  /// entry against a data section of `data_size` bytes; fills tensors_, names_ and metadata_.
  void parse_header(const std::string& header, std::uint64_t data_size) {
    using json = nlohmann::json;
    const std::size_t first = header.find_first_not_of(" \t\r\n");
    if (first == std::string::npos || header[first] != '{') {
      fail("the header does not start with '{' (it must be a JSON object): '",
           detail::io::printable(header, 40), "'");
    }
    // nlohmann's lexer takes a NUL byte for the end of the input, which would let anything
    // after one pass unread; JSON allows NUL nowhere outside a string's \u0000 escape.
    if (const auto nul = header.find('\0'); nul != std::string::npos) {
      fail("the header contains a NUL byte at offset ", nul, " (it is not valid JSON)");
    }

    // nlohmann's DOM parser keeps the last of duplicate keys; its callback sees every key, so one
    // set of seen keys per open object finds them. Depths (as the callback reports them): the
    // root object 0, entries 1, an entry's lists 2; anything opened at depth 3 is invalid, and
    // returning false there stops the parser from building it.
    std::vector<std::set<std::string>> open_objects;
    std::optional<std::string> duplicate_key;
    std::optional<std::string> duplicate_in;
    std::string current_entry;
    bool too_deep = false;
    const json::parser_callback_t callback = [&](int depth, json::parse_event_t event,
                                                 json& parsed) -> bool {
      switch (event) {
        case json::parse_event_t::object_start:
        case json::parse_event_t::array_start:
          if (depth >= 3) {
            too_deep = true;
            return false;
          }
          if (event == json::parse_event_t::object_start) open_objects.emplace_back();
          return true;
        case json::parse_event_t::object_end:
          if (!open_objects.empty()) open_objects.pop_back();
          return true;
        case json::parse_event_t::key:
          if (depth <= 3 && !open_objects.empty()) {
            const auto& key = parsed.get_ref<const std::string&>();
            if (depth == 1) current_entry = key;
            if (!open_objects.back().insert(key).second && !duplicate_key) {
              duplicate_key = key;
              if (depth > 1) duplicate_in = current_entry;
            }
          }
          return true;
        default:
          return true;
      }
    };
    json root;
    try {
      root = json::parse(header.begin(), header.end(), callback, /*allow_exceptions=*/true,
                         /*ignore_comments=*/false);
    } catch (const json::exception& e) {
      fail("the header is not valid JSON: ", detail::io::printable(e.what()));
    }
    if (too_deep) fail("the header nests lists or objects deeper than the format allows");
    if (duplicate_key) {
      if (duplicate_in) {
        fail("key \"", *duplicate_key, "\" appears twice in the header entry \"", *duplicate_in,
             "\"");
      }
      fail("tensor name \"", *duplicate_key, "\" appears twice in the header");
    }
    if (!root.is_object()) fail("the header is not a JSON object");

    struct Span {
      std::uint64_t begin, end;
      const std::string* name;
    };
    std::vector<Span> spans;
    for (auto it = root.begin(); it != root.end(); ++it) {
      const std::string& name = it.key();
      const json& entry = it.value();
      if (name == "__metadata__") {
        if (!entry.is_object()) fail("\"__metadata__\" is not an object");
        for (auto m = entry.begin(); m != entry.end(); ++m) {
          if (!m.value().is_string()) {
            fail("\"__metadata__\" value of \"", m.key(), "\" is ", m.value().type_name(),
                 ", expected a string");
          }
          metadata_.emplace(m.key(), m.value().get<std::string>());
        }
        continue;
      }
      TensorInfo t = parse_entry(name, entry, data_size);
      const auto [pos, inserted] = tensors_.emplace(name, std::move(t));
      spans.push_back({pos->second.begin, pos->second.end, &pos->first});
    }

    // The tensors must tile [0, data_size): sorted by offsets, each begins where the previous
    // ended (empty tensors may share an offset).
    std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
      return std::tie(a.begin, a.end, *a.name) < std::tie(b.begin, b.end, *b.name);
    });
    std::uint64_t covered = 0;
    const std::string* previous = nullptr;
    for (const Span& s : spans) {
      if (s.begin < covered) {
        fail("tensor '", *s.name, "' (data_offsets [", s.begin, ", ", s.end, "]) overlaps tensor '",
             *previous, "' (which ends at ", covered, ")");
      }
      if (s.begin > covered) {
        fail("gap of ", s.begin - covered, " bytes in the data section before tensor '", *s.name,
             "' (data_offsets [", s.begin, ", ", s.end, "]), which should begin at ", covered);
      }
      covered = s.end;
      previous = s.name;
    }
    if (covered != data_size) {
      fail(data_size - covered, " trailing bytes after the last tensor: the tensors cover [0, ",
           covered, ") of a ", data_size, "-byte data section");
    }
    names_.reserve(tensors_.size());
    for (const auto& [name, t] : tensors_) names_.push_back(name);
  }

  [[nodiscard]] TensorInfo parse_entry(const std::string& name, const nlohmann::json& entry,
                                       std::uint64_t data_size) const {
    if (!entry.is_object()) {
      fail("entry of tensor '", name, "' is ", entry.type_name(), ", expected an object");
    }
    for (auto it = entry.begin(); it != entry.end(); ++it) {
      if (it.key() != "dtype" && it.key() != "shape" && it.key() != "data_offsets") {
        fail("tensor '", name, "' has unknown key \"", it.key(),
             "\" (expected dtype, shape and data_offsets)");
      }
    }
    for (const char* key : {"dtype", "shape", "data_offsets"}) {
      if (!entry.contains(key)) fail("tensor '", name, "' lacks \"", key, "\"");
    }

    TensorInfo t;
    const auto& dtype = entry.at("dtype");
    if (!dtype.is_string())
      fail("tensor '", name, "': dtype is ", dtype.type_name(), ", expected a string");
    const auto parsed_dtype = dtype_from_name(dtype.get_ref<const std::string&>());
    if (!parsed_dtype) {
      fail("tensor '", name, "' has dtype \"", dtype.get_ref<const std::string&>(),
           "\"; moerb reads F16, BF16, F32 and F64");
    }
    t.dtype = *parsed_dtype;

    const auto& shape = entry.at("shape");
    if (!shape.is_array())
      fail("tensor '", name, "': shape is ", shape.type_name(), ", expected a list");
    for (const auto& dim : shape) {
      if (!dim.is_number_unsigned()) {
        fail("tensor '", name, "': shape ", detail::io::printable(shape.dump()),
             " is not a list of non-negative integers");
      }
      t.shape.push_back(dim.get<std::uint64_t>());
    }

    const auto& offsets = entry.at("data_offsets");
    if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
        !offsets[1].is_number_unsigned()) {
      fail("tensor '", name, "': data_offsets ", detail::io::printable(offsets.dump()),
           " is not a list of two non-negative integers");
    }
    t.begin = offsets[0].get<std::uint64_t>();
    t.end = offsets[1].get<std::uint64_t>();
    if (t.begin > t.end) {
      fail("tensor '", name, "': data_offsets [", t.begin, ", ", t.end, "] begin after they end");
    }
    if (t.end > data_size) {
      fail("tensor '", name, "': data_offsets [", t.begin, ", ", t.end,
           "] end beyond the data section (", data_size, " bytes)");
    }
    const auto bytes = detail::io::tensor_byte_count(t.shape, t.dtype);
    if (!bytes) {
      fail("tensor '", name, "': shape ", detail::io::shape_string(t.shape), " of ",
           dtype_name(t.dtype), " overflows 64-bit byte counts");
    }
    if (*bytes != t.end - t.begin) {
      fail("tensor '", name, "': shape ", detail::io::shape_string(t.shape), " of ",
           dtype_name(t.dtype), " needs ", *bytes, " bytes, data_offsets [", t.begin, ", ", t.end,
           "] hold ", t.end - t.begin);
    }
    return t;
  }

  std::filesystem::path path_;
  std::map<std::string, TensorInfo, std::less<>> tensors_;
  std::vector<std::string> names_;
  std::map<std::string, std::string> metadata_;
  std::vector<std::byte> data_;
};

}  // namespace moerb
