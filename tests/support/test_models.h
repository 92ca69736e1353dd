// Shared helpers for tests: convert reference checkpoints into temporary .edgelm files once per
// process, and load them the way the library does (runtime/loaded_model.h).
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "convert/converter.h"
#include "format/model_file.h"
#include "runtime/loaded_model.h"
#include "runtime/session.h"

namespace edgelm::testing {

inline std::string SharedPath(const std::string& rel) { return std::string(EDGELM_SHARED_DIR) + "/" + rel; }

// A per-process scratch directory under the build tree, removed when the process exits.
class ScratchDir {
 public:
  ScratchDir() : path_(std::string(EDGELM_BINARY_DIR) + "/test-tmp/" + std::to_string(::getpid())) {
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A whole file's bytes (empty if it cannot be read), and a file made of `bytes`.
inline std::vector<uint8_t> ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

inline void WriteFileBytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

inline std::string TempDir() {
  static const ScratchDir dir;
  return dir.path();
}

// Converts `input` (a checkpoint dir, or a config.json with synthesize=true) with `format` once and
// returns the output path; the Status of a failed conversion is returned through `status`.
inline std::string Converted(const std::string& input, const std::string& format, Status* status,
                             bool synthesize = false, std::vector<std::string> tensor_types = {}) {
  static std::map<std::string, std::string> cache;
  std::string key = input + "|" + format + "|" + (synthesize ? "s" : "");
  for (const auto& t : tensor_types) key += "|" + t;
  auto it = cache.find(key);
  if (it != cache.end()) {
    *status = Status::Ok();
    return it->second;
  }
  ConvertOptions o;
  (synthesize ? o.synthesize_config : o.input) = input;
  o.format = format;
  o.tensor_types = tensor_types;
  o.output = TempDir() + "/m" + std::to_string(cache.size()) + "-" + format + ".edgelm";
  *status = Convert(o, nullptr);
  if (status->ok()) cache[key] = o.output;
  return o.output;
}

inline std::shared_ptr<const ModelFile> OpenFile(const std::string& path, Status* status) {
  std::unique_ptr<ModelFile> f;
  *status = ModelFile::Open(path, &f);
  return std::shared_ptr<const ModelFile>(std::move(f));
}

inline std::unique_ptr<LoadedModel> LoadModel(const std::string& path, Status* status, int num_threads = 1) {
  LoadOptions options;
  options.num_threads = num_threads;
  std::unique_ptr<LoadedModel> m;
  *status = LoadedModel::Open(path, options, &m);
  return m;
}

// Processes every pending token of `s` and returns the logits of each ([pending][vocab]).
inline Status EvaluateAll(Session& s, int vocab, std::vector<float>* logits) {
  logits->assign(s.pending_tokens() * static_cast<size_t>(vocab), 0.0f);
  return s.Evaluate(logits->data());
}

// Logits [rows][vocab] against a reference of the same shape.
struct LogitComparison {
  float max_abs = 0.0f;
  double mean_abs = 0.0;
  size_t argmax_agree = 0, rows = 0;
};

inline LogitComparison CompareLogits(const std::vector<float>& got, const std::vector<float>& want, size_t vocab) {
  LogitComparison c;
  c.rows = got.size() / vocab;
  for (size_t i = 0; i < got.size(); ++i) {
    const float d = std::fabs(got[i] - want[i]);
    c.max_abs = std::max(c.max_abs, d);
    c.mean_abs += d;
  }
  c.mean_abs /= static_cast<double>(got.size());
  for (size_t r = 0; r < c.rows; ++r) {
    const float* a = got.data() + r * vocab;
    const float* b = want.data() + r * vocab;
    c.argmax_agree += std::max_element(a, a + vocab) - a == std::max_element(b, b + vocab) - b;
  }
  return c;
}

}  // namespace edgelm::testing
