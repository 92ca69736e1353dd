// edgelm-logits MODEL --ids 2,45,17 --out FILE.npy [--greedy N]: float32 logits [T, vocab] of one
// forward pass over the ids, the stable way to line edgelm up with any reference implementation.
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "common/npy.h"
#include "model/gemma4.h"
#include "runtime/session.h"

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
  std::unique_ptr<edgelm::ModelFile> file;
  if (s.ok()) s = edgelm::ModelFile::Open(model_path, &file);
  std::shared_ptr<const edgelm::ModelFile> shared(std::move(file));
  std::unique_ptr<edgelm::Gemma4Model> model;
  std::unique_ptr<edgelm::Session> session;
  if (s.ok()) s = edgelm::Gemma4Model::Create(shared, &model, threads);
  const int context = static_cast<int>(ids.size()) + greedy;
  if (s.ok()) s = edgelm::Session::Create(*model, nullptr, nullptr, edgelm::SessionOptions{context, 128, edgelm::KvType::kF32}, &session);
  if (s.ok()) s = session->AppendTokens(ids.data(), ids.size());
  std::vector<float> logits;
  if (s.ok()) s = session->Evaluate(&logits);
  const int vocab = s.ok() ? model->config().vocab_size : 0;
  if (s.ok() && !out_path.empty())
    s = edgelm::WriteNpyF32(out_path, logits.data(), {static_cast<int64_t>(ids.size()), vocab});
  if (s.ok() && greedy > 0) {
    edgelm::GenerateParams p;
    p.max_tokens = greedy;
    p.ignore_stop = true;
    p.sampling.temperature = 0.0f;
    std::string line;
    s = session->Generate(p, [&line](int token, std::string_view) {
      if (token >= 0) line += (line.empty() ? "" : ",") + std::to_string(token);
      return false;
    });
    if (s.ok()) std::printf("%s\n", line.c_str());
  }
  if (!s.ok()) {
    std::fprintf(stderr, "edgelm-logits: %s\n", s.message().c_str());
    return 1;
  }
  return 0;
}
