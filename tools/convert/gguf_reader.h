// Reader of llama.cpp's GGUF container (version 2 and 3, little-endian): header, key-value metadata,
// tensor infos and the data blob, from a read-only memory map. Every length, count, offset and size is
// checked against the file before it is used, so any byte string yields either a GgufFile or a Status
// naming the file and the problem. Tensor data is not read here: callers get pointers into the mapping.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace edgelm {

enum class GgufType : uint32_t {
  kU8 = 0, kI8 = 1, kU16 = 2, kI16 = 3, kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7, kString = 8, kArray = 9,
  kU64 = 10, kI64 = 11, kF64 = 12,
};

// One metadata value. Scalars: integers (and bool) in `integer`, floats in `real`, strings in `text`.
// Arrays (of scalars or strings; GGUF arrays of arrays are refused): element_type and the matching
// vector. Unsigned 64-bit values above INT64_MAX are refused: no key of a model needs them.
struct GgufValue {
  GgufType type = GgufType::kU8;
  GgufType element_type = GgufType::kU8;
  int64_t integer = 0;
  double real = 0;
  std::string text;
  std::vector<int64_t> integers;
  std::vector<double> reals;
  std::vector<std::string> texts;

  bool is_integer() const;  // any integer type or bool (arrays: is_array() and integer elements)
  bool is_real() const { return type == GgufType::kF32 || type == GgufType::kF64; }
  bool is_array() const { return type == GgufType::kArray; }
  size_t size() const { return integers.size() + reals.size() + texts.size(); }  // arrays
};

// What the reader knows of a ggml tensor type: its name, and weights/bytes per block (0 if unknown).
struct GgmlTypeInfo {
  const char* name;
  int64_t block_size;
  int64_t block_bytes;
};
// "type 99" style names for ids the table lacks are made by GgmlTypeName.
const GgmlTypeInfo* FindGgmlType(uint32_t type);
std::string GgmlTypeName(uint32_t type);

struct GgufTensor {
  std::string name;
  std::vector<int64_t> ne;  // ggml order: ne[0] is the contiguous axis
  uint32_t type = 0;        // ggml type id
  const uint8_t* data = nullptr;
  uint64_t size = 0;        // bytes
};

class GgufFile {
 public:
  // Maps `path` read-only and parses it. Tensor types must be ones whose block size the reader knows
  // (FindGgmlType), so that every tensor's bytes can be checked to lie inside the file.
  static Status Open(const std::string& path, std::unique_ptr<GgufFile>* out);
  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t data_offset() const { return data_offset_; }  // where the data blob starts (header, KVs and infos end before)
  const GgufValue* Find(const std::string& key) const;
  const std::vector<GgufTensor>& tensors() const { return tensors_; }
  const GgufTensor* FindTensor(const std::string& name) const;

 private:
  GgufFile() = default;
  Status Parse();

  std::string path_;
  const uint8_t* map_ = nullptr;
  size_t size_ = 0;
  uint32_t version_ = 0;
  uint64_t data_offset_ = 0;
  std::map<std::string, GgufValue> values_;
  std::vector<GgufTensor> tensors_;
  std::map<std::string, size_t> tensor_index_;
};

}  // namespace edgelm
