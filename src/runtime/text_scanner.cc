#include "runtime/text_scanner.h"

#include <algorithm>

namespace edgelm {

std::string TextScanner::Push(std::string_view text, int* found) {
  *found = -1;
  if (needles_.empty()) {
    std::string shown = held_.append(text);
    held_.clear();
    return shown;
  }
  held_.append(text);
  size_t first = std::string::npos;
  for (size_t i = 0; i < needles_.size(); ++i) {
    const size_t at = held_.find(needles_[i]);
    if (at < first) {
      first = at;
      *found = static_cast<int>(i);
    }
  }
  if (*found >= 0) {
    std::string shown = held_.substr(0, first);
    held_.erase(0, first + needles_[static_cast<size_t>(*found)].size());
    return shown;
  }
  // Hold back the longest tail that a needle starts with.
  size_t keep = 0;
  for (const std::string& needle : needles_)
    for (size_t n = std::min(needle.size() - 1, held_.size()); n > keep; --n)
      if (held_.compare(held_.size() - n, n, needle, 0, n) == 0) {
        keep = n;
        break;
      }
  std::string shown = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return shown;
}

std::string TextScanner::Flush() {
  std::string rest;
  rest.swap(held_);
  return rest;
}

}  // namespace edgelm
