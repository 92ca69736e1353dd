// libFuzzer target: arbitrary bytes as a saved session state (checksum repaired), restored into a
// session of the bundled model; a restore that succeeds must leave a session that can generate.
// With EDGELM_FUZZ_WRITE_SEED=PATH it writes a real state file to PATH and exits (scripts/fuzz.sh
// seeds the corpus with it).
#include <cstdlib>
#include <memory>

#include "fuzz_util.h"
#include "runtime/loaded_model.h"
#include "runtime/session.h"

namespace {

const edgelm::LoadedModel& TheModel() {
  static std::unique_ptr<edgelm::LoadedModel> loaded = [] {
    edgelm::LoadOptions o;
    o.num_threads = 1;
    std::unique_ptr<edgelm::LoadedModel> m;
    if (!edgelm::LoadedModel::Open(EDGELM_MODEL_PATH, o, &m).ok()) __builtin_trap();
    return m;
  }();
  return *loaded;
}

std::unique_ptr<edgelm::Session> NewSession() {
  edgelm::SessionOptions o;
  o.context_length = 64;
  o.prefill_chunk = 16;
  o.num_threads = 1;
  const edgelm::LoadedModel& m = TheModel();
  std::unique_ptr<edgelm::Session> session;
  if (!edgelm::Session::Create(m.model(), m.tokenizer(), m.chat(), o, &session).ok()) __builtin_trap();
  return session;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* seed_path = std::getenv("EDGELM_FUZZ_WRITE_SEED");
  if (!seed_path) return 0;
  std::unique_ptr<edgelm::Session> session = NewSession();
  const int tokens[] = {2, 10, 20, 30, 40, 50, 60, 70, 80, 90};
  edgelm::GenerateParams p;
  p.max_tokens = 4;
  p.sampling.temperature = 0.0f;
  p.ignore_stop = true;
  const bool ok = session->AppendTokens(tokens, sizeof tokens / sizeof tokens[0]).ok() &&
                  session->Generate(p, nullptr).ok() && session->SaveFile(seed_path).ok();
  std::exit(ok ? 0 : 1);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::unique_ptr<edgelm::Session> session = NewSession();
  const std::vector<uint8_t> state = edgelm::fuzz::RepairSessionState(data, size);
  if (!session->RestoreState(state.data(), state.size()).ok()) return 0;
  edgelm::GenerateParams p;
  p.max_tokens = 2;
  p.sampling.temperature = 0.0f;
  (void)session->Generate(p, nullptr);
  return 0;
}
