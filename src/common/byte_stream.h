// Byte streams for serialized state (session states to files or memory buffers): the serializer
// writes once, and the destination decides where the bytes go.
#pragma once

#include <cstddef>
#include <cstdint>

namespace edgelm {

class ByteSink {
 public:
  virtual ~ByteSink() = default;
  // False when the bytes could not be written (the sink stays failed).
  virtual bool Write(const void* data, size_t size) = 0;
};

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  // False when fewer than `size` bytes are left (nothing is consumed then).
  virtual bool Read(void* data, size_t size) = 0;
};

}  // namespace edgelm
