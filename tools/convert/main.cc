// edgelm-convert: Hugging Face / QAT checkpoints (or synthetic weights) -> .edgelm.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#include "common/progress.h"
#include "convert/converter.h"

namespace {

void Usage(FILE* out) {
  std::fprintf(out,
      "usage: edgelm-convert INPUT -o OUT.edgelm [options]\n"
      "       edgelm-convert --synthesize CONFIG.json -o OUT.edgelm [options]\n"
      "\n"
      "INPUT: a Hugging Face Gemma 4 checkpoint directory (config.json, safetensors, tokenizer); a QAT\n"
      "export (quant_recipe.json + codes and scales); or a published file kept exactly as Google ships\n"
      "it: a .litertlm bundle, a compressed-tensors mobile checkpoint directory, a GGUF file. The kind is\n"
      "detected from the content.\n"
      "\n"
      "options:\n"
      "  -f, --format F          f32 | bf16 | f16 | q4_0 | mobile | mobile-int4 | published (default bf16)\n"
      "  --tokenizer PATH        tokenizer.json or tokenizer.model (default: the one in INPUT_DIR)\n"
      "  --config CONFIG.json    published files: the model's Hugging Face config, for what the file\n"
      "                          does not record (a .litertlm has no sliding-window length)\n"
      "  --tensor-type RE=DTYPE  per-tensor override, e.g. 'embed_tokens=int8' (repeatable)\n"
      "  --scale-search S        mse | absmax: per-channel scale choice for int4/int2 (default mse;\n"
      "                          synthetic weights always use absmax)\n"
      "  --calibration FILE      text to calibrate static activation scales (mobile from float)\n"
      "  --embed-scale-bf16      round sqrt(hidden) to bf16 as Hugging Face does for bf16 weights\n"
      "  --synthesize CONFIG     random weights of that config's exact shape (streamed)\n"
      "  --seed N                seed for --synthesize (default 1)\n"
      "  -q, --quiet             no progress bar\n");
}

}  // namespace

int main(int argc, char** argv) {
  // Past a file-size limit, write() then fails with EFBIG and the partial output is removed, instead
  // of the process being killed with it left behind.
  std::signal(SIGXFSZ, SIG_IGN);
  edgelm::ConvertOptions o;
  bool quiet = false;
  for (int i = 0; i < argc; ++i) o.command_line += (i ? " " : "") + std::string(argv[i]);
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](const char* name) -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "edgelm-convert: %s needs a value\n", name);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "-h" || a == "--help") { Usage(stdout); return 0; }
    else if (a == "-o" || a == "--output") o.output = value("-o");
    else if (a == "-f" || a == "--format") { o.format = value("--format"); o.format_given = true; }
    else if (a == "--tokenizer") o.tokenizer = value("--tokenizer");
    else if (a == "--config") o.hf_config = value("--config");
    else if (a == "--tensor-type") o.tensor_types.push_back(value("--tensor-type"));
    else if (a == "--calibration") o.calibration_text = value("--calibration");
    else if (a == "--synthesize") o.synthesize_config = value("--synthesize");
    else if (a == "--seed") o.seed = std::strtoull(value("--seed").c_str(), nullptr, 10);
    else if (a == "--embed-scale-bf16") o.embed_scale_bf16 = true;
    else if (a == "-q" || a == "--quiet") quiet = true;
    else if (a == "--scale-search") {
      const std::string s = value("--scale-search");
      if (s == "mse") o.scale_search = edgelm::ScaleSearch::kMse;
      else if (s == "absmax") o.scale_search = edgelm::ScaleSearch::kAbsMax;
      else { std::fprintf(stderr, "edgelm-convert: --scale-search takes mse or absmax\n"); return 2; }
    } else if (!a.empty() && a[0] == '-') {
      std::fprintf(stderr, "edgelm-convert: unknown option %s\n", a.c_str());
      Usage(stderr);
      return 2;
    } else if (o.input.empty()) o.input = a;
    else { std::fprintf(stderr, "edgelm-convert: more than one input\n"); return 2; }
  }
  if (o.output.empty() || (o.input.empty() == o.synthesize_config.empty())) {
    Usage(stderr);
    return 2;
  }
  edgelm::ProgressBar bar("writing " + o.output, !quiet);
  edgelm::Status s;
  try {
    s = edgelm::Convert(o, [&bar](uint64_t done, uint64_t total) { bar.Update(done, total); });
  } catch (const std::exception& e) {  // caught so that unwinding removes the partial output
    s = edgelm::Status(edgelm::StatusCode::kInternal, e.what());
  }
  bar.Finish();
  if (!s.ok()) {
    std::fprintf(stderr, "edgelm-convert: %s\n", s.message().c_str());
    return 1;
  }
  if (!quiet) std::fprintf(stderr, "wrote %s\n", o.output.c_str());
  return 0;
}
