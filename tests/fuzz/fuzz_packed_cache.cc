// libFuzzer target: arbitrary bytes as the packed-weights cache file of the bundled model (identity
// and checksums repaired), loaded with XNNPACK running every linear it can, then one token through a
// session. Whatever the file holds, the load and the token must succeed: a cache is derived data,
// and an entry XNNPACK would read past (or any other mismatch) is packed again, never used.
// With EDGELM_FUZZ_WRITE_SEED=PATH it writes the model's real cache file to PATH and exits
// (scripts/fuzz.sh seeds the corpus with it).
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>

#include "fuzz_util.h"
#include "runtime/loaded_model.h"
#include "runtime/session.h"

namespace {

constexpr size_t kHeaderBytes = 88, kEntryBytes = 48;  // docs/format.md, "Packed-weights cache"
constexpr size_t kIdentityBegin = 16, kIdentityEnd = 64;  // engine build, model checksum and size

std::unique_ptr<edgelm::LoadedModel> Load(const std::string& cache) {
  edgelm::LoadOptions o;
  o.num_threads = 1;
  o.engine = edgelm::LinearEngine::kXnnpack;
  o.packed_weights_cache = cache;
  std::unique_ptr<edgelm::LoadedModel> m;
  if (!edgelm::LoadedModel::Open(EDGELM_MODEL_PATH, o, &m).ok()) __builtin_trap();
  return m;
}

std::vector<uint8_t> ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

// A real cache file of the bundled model, written once: the identity every input is given.
const std::vector<uint8_t>& RealCache() {
  static const std::vector<uint8_t> bytes = [] {
    const std::string path = edgelm::fuzz::TempPath("packed-real");
    (void)Load(path);
    std::vector<uint8_t> b = ReadAll(path);
    if (b.size() < kHeaderBytes) __builtin_trap();
    return b;
  }();
  return bytes;
}

void Put64(std::vector<uint8_t>& b, size_t at, uint64_t v) { std::memcpy(b.data() + at, &v, sizeof v); }

// The input with this model's identity, its own size, an entry count that fits, and both checksums
// made to match, so that mutations reach the entries.
std::vector<uint8_t> Repair(const uint8_t* data, size_t size) {
  std::vector<uint8_t> b(data, data + size);
  if (size < kHeaderBytes) return b;
  std::memcpy(b.data() + kIdentityBegin, RealCache().data() + kIdentityBegin, kIdentityEnd - kIdentityBegin);
  Put64(b, 64, size);
  uint32_t count = 0;
  std::memcpy(&count, b.data() + 12, sizeof count);
  count = static_cast<uint32_t>(std::min<size_t>(count, (size - kHeaderBytes) / kEntryBytes));
  std::memcpy(b.data() + 12, &count, sizeof count);
  Put64(b, 72, edgelm::Fnv1a64(b.data() + kHeaderBytes, count * kEntryBytes));
  Put64(b, 80, edgelm::Fnv1a64(b.data(), 80));
  return b;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* seed_path = std::getenv("EDGELM_FUZZ_WRITE_SEED");
  if (!seed_path) return 0;
  const std::vector<uint8_t>& real = RealCache();
  edgelm::fuzz::WriteFile(seed_path, real.data(), real.size());
  std::exit(0);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)RealCache();
  const std::vector<uint8_t> cache = Repair(data, size);
  const std::string path = edgelm::fuzz::TempPath("packed");
  edgelm::fuzz::WriteFile(path, cache.data(), cache.size());
  const std::unique_ptr<edgelm::LoadedModel> m = Load(path);
  edgelm::SessionOptions so;
  so.context_length = 16;
  so.prefill_chunk = 4;
  so.num_threads = 1;
  std::unique_ptr<edgelm::Session> session;
  if (!edgelm::Session::Create(m->model(), m->tokenizer(), m->chat(), so, &session).ok()) __builtin_trap();
  const int tokens[] = {2, 100, 200};
  std::vector<float> logits(3 * static_cast<size_t>(m->config().vocab_size));
  if (!session->AppendTokens(tokens, 3).ok() || !session->Evaluate(logits.data()).ok()) __builtin_trap();
  return 0;
}
