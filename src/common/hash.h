// FNV-1a 64: the checksum of model metadata and session states. Not cryptographic: it detects
// truncation and corruption, not tampering.
#pragma once

#include <cstddef>
#include <cstdint>

namespace edgelm {

constexpr uint64_t kFnv1a64Start = 0xcbf29ce484222325ull;
// FNV-1a 64 of `data`; pass the previous result as `hash` to continue a running checksum.
uint64_t Fnv1a64(const uint8_t* data, size_t size, uint64_t hash = kFnv1a64Start);

}  // namespace edgelm
