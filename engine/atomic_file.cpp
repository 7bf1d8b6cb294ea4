#include "engine/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "engine/error.h"

namespace iqa {
namespace fs = std::filesystem;

namespace {

std::string errno_text() { return std::strerror(errno); }

fs::path folder_of(const std::string& path) {
  const fs::path p(path);
  return p.has_parent_path() ? p.parent_path() : fs::path(".");
}

}  // namespace

AtomicFile::AtomicFile(std::string path, std::string where, Survives survives)
    : path_(std::move(path)), where_(std::move(where)), survives_(survives) {
  // Not mkstemp: it creates the file 0600, and restoring an ordinary file's mode needs the umask,
  // which can only be read by setting it, process-wide, under other threads creating files. With
  // mode 0666 the kernel applies the umask itself. The name is unique per process and call; O_EXCL
  // steps over a stale file that an earlier process with the same pid left.
  static std::atomic<uint64_t> counter{0};
  const std::string stem = (folder_of(path_) / ("." + fs::path(path_).filename().string() + ".tmp.")).string();
  for (int attempt = 0; fd_ < 0; ++attempt) {
    tmp_ = cat(stem, ::getpid(), ".", counter.fetch_add(1));
    fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    IQA_CHECK(fd_ >= 0 || (errno == EEXIST && attempt < 100), where_, ": cannot create a temporary file in ",
              folder_of(path_).string(), ": ", errno_text());
  }
}

AtomicFile::~AtomicFile() {
  if (committed_) return;
  if (fd_ >= 0) ::close(fd_);
  ::unlink(tmp_.c_str());
}

void AtomicFile::write(const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd_, p, n);
    if (w < 0 && errno == EINTR) continue;
    IQA_CHECK(w > 0, where_, ": write failed: ", w < 0 ? errno_text() : std::string("no progress"));
    p += w;
    n -= size_t(w);
  }
}

void AtomicFile::commit(const std::function<void()>& after_rename) {
  const bool sync = survives_ == Survives::power_cut;
  IQA_CHECK(!sync || fsync(fd_) == 0, where_, ": fsync failed: ", errno_text());
  const int fd = fd_;
  fd_ = -1;
  IQA_CHECK(::close(fd) == 0, where_, ": close failed: ", errno_text());
  IQA_CHECK(std::rename(tmp_.c_str(), path_.c_str()) == 0, where_, ": rename from ", tmp_, " failed: ", errno_text());
  committed_ = true;
  if (after_rename) after_rename();
  if (!sync) return;
  // Make the rename itself durable.
  const int dfd = ::open(folder_of(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    ::close(dfd);
  }
}

void write_file_atomically(const std::string& path, std::string_view bytes, const std::string& where,
                           Survives survives) {
  try {
    AtomicFile f(path, where, survives);
    f.write(bytes.data(), bytes.size());
    f.commit();
  } catch (const Error& e) {
    fail(cat(where, ": ", path, " not written (", free_space_text(path), "; any earlier file is kept): ", e.what()));
  }
}

std::string free_space_text(const std::string& path) {
  const fs::path dir = folder_of(path);
  std::error_code ec;
  const fs::space_info space = fs::space(dir, ec);
  if (ec) return cat("free space in ", dir.string(), " unknown: ", ec.message());
  return cat(space.available / (1024 * 1024), " MiB free in ", dir.string());
}

void remove_stale_temporaries(const std::string& path) {
  const std::string prefix = "." + fs::path(path).filename().string() + ".tmp.";
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(folder_of(path), ec))
    if (e.path().filename().string().rfind(prefix, 0) == 0) fs::remove(e.path(), ec);
}

}  // namespace iqa
