// Readers for the tokenizer files that come with a checkpoint (HF tokenizer.json, SentencePiece
// tokenizer.model), producing the TokenizerData stored in a model file, plus the Gemma 4 special-token setup.
// Every error is a Status whose message names the file.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "format/tokenizer_data.h"

namespace edgelm {

// Hugging Face tokenizer.json with a SentencePiece-style BPE model (spaces -> U+2581, byte fallback). Added
// tokens become Control (special) or UserDefined pieces, <0xNN> pieces Byte, model.unk_token Unknown; the
// tables are sized by the largest id + 1, since added tokens may lie beyond the model vocabulary.
// bos is the post-processor's leading special token (then add_bos) or else the piece <bos>/<s>; eos is
// <eos>/</s>, pad <pad>; stop ids = {eos}. Turn tokens are left to the Apply* functions below.
Status ImportTokenizerJson(const std::string& path, TokenizerData* out);
// The same for a tokenizer.json already in memory (a .litertlm HF_Tokenizer_Zlib section); `name` starts messages.
Status ImportTokenizerJsonText(const std::string& name, const std::string& text, TokenizerData* out);

// SentencePiece tokenizer.model of a BPE model with an identity normalizer and no dummy prefix. Merges are
// derived from the scores: every split of a Normal piece into two Normal pieces, ranked by that piece's score
// (highest first), then by left id, then right id — the list HF's converter writes into tokenizer.json.
Status ImportSentencePieceModel(const std::string& path, TokenizerData* out);
// The same for a serialized ModelProto in memory (a .litertlm SP_Tokenizer section); `name` starts messages.
Status ImportSentencePieceModelBytes(const std::string& name, std::string_view bytes, TokenizerData* out);

// Turns Google's 262,144-piece Gemma 3 vocabulary (from either importer) into Gemma 4's: renames the
// control slots (<|turn>=105, <turn|>=106, <|think|>=98, tool/channel/media markers), makes exactly those
// Control and every other reserved piece plain text, drops ids beyond 262,144 (<image_soft_token>), and sets
// stop ids {1, 106}, add_bos false (the template writes <bos>) and chat_template "gemma4". Idempotent;
// kInvalidArgument if `data` is not that vocabulary.
Status ApplyGemma4Overlay(TokenizerData* data);

// Special ids from a checkpoint's config.json / generation_config.json; -1 or empty = not given.
struct ConfigTokenIds {
  int bos_id = -1;
  int pad_id = -1;
  std::vector<int> eos_ids;  // the first is eos_id; all of them stop generation
};

// For a vocabulary that already spells the Gemma 4 turn markers (a small model such as brown-tiny): finds
// <|turn> and <turn|> by piece text and makes them Control turn tokens, overrides bos/pad/eos with the
// config ids given, sets stop ids = eos ids + <turn|> and chat_template "gemma4". kNotFound without the
// turn pieces.
Status ApplyGemma4TurnTokens(const ConfigTokenIds& config, TokenizerData* data);

}  // namespace edgelm
