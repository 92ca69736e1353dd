#include "page_cache.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <vector>

namespace edgelm_bench {
namespace {

// Closes the descriptor on every return path.
class FileDescriptor {
 public:
  explicit FileDescriptor(const std::string& path) : fd_(open(path.c_str(), O_RDONLY | O_CLOEXEC)) {}
  ~FileDescriptor() {
    if (fd_ >= 0) close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

bool EvictFromPageCache(const std::string& path) {
  FileDescriptor file(path);
  if (file.get() < 0) return false;
  // Dirty pages (a freshly converted model) are skipped by DONTNEED: write them back first.
  if (fdatasync(file.get()) != 0) return false;
  return posix_fadvise(file.get(), 0, 0, POSIX_FADV_DONTNEED) == 0;
}

double PageCacheResidentFraction(const std::string& path) {
  FileDescriptor file(path);
  struct stat st;
  if (file.get() < 0 || fstat(file.get(), &st) != 0 || st.st_size == 0) return -1.0;
  const size_t file_bytes = static_cast<size_t>(st.st_size);
  // A mapping that is never touched faults nothing in; mincore then reports the page cache.
  void* mapping = mmap(nullptr, file_bytes, PROT_READ, MAP_SHARED, file.get(), 0);
  if (mapping == MAP_FAILED) return -1.0;
  const size_t page_bytes = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> resident((file_bytes + page_bytes - 1) / page_bytes);
  const int rc = mincore(mapping, file_bytes, resident.data());
  munmap(mapping, file_bytes);
  if (rc != 0) return -1.0;
  size_t resident_pages = 0;
  for (unsigned char page : resident) resident_pages += page & 1;
  return static_cast<double>(resident_pages) / static_cast<double>(resident.size());
}

}  // namespace edgelm_bench
