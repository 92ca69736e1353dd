// Importers of published model files: each reads one source format and yields the metadata and
// tensor specs that WriteModelFile turns into a .edgelm. Integer codes and scales are copied exactly
// (no re-quantization, no float round trip). Picked by content, not extension (DetectSourceFormat).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "format/model_writer.h"
#include "format/tokenizer_data.h"

namespace edgelm {

enum class SourceFormat {
  kUnknown,
  kHfCheckpoint,       // directory: config.json + float safetensors
  kQatExport,          // directory: quant_recipe.json + codes (our own QAT export)
  kCompressedTensors,  // directory: config.json with quantization_config.quant_method "compressed-tensors"
  kLitertlm,           // file starting "LITERTLM"
  kGguf,               // file starting "GGUF"
};

// Looks at the bytes (magic) for files and at config.json for directories.
SourceFormat DetectSourceFormat(const std::string& path);
const char* SourceFormatName(SourceFormat format);

struct ImportedModel {
  ModelMetadata meta;       // meta.tokenizer points at `tokenizer` when one was found
  TokenizerData tokenizer;
  std::vector<TensorSpec> specs;
  // Whatever the specs' fill callbacks read (mapped files, parsed tables): kept alive until written.
  std::vector<std::shared_ptr<const void>> keep_alive;

  ImportedModel() = default;
  ImportedModel(const ImportedModel&) = delete;
  ImportedModel& operator=(const ImportedModel&) = delete;
};

struct ImportOptions {
  // A Hugging Face config.json of the same model, for the facts a file does not record (a .litertlm
  // graph has no sliding-window length: its masks are inputs). Without it, Gemma 4's published values
  // apply (window 512, RoPE theta 10,000 / 1,000,000, partial rotary 0.25 on full layers). When given,
  // every fact the file does record must agree with it.
  std::string hf_config;
};

// Each importer fills `out` completely (config, tokenizer with Gemma 4 chat setup, every tensor of
// Gemma4TensorManifest(config), source_format, source_sha256 for files) or returns a status whose
// message names the file and what in it does not fit. `out` must be default-constructed.
Status ImportLitertlm(const std::string& path, const ImportOptions& options, ImportedModel* out);
Status ImportCompressedTensors(const std::string& dir, const ImportOptions& options, ImportedModel* out);
Status ImportGguf(const std::string& path, const ImportOptions& options, ImportedModel* out);

}  // namespace edgelm
