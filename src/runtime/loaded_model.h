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

 private:
  LoadedModel() = default;

  std::shared_ptr<const ModelFile> file_;
  std::unique_ptr<Gemma4Model> model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<ChatTemplate> chat_;
  std::string recipe_, chat_template_name_;
  std::vector<int32_t> stop_tokens_;
};

}  // namespace edgelm
