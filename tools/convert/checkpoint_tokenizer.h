// The tokenizer that comes with a checkpoint directory, set up for Gemma 4 chat the same way for every
// importer: Google's 262,144-piece vocabulary gets the Gemma 4 overlay, a small vocabulary that spells
// the turn markers gets them as turn tokens (with the config's special ids), any other stays plain.
#pragma once

#include <string>

#include "common/status.h"
#include "convert/hf_config.h"
#include "format/tokenizer_data.h"

namespace edgelm {

// `dir`/tokenizer.json, else `dir`/tokenizer.model; "" when there is neither.
std::string FindCheckpointTokenizer(const std::string& dir);

// Reads `path` (.json: Hugging Face tokenizer.json, else SentencePiece) and applies the setup above;
// refuses a tokenizer with more pieces than the model's `vocab_size`.
Status ImportCheckpointTokenizer(const std::string& path, const HfSpecialIds& ids, int vocab_size, TokenizerData* out);

}  // namespace edgelm
