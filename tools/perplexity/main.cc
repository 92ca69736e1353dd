// edgelm-perplexity MODEL TEXTFILE: the quality number used to compare formats.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "perplexity/perplexity.h"

int main(int argc, char** argv) {
  edgelm::PerplexityOptions o;
  std::string model_path, text_path;
  bool json = false;
  int threads = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if ((a == "--window" || a == "-c") && i + 1 < argc) o.window = std::atoi(argv[++i]);
    else if (a == "--stride" && i + 1 < argc) o.stride = std::atoi(argv[++i]);
    else if (a == "--max-windows" && i + 1 < argc) o.max_windows = std::atoi(argv[++i]);
    else if (a == "--json") json = true;
    else if (a == "--kv-type" && i + 1 < argc) {
      if (!edgelm::KvTypeFromName(argv[++i], &o.kv_type)) {
        std::fprintf(stderr, "edgelm-perplexity: --kv-type takes f32, bf16, int8 or int4\n");
        return 2;
      }
    }
    else if ((a == "--threads" || a == "-t") && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (a == "-h" || a == "--help") {
      std::printf("usage: edgelm-perplexity MODEL TEXTFILE [--window 256] [--stride 256] [--max-windows N] [--threads N] [--kv-type f32|bf16|int8|int4] [--json]\n"
                  "One token stream; window w feeds [bos] + stream[s, s+W-1] and predicts stream[s, s+W).\n");
      return 0;
    } else if (model_path.empty()) model_path = a;
    else if (text_path.empty()) text_path = a;
    else { std::fprintf(stderr, "edgelm-perplexity: unexpected argument %s\n", a.c_str()); return 2; }
  }
  if (o.stride <= 0 || o.stride > o.window) o.stride = o.window;
  if (model_path.empty() || text_path.empty()) {
    std::fprintf(stderr, "usage: edgelm-perplexity MODEL TEXTFILE [--window N] [--stride N] [--max-windows N]\n");
    return 2;
  }
  std::ifstream in(text_path, std::ios::binary);
  if (!in) { std::fprintf(stderr, "edgelm-perplexity: cannot read %s\n", text_path.c_str()); return 1; }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  if (!text.empty() && text.back() == '\n') text.pop_back();  // the stream is the paragraphs joined by "\n"

  std::unique_ptr<edgelm::ModelFile> file;
  edgelm::Status s = edgelm::ModelFile::Open(model_path, &file);
  std::shared_ptr<const edgelm::ModelFile> shared(std::move(file));
  std::unique_ptr<edgelm::Gemma4Model> model;
  std::unique_ptr<edgelm::Tokenizer> tokenizer;
  if (s.ok()) s = edgelm::Gemma4Model::Create(shared, &model, threads);
  if (s.ok() && !shared->tokenizer()) s = edgelm::Unsupported("the model file has no tokenizer");
  if (s.ok()) s = edgelm::Tokenizer::Create(*shared->tokenizer(), &tokenizer);
  edgelm::PerplexityResult r;
  if (s.ok()) s = edgelm::ComputePerplexity(*model, *tokenizer, text, o, &r);
  if (!s.ok()) {
    std::fprintf(stderr, "edgelm-perplexity: %s\n", s.message().c_str());
    return 1;
  }
  if (json)
    std::printf("{\"perplexity\": %.6f, \"nll_sum\": %.6f, \"tokens\": %lld, \"windows\": %d, \"window\": %d, \"stride\": %d, \"kv_type\": \"%s\", \"seconds\": %.3f}\n",
                r.perplexity(), r.nll_sum, static_cast<long long>(r.tokens), r.windows, o.window, o.stride,
                edgelm::KvTypeName(o.kv_type), r.seconds);
  else
    std::printf("perplexity %.4f over %lld tokens (%d windows of %d, stride %d, %s KV) in %.1f s (%.0f tok/s)\n",
                r.perplexity(), static_cast<long long>(r.tokens), r.windows, o.window, o.stride,
                edgelm::KvTypeName(o.kv_type), r.seconds, r.tokens / r.seconds);
  return 0;
}
