// edgelm-perplexity MODEL TEXTFILE: the quality number used to compare formats.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "perplexity/perplexity.h"

namespace {

constexpr const char* kKvTypeNames[] = {"f32", "bf16", "int8", "int4"};  // by edgelm_kv_type

bool KvTypeFromName(const std::string& name, edgelm_kv_type* type) {
  for (int t = EDGELM_KV_F32; t <= EDGELM_KV_INT4; ++t)
    if (name == kKvTypeNames[t]) {
      *type = static_cast<edgelm_kv_type>(t);
      return true;
    }
  return false;
}

const char* KvTypeName(edgelm_kv_type type) { return kKvTypeNames[type]; }

}  // namespace

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
      const std::string type = argv[++i];
      if (!KvTypeFromName(type, &o.kv_type)) {
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

  edgelm_model_options mo;
  edgelm_model_options_init(&mo);
  mo.num_threads = threads;
  edgelm_model* model = nullptr;
  edgelm::PerplexityResult r;
  std::string error;
  edgelm_status st = edgelm_model_load(model_path.c_str(), &mo, &model);
  if (st != EDGELM_OK) error = edgelm_last_error();
  else st = edgelm::ComputePerplexity(model, text, o, &r, &error);
  edgelm_model_free(model);
  if (st != EDGELM_OK) {
    std::fprintf(stderr, "edgelm-perplexity: %s\n", error.c_str());
    return 1;
  }
  if (json)
    std::printf("{\"perplexity\": %.6f, \"nll_sum\": %.6f, \"tokens\": %lld, \"windows\": %d, \"window\": %d, \"stride\": %d, \"kv_type\": \"%s\", \"seconds\": %.3f}\n",
                r.perplexity(), r.nll_sum, static_cast<long long>(r.tokens), r.windows, o.window, o.stride,
                KvTypeName(o.kv_type), r.seconds);
  else
    std::printf("perplexity %.4f over %lld tokens (%d windows of %d, stride %d, %s KV) in %.1f s (%.0f tok/s)\n",
                r.perplexity(), static_cast<long long>(r.tokens), r.windows, o.window, o.stride,
                KvTypeName(o.kv_type), r.seconds, r.tokens / r.seconds);
  return 0;
}
