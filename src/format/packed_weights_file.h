// The packed-weights cache file: weights an engine repacked from a model at load (XNNPACK's
// layouts), written once so that later loads map them instead of packing again (docs/format.md,
// "Packed-weights cache"). It is derived data: whatever is wrong with it (absent, from another
// model, another engine build or CPU, truncated, damaged) means "pack again", never a failed load.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace edgelm {

// What a cache must have been written for. Every field must match for any entry to be used.
struct PackedWeightsIdentity {
  uint8_t engine_build[32] = {};   // the engine's build identifier (XNNPACK's hash of its kernels)
  uint64_t model_checksum = 0;     // the model file's metadata checksum (covers the weights' CRCs)
  uint64_t model_bytes = 0;        // the model file's size
};

// One packed matrix. `layout` identifies how the engine packs this operator on this CPU (a hash of
// a probe matrix packed the same way): entries whose layout the running CPU does not reproduce are
// ignored.
struct PackedEntry {
  uint32_t tensor = 0;             // the source tensor's index in its model file
  uint32_t op = 0;                 // the engine's operator
  uint32_t seed = 0;               // the engine's cache key: its hash of shape and tile sizes,
  uint32_t fingerprint = 0;        //   and its packing-algorithm id
  uint64_t layout = 0;
  const uint8_t* data = nullptr;   // `size` bytes, 64-byte aligned in a mapped file
  uint64_t size = 0;
};

// A cache file mapped read-only (MAP_SHARED: its pages are clean and evictable, and count as
// file-backed memory). Entries point into the mapping; valid while this object lives.
class PackedWeightsFile {
 public:
  ~PackedWeightsFile();
  PackedWeightsFile(const PackedWeightsFile&) = delete;
  PackedWeightsFile& operator=(const PackedWeightsFile&) = delete;

  // Maps `path` and validates its header, identity and entry table (bounds, alignment, checksum);
  // with `verify_data`, every entry's bytes against their CRC-32 too (one read of the file).
  // kNotFound when there is no file; kCorruptModel / kUnsupported with the reason otherwise.
  static Status Open(const std::string& path, const PackedWeightsIdentity& identity, bool verify_data,
                     std::unique_ptr<PackedWeightsFile>* out);

  const std::vector<PackedEntry>& entries() const { return entries_; }
  // Faults every page of the mapping in (edgelm_model_options.populate): a slower load, no page
  // faults at the first token.
  void Populate() const;
  uint64_t file_bytes() const { return size_; }

 private:
  PackedWeightsFile() = default;
  void* base_ = nullptr;
  uint64_t size_ = 0;
  std::vector<PackedEntry> entries_;
};

// Writes `entries` (their bytes from anywhere) to `path` atomically: a temporary file beside it,
// fsync, rename, fsync of the directory. On failure nothing is left behind and `path` is unchanged.
Status WritePackedWeightsFile(const std::string& path, const PackedWeightsIdentity& identity,
                              const std::vector<PackedEntry>& entries);

}  // namespace edgelm
