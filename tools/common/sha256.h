// SHA-256 (OpenSSL's libcrypto) for the tools: the provenance hash of a published file, and the tests'
// checks of decoded tensors against published checksums. Never linked into the runtime library.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "common/status.h"

namespace edgelm {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  void Update(const void* data, size_t size);
  std::string HexDigest();  // lowercase hex; ends the computation

 private:
  struct Context;
  std::unique_ptr<Context> context_;
};

// SHA-256 of a file, streamed (published files are gigabytes).
Status Sha256File(const std::string& path, std::string* hex);

}  // namespace edgelm
