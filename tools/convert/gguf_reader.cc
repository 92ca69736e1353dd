#include "convert/gguf_reader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace edgelm {
namespace {

constexpr uint64_t kDefaultAlignment = 32;  // when general.alignment is absent
constexpr uint32_t kMaxDims = 4;            // GGML_MAX_DIMS

// Sizes from ggml's block definitions (ggml-common.h); ids without a size are named only.
constexpr GgmlTypeInfo kTypes[] = {
    {"F32", 1, 4},       {"F16", 1, 2},      {"Q4_0", 32, 18},   {"Q4_1", 32, 20},  {nullptr, 0, 0},
    {nullptr, 0, 0},     {"Q5_0", 32, 22},   {"Q5_1", 32, 24},   {"Q8_0", 32, 34},  {"Q8_1", 32, 36},
    {"Q2_K", 256, 84},   {"Q3_K", 256, 110}, {"Q4_K", 256, 144}, {"Q5_K", 256, 176}, {"Q6_K", 256, 210},
    {"Q8_K", 256, 292},  {"IQ2_XXS", 0, 0},  {"IQ2_XS", 0, 0},   {"IQ3_XXS", 0, 0}, {"IQ1_S", 0, 0},
    {"IQ4_NL", 0, 0},    {"IQ3_S", 0, 0},    {"IQ2_S", 0, 0},    {"IQ4_XS", 0, 0},  {"I8", 1, 1},
    {"I16", 1, 2},       {"I32", 1, 4},      {"I64", 1, 8},      {"F64", 1, 8},     {"IQ1_M", 0, 0},
    {"BF16", 1, 2},
};

// Bounds-checked little-endian reads from the mapping; the first failure sticks and names the offset.
class Cursor {
 public:
  Cursor(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  size_t pos() const { return pos_; }
  size_t remaining() const { return size_ - pos_; }

  Status Bytes(void* out, size_t n, const char* what) {
    if (n > remaining())
      return CorruptModel("truncated at byte " + std::to_string(pos_) + " reading " + what);
    std::memcpy(out, data_ + pos_, n);
    pos_ += n;
    return Status::Ok();
  }
  template <typename T>
  Status Read(T* out, const char* what) {
    return Bytes(out, sizeof(T), what);  // the host is little-endian (x86-64, aarch64), as GGUF
  }
  Status String(std::string* out, const char* what) {
    uint64_t length = 0;
    EDGELM_RETURN_IF_ERROR(Read(&length, what));
    if (length > remaining())
      return CorruptModel(std::string(what) + " at byte " + std::to_string(pos_ - 8) + " claims " +
                          std::to_string(length) + " bytes, beyond the end of the file");
    out->assign(reinterpret_cast<const char*>(data_ + pos_), length);
    pos_ += length;
    return Status::Ok();
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

// Bytes one element of a scalar type takes (0: not a scalar type).
size_t ScalarBytes(GgufType t) {
  switch (t) {
    case GgufType::kU8: case GgufType::kI8: case GgufType::kBool: return 1;
    case GgufType::kU16: case GgufType::kI16: return 2;
    case GgufType::kU32: case GgufType::kI32: case GgufType::kF32: return 4;
    case GgufType::kU64: case GgufType::kI64: case GgufType::kF64: return 8;
    default: return 0;
  }
}

bool IsIntegerType(GgufType t) { return ScalarBytes(t) > 0 && t != GgufType::kF32 && t != GgufType::kF64; }

// One scalar of type `t` into `integer` or `real`.
Status ReadScalar(Cursor& in, GgufType t, int64_t* integer, double* real) {
  const char* what = "a metadata value";
  switch (t) {
    case GgufType::kU8: { uint8_t v; EDGELM_RETURN_IF_ERROR(in.Read(&v, what)); *integer = v; break; }
    case GgufType::kI8: { int8_t v; EDGELM_RETURN_IF_ERROR(in.Read(&v, what)); *integer = v; break; }
    case GgufType::kBool: {
      uint8_t v;
      EDGELM_RETURN_IF_ERROR(in.Read(&v, what));
      if (v > 1) return CorruptModel("bool value " + std::to_string(v) + " at byte " + std::to_string(in.pos() - 1));
      *integer = v;
      break;
    }
    case GgufType::kU16: { uint16_t v; EDGELM_RETURN_IF_ERROR(in.Read(&v, what)); *integer = v; break; }
    case GgufType::kI16: { int16_t v; EDGELM_RETURN_IF_ERROR(in.Read(&v, what)); *integer = v; break; }
    case GgufType::kU32: { uint32_t v; EDGELM_RETURN_IF_ERROR(in.Read(&v, what)); *integer = v; break; }
    case GgufType::kI32: { int32_t v; EDGELM_RETURN_IF_ERROR(in.Read(&v, what)); *integer = v; break; }
    case GgufType::kI64: EDGELM_RETURN_IF_ERROR(in.Read(integer, what)); break;
    case GgufType::kU64: {
      uint64_t v;
      EDGELM_RETURN_IF_ERROR(in.Read(&v, what));
      if (v > static_cast<uint64_t>(INT64_MAX)) return CorruptModel("u64 value above 2^63 at byte " + std::to_string(in.pos() - 8));
      *integer = static_cast<int64_t>(v);
      break;
    }
    case GgufType::kF32: { float v; EDGELM_RETURN_IF_ERROR(in.Read(&v, what)); *real = v; break; }
    case GgufType::kF64: EDGELM_RETURN_IF_ERROR(in.Read(real, what)); break;
    default: return CorruptModel("value type " + std::to_string(static_cast<uint32_t>(t)) + " is not a scalar");
  }
  return Status::Ok();
}

Status ReadType(Cursor& in, GgufType* out) {
  uint32_t raw = 0;
  EDGELM_RETURN_IF_ERROR(in.Read(&raw, "a value type"));
  if (raw > static_cast<uint32_t>(GgufType::kF64))
    return CorruptModel("unknown value type " + std::to_string(raw) + " at byte " + std::to_string(in.pos() - 4));
  *out = static_cast<GgufType>(raw);
  return Status::Ok();
}

Status ReadValue(Cursor& in, GgufType type, GgufValue* v) {
  v->type = type;
  if (type == GgufType::kString) return in.String(&v->text, "a string value");
  if (type != GgufType::kArray) return ReadScalar(in, type, &v->integer, &v->real);
  EDGELM_RETURN_IF_ERROR(ReadType(in, &v->element_type));
  if (v->element_type == GgufType::kArray) return CorruptModel("array of arrays at byte " + std::to_string(in.pos() - 4));
  uint64_t count = 0;
  EDGELM_RETURN_IF_ERROR(in.Read(&count, "an array length"));
  // Each element takes at least its scalar size (a string its 8-byte length): refuse counts the rest of
  // the file cannot hold before reserving memory for them.
  const size_t element_min = v->element_type == GgufType::kString ? 8 : ScalarBytes(v->element_type);
  if (count > in.remaining() / element_min)
    return CorruptModel("array at byte " + std::to_string(in.pos() - 8) + " claims " + std::to_string(count) +
                        " elements, more than the rest of the file holds");
  if (v->element_type == GgufType::kString) {
    v->texts.resize(count);
    for (std::string& s : v->texts) EDGELM_RETURN_IF_ERROR(in.String(&s, "an array string"));
  } else if (IsIntegerType(v->element_type)) {
    v->integers.resize(count);
    double unused;
    for (int64_t& x : v->integers) EDGELM_RETURN_IF_ERROR(ReadScalar(in, v->element_type, &x, &unused));
  } else {
    v->reals.resize(count);
    int64_t unused;
    for (double& x : v->reals) EDGELM_RETURN_IF_ERROR(ReadScalar(in, v->element_type, &unused, &x));
  }
  return Status::Ok();
}

}  // namespace

bool GgufValue::is_integer() const { return IsIntegerType(is_array() ? element_type : type); }

const GgmlTypeInfo* FindGgmlType(uint32_t type) {
  if (type >= sizeof kTypes / sizeof kTypes[0] || !kTypes[type].name) return nullptr;
  return &kTypes[type];
}

std::string GgmlTypeName(uint32_t type) {
  const GgmlTypeInfo* info = FindGgmlType(type);
  return info ? info->name : "type " + std::to_string(type);
}

Status GgufFile::Open(const std::string& path, std::unique_ptr<GgufFile>* out) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->path_ = path;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NotFound(path + ": cannot open: " + std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return InvalidArgument(path + ": not a regular file");
  }
  f->size_ = static_cast<size_t>(st.st_size);
  if (f->size_ > 0) {
    void* map = ::mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
      ::close(fd);
      return IoError(path + ": cannot map: " + std::strerror(errno));
    }
    f->map_ = static_cast<const uint8_t*>(map);
  }
  ::close(fd);
  const Status s = f->Parse();
  if (!s.ok()) return Status(s.code(), path + ": " + s.message());
  *out = std::move(f);
  return Status::Ok();
}

GgufFile::~GgufFile() {
  if (map_) ::munmap(const_cast<uint8_t*>(map_), size_);
}

const GgufValue* GgufFile::Find(const std::string& key) const {
  const auto it = values_.find(key);
  return it == values_.end() ? nullptr : &it->second;
}

const GgufTensor* GgufFile::FindTensor(const std::string& name) const {
  const auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

Status GgufFile::Parse() {
  Cursor in(map_, size_);
  char magic[4];
  EDGELM_RETURN_IF_ERROR(in.Bytes(magic, 4, "the magic"));
  if (std::memcmp(magic, "GGUF", 4) != 0) return CorruptModel("not a GGUF file (magic)");
  EDGELM_RETURN_IF_ERROR(in.Read(&version_, "the version"));
  if (version_ != 2 && version_ != 3)
    return Unsupported("GGUF version " + std::to_string(version_) + " (versions 2 and 3 are read)");
  int64_t tensor_count = 0, kv_count = 0;
  EDGELM_RETURN_IF_ERROR(in.Read(&tensor_count, "the tensor count"));
  EDGELM_RETURN_IF_ERROR(in.Read(&kv_count, "the metadata count"));
  // A KV takes at least 8 + 4 + 1 bytes and a tensor info 8 + 4 + 8 + 4 + 8.
  if (kv_count < 0 || static_cast<uint64_t>(kv_count) > in.remaining() / 13)
    return CorruptModel("metadata count " + std::to_string(kv_count) + " is impossible for the file size");
  if (tensor_count < 0 || static_cast<uint64_t>(tensor_count) > in.remaining() / 32)
    return CorruptModel("tensor count " + std::to_string(tensor_count) + " is impossible for the file size");

  for (int64_t i = 0; i < kv_count; ++i) {
    std::string key;
    EDGELM_RETURN_IF_ERROR(in.String(&key, "a metadata key"));
    GgufType type;
    EDGELM_RETURN_IF_ERROR(ReadType(in, &type));
    GgufValue value;
    const Status s = ReadValue(in, type, &value);
    if (!s.ok()) return Status(s.code(), "metadata '" + key + "': " + s.message());
    if (!values_.emplace(key, std::move(value)).second) return CorruptModel("duplicate metadata key '" + key + "'");
  }

  uint64_t alignment = kDefaultAlignment;
  if (const GgufValue* a = Find("general.alignment")) {
    if (a->type != GgufType::kU32 || a->integer == 0 || (a->integer & (a->integer - 1)) != 0)
      return CorruptModel("general.alignment must be a u32 power of two");
    alignment = static_cast<uint64_t>(a->integer);
  }

  struct Placement {
    uint64_t offset, size;
  };
  std::vector<Placement> placements;
  for (int64_t i = 0; i < tensor_count; ++i) {
    GgufTensor t;
    EDGELM_RETURN_IF_ERROR(in.String(&t.name, "a tensor name"));
    auto fail = [&t](const std::string& what) { return CorruptModel("tensor '" + t.name + "': " + what); };
    uint32_t dims = 0;
    EDGELM_RETURN_IF_ERROR(in.Read(&dims, "a tensor's dimension count"));
    if (dims == 0 || dims > kMaxDims) return fail(std::to_string(dims) + " dimensions");
    t.ne.resize(dims);
    for (int64_t& n : t.ne) EDGELM_RETURN_IF_ERROR(in.Read(&n, "a tensor dimension"));
    EDGELM_RETURN_IF_ERROR(in.Read(&t.type, "a tensor type"));
    uint64_t offset = 0;
    EDGELM_RETURN_IF_ERROR(in.Read(&offset, "a tensor offset"));
    const GgmlTypeInfo* info = FindGgmlType(t.type);
    if (!info) return fail("unknown ggml type " + std::to_string(t.type));
    if (info->block_size == 0) return Unsupported("tensor '" + t.name + "': ggml type " + info->name + " is not supported");
    // Elements and bytes, overflow-checked: every dimension at least 1, the product at most 2^48 (so
    // that times any block's bytes it stays far below 2^64).
    uint64_t elements = 1;
    for (int64_t n : t.ne) {
      if (n <= 0 || static_cast<uint64_t>(n) > (uint64_t{1} << 48) / elements) return fail("dimensions out of range");
      elements *= static_cast<uint64_t>(n);
    }
    if (t.ne[0] % info->block_size != 0)
      return fail("ne[0] = " + std::to_string(t.ne[0]) + " is not a multiple of the " + info->name + " block (" +
                  std::to_string(info->block_size) + ")");
    t.size = elements / static_cast<uint64_t>(info->block_size) * static_cast<uint64_t>(info->block_bytes);
    if (offset % alignment != 0) return fail("data offset " + std::to_string(offset) + " is not aligned");
    if (!tensor_index_.emplace(t.name, tensors_.size()).second) return CorruptModel("duplicate tensor '" + t.name + "'");
    placements.push_back({offset, t.size});
    tensors_.push_back(std::move(t));
  }

  const uint64_t blob = (in.pos() + alignment - 1) / alignment * alignment;
  if (blob > size_) return CorruptModel("the data section starts beyond the end of the file");
  data_offset_ = blob;
  const uint64_t blob_size = size_ - blob;
  for (size_t i = 0; i < tensors_.size(); ++i) {
    if (placements[i].offset > blob_size || placements[i].size > blob_size - placements[i].offset)
      return CorruptModel("tensor '" + tensors_[i].name + "': data [" + std::to_string(placements[i].offset) + ", +" +
                          std::to_string(placements[i].size) + ") lies outside the file's data section (" +
                          std::to_string(blob_size) + " bytes)");
    tensors_[i].data = map_ + blob + placements[i].offset;
  }
  return Status::Ok();
}

}  // namespace edgelm
