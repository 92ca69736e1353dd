// libFuzzer target: arbitrary bytes through the brown-tiny tokenizer (encode with and without
// special-token parsing, decode, streaming decode of ids made from the bytes).
#include <memory>
#include <string_view>

#include "runtime/loaded_model.h"

namespace {

const edgelm::Tokenizer& TheTokenizer() {
  static std::unique_ptr<edgelm::LoadedModel> loaded = [] {
    std::unique_ptr<edgelm::LoadedModel> m;
    if (!edgelm::LoadedModel::Open(EDGELM_MODEL_PATH, edgelm::LoadOptions{}, &m).ok() || !m->tokenizer()) __builtin_trap();
    return m;
  }();
  return *loaded->tokenizer();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const edgelm::Tokenizer& tok = TheTokenizer();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<int> ids;
  for (bool special : {false, true}) {
    edgelm::EncodeOptions o;
    o.parse_special = special;
    o.add_bos = special;
    if (tok.Encode(text, o, &ids).ok()) {
      std::string back;
      if (!tok.Decode(ids, edgelm::DecodeOptions{}, &back).ok()) __builtin_trap();  // own ids always decode
    }
  }
  // Ids straight from the bytes, including out-of-range ones.
  ids.clear();
  for (size_t i = 0; i + 1 < size; i += 2) ids.push_back(static_cast<int>(data[i] | (data[i + 1] << 8)) - 256);
  std::string out;
  (void)tok.Decode(ids, edgelm::DecodeOptions{}, &out);
  edgelm::TokenStreamDecoder stream(tok);
  for (int id : ids) (void)stream.Push(id, &out);
  (void)stream.Flush();
  return 0;
}
