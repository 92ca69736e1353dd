// edgelm-logits MODEL --ids 2,45,17 --out FILE.npy [--greedy N]: float32 logits [T, vocab] of one
// forward pass over the ids, the stable way to line edgelm up with any reference implementation.
// Built on the public C API only.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "common/npy.h"
#include "edgelm/edgelm.h"

namespace {

// Collects the generated ids as "a,b,c" (token -1, a final partial character, is not an id).
int AppendId(void* user_data, int32_t token, const char*, size_t) {
  std::string& line = *static_cast<std::string*>(user_data);
  if (token >= 0) line += (line.empty() ? "" : ",") + std::to_string(token);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_path, ids_text, ids_npy, out_path;
  int greedy = 0, threads = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--ids" && i + 1 < argc) ids_text = argv[++i];
    else if (a == "--ids-npy" && i + 1 < argc) ids_npy = argv[++i];
    else if (a == "--out" && i + 1 < argc) out_path = argv[++i];
    else if (a == "--greedy" && i + 1 < argc) greedy = std::atoi(argv[++i]);
    else if ((a == "--threads" || a == "-t") && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (a == "-h" || a == "--help") {
      std::printf("usage: edgelm-logits MODEL (--ids 2,45,17 | --ids-npy IDS.npy) [--out LOGITS.npy] [--greedy N] [--threads N]\n");
      return 0;
    } else if (model_path.empty()) model_path = a;
    else { std::fprintf(stderr, "edgelm-logits: unexpected argument %s\n", a.c_str()); return 2; }
  }
  std::vector<int> ids;
  edgelm::Status s;
  if (!ids_npy.empty()) {
    edgelm::NpyArray a;
    s = edgelm::ReadNpy(ids_npy, &a);
    for (int64_t v : a.ints) ids.push_back(static_cast<int>(v));
  } else {
    std::stringstream ss(ids_text);
    std::string item;
    while (std::getline(ss, item, ',')) ids.push_back(std::atoi(item.c_str()));
  }
  if (model_path.empty() || (s.ok() && ids.empty())) {
    std::fprintf(stderr, "usage: edgelm-logits MODEL (--ids 2,45,17 | --ids-npy IDS.npy) [--out LOGITS.npy] [--greedy N]\n");
    return 2;
  }
  if (!s.ok()) {
    std::fprintf(stderr, "edgelm-logits: %s\n", s.message().c_str());
    return 1;
  }
  edgelm_model_options mo;
  edgelm_model_options_init(&mo);
  mo.num_threads = threads;
  edgelm_model* model = nullptr;
  edgelm_session* session = nullptr;
  edgelm_status st = edgelm_model_load(model_path.c_str(), &mo, &model);
  edgelm_session_options so;
  edgelm_session_options_init(&so);
  so.context_length = static_cast<int32_t>(ids.size()) + greedy;
  so.kv_type = EDGELM_KV_F32;
  if (st == EDGELM_OK) st = edgelm_session_create(model, &so, &session);
  if (st == EDGELM_OK) st = edgelm_session_append_tokens(session, ids.data(), ids.size());
  std::vector<float> logits;
  size_t n_logits = 0;
  if (st == EDGELM_OK) st = edgelm_session_evaluate(session, 1, nullptr, 0, &n_logits);  // the size
  if (st == EDGELM_BUFFER_TOO_SMALL) {
    logits.resize(n_logits);
    st = edgelm_session_evaluate(session, 1, logits.data(), logits.size(), &n_logits);
  }
  if (st == EDGELM_OK && !out_path.empty()) {
    s = edgelm::WriteNpyF32(out_path, logits.data(), {static_cast<int64_t>(ids.size()), static_cast<int64_t>(n_logits / ids.size())});
    if (!s.ok()) {
      std::fprintf(stderr, "edgelm-logits: %s\n", s.message().c_str());
      st = EDGELM_IO_ERROR;
    }
  }
  if (st == EDGELM_OK && greedy > 0) {
    edgelm_generate_options g;
    edgelm_generate_options_init(&g);
    g.max_tokens = greedy;
    g.ignore_stop = 1;
    g.temperature = 0.0f;
    std::string line;
    st = edgelm_session_generate(session, &g, AppendId, &line);
    if (st == EDGELM_OK) std::printf("%s\n", line.c_str());
  }
  if (st != EDGELM_OK && st != EDGELM_IO_ERROR) std::fprintf(stderr, "edgelm-logits: %s\n", edgelm_last_error());
  edgelm_session_free(session);
  edgelm_model_free(model);
  return st == EDGELM_OK ? 0 : 1;
}
