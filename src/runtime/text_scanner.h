// Finds the first of a set of strings in streamed text, holding back any tail that could still turn
// into one of them: a stop string or a text-spelled marker that spans several tokens is never
// passed on, even in part.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace edgelm {

class TextScanner {
 public:
  // `needles`: non-empty, valid UTF-8 (so a held-back tail starts at a character boundary).
  explicit TextScanner(std::vector<std::string> needles) : needles_(std::move(needles)) {}

  // Adds `text` (whole UTF-8 characters) and returns what can be released now. When a needle appears,
  // *found is its index and the text returned ends just before it; the needle is consumed and what
  // follows it stays held (Push("") releases it, looking for the next needle). Else *found is -1.
  std::string Push(std::string_view text, int* found);
  // The text still held back, given up (the stream ended another way).
  std::string Flush();

 private:
  std::vector<std::string> needles_;
  std::string held_;
};

}  // namespace edgelm
