#include "format/model_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <new>

#include <zlib.h>

namespace edgelm {

namespace {

Status NoChecksums(const std::string& path) {
  return Unsupported(path + " carries no weight checksums (converted before edgelm-convert 1.1)");
}

// a + b <= limit without overflow.
bool FitsWithin(uint64_t a, uint64_t b, uint64_t limit) { return a <= limit && b <= limit - a; }

}  // namespace

ModelFile::~ModelFile() {
  stop_verifier_.store(true);
  if (verifier_.joinable()) verifier_.join();
  if (base_) munmap(const_cast<uint8_t*>(base_), size_);
  if (fd_ >= 0) close(fd_);
}

Status ModelFile::Open(const std::string& path, std::unique_ptr<ModelFile>* out) {
  std::unique_ptr<ModelFile> f(new ModelFile());
  f->path_ = path;
  Status s = f->Map();
  if (s.ok()) s = f->ParseHeader();
  if (s.ok()) s = f->ParseMetadata();
  if (!s.ok()) return Status(s.code(), path + ": " + s.message());
  *out = std::move(f);
  return Status::Ok();
}

Status ModelFile::Map() {
  fd_ = open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) {
    return errno == ENOENT ? NotFound("no such file") : IoError(std::string("cannot open: ") + std::strerror(errno));
  }
  struct stat st;
  if (fstat(fd_, &st) != 0) return IoError(std::string("cannot stat: ") + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return InvalidArgument("not a regular file");
  if (st.st_size < static_cast<off_t>(kHeaderSize)) return CorruptModel("file too small to be an edgelm model (" + std::to_string(st.st_size) + " bytes)");
  size_ = static_cast<uint64_t>(st.st_size);
  void* p = mmap(nullptr, size_, PROT_READ, MAP_SHARED, fd_, 0);
  if (p == MAP_FAILED) {
    return Status(StatusCode::kOutOfMemory, std::string("mmap failed: ") + std::strerror(errno));
  }
  base_ = static_cast<const uint8_t*>(p);
  return Status::Ok();
}

void ModelFile::Populate(const std::vector<const TensorView*>& skip) const {
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  std::vector<std::pair<uint64_t, uint64_t>> skipped;  // [first, end) offsets of whole pages
  for (const TensorView* t : skip) {
    const uint64_t begin = static_cast<uint64_t>(t->data - base_), end = begin + t->size;
    if ((end / page) * page > (begin + page - 1) / page * page) skipped.emplace_back((begin + page - 1) / page * page, end / page * page);
  }
  std::sort(skipped.begin(), skipped.end());
  if (skipped.empty()) madvise(const_cast<uint8_t*>(base_), size_, MADV_WILLNEED);  // read ahead while we touch
  uint8_t touched = 0;
  size_t next = 0;
  for (uint64_t offset = 0; offset < size_; offset += page) {
    while (next < skipped.size() && skipped[next].second <= offset) ++next;
    if (next < skipped.size() && offset >= skipped[next].first) {
      offset = skipped[next].second - page;
      continue;
    }
    touched ^= base_[offset];
  }
  volatile uint8_t keep = touched;  // the reads must happen
  (void)keep;
}

void ModelFile::GatherRow(const TensorView& tensor, int64_t row, std::vector<uint8_t>* scratch, float* out) const {
  uint64_t row_bytes = 0;
  (void)RowBytes(tensor.dtype, tensor.cols(), &row_bytes);  // validated at Open
  TensorView one_row;
  one_row.dtype = tensor.dtype;
  one_row.shape = {1, tensor.cols()};
  one_row.data = ReadBytes(tensor.data + row * static_cast<int64_t>(row_bytes), row_bytes, scratch);
  one_row.size = row_bytes;
  one_row.scales = tensor.scales ? tensor.scales + row * tensor.scales_per_row() : nullptr;
  one_row.scale_group_size = tensor.scale_group_size;
  DequantizeRow(one_row, 0, out);
}

const uint8_t* ModelFile::ReadBytes(const uint8_t* begin, size_t n, std::vector<uint8_t>* scratch) const {
  scratch->resize(n);
  const off_t offset = static_cast<off_t>(begin - base_);
  size_t done = 0;
  while (done < n) {
    const ssize_t got = pread(fd_, scratch->data() + done, n - done, offset + static_cast<off_t>(done));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return begin;
    done += static_cast<size_t>(got);
  }
  return scratch->data();
}

bool ModelFile::has_checksums() const { return metadata_->tensor_checksums() == schema::ChecksumKind::Crc32; }

Status ModelFile::VerifyTensor(const TensorView& tensor, const std::atomic<bool>* stop) const {
  if (!has_checksums()) return NoChecksums(path_);
  constexpr size_t kChunk = 1 << 20;
  const std::unique_ptr<uint8_t[]> buffer(new (std::nothrow) uint8_t[kChunk]);
  if (!buffer) return Status(StatusCode::kOutOfMemory, "no memory to verify the weights");
  // CRC-32 of `size` bytes at `begin` inside the mapping, read from the file.
  auto checksum = [&](const uint8_t* begin, uint64_t size, uint32_t* crc) -> Status {
    uLong c = crc32(0L, Z_NULL, 0);
    const off_t start = static_cast<off_t>(begin - base_);
    for (uint64_t done = 0; done < size;) {
      if (stop && stop->load(std::memory_order_relaxed)) return Status(StatusCode::kCancelled, "verification stopped");
      const size_t want = static_cast<size_t>(std::min<uint64_t>(kChunk, size - done));
      const ssize_t n = pread(fd_, buffer.get(), want, start + static_cast<off_t>(done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return IoError(path_ + ": cannot read tensor '" + tensor.name + "': " + (n < 0 ? std::strerror(errno) : "end of file"));
      c = crc32(c, buffer.get(), static_cast<uInt>(n));
      done += static_cast<uint64_t>(n);
    }
    *crc = static_cast<uint32_t>(c);
    return Status::Ok();
  };
  uint32_t crc = 0;
  EDGELM_RETURN_IF_ERROR(checksum(tensor.data, tensor.size, &crc));
  if (crc != tensor.data_checksum)
    return CorruptModel(path_ + ": tensor '" + tensor.name + "' is damaged: its bytes do not match their checksum");
  if (tensor.scales) {
    uint64_t scales_bytes = static_cast<uint64_t>(tensor.rows()) * static_cast<uint64_t>(tensor.scales_per_row()) * sizeof(float);
    EDGELM_RETURN_IF_ERROR(checksum(reinterpret_cast<const uint8_t*>(tensor.scales), scales_bytes, &crc));
    if (crc != tensor.scales_checksum)
      return CorruptModel(path_ + ": tensor '" + tensor.name + "' is damaged: its scales do not match their checksum");
  }
  return Status::Ok();
}

Status ModelFile::VerifyAllTensors(int threads) const {
  if (!has_checksums()) return NoChecksums(path_);
  std::vector<Status> results(tensors_.size());
  std::atomic<size_t> next{0};
  // Statuses carry strings: a thread that cannot allocate one records out-of-memory instead of throwing.
  auto work = [&]() noexcept {
    for (size_t i; (i = next.fetch_add(1)) < tensors_.size();) {
      try {
        results[i] = VerifyTensor(tensors_[i]);
      } catch (const std::bad_alloc&) {
        results[i] = Status(StatusCode::kOutOfMemory, "");
      }
    }
  };
  std::vector<std::thread> helpers;
  try {
    helpers.reserve(static_cast<size_t>(std::max(threads, 1)));
    for (int t = 1; t < threads && static_cast<size_t>(t) < tensors_.size(); ++t) helpers.emplace_back(work);
  } catch (const std::exception&) {  // fewer threads than asked: this one works on regardless
  }
  work();
  for (std::thread& h : helpers) h.join();
  for (const Status& r : results) EDGELM_RETURN_IF_ERROR(r);
  return Status::Ok();
}

void ModelFile::StartBackgroundVerification() const {
  if (!has_checksums() || verifier_.joinable()) return;
  verification_.store(static_cast<int>(Verification::kRunning));
  verifier_ = std::thread([this]() noexcept {
    for (const TensorView& t : tensors_) {
      Status s;
      try {
        s = VerifyTensor(t, &stop_verifier_);
      } catch (const std::bad_alloc&) {  // no verdict: the state says "not verified"
        verification_.store(static_cast<int>(Verification::kNotRun));
        return;
      }
      if (s.code() == StatusCode::kCancelled) return;  // the file is being closed
      if (!s.ok()) {
        {
          std::lock_guard<std::mutex> lock(integrity_mutex_);
          integrity_ = std::move(s);
        }
        verification_.store(static_cast<int>(Verification::kFailed));
        return;
      }
    }
    verification_.store(static_cast<int>(Verification::kPassed));
  });
}

Status ModelFile::integrity() const {
  if (verification() != Verification::kFailed) return Status::Ok();
  std::lock_guard<std::mutex> lock(integrity_mutex_);
  return integrity_;
}

uint64_t ModelFile::DropFromMemory(const TensorView& tensor) const {
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(tensor.data) + page - 1) / page * page;
  const uintptr_t end = (reinterpret_cast<uintptr_t>(tensor.data) + tensor.size) / page * page;
  if (end <= begin) return 0;
  void* start = reinterpret_cast<void*>(begin);
  const size_t length = end - begin;
  std::vector<unsigned char> resident(length / page);
  uint64_t dropped = 0;
  if (mincore(start, length, resident.data()) == 0)
    for (unsigned char r : resident) dropped += (r & 1) ? page : 0;
  if (madvise(start, length, MADV_DONTNEED) != 0) return 0;
  return dropped;
}

Status ModelFile::ParseHeader() {
  std::memcpy(&header_, base_, sizeof header_);
  const FileHeader& h = header_;
  if (std::memcmp(h.magic, kFileMagic, sizeof kFileMagic) != 0) return CorruptModel("not an edgelm model file (bad magic)");
  if (h.format_version != kFormatVersion)
    return Unsupported("format version " + std::to_string(h.format_version) + " (this build reads version " +
                       std::to_string(kFormatVersion) + "; re-convert the model)");
  if (h.header_size != kHeaderSize) return CorruptModel("bad header size");
  if (h.file_size != size_)
    return CorruptModel("file is " + std::to_string(size_) + " bytes but its header says " + std::to_string(h.file_size) +
                        " (truncated or appended to)");
  if (h.metadata_offset < kHeaderSize || !FitsWithin(h.metadata_offset, h.metadata_size, h.data_offset))
    return CorruptModel("metadata range outside the file");
  if (h.data_offset % kDataAlignment != 0) return CorruptModel("data region is not page aligned");
  if (!FitsWithin(h.data_offset, h.data_size, size_)) return CorruptModel("data region outside the file");
  if (Fnv1a64(base_ + h.metadata_offset, h.metadata_size) != h.metadata_checksum)
    return CorruptModel("metadata checksum mismatch");
  return Status::Ok();
}

Status ModelFile::ParseMetadata() {
  const uint8_t* meta = base_ + header_.metadata_offset;
  // Depth and table limits bound verification time on hostile input.
  flatbuffers::Verifier verifier(meta, header_.metadata_size, /*max_depth=*/16, /*max_tables=*/10'000'000);
  if (!schema::VerifyModelBuffer(verifier)) return CorruptModel("metadata failed flatbuffer verification");
  metadata_ = schema::GetModel(meta);
  EDGELM_RETURN_IF_ERROR(ConfigFromSchema(*metadata_->architecture(), &config_));
  if (metadata_->tokenizer()) {
    EDGELM_RETURN_IF_ERROR(TokenizerFromSchema(*metadata_->tokenizer(), &tokenizer_));
    if (static_cast<int>(tokenizer_.pieces.size()) > config_.vocab_size)
      return CorruptModel("tokenizer has more pieces than the model's vocabulary");
    has_tokenizer_ = true;
  }
  const auto& list = *metadata_->tensors();
  tensors_.resize(list.size());
  for (uint32_t i = 0; i < list.size(); ++i) {
    const schema::Tensor* t = list.Get(i);
    if (!t) return CorruptModel("null tensor entry");
    Status s = ParseTensor(*t, &tensors_[i]);
    if (!s.ok()) return Status(s.code(), "tensor '" + t->name()->str() + "': " + s.message());
    if (!by_name_.emplace(tensors_[i].name, i).second) return CorruptModel("duplicate tensor '" + tensors_[i].name + "'");
  }
  return Status::Ok();
}

Status ModelFile::ParseTensor(const schema::Tensor& t, TensorView* view) const {
  view->name = t.name()->str();
  if (t.dtype() > DType::MAX) return CorruptModel("unknown dtype");
  if (t.layout() != schema::Layout::RowMajor) return Unsupported("unknown layout");
  view->dtype = t.dtype();
  if (!t.shape() || t.shape()->size() == 0 || t.shape()->size() > 2) return CorruptModel("rank must be 1 or 2");
  for (uint64_t d : *t.shape()) {
    if (d == 0 || d > (uint64_t{1} << 40)) return CorruptModel("dimension out of range");
    view->shape.push_back(static_cast<int64_t>(d));
  }
  uint64_t expected = 0;
  EDGELM_RETURN_IF_ERROR(TensorBytes(view->dtype, view->shape, &expected));
  if (t.size() != expected)
    return CorruptModel("size " + std::to_string(t.size()) + " bytes does not match its shape and dtype (" +
                        std::to_string(expected) + ")");
  if (t.offset() % kTensorAlignment != 0) return CorruptModel("data is not 64-byte aligned");
  if (!FitsWithin(t.offset(), t.size(), header_.data_size)) return CorruptModel("data outside the data region");
  const uint8_t* region = base_ + header_.data_offset;
  view->data = region + t.offset();
  view->size = t.size();

  const bool int_codes = view->dtype == DType::I8 || view->dtype == DType::I4 || view->dtype == DType::I2;
  if (t.scale_kind() == ScaleKind::PerRow || t.scale_kind() == ScaleKind::PerGroup) {
    if (t.scale_kind() == ScaleKind::PerGroup) {
      if (t.scale_group_size() == 0 || view->cols() % t.scale_group_size() != 0)
        return CorruptModel("scale group size does not divide the row length");
      view->scale_group_size = t.scale_group_size();
    }
    if (t.scales_size() != static_cast<uint64_t>(view->rows()) * view->scales_per_row() * sizeof(float))
      return CorruptModel("scales size does not match the row count");
    if (t.scales_offset() % kTensorAlignment != 0) return CorruptModel("scales are not 64-byte aligned");
    if (!FitsWithin(t.scales_offset(), t.scales_size(), header_.data_size)) return CorruptModel("scales outside the data region");
    view->scales = reinterpret_cast<const float*>(region + t.scales_offset());
  } else if (t.scale_kind() != ScaleKind::None) {
    return CorruptModel("unknown scale kind");
  }
  if (int_codes != (view->scales != nullptr)) return CorruptModel("integer codes need per-row scales (and only they have them)");

  if (t.activation() > ActivationQuant::MAX) return CorruptModel("unknown activation quantization");
  view->data_checksum = t.data_checksum();
  view->scales_checksum = t.scales_checksum();
  view->activation = t.activation();
  view->input_scale = t.input_scale();
  view->output_scale = t.output_scale();
  if (view->static_input() && !(std::isfinite(view->input_scale) && view->input_scale > 0.0f))
    return CorruptModel("static activation scale must be positive");
  if (!(std::isfinite(view->output_scale) && view->output_scale >= 0.0f)) return CorruptModel("bad output scale");
  if (view->output_scale > 0.0f && !view->static_input())
    return CorruptModel("an output scale needs a static input scale");
  return Status::Ok();
}

std::string ModelFile::recipe() const {
  const auto* q = metadata_->quantization();
  return q && q->recipe() ? q->recipe()->str() : "";
}

const TensorView* ModelFile::FindTensor(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &tensors_[it->second];
}

}  // namespace edgelm
