#include "format/packed_weights_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>

#include "common/file_sync.h"
#include "common/hash.h"

namespace edgelm {
namespace {

constexpr uint8_t kMagic[8] = {'E', 'D', 'G', 'E', 'L', 'M', 'P', 'W'};
constexpr uint32_t kVersion = 1;
constexpr uint64_t kEntryAlignment = 64;  // XNNPACK's x86 kernels load packed weights aligned

struct FileHeader {
  uint8_t magic[8];
  uint32_t version;
  uint32_t entry_count;
  uint8_t engine_build[32];
  uint64_t model_checksum;
  uint64_t model_bytes;
  uint64_t file_bytes;
  uint64_t table_checksum;   // FNV-1a 64 of the entry table
  uint64_t header_checksum;  // FNV-1a 64 of the header's bytes before this field
};
static_assert(sizeof(FileHeader) == 88, "header layout");

struct FileEntry {
  uint32_t tensor, op, seed, fingerprint;
  uint64_t layout;
  uint64_t offset, size;  // bytes from the start of the file
  uint32_t crc32;         // of the `size` bytes at `offset`
  uint32_t reserved;      // 0
};
static_assert(sizeof(FileEntry) == 48, "entry layout");

uint64_t AlignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

uint64_t HeaderChecksum(const FileHeader& h) {
  return Fnv1a64(reinterpret_cast<const uint8_t*>(&h), offsetof(FileHeader, header_checksum));
}

Status Damaged(const std::string& path, const std::string& why) {
  return CorruptModel("packed-weights cache " + path + ": " + why);
}

Status WriteAll(int fd, const void* data, uint64_t size, const std::string& path) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, static_cast<size_t>(std::min<uint64_t>(size, 1u << 30)));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return IoError("cannot write " + path + ": " + std::strerror(errno));
    p += n;
    size -= static_cast<uint64_t>(n);
  }
  return Status::Ok();
}

}  // namespace

PackedWeightsFile::~PackedWeightsFile() {
  if (base_) munmap(base_, static_cast<size_t>(size_));
}

void PackedWeightsFile::Populate() const {
  madvise(base_, static_cast<size_t>(size_), MADV_WILLNEED);  // read ahead while we touch
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  const uint8_t* bytes = static_cast<const uint8_t*>(base_);
  uint8_t touched = 0;
  for (uint64_t offset = 0; offset < size_; offset += page) touched ^= bytes[offset];
  volatile uint8_t keep = touched;  // the reads must happen
  (void)keep;
}

Status PackedWeightsFile::Open(const std::string& path, const PackedWeightsIdentity& identity, bool verify_data,
                               std::unique_ptr<PackedWeightsFile>* out) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return NotFound("no packed-weights cache at " + path);
    return IoError("cannot open " + path + ": " + std::strerror(errno));
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    const std::string reason = std::strerror(errno);
    close(fd);
    return IoError("cannot stat " + path + ": " + reason);
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (!S_ISREG(st.st_mode) || size < sizeof(FileHeader)) {
    close(fd);
    return Damaged(path, "not a regular file of at least a header's size");
  }
  void* base = mmap(nullptr, static_cast<size_t>(size), PROT_READ, MAP_SHARED, fd, 0);
  close(fd);  // the mapping keeps the file
  if (base == MAP_FAILED) return IoError("cannot map " + path + ": " + std::strerror(errno));
  std::unique_ptr<PackedWeightsFile> f(new PackedWeightsFile());
  f->base_ = base;
  f->size_ = size;
  const uint8_t* bytes = static_cast<const uint8_t*>(base);

  FileHeader h;
  std::memcpy(&h, bytes, sizeof h);
  if (std::memcmp(h.magic, kMagic, sizeof kMagic) != 0) return Damaged(path, "bad magic");
  if (HeaderChecksum(h) != h.header_checksum) return Damaged(path, "header checksum mismatch");
  if (h.version != kVersion)
    return Unsupported("packed-weights cache " + path + ": version " + std::to_string(h.version) + " (this build writes " +
                       std::to_string(kVersion) + ")");
  if (h.file_bytes != size)
    return Damaged(path, "file is " + std::to_string(size) + " bytes but its header says " + std::to_string(h.file_bytes));
  if (std::memcmp(h.engine_build, identity.engine_build, sizeof h.engine_build) != 0)
    return Unsupported("packed-weights cache " + path + " was written by another XNNPACK build");
  if (h.model_checksum != identity.model_checksum || h.model_bytes != identity.model_bytes)
    return Unsupported("packed-weights cache " + path + " was written for another model file");
  const uint64_t table_bytes = static_cast<uint64_t>(h.entry_count) * sizeof(FileEntry);
  if (table_bytes > size - sizeof h) return Damaged(path, "entry table past the end of the file");
  const uint8_t* table = bytes + sizeof h;
  if (Fnv1a64(table, static_cast<size_t>(table_bytes)) != h.table_checksum) return Damaged(path, "entry table checksum mismatch");

  const uint64_t data_start = sizeof h + table_bytes;
  f->entries_.reserve(h.entry_count);
  for (uint32_t i = 0; i < h.entry_count; ++i) {
    FileEntry e;
    std::memcpy(&e, table + static_cast<size_t>(i) * sizeof e, sizeof e);
    const std::string which = "entry " + std::to_string(i);
    if (e.reserved != 0 || e.size == 0) return Damaged(path, which + " is malformed");
    if (e.offset % kEntryAlignment != 0 || e.offset < data_start || e.offset > size || e.size > size - e.offset)
      return Damaged(path, which + " lies outside the data region or is misaligned");
    const uint8_t* data = bytes + e.offset;
    if (verify_data && Crc32(data, e.size) != e.crc32) return Damaged(path, which + " is damaged: its bytes do not match their checksum");
    PackedEntry entry;
    entry.tensor = e.tensor;
    entry.op = e.op;
    entry.seed = e.seed;
    entry.fingerprint = e.fingerprint;
    entry.layout = e.layout;
    entry.data = data;
    entry.size = e.size;
    f->entries_.push_back(entry);
  }
  *out = std::move(f);
  return Status::Ok();
}

Status WritePackedWeightsFile(const std::string& path, const PackedWeightsIdentity& identity,
                              const std::vector<PackedEntry>& entries) {
  if (entries.size() > UINT32_MAX / sizeof(FileEntry)) return InvalidArgument("too many packed entries");
  FileHeader h{};
  std::memcpy(h.magic, kMagic, sizeof kMagic);
  h.version = kVersion;
  h.entry_count = static_cast<uint32_t>(entries.size());
  std::memcpy(h.engine_build, identity.engine_build, sizeof h.engine_build);
  h.model_checksum = identity.model_checksum;
  h.model_bytes = identity.model_bytes;

  std::vector<FileEntry> table(entries.size());
  uint64_t offset = AlignUp(sizeof h + table.size() * sizeof(FileEntry), kEntryAlignment);
  for (size_t i = 0; i < entries.size(); ++i) {
    const PackedEntry& e = entries[i];
    table[i] = FileEntry{e.tensor, e.op, e.seed, e.fingerprint, e.layout, offset, e.size, Crc32(e.data, e.size), 0};
    offset = AlignUp(offset + e.size, kEntryAlignment);
  }
  h.file_bytes = entries.empty() ? sizeof h : offset;
  h.table_checksum = Fnv1a64(reinterpret_cast<const uint8_t*>(table.data()), table.size() * sizeof(FileEntry));
  h.header_checksum = HeaderChecksum(h);

  // A name of this process's own, so that two processes filling the same cache never share a file.
  const std::string tmp = path + ".partial." + std::to_string(getpid());
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return IoError("cannot create " + tmp + ": " + std::strerror(errno));
  Status s = WriteAll(fd, &h, sizeof h, tmp);
  if (s.ok()) s = WriteAll(fd, table.data(), table.size() * sizeof(FileEntry), tmp);
  uint64_t written = sizeof h + table.size() * sizeof(FileEntry);
  static const uint8_t kZeros[kEntryAlignment] = {};
  for (size_t i = 0; s.ok() && i < entries.size(); ++i) {
    s = WriteAll(fd, kZeros, table[i].offset - written, tmp);
    if (s.ok()) s = WriteAll(fd, entries[i].data, entries[i].size, tmp);
    written = table[i].offset + entries[i].size;
  }
  if (s.ok() && written < h.file_bytes) s = WriteAll(fd, kZeros, h.file_bytes - written, tmp);
  if (s.ok() && fsync(fd) != 0) s = IoError("fsync " + tmp + " failed: " + std::strerror(errno));
  if (close(fd) != 0 && s.ok()) s = IoError("close " + tmp + " failed: " + std::strerror(errno));
  if (s.ok() && rename(tmp.c_str(), path.c_str()) != 0) s = IoError("rename to " + path + " failed: " + std::strerror(errno));
  if (!s.ok()) {
    unlink(tmp.c_str());
    return s;
  }
  SyncDirectoryOf(path);
  return Status::Ok();
}

}  // namespace edgelm
