// Stop strings: generated text is held back while it could still turn into one of them, so that a
// stop string spanning several tokens is never shown, even in part.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace edgelm {

class StopStrings {
 public:
  explicit StopStrings(std::vector<std::string> stops) : stops_(std::move(stops)) {}

  // Adds the next piece of generated text (whole UTF-8 characters). Returns what can be shown now.
  // When a stop string appears, *matched becomes true and the text returned ends just before it;
  // the stop string and anything after it are dropped.
  std::string Push(std::string_view text, bool* matched);
  // The text still held back, given up (generation ended another way).
  std::string Flush();

 private:
  std::vector<std::string> stops_;
  std::string held_;
};

}  // namespace edgelm
