// The one way to load a model, used by the C API, every tool, the tests and the fuzzers: open and
// validate the file, check the memory budget, optionally fault the weights in, bind the Gemma 4 graph,
// build the tokenizer and the chat template. Immutable once built; share it with std::shared_ptr.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "format/model_file.h"
#include "model/gemma4.h"
#include "runtime/chat_template.h"
#include "runtime/tokenizer.h"

namespace edgelm {

struct LoadOptions {
  int num_threads = 0;            // the model's shared pool (0 = one per core, 1 = the calling thread)
  bool populate = false;          // fault every weight page in at load
  uint64_t max_memory_bytes = 0;  // refuse a model whose resident weights + tokenizer exceed it; 0 = no limit
  LinearEngine engine = LinearEngine::kAuto;  // who runs the integer linears (model/xnn_linear.h)
  // Check the weights against the file's checksums: not at all, before the load returns (a damaged
  // tensor fails it), or in the background (Forward fails once a damaged tensor is found). Files
  // without checksums load either way, with a warning.
  enum class Verify { kNone, kAtLoad, kBackground } verify = Verify::kNone;
  // Where XNNPACK's packed weights are kept between loads ("": packed at every load). The cache's
  // bytes are checked against their CRC-32 before use whenever `verify` is not kNone.
  std::string packed_weights_cache;
};

class LoadedModel {
 public:
  static Status Open(const std::string& path, const LoadOptions& options, std::unique_ptr<LoadedModel>* out);

  const ModelFile& file() const { return *file_; }
  const Gemma4Model& model() const { return *model_; }
  const ModelConfig& config() const { return model_->config(); }
  // Null when the file has no tokenizer / no chat template.
  const Tokenizer* tokenizer() const { return tokenizer_.get(); }
  const ChatTemplate* chat() const { return chat_.get(); }
  // The quantization recipe the converter recorded ("bf16", "qat:mobile", ...; "" if none).
  const std::string& recipe() const { return recipe_; }
  // The chat template's name ("gemma4"), "" without one.
  const std::string& chat_template_name() const { return chat_template_name_; }
  // Tokens that end a generation, as int32 for the C API.
  const std::vector<int32_t>& stop_tokens() const { return stop_tokens_; }
  // Every tensor matched its checksum before the load returned (LoadOptions::Verify::kAtLoad).
  bool weights_verified_at_load() const { return verified_at_load_; }

 private:
  LoadedModel() = default;

  std::shared_ptr<const ModelFile> file_;
  std::unique_ptr<Gemma4Model> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<ChatTemplate> chat_;
  std::string recipe_, chat_template_name_;
  std::vector<int32_t> stop_tokens_;
  bool verified_at_load_ = false;
};

}  // namespace edgelm
