#include "format/model_writer.h"

#include "edgelm/edgelm.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>

#include "common/file_sync.h"
#include "format/container.h"

namespace edgelm {
namespace {

constexpr uint64_t kChunkBytes = 64ull << 20;  // rows are produced ~64 MiB at a time

uint64_t AlignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

std::string UtcNow() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Owns a temporary file; removes it unless committed.
class TempFile {
 public:
  explicit TempFile(const std::string& final_path) : final_(final_path), tmp_(final_path + ".partial") {}
  ~TempFile() {
    if (fd_ >= 0) close(fd_);
    if (!committed_) unlink(tmp_.c_str());
  }
  Status Open() {
    fd_ = open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) return IoError("cannot create " + tmp_ + ": " + std::strerror(errno));
    return Status::Ok();
  }
  Status Write(const void* data, size_t size) {
    const uint8_t* p = static_cast<const uint8_t*>(data);
    while (size > 0) {
      ssize_t n = ::write(fd_, p, size);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return IoError("cannot write " + final_ + ": " + std::strerror(errno));
      p += n;
      size -= static_cast<size_t>(n);
    }
    return Status::Ok();
  }
  // Overwrites bytes already written (the metadata, once the checksums are known).
  Status WriteAt(uint64_t offset, const void* data, size_t size) {
    const uint8_t* p = static_cast<const uint8_t*>(data);
    while (size > 0) {
      ssize_t n = ::pwrite(fd_, p, size, static_cast<off_t>(offset));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return IoError("cannot write " + final_ + ": " + std::strerror(errno));
      p += n;
      offset += static_cast<uint64_t>(n);
      size -= static_cast<size_t>(n);
    }
    return Status::Ok();
  }
  Status WriteZeros(uint64_t n) {
    static const uint8_t zeros[4096] = {};
    while (n > 0) {
      const size_t k = static_cast<size_t>(std::min<uint64_t>(n, sizeof zeros));
      EDGELM_RETURN_IF_ERROR(Write(zeros, k));
      n -= k;
    }
    return Status::Ok();
  }
  Status Commit() {
    if (fsync(fd_) != 0) return IoError("fsync " + tmp_ + " failed: " + std::strerror(errno));
    if (close(fd_) != 0) return IoError("close " + tmp_ + " failed: " + std::strerror(errno));
    fd_ = -1;
    if (rename(tmp_.c_str(), final_.c_str()) != 0) return IoError("rename to " + final_ + " failed: " + std::strerror(errno));
    committed_ = true;
    SyncDirectoryOf(final_);
    return Status::Ok();
  }

 private:
  std::string final_, tmp_;
  int fd_ = -1;
  bool committed_ = false;
};

struct Placement {
  uint64_t offset = 0, size = 0, scales_offset = 0, scales_size = 0, row_bytes = 0;
  int64_t scales_per_row = 1;
  uint32_t data_checksum = 0, scales_checksum = 0;  // CRC-32, known once the tensor is written
};

}  // namespace

#define EDGELM_STRINGIFY(x) #x
#define EDGELM_VERSION_TEXT(a, b, c) EDGELM_STRINGIFY(a) "." EDGELM_STRINGIFY(b) "." EDGELM_STRINGIFY(c)
const char* ConverterVersion() {
  return "edgelm-convert " EDGELM_VERSION_TEXT(EDGELM_VERSION_MAJOR, EDGELM_VERSION_MINOR, EDGELM_VERSION_PATCH);
}

Status WriteModelFile(const std::string& path, const ModelMetadata& meta, const std::vector<TensorSpec>& tensors,
                      const WriteProgress& progress) {
  EDGELM_RETURN_IF_ERROR(meta.config.Validate());
  if (meta.tokenizer) EDGELM_RETURN_IF_ERROR(meta.tokenizer->Validate());

  // Lay out the data region: each tensor's codes, then its scales, 64-byte aligned.
  std::vector<Placement> place(tensors.size());
  uint64_t cursor = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const TensorSpec& t = tensors[i];
    Status s = TensorBytes(t.dtype, t.shape, &place[i].size);
    if (s.ok()) s = RowBytes(t.dtype, t.shape.back(), &place[i].row_bytes);
    if (!s.ok()) return InvalidArgument("tensor '" + t.name + "': " + s.message());
    const bool int_codes = t.dtype == DType::I8 || t.dtype == DType::I4 || t.dtype == DType::I2;
    if (int_codes != t.per_row_scales) return InvalidArgument("tensor '" + t.name + "': integer codes need per-row scales");
    if (t.scale_group_size < 0 || (t.scale_group_size > 0 && (!t.per_row_scales || t.shape.back() % t.scale_group_size != 0)))
      return InvalidArgument("tensor '" + t.name + "': scale groups must divide the row length");
    place[i].offset = cursor = AlignUp(cursor, kTensorAlignment);
    cursor += place[i].size;
    if (t.per_row_scales) {
      const int64_t rows = t.shape.size() == 2 ? t.shape[0] : 1;
      place[i].scales_per_row = t.scale_group_size > 0 ? t.shape.back() / t.scale_group_size : 1;
      place[i].scales_offset = cursor = AlignUp(cursor, kTensorAlignment);
      place[i].scales_size = static_cast<uint64_t>(rows) * place[i].scales_per_row * sizeof(float);
      cursor += place[i].scales_size;
    }
  }
  const uint64_t data_size = AlignUp(cursor, kTensorAlignment);

  // Every field is stored even at its default, so the metadata keeps its size when it is built again
  // with the checksums, which are known only after the data is written.
  const std::string created = UtcNow();
  auto build_metadata = [&](flatbuffers::FlatBufferBuilder& fbb) {
    fbb.ForceDefaults(true);
    std::vector<flatbuffers::Offset<schema::Tensor>> tensor_offsets;
    for (size_t i = 0; i < tensors.size(); ++i) {
      const TensorSpec& t = tensors[i];
      std::vector<uint64_t> shape(t.shape.begin(), t.shape.end());
      tensor_offsets.push_back(schema::CreateTensorDirect(
          fbb, t.name.c_str(), &shape, t.dtype, schema::Layout::RowMajor, place[i].offset, place[i].size,
          !t.per_row_scales ? ScaleKind::None : t.scale_group_size > 0 ? ScaleKind::PerGroup : ScaleKind::PerRow,
          place[i].scales_offset, place[i].scales_size, t.activation, t.input_scale, t.output_scale,
          static_cast<uint32_t>(t.scale_group_size), place[i].data_checksum, place[i].scales_checksum));
    }
    auto arch = ConfigToSchema(fbb, meta.config);
    auto tok = meta.tokenizer ? TokenizerToSchema(fbb, *meta.tokenizer) : flatbuffers::Offset<schema::Tokenizer>();
    auto tensor_vec = fbb.CreateVector(tensor_offsets);
    auto quant = schema::CreateQuantizationDirect(fbb, meta.recipe.c_str(), meta.recipe_description.c_str(),
                                                  meta.recipe_json.c_str());
    auto prov = schema::CreateProvenanceDirect(fbb, meta.source.c_str(), ConverterVersion(), created.c_str(),
                                               meta.command_line.c_str(), meta.source_format.c_str(),
                                               meta.source_sha256.c_str());
    fbb.Finish(schema::CreateModel(fbb, arch, tok, tensor_vec, quant, prov,
                                   meta.write_checksums ? schema::ChecksumKind::Crc32 : schema::ChecksumKind::None),
               schema::ModelIdentifier());
  };
  flatbuffers::FlatBufferBuilder fbb(1 << 20);
  build_metadata(fbb);

  FileHeader h{};
  std::memcpy(h.magic, kFileMagic, sizeof kFileMagic);
  h.format_version = kFormatVersion;
  h.header_size = kHeaderSize;
  h.metadata_offset = kHeaderSize;
  h.metadata_size = fbb.GetSize();
  h.data_offset = AlignUp(h.metadata_offset + h.metadata_size, kDataAlignment);
  h.data_size = data_size;
  h.metadata_checksum = Fnv1a64(fbb.GetBufferPointer(), fbb.GetSize());
  h.file_size = h.data_offset + h.data_size;

  TempFile out(path);
  EDGELM_RETURN_IF_ERROR(out.Open());
  EDGELM_RETURN_IF_ERROR(out.Write(&h, sizeof h));
  EDGELM_RETURN_IF_ERROR(out.Write(fbb.GetBufferPointer(), fbb.GetSize()));
  EDGELM_RETURN_IF_ERROR(out.WriteZeros(h.data_offset - h.metadata_offset - h.metadata_size));

  uint64_t written = 0;
  std::vector<uint8_t> chunk;
  std::vector<float> scales;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const TensorSpec& t = tensors[i];
    Placement& p = place[i];
    EDGELM_RETURN_IF_ERROR(out.WriteZeros(p.offset - written));
    written = p.offset;
    const int64_t rows = t.shape.size() == 2 ? t.shape[0] : 1;
    if (t.per_row_scales) scales.assign(static_cast<size_t>(rows * p.scales_per_row), 0.0f);
    const int64_t rows_per_chunk = std::max<int64_t>(1, static_cast<int64_t>(kChunkBytes / p.row_bytes));
    for (int64_t r = 0; r < rows; r += rows_per_chunk) {
      const int64_t r_end = std::min(rows, r + rows_per_chunk);
      chunk.assign(static_cast<size_t>((r_end - r) * p.row_bytes), 0);
      Status s = t.fill(r, r_end, chunk.data(), t.per_row_scales ? scales.data() + r * p.scales_per_row : nullptr);
      if (!s.ok()) return Status(s.code(), "tensor '" + t.name + "': " + s.message());
      p.data_checksum = Crc32(chunk.data(), chunk.size(), p.data_checksum);
      EDGELM_RETURN_IF_ERROR(out.Write(chunk.data(), chunk.size()));
      written += chunk.size();
      if (progress) progress(written, data_size);
    }
    if (t.per_row_scales) {
      EDGELM_RETURN_IF_ERROR(out.WriteZeros(p.scales_offset - written));
      p.scales_checksum = Crc32(scales.data(), p.scales_size);
      EDGELM_RETURN_IF_ERROR(out.Write(scales.data(), p.scales_size));
      written = p.scales_offset + p.scales_size;
    }
  }
  EDGELM_RETURN_IF_ERROR(out.WriteZeros(data_size - written));
  if (meta.write_checksums) {
    flatbuffers::FlatBufferBuilder with_checksums(fbb.GetSize());
    build_metadata(with_checksums);
    if (with_checksums.GetSize() != h.metadata_size) return Status(StatusCode::kInternal, "metadata changed size");
    h.metadata_checksum = Fnv1a64(with_checksums.GetBufferPointer(), with_checksums.GetSize());
    EDGELM_RETURN_IF_ERROR(out.WriteAt(0, &h, sizeof h));
    EDGELM_RETURN_IF_ERROR(out.WriteAt(h.metadata_offset, with_checksums.GetBufferPointer(), with_checksums.GetSize()));
  }
  if (progress) progress(data_size, data_size);
  return out.Commit();
}

}  // namespace edgelm
