#include "process_memory.h"

#include <sys/resource.h>

#include <cstdio>
#include <cstring>

namespace edgelm_bench {

bool ReadProcessMemory(ProcessMemory* out) {
  FILE* f = std::fopen("/proc/self/smaps_rollup", "r");
  if (!f) return false;
  const struct {
    const char* key;
    uint64_t* bytes;
  } fields[] = {{"Rss:", &out->rss_bytes},
                {"Pss:", &out->pss_bytes},
                {"Pss_Anon:", &out->pss_anon_bytes},
                {"Pss_File:", &out->pss_file_bytes}};
  *out = ProcessMemory{};
  char line[256];
  while (std::fgets(line, sizeof line, f)) {
    char key[64];
    unsigned long long kib = 0;  // smaps reports kB (KiB)
    if (std::sscanf(line, "%63s %llu", key, &kib) != 2) continue;
    for (const auto& field : fields)
      if (std::strcmp(key, field.key) == 0) *field.bytes = kib * 1024;
  }
  std::fclose(f);
  return out->rss_bytes > 0;
}

uint64_t PeakRssBytes() {
  struct rusage usage;
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  return static_cast<uint64_t>(usage.ru_maxrss) * 1024;  // ru_maxrss is in KiB on Linux
}

PageFaults ReadPageFaults() {
  struct rusage usage;
  if (getrusage(RUSAGE_SELF, &usage) != 0) return {};
  return {static_cast<uint64_t>(usage.ru_majflt), static_cast<uint64_t>(usage.ru_minflt)};
}

}  // namespace edgelm_bench
