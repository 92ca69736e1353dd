// Helpers shared by the fuzz targets.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "format/container.h"

namespace edgelm::fuzz {

// A per-process scratch path named after `tag`, reused across iterations and removed (with anything
// under it) when the fuzzer exits.
inline std::string TempPath(const std::string& tag) {
  struct Cleanup {
    std::set<std::string> paths;
    ~Cleanup() {
      std::error_code ec;
      for (const std::string& p : paths) std::filesystem::remove_all(p, ec);
    }
  };
  static Cleanup cleanup;
  const std::string path = "/tmp/edgelm-fuzz-" + tag + "-" + std::to_string(getpid());
  cleanup.paths.insert(path);
  return path;
}

inline void WriteFile(const std::string& path, const uint8_t* data, size_t size) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f) {
    if (size > 0) std::fwrite(data, 1, size, f);
    std::fclose(f);
  }
}

// Writes `data` to the scratch file TempPath(tag).
inline std::string WriteTemp(const char* tag, const uint8_t* data, size_t size) {
  const std::string path = TempPath(tag);
  WriteFile(path, data, size);
  return path;
}

// Random mutations almost never keep a checksum right, and a bad checksum stops an input at the first
// check. The targets repair checksums (the checks themselves are tested in tests/test_format.cc and
// tests/test_kv_cache.cc) so that mutations reach the validation behind them.

// A .edgelm file with the header's metadata checksum and file size made to match the bytes.
inline std::vector<uint8_t> RepairModelFile(const uint8_t* data, size_t size) {
  std::vector<uint8_t> bytes(data, data + size);
  if (size < sizeof(FileHeader)) return bytes;
  FileHeader h;
  std::memcpy(&h, bytes.data(), sizeof h);
  h.file_size = size;
  if (h.metadata_offset <= size && h.metadata_size <= size - h.metadata_offset)
    h.metadata_checksum = Fnv1a64(bytes.data() + h.metadata_offset, h.metadata_size);
  std::memcpy(bytes.data(), &h, sizeof h);
  return bytes;
}

// A session state (runtime/session_state.cc) with its trailing checksum, over every byte before it,
// made to match.
inline std::vector<uint8_t> RepairSessionState(const uint8_t* data, size_t size) {
  std::vector<uint8_t> bytes(data, data + size);
  if (size < 8) return bytes;
  const uint64_t hash = Fnv1a64(bytes.data(), size - 8);
  std::memcpy(bytes.data() + size - 8, &hash, 8);
  return bytes;
}

}  // namespace edgelm::fuzz
