// Shared helpers for tests: convert reference checkpoints into temporary .edgelm files once per
// process, and load them.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "convert/converter.h"
#include "format/model_file.h"
#include "model/gemma4.h"

namespace edgelm::testing {

inline std::string SharedPath(const std::string& rel) { return std::string(EDGELM_SHARED_DIR) + "/" + rel; }

// A per-process scratch directory under the build tree.
inline std::string TempDir() {
  static const std::string dir = [] {
    std::string d = std::string(EDGELM_BINARY_DIR) + "/test-tmp/" + std::to_string(::getpid());
    std::string cmd = "mkdir -p '" + d + "'";
    if (std::system(cmd.c_str()) != 0) return std::string("/tmp");
    return d;
  }();
  return dir;
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

inline std::unique_ptr<Gemma4Model> LoadModel(const std::string& path, Status* status, int num_threads = 1) {
  std::shared_ptr<const ModelFile> f = OpenFile(path, status);
  std::unique_ptr<Gemma4Model> m;
  if (status->ok()) *status = Gemma4Model::Create(f, &m, num_threads);
  return m;
}

}  // namespace edgelm::testing
