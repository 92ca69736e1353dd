#include "convert/checkpoint_tokenizer.h"

#include <sys/stat.h>

#include "convert/tokenizer_import.h"

namespace edgelm {

std::string FindCheckpointTokenizer(const std::string& dir) {
  for (const char* name : {"/tokenizer.json", "/tokenizer.model"}) {
    struct stat st;
    const std::string path = dir + name;
    if (stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) return path;
  }
  return "";
}

Status ImportCheckpointTokenizer(const std::string& path, const HfSpecialIds& ids, int vocab_size, TokenizerData* out) {
  const bool is_json = path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0;
  EDGELM_RETURN_IF_ERROR(is_json ? ImportTokenizerJson(path, out) : ImportSentencePieceModel(path, out));
  if (out->pieces.size() >= 262144) {
    EDGELM_RETURN_IF_ERROR(ApplyGemma4Overlay(out));
  } else {
    const Status s = ApplyGemma4TurnTokens(ConfigTokenIds{ids.bos, ids.pad, ids.eos_list}, out);
    if (!s.ok() && s.code() != StatusCode::kNotFound) return s;
  }
  if (static_cast<int>(out->pieces.size()) > vocab_size)
    return InvalidArgument(path + ": tokenizer has " + std::to_string(out->pieces.size()) +
                           " pieces, more than the model's vocab_size " + std::to_string(vocab_size));
  return Status::Ok();
}

}  // namespace edgelm
