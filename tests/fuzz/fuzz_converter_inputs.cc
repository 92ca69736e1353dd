// libFuzzer target: the converter's parsers of untrusted checkpoint files — config.json,
// tokenizer.json, tokenizer.model and safetensors headers — selected by the first byte.
#include "convert/hf_config.h"
#include "convert/safetensors.h"
#include "convert/tokenizer_import.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t kind = data[0] % 4;
  ++data;
  --size;
  switch (kind) {
    case 0: {
      edgelm::ModelConfig config;
      edgelm::HfSpecialIds ids;
      (void)edgelm::ParseHfConfigText(std::string(reinterpret_cast<const char*>(data), size), &config, &ids);
      break;
    }
    case 1: {
      edgelm::TokenizerData t;
      (void)edgelm::ImportTokenizerJson(edgelm::fuzz::WriteTemp("tokenizer-json", data, size), &t);
      break;
    }
    case 2: {
      edgelm::TokenizerData t;
      (void)edgelm::ImportSentencePieceModel(edgelm::fuzz::WriteTemp("tokenizer-model", data, size), &t);
      break;
    }
    default: {
      std::unique_ptr<edgelm::SafetensorsCheckpoint> ck;
      if (edgelm::SafetensorsCheckpoint::Open(edgelm::fuzz::WriteTemp("safetensors", data, size), &ck).ok())
        for (const auto& kv : ck->tensors())
          if (kv.second.numel() > 0) (void)kv.second.Get(kv.second.numel() - 1);  // every range is readable
      break;
    }
  }
  return 0;
}
