// libFuzzer target: arbitrary bytes as a saved session state, restored into a session of the bundled
// model; a restore that succeeds must leave a session that can generate.
#include <memory>

#include "fuzz_util.h"
#include "runtime/session.h"

namespace {

struct Loaded {
  std::shared_ptr<const edgelm::ModelFile> file;
  std::unique_ptr<edgelm::Gemma4Model> model;
};

const Loaded& TheModel() {
  static Loaded loaded = [] {
    Loaded l;
    std::unique_ptr<edgelm::ModelFile> file;
    if (!edgelm::ModelFile::Open(EDGELM_MODEL_PATH, &file).ok()) __builtin_trap();
    l.file = std::move(file);
    if (!edgelm::Gemma4Model::Create(l.file, &l.model).ok()) __builtin_trap();
    return l;
  }();
  return loaded;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Loaded& m = TheModel();
  edgelm::SessionOptions o;
  o.context_length = 64;
  o.prefill_chunk = 16;
  std::unique_ptr<edgelm::Session> session;
  if (!edgelm::Session::Create(*m.model, nullptr, nullptr, o, &session).ok()) __builtin_trap();
  if (!session->Load(edgelm::fuzz::WriteTemp("state", data, size)).ok()) return 0;
  edgelm::GenerateParams p;
  p.max_tokens = 2;
  p.sampling.temperature = 0.0f;
  (void)session->Generate(p, nullptr);
  return 0;
}
