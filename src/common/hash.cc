#include "common/hash.h"

#include <algorithm>

#include <zlib.h>

namespace edgelm {

uint64_t Fnv1a64(const uint8_t* data, size_t size, uint64_t hash) {
  for (size_t i = 0; i < size; ++i) {
    hash ^= data[i];
    hash *= 0x100000001b3ull;
  }
  return hash;
}

uint32_t Crc32(const void* data, uint64_t size, uint32_t crc) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  uLong c = crc;
  while (size > 0) {  // zlib's crc32 takes 32-bit lengths
    const uInt n = static_cast<uInt>(std::min<uint64_t>(size, 1u << 30));
    c = crc32(c, p, n);
    p += n;
    size -= n;
  }
  return static_cast<uint32_t>(c);
}

}  // namespace edgelm
