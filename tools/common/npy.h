// Minimal .npy reader/writer for comparing against numpy reference files (tests and tools only).
// Reads format versions 1-3 with little-endian <f4, <f8, <i4 or <i8 data in C order; anything
// else is rejected with a message saying why. The host must be little-endian.
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "common/status.h"

namespace edgelm {

struct NpyArray {
  enum class Type { kFloat32, kFloat64, kInt32, kInt64 };

  Type type = Type::kFloat32;   // element type as stored in the file
  std::vector<int64_t> shape;   // C order; empty for a 0-d array
  std::vector<float> floats;    // <f4 data
  std::vector<double> doubles;  // <f8 data, kept in double for high-precision references
  std::vector<int64_t> ints;    // <i4 and <i8 data, widened

  int64_t NumElements() const {
    int64_t count = 1;
    for (int64_t dim : shape) count *= dim;
    return count;
  }
};

namespace npy_internal {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;
constexpr size_t kHeaderAlignment = 64;

inline bool HostIsLittleEndian() {
  const uint16_t probe = 1;
  uint8_t first_byte;
  std::memcpy(&first_byte, &probe, 1);
  return first_byte == 1;
}

// Position just after `'key':` (either quote style) and any spaces, or npos.
inline size_t FindValue(const std::string& header, const std::string& key) {
  for (const char quote : {'\'', '"'}) {
    const size_t at = header.find(quote + key + quote);
    if (at == std::string::npos) continue;
    size_t pos = header.find_first_not_of(' ', at + key.size() + 2);
    if (pos == std::string::npos || header[pos] != ':') return std::string::npos;
    return header.find_first_not_of(' ', pos + 1);
  }
  return std::string::npos;
}

// Parses "(2, 3)", "(128,)" or "()" starting at `pos`.
inline bool ParseShape(const std::string& header, size_t pos, std::vector<int64_t>* shape) {
  if (pos == std::string::npos || header[pos] != '(') return false;
  const size_t close = header.find(')', pos);
  if (close == std::string::npos) return false;
  shape->clear();
  std::istringstream dims(header.substr(pos + 1, close - pos - 1));
  std::string dim;
  while (std::getline(dims, dim, ',')) {  // a trailing comma yields no extra piece
    dim.erase(0, dim.find_first_not_of(' '));
    dim.erase(dim.find_last_not_of(' ') + 1);
    // 15 digits bound the element count far above any real file and keep stoll in range.
    if (dim.empty() || dim.size() > 15 || dim.find_first_not_of("0123456789") != std::string::npos) {
      return false;
    }
    shape->push_back(std::stoll(dim));
  }
  return true;
}

// Whether the dimensions multiply to `items`; divides instead of multiplying so a corrupt shape
// cannot overflow.
inline bool ShapeMatches(const std::vector<int64_t>& shape, uint64_t items) {
  for (int64_t dim : shape) {
    if (dim == 0) return items == 0;
    if (items % dim != 0) return false;
    items /= dim;
  }
  return items == 1;
}

struct Dtype {
  const char* descr;
  NpyArray::Type type;
  size_t item_size;
};
constexpr Dtype kDtypes[] = {{"<f4", NpyArray::Type::kFloat32, 4},
                             {"<f8", NpyArray::Type::kFloat64, 8},
                             {"<i4", NpyArray::Type::kInt32, 4},
                             {"<i8", NpyArray::Type::kInt64, 8}};

inline Status Fail(StatusCode code, const std::string& path, const std::string& why) {
  return Status(code, "npy " + path + ": " + why);
}

}  // namespace npy_internal

inline Status ReadNpy(const std::string& path, NpyArray* out) {
  using namespace npy_internal;
  if (!HostIsLittleEndian()) return Fail(StatusCode::kUnsupported, path, "big-endian host");
  std::ifstream file(path, std::ios::binary);
  if (!file) return Fail(StatusCode::kNotFound, path, "cannot open");

  char preamble[kMagicSize + 2];
  if (!file.read(preamble, sizeof(preamble)) || std::memcmp(preamble, kMagic, kMagicSize) != 0) {
    return Fail(StatusCode::kInvalidArgument, path, "not an .npy file (bad magic)");
  }
  const int major_version = static_cast<uint8_t>(preamble[kMagicSize]);
  if (major_version < 1 || major_version > 3) {
    return Fail(StatusCode::kUnsupported, path, "format version " + std::to_string(major_version));
  }
  // Version 1 stores the header length in 2 bytes, later versions in 4 (little-endian).
  const int length_bytes = major_version == 1 ? 2 : 4;
  uint8_t length_field[4] = {0, 0, 0, 0};
  if (!file.read(reinterpret_cast<char*>(length_field), length_bytes)) {
    return Fail(StatusCode::kInvalidArgument, path, "truncated header");
  }
  const uint32_t header_length = length_field[0] | length_field[1] << 8 |
                                 length_field[2] << 16 | uint32_t{length_field[3]} << 24;
  std::string header(header_length, '\0');
  if (!file.read(&header[0], header_length)) {
    return Fail(StatusCode::kInvalidArgument, path, "truncated header");
  }

  const size_t descr_pos = FindValue(header, "descr");
  if (descr_pos == std::string::npos || header.size() < descr_pos + 5 ||
      (header[descr_pos] != '\'' && header[descr_pos] != '"') ||
      header[descr_pos + 4] != header[descr_pos]) {
    return Fail(StatusCode::kInvalidArgument, path, "header has no simple 'descr': " + header);
  }
  const std::string descr = header.substr(descr_pos + 1, 3);
  const Dtype* dtype = nullptr;
  for (const Dtype& known : kDtypes) {
    if (descr == known.descr) dtype = &known;
  }
  if (dtype == nullptr) {
    return Fail(StatusCode::kUnsupported, path,
                "dtype '" + descr + "' (supported: little-endian <f4, <f8, <i4, <i8)");
  }
  out->type = dtype->type;

  const size_t order_pos = FindValue(header, "fortran_order");
  if (order_pos == std::string::npos) {
    return Fail(StatusCode::kInvalidArgument, path, "header has no 'fortran_order': " + header);
  }
  if (header.compare(order_pos, 5, "False") != 0) {
    return Fail(StatusCode::kUnsupported, path, "Fortran-order data (only C order is supported)");
  }
  if (!ParseShape(header, FindValue(header, "shape"), &out->shape)) {
    return Fail(StatusCode::kInvalidArgument, path, "header has no valid 'shape': " + header);
  }

  const std::streampos data_start = file.tellg();
  file.seekg(0, std::ios::end);
  std::vector<char> bytes(static_cast<size_t>(file.tellg() - data_start));
  if (bytes.size() % dtype->item_size != 0 ||
      !ShapeMatches(out->shape, bytes.size() / dtype->item_size)) {
    return Fail(StatusCode::kInvalidArgument, path,
                "data size (" + std::to_string(bytes.size()) + " bytes) does not match the shape");
  }
  file.seekg(data_start);
  if (!file.read(bytes.data(), bytes.size())) {
    return Fail(StatusCode::kIoError, path, "cannot read data");
  }
  out->floats.clear();
  out->doubles.clear();
  out->ints.clear();
  const auto copy_into = [&bytes](auto* values) {
    values->resize(bytes.size() / sizeof(values->front()));
    std::memcpy(values->data(), bytes.data(), bytes.size());
  };
  switch (out->type) {
    case NpyArray::Type::kFloat32:
      copy_into(&out->floats);
      break;
    case NpyArray::Type::kFloat64:
      copy_into(&out->doubles);
      break;
    case NpyArray::Type::kInt32: {
      std::vector<int32_t> narrow;
      copy_into(&narrow);
      out->ints.assign(narrow.begin(), narrow.end());
      break;
    }
    case NpyArray::Type::kInt64:
      copy_into(&out->ints);
      break;
  }
  return Status::Ok();
}

// Writes the product-of-shape floats at `data` (row-major, borrowed) as a version 1 <f4 file, the
// layout numpy.save produces.
inline Status WriteNpyF32(const std::string& path, const float* data,
                          const std::vector<int64_t>& shape) {
  using namespace npy_internal;
  if (!HostIsLittleEndian()) return Fail(StatusCode::kUnsupported, path, "big-endian host");
  // Python tuple syntax: (1, 2048), (128,) or ().
  std::string shape_text = "(";
  int64_t count = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] < 0) return Fail(StatusCode::kInvalidArgument, path, "negative dimension");
    shape_text += std::to_string(shape[i]) + (i + 1 < shape.size() ? ", " : "");
    count *= shape[i];
  }
  shape_text += shape.size() == 1 ? ",)" : ")";
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape_text + ", }";
  // Version 1 preamble: magic, version 1.0, 2-byte header length. Pad with spaces and a final
  // newline so the data starts on a 64-byte boundary.
  const size_t preamble_size = kMagicSize + 4;
  const size_t unpadded = preamble_size + header.size() + 1;
  header.append((kHeaderAlignment - unpadded % kHeaderAlignment) % kHeaderAlignment, ' ');
  header += '\n';
  if (header.size() > 0xFFFF) return Fail(StatusCode::kInvalidArgument, path, "too many dimensions");
  std::string preamble(kMagic, kMagicSize);
  preamble += {'\x01', '\x00', static_cast<char>(header.size() & 0xFF),
               static_cast<char>(header.size() >> 8)};

  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file.write(preamble.data(), preamble.size());
  file.write(header.data(), header.size());
  if (count > 0) file.write(reinterpret_cast<const char*>(data), count * sizeof(float));
  file.close();
  if (!file) return Fail(StatusCode::kIoError, path, "cannot write");
  return Status::Ok();
}

}  // namespace edgelm
