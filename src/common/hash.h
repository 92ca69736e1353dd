// FNV-1a 64: the checksum of model metadata and session states; CRC-32 (zlib's): the checksum of
// weights and packed weights. Not cryptographic: they detect truncation and corruption, not tampering.
#pragma once

#include <cstddef>
#include <cstdint>

namespace edgelm {

constexpr uint64_t kFnv1a64Start = 0xcbf29ce484222325ull;
// FNV-1a 64 of `data`; pass the previous result as `hash` to continue a running checksum.
uint64_t Fnv1a64(const uint8_t* data, size_t size, uint64_t hash = kFnv1a64Start);

// CRC-32 (zlib's polynomial) of `size` bytes; pass the previous result as `crc` to continue.
uint32_t Crc32(const void* data, uint64_t size, uint32_t crc = 0);

}  // namespace edgelm
