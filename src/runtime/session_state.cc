// Session state serialization: one format for files and memory buffers.
//
//   header   magic "EDGESS\x1a\n", version, flags (bit 0: awaiting a reply, bit 1: model turn open),
//            token count
//   tokens   int32 each
//   KV cache the cache's own section (KvCache::Save: options, model checksum, rows)
//   checksum FNV-1a 64 of every byte before it
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/file_sync.h"
#include "common/hash.h"
#include "runtime/session.h"

namespace edgelm {
namespace {

constexpr char kStateMagic[8] = {'E', 'D', 'G', 'E', 'S', 'S', 0x1a, 0x0a};
constexpr uint32_t kStateVersion = 2;
constexpr uint32_t kAwaitingReply = 1, kModelTurnOpen = 2;

struct StateHeader {
  char magic[8];
  uint32_t version;
  uint32_t flags;
  uint64_t token_count;
};

// Hashes what passes through (when asked to).
class HashingSink : public ByteSink {
 public:
  HashingSink(ByteSink* out, bool hash) : out_(out), enabled_(hash) {}
  bool Write(const void* data, size_t size) override {
    if (enabled_) hash_ = Fnv1a64(static_cast<const uint8_t*>(data), size, hash_);
    return out_->Write(data, size);
  }
  uint64_t hash() const { return hash_; }

 private:
  ByteSink* out_;
  bool enabled_;
  uint64_t hash_ = kFnv1a64Start;
};

class HashingSource : public ByteSource {
 public:
  explicit HashingSource(ByteSource* in) : in_(in) {}
  bool Read(void* data, size_t size) override {
    if (!in_->Read(data, size)) return false;
    hash_ = Fnv1a64(static_cast<const uint8_t*>(data), size, hash_);
    return true;
  }
  uint64_t hash() const { return hash_; }

 private:
  ByteSource* in_;
  uint64_t hash_ = kFnv1a64Start;
};

class CountingSink : public ByteSink {
 public:
  bool Write(const void*, size_t size) override {
    bytes += size;
    return true;
  }
  size_t bytes = 0;
};

class BufferSink : public ByteSink {
 public:
  BufferSink(void* data, size_t capacity) : data_(static_cast<uint8_t*>(data)), capacity_(capacity) {}
  bool Write(const void* data, size_t size) override {
    if (size > capacity_ - used_) return false;
    if (size == 0) return true;  // data may be null (an empty vector's data())
    std::memcpy(data_ + used_, data, size);
    used_ += size;
    return true;
  }

 private:
  uint8_t* data_;
  size_t capacity_, used_ = 0;
};

class BufferSource : public ByteSource {
 public:
  BufferSource(const void* data, size_t size) : data_(static_cast<const uint8_t*>(data)), size_(size) {}
  bool Read(void* data, size_t size) override {
    if (size > size_ - used_) return false;
    if (size == 0) return true;  // data may be null (an empty vector's data())
    std::memcpy(data, data_ + used_, size);
    used_ += size;
    return true;
  }

 private:
  const uint8_t* data_;
  size_t size_, used_ = 0;
};

class FileSink : public ByteSink {
 public:
  explicit FileSink(std::FILE* f) : f_(f) {}
  bool Write(const void* data, size_t size) override {
    return size == 0 || std::fwrite(data, 1, size, f_) == size;  // data may be null (an empty vector's data())
  }

 private:
  std::FILE* f_;
};

class FileSource : public ByteSource {
 public:
  explicit FileSource(std::FILE* f) : f_(f) {}
  bool Read(void* data, size_t size) override {
    return size == 0 || std::fread(data, 1, size, f_) == size;  // data may be null (an empty vector's data())
  }

 private:
  std::FILE* f_;
};

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

}  // namespace

bool Session::WriteState(ByteSink* out) const {
  return WriteStateTo(out, /*with_checksum=*/true);
}

bool Session::WriteStateTo(ByteSink* out, bool with_checksum) const {
  HashingSink hashed(out, with_checksum);
  StateHeader h{};
  std::memcpy(h.magic, kStateMagic, sizeof h.magic);
  h.version = kStateVersion;
  h.flags = (awaiting_reply_ ? kAwaitingReply : 0u) | (model_turn_open_ ? kModelTurnOpen : 0u);
  h.token_count = tokens_.size();
  static_assert(sizeof(int) == sizeof(int32_t), "tokens are stored as int32");
  if (!hashed.Write(&h, sizeof h) || !hashed.Write(tokens_.data(), tokens_.size() * sizeof(int)) ||
      !kv_->Save(&hashed, model_checksum()))
    return false;
  const uint64_t checksum = hashed.hash();
  return out->Write(&checksum, sizeof checksum);
}

Status Session::ReadState(ByteSource* in) {
  HashingSource hashed(in);
  StateHeader h;
  if (!hashed.Read(&h, sizeof h) || std::memcmp(h.magic, kStateMagic, sizeof h.magic) != 0)
    return CorruptModel("not an edgelm session state (bad magic or truncated)");
  if (h.version != kStateVersion) return Unsupported("session state version " + std::to_string(h.version) +
                                                     " (this build reads version " + std::to_string(kStateVersion) + ")");
  if (h.flags & ~(kAwaitingReply | kModelTurnOpen)) return CorruptModel("session state has unknown flags");
  if (h.token_count > static_cast<uint64_t>(options_.context_length))
    return InvalidArgument(std::to_string(h.token_count) + " tokens exceed this session's context of " +
                           std::to_string(options_.context_length));
  std::vector<int> tokens(static_cast<size_t>(h.token_count));
  if (!hashed.Read(tokens.data(), tokens.size() * sizeof(int))) return CorruptModel("truncated session state");
  const int vocab = model_.config().vocab_size;
  for (int t : tokens)
    if (t < 0 || t >= vocab) return CorruptModel("session state holds a token id outside the vocabulary");
  std::unique_ptr<KvCache> kv = kv_->Fork();
  EDGELM_RETURN_IF_ERROR(kv->Load(&hashed, model_checksum()));
  uint64_t stored;
  if (!in->Read(&stored, sizeof stored)) return CorruptModel("truncated session state");
  if (stored != hashed.hash()) return CorruptModel("session state checksum mismatch");
  if (kv->length() > static_cast<int>(tokens.size())) return CorruptModel("KV cache longer than the history");
  kv_ = std::move(kv);
  tokens_ = std::move(tokens);
  last_logits_valid_ = false;
  awaiting_reply_ = (h.flags & kAwaitingReply) != 0;
  model_turn_open_ = (h.flags & kModelTurnOpen) != 0;
  return Status::Ok();
}

size_t Session::StateBytes() const {
  CountingSink count;
  (void)WriteStateTo(&count, /*with_checksum=*/false);
  return count.bytes;
}

Status Session::SaveState(void* buffer, size_t capacity, size_t* bytes) const {
  *bytes = StateBytes();
  if (*bytes > capacity) return Status(StatusCode::kBufferTooSmall, "the session state needs " + std::to_string(*bytes) +
                                                                        " bytes, the buffer holds " + std::to_string(capacity));
  BufferSink sink(buffer, capacity);
  return WriteState(&sink) ? Status::Ok() : Status(StatusCode::kInternal, "the session state changed size while written");
}

Status Session::RestoreState(const void* buffer, size_t bytes) {
  BufferSource source(buffer, bytes);
  return ReadState(&source);
}

Status Session::SaveFile(const std::string& path) const {
  const std::string tmp = path + ".partial";
  std::unique_ptr<std::FILE, FileCloser> f(std::fopen(tmp.c_str(), "wb"));
  if (!f) return IoError("cannot create " + tmp + ": " + std::strerror(errno));
  FileSink sink(f.get());
  bool ok = WriteState(&sink) && std::fflush(f.get()) == 0 && ::fsync(fileno(f.get())) == 0;
  ok = std::fclose(f.release()) == 0 && ok;
  if (ok && std::rename(tmp.c_str(), path.c_str()) == 0) {
    SyncDirectoryOf(path);
    return Status::Ok();
  }
  const std::string reason = std::strerror(errno);
  std::remove(tmp.c_str());
  return IoError("writing the session state to " + path + " failed: " + reason);
}

Status Session::RestoreFile(const std::string& path) {
  std::unique_ptr<std::FILE, FileCloser> f(std::fopen(path.c_str(), "rb"));
  if (!f) {
    const int error = errno;
    const std::string message = path + ": cannot open the session state: " + std::strerror(error);
    return error == ENOENT ? NotFound(message) : IoError(message);
  }
  FileSource source(f.get());
  const Status s = ReadState(&source);
  if (!s.ok()) return Status(s.code(), path + ": " + s.message());
  return Status::Ok();
}

}  // namespace edgelm
