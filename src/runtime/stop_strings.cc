#include "runtime/stop_strings.h"

#include <algorithm>

namespace edgelm {

std::string StopStrings::Push(std::string_view text, bool* matched) {
  *matched = false;
  if (stops_.empty()) return std::string(text);
  held_.append(text);
  size_t first = std::string::npos;
  for (const std::string& stop : stops_) first = std::min(first, held_.find(stop));
  if (first != std::string::npos) {
    *matched = true;
    std::string shown = held_.substr(0, first);
    held_.clear();
    return shown;
  }
  // Hold back the longest tail that a stop string starts with. A stop string is valid UTF-8, so that
  // tail starts at a character boundary of the text.
  size_t keep = 0;
  for (const std::string& stop : stops_)
    for (size_t n = std::min(stop.size() - 1, held_.size()); n > keep; --n)
      if (held_.compare(held_.size() - n, n, stop, 0, n) == 0) {
        keep = n;
        break;
      }
  std::string shown = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return shown;
}

std::string StopStrings::Flush() {
  std::string rest;
  rest.swap(held_);
  return rest;
}

}  // namespace edgelm
