// A loaded .edgelm file: mmapped read-only, fully validated before anything uses it.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "format/container.h"
#include "format/model_config.h"
#include "format/tensor.h"
#include "format/tokenizer_data.h"

namespace edgelm {

class ModelFile {
 public:
  ~ModelFile();
  ModelFile(const ModelFile&) = delete;
  ModelFile& operator=(const ModelFile&) = delete;

  // Maps and validates `path`: header, metadata checksum, flatbuffer verifier, architecture, tokenizer
  // and every tensor's range, size and scales. Errors name the file and the problem.
  static Status Open(const std::string& path, std::unique_ptr<ModelFile>* out);

  const std::string& path() const { return path_; }
  const FileHeader& header() const { return header_; }
  const schema::Model& metadata() const { return *metadata_; }
  const ModelConfig& config() const { return config_; }
  // Null when the file has no tokenizer.
  const TokenizerData* tokenizer() const { return has_tokenizer_ ? &tokenizer_ : nullptr; }
  const std::vector<TensorView>& tensors() const { return tensors_; }
  const TensorView* FindTensor(const std::string& name) const;
  // The quantization recipe the converter recorded ("" if none).
  std::string recipe() const;
  uint64_t file_size() const { return size_; }
  // Faults every page of the mapping in now (slower load, no page faults during the first tokens),
  // except the whole pages inside the `skip` tensors (e.g. weights another engine copied). Separate
  // from Open so that a caller can check the memory the model needs first.
  void Populate(const std::vector<const TensorView*>& skip = {}) const;
  // Dequantizes row `row` of `tensor` (one of this file's) into out[cols], reading its bytes with
  // pread into `scratch` rather than through the mapping: rows gathered per token (the PLE table, the
  // token embedding) then never become resident in this process, which would otherwise map a whole
  // large folio of neighbouring rows per token; the page cache keeps what the system can spare.
  void GatherRow(const TensorView& tensor, int64_t row, std::vector<uint8_t>* scratch, float* out) const;
  // The `n` bytes of this file's mapping at `begin`, read with pread into `scratch` (resized) so that
  // they do not become resident through the mapping; `begin` itself if the read fails (the mapping has
  // the same bytes).
  const uint8_t* ReadBytes(const uint8_t* begin, size_t n, std::vector<uint8_t>* scratch) const;
  // Whether the converter recorded a CRC-32 of every tensor (files from before edgelm-convert 1.1
  // carry none; they load as before).
  bool has_checksums() const;
  // Reads `tensor`'s bytes and scales (one of this file's) with pread, so nothing becomes resident in
  // this process, and compares them with the recorded checksums: kCorruptModel naming the tensor on a
  // mismatch, kUnsupported when the file has no checksums, kIoError if the file cannot be read, and
  // kCancelled when `stop` became true on the way. About 2.5 GB/s per thread (zlib's crc32).
  Status VerifyTensor(const TensorView& tensor, const std::atomic<bool>* stop = nullptr) const;
  // Every tensor with VerifyTensor on `threads` threads (at least 1): the first failure in file order.
  Status VerifyAllTensors(int threads) const;

  // Verification in the background, for loads that should not wait for it: Start runs VerifyTensor
  // over every tensor in file order (the order the forward pass reads them) on a thread of its own;
  // nothing when the file has no checksums. Call at most once. integrity() is OK while that runs,
  // when it found nothing and when none ran; otherwise the first failure. Thread-safe.
  enum class Verification { kNotRun, kRunning, kPassed, kFailed };
  void StartBackgroundVerification() const;
  Status integrity() const;
  Verification verification() const { return static_cast<Verification>(verification_.load()); }

  // Drops the whole pages inside `tensor` from this process's memory (madvise MADV_DONTNEED: they are
  // read again from the file when touched). Returns the bytes of those pages that were resident.
  uint64_t DropFromMemory(const TensorView& tensor) const;

 private:
  ModelFile() = default;
  Status Map();
  Status ParseHeader();
  Status ParseMetadata();
  Status ParseTensor(const schema::Tensor& t, TensorView* view) const;

  std::string path_;
  int fd_ = -1;
  const uint8_t* base_ = nullptr;
  uint64_t size_ = 0;
  FileHeader header_{};
  const schema::Model* metadata_ = nullptr;
  ModelConfig config_;
  TokenizerData tokenizer_;
  bool has_tokenizer_ = false;
  std::vector<TensorView> tensors_;
  std::unordered_map<std::string, size_t> by_name_;

  // The background verification: its thread (joined by the destructor, which sets stop_ first), its
  // state (a Verification) and its first failure.
  mutable std::thread verifier_;
  mutable std::atomic<bool> stop_verifier_{false};
  mutable std::atomic<int> verification_{static_cast<int>(Verification::kNotRun)};
  mutable std::mutex integrity_mutex_;
  mutable Status integrity_;
};

}  // namespace edgelm
