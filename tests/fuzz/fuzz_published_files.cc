// libFuzzer target: the importers of published model files, picked by the first byte — 0 a GGUF file,
// 1 a .litertlm bundle, 2 a compressed-tensors checkpoint (a 4-byte little-endian length, that many
// bytes of config.json, the rest model.safetensors). An import must end in a Status. When it succeeds,
// every tensor's fill callback runs, and the model is written as a .edgelm and loaded through the C API,
// so the copy paths and what they produce are fuzzed as well.
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "convert/importer.h"
#include "edgelm/edgelm.h"
#include "fuzz_util.h"

namespace {

using edgelm::Status;

// Fills a tensor a few rows at a time, each chunk into buffers of exactly its rows' bytes and scales:
// the writer's chunks are larger, so a write past the requested rows would stay inside them unseen.
Status FillAll(const edgelm::TensorSpec& spec) {
  if (spec.shape.empty() || spec.shape.size() > 2) return edgelm::InvalidArgument("bad shape");
  const int64_t rows = spec.shape.size() == 2 ? spec.shape[0] : 1, cols = spec.shape.back();
  uint64_t row_bytes = 0, total = 0;
  EDGELM_RETURN_IF_ERROR(edgelm::RowBytes(spec.dtype, cols, &row_bytes));
  EDGELM_RETURN_IF_ERROR(edgelm::TensorBytes(spec.dtype, spec.shape, &total));
  if (spec.scale_group_size < 0 || (spec.scale_group_size > 0 && cols % spec.scale_group_size != 0))
    return edgelm::InvalidArgument("bad scale groups");
  const int64_t scales_per_row = !spec.per_row_scales ? 0 : spec.scale_group_size > 0 ? cols / spec.scale_group_size : 1;
  constexpr int64_t kChunkRows = 3;  // odd, so chunks straddle whatever blocking a reader uses
  for (int64_t r = 0; r < rows; r += kChunkRows) {
    const int64_t n = std::min(kChunkRows, rows - r);
    std::vector<uint8_t> data(static_cast<size_t>(n * row_bytes));
    std::vector<float> scales(static_cast<size_t>(n * scales_per_row));
    EDGELM_RETURN_IF_ERROR(spec.fill(r, r + n, data.data(), spec.per_row_scales ? scales.data() : nullptr));
  }
  return Status::Ok();
}

void FillWriteAndLoad(const edgelm::ImportedModel& imported) {
  for (const edgelm::TensorSpec& spec : imported.specs)
    if (!FillAll(spec).ok()) return;
  const std::string path = edgelm::fuzz::TempPath("published.edgelm");
  if (!edgelm::WriteModelFile(path, imported.meta, imported.specs).ok()) return;
  edgelm_model_options mo;
  edgelm_model_options_init(&mo);
  mo.num_threads = 1;
  mo.max_memory_bytes = uint64_t{1} << 30;
  edgelm_model* model = nullptr;
  if (edgelm_model_load(path.c_str(), &mo, &model) == EDGELM_OK) edgelm_model_free(model);
}

// Splits the input into config.json and model.safetensors in a scratch directory.
std::string WriteCtCheckpoint(const uint8_t* data, size_t size) {
  uint32_t config_size = 0;
  const size_t prefix = std::min<size_t>(4, size);
  std::memcpy(&config_size, data, prefix);
  data += prefix;
  size -= prefix;
  config_size = static_cast<uint32_t>(std::min<size_t>(config_size, size));
  const std::string dir = edgelm::fuzz::TempPath("ct");
  mkdir(dir.c_str(), 0700);
  edgelm::fuzz::WriteFile(dir + "/config.json", data, config_size);
  edgelm::fuzz::WriteFile(dir + "/model.safetensors", data + config_size, size - config_size);
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t kind = data[0] % 3;
  ++data;
  --size;
  edgelm::ImportedModel imported;
  const edgelm::ImportOptions options;
  Status s;
  switch (kind) {
    case 0: s = edgelm::ImportGguf(edgelm::fuzz::WriteTemp("gguf", data, size), options, &imported); break;
    case 1: s = edgelm::ImportLitertlm(edgelm::fuzz::WriteTemp("litertlm", data, size), options, &imported); break;
    default: s = edgelm::ImportCompressedTensors(WriteCtCheckpoint(data, size), options, &imported); break;
  }
  if (s.ok()) FillWriteAndLoad(imported);
  return 0;
}
