// The .edgelm container: a fixed 64-byte little-endian header, the flatbuffer metadata, then the
// tensor data region (page-aligned so it can be mmapped; every tensor 64-byte aligned inside it).
// See docs/format.md.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/hash.h"

namespace edgelm {

constexpr uint8_t kFileMagic[8] = {'E', 'D', 'G', 'E', 'L', 'M', 0x1a, 0x0a};
constexpr uint32_t kFormatVersion = 1;
constexpr uint32_t kHeaderSize = 64;
// 16 KiB covers 4 KiB (x86, most Android) and 16 KiB (Apple, newer Android) pages.
constexpr uint64_t kDataAlignment = 16384;

struct FileHeader {
  uint8_t magic[8];
  uint32_t format_version;
  uint32_t header_size;
  uint64_t metadata_offset;    // bytes from file start
  uint64_t metadata_size;
  uint64_t data_offset;        // multiple of kDataAlignment
  uint64_t data_size;
  uint64_t metadata_checksum;  // FNV-1a 64 of the metadata bytes
  uint64_t file_size;
};
static_assert(sizeof(FileHeader) == kHeaderSize, "header layout");

// The header is stored little-endian; edgelm targets little-endian CPUs only (x86-64, arm64).
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "edgelm needs a little-endian target");

}  // namespace edgelm
