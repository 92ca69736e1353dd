// libFuzzer target: arbitrary bytes as a .edgelm file (checksum repaired) -> open, validate, bind the Gemma 4 graph and,
// when that succeeds, run one token through it. Must never crash, hang or read out of bounds.
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>

#include "fuzz_util.h"
#include "model/gemma4.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<uint8_t> file_bytes = edgelm::fuzz::RepairModelFile(data, size);
  const std::string path = edgelm::fuzz::WriteTemp("model", file_bytes.data(), file_bytes.size());
  std::unique_ptr<edgelm::ModelFile> file;
  if (!edgelm::ModelFile::Open(path, &file).ok()) return 0;
  std::shared_ptr<const edgelm::ModelFile> shared(std::move(file));
  std::unique_ptr<edgelm::Gemma4Model> model;
  if (!edgelm::Gemma4Model::Create(shared, &model).ok()) return 0;
  // A valid file must also compute: tiny context, one token.
  std::unique_ptr<edgelm::KvCache> kv;
  if (!edgelm::KvCache::Create(model->config(), edgelm::KvCacheOptions{2, 1, edgelm::KvType::kInt8}, &kv).ok()) return 0;
  edgelm::WorkspacePtr ws = edgelm::Gemma4Model::NewWorkspace();
  std::vector<float> logits(static_cast<size_t>(model->config().vocab_size));
  const int token = 0;
  (void)model->Forward(&token, 1, edgelm::LogitsMode::kLast, kv.get(), ws.get(), logits.data());
  return 0;
}
