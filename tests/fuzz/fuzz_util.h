// Helpers shared by the fuzz targets.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

namespace edgelm::fuzz {

// Writes `data` to a per-process scratch file named after `tag` (reused across iterations).
inline std::string WriteTemp(const char* tag, const uint8_t* data, size_t size) {
  const std::string path = "/tmp/edgelm-fuzz-" + std::string(tag) + "-" + std::to_string(getpid());
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f) {
    if (size > 0) std::fwrite(data, 1, size, f);
    std::fclose(f);
  }
  return path;
}

}  // namespace edgelm::fuzz
