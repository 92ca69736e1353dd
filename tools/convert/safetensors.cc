#include "convert/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "format/tensor.h"

namespace edgelm {
namespace {

bool ParseDType(const std::string& s, StDType* d, int* bytes) {
  struct Entry { const char* name; StDType dtype; int bytes; };
  static const Entry kTable[] = {{"F32", StDType::kF32, 4}, {"F16", StDType::kF16, 2}, {"BF16", StDType::kBF16, 2},
                                 {"I8", StDType::kI8, 1},   {"I32", StDType::kI32, 4}, {"I64", StDType::kI64, 8},
                                 {"F64", StDType::kF64, 8}};
  for (const Entry& e : kTable)
    if (s == e.name) {
      *d = e.dtype;
      *bytes = e.bytes;
      return true;
    }
  return false;
}

bool IsDirectory(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

}  // namespace

int64_t StTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

float StTensor::Get(int64_t i) const {
  const uint8_t* p = data;
  switch (dtype) {
    case StDType::kF32: { float v; std::memcpy(&v, p + 4 * i, 4); return v; }
    case StDType::kF16: { uint16_t v; std::memcpy(&v, p + 2 * i, 2); return HalfToFloat(v); }
    case StDType::kBF16: { uint16_t v; std::memcpy(&v, p + 2 * i, 2); return BF16ToFloat(v); }
    case StDType::kI8: return static_cast<float>(static_cast<int8_t>(p[i]));
    case StDType::kI32: { int32_t v; std::memcpy(&v, p + 4 * i, 4); return static_cast<float>(v); }
    case StDType::kI64: { int64_t v; std::memcpy(&v, p + 8 * i, 8); return static_cast<float>(v); }
    case StDType::kF64: { double v; std::memcpy(&v, p + 8 * i, 8); return static_cast<float>(v); }
  }
  return 0.0f;
}

void StTensor::Read(int64_t begin, int64_t n, float* out) const {
  if (dtype == StDType::kF32) {
    std::memcpy(out, data + 4 * begin, static_cast<size_t>(n) * 4);
    return;
  }
  for (int64_t i = 0; i < n; ++i) out[i] = Get(begin + i);
}

SafetensorsCheckpoint::~SafetensorsCheckpoint() {
  for (const Mapping& m : mappings_) munmap(m.base, m.size);
}

Status SafetensorsCheckpoint::Open(const std::string& path, std::unique_ptr<SafetensorsCheckpoint>* out) {
  std::unique_ptr<SafetensorsCheckpoint> ck(new SafetensorsCheckpoint());
  if (!IsDirectory(path)) {
    EDGELM_RETURN_IF_ERROR(ck->AddFile(path));
  } else if (Exists(path + "/model.safetensors.index.json")) {
    const std::string index_path = path + "/model.safetensors.index.json";
    std::set<std::string> shards;
    try {
      std::ifstream in(index_path);
      const nlohmann::json index = nlohmann::json::parse(in);
      for (const auto& kv : index.at("weight_map").items()) shards.insert(kv.value().get<std::string>());
    } catch (const std::exception& e) {
      return InvalidArgument(index_path + ": " + e.what());
    }
    for (const std::string& shard : shards) {
      if (shard.find('/') != std::string::npos) return InvalidArgument(index_path + ": shard name with a path: " + shard);
      EDGELM_RETURN_IF_ERROR(ck->AddFile(path + "/" + shard));
    }
  } else if (Exists(path + "/model.safetensors")) {
    EDGELM_RETURN_IF_ERROR(ck->AddFile(path + "/model.safetensors"));
  } else {
    return NotFound(path + ": no model.safetensors or model.safetensors.index.json");
  }
  *out = std::move(ck);
  return Status::Ok();
}

Status SafetensorsCheckpoint::AddFile(const std::string& file) {
  int fd = open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return IoError(file + ": cannot open: " + std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 8) {
    close(fd);
    return InvalidArgument(file + ": not a safetensors file");
  }
  const size_t size = static_cast<size_t>(st.st_size);
  void* base = mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  if (base == MAP_FAILED) return IoError(file + ": mmap failed: " + std::strerror(errno));
  mappings_.push_back({base, size});
  const uint8_t* bytes = static_cast<const uint8_t*>(base);
  uint64_t header_len;
  std::memcpy(&header_len, bytes, 8);
  if (header_len > size - 8) return InvalidArgument(file + ": header length exceeds the file");
  const uint8_t* data = bytes + 8 + header_len;
  const uint64_t data_size = size - 8 - header_len;
  try {
    const nlohmann::json header = nlohmann::json::parse(bytes + 8, data);
    for (const auto& kv : header.items()) {
      if (kv.key() == "__metadata__") continue;
      const nlohmann::json& t = kv.value();
      StTensor tensor;
      int elem_bytes = 0;
      if (!ParseDType(t.at("dtype").get<std::string>(), &tensor.dtype, &elem_bytes))
        return Unsupported(file + ": tensor '" + kv.key() + "' has unsupported dtype " + t.at("dtype").get<std::string>());
      uint64_t numel = 1;
      for (const auto& d : t.at("shape")) {
        const int64_t dim = d.get<int64_t>();
        if (dim < 0 || dim > (int64_t{1} << 40)) return InvalidArgument(file + ": bad shape of '" + kv.key() + "'");
        tensor.shape.push_back(dim);
        numel *= static_cast<uint64_t>(dim);
      }
      const uint64_t begin = t.at("data_offsets").at(0).get<uint64_t>();
      const uint64_t end = t.at("data_offsets").at(1).get<uint64_t>();
      if (begin > end || end > data_size || end - begin != numel * elem_bytes)
        return InvalidArgument(file + ": data range of '" + kv.key() + "' does not fit its shape or the file");
      tensor.data = data + begin;
      tensor.size = end - begin;
      if (!tensors_.emplace(kv.key(), std::move(tensor)).second)
        return InvalidArgument(file + ": tensor '" + kv.key() + "' appears in two shards");
    }
  } catch (const std::exception& e) {
    return InvalidArgument(file + ": bad safetensors header: " + e.what());
  }
  return Status::Ok();
}

const StTensor* SafetensorsCheckpoint::Find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

}  // namespace edgelm
