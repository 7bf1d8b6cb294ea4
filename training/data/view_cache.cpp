// The view cache's files: per-process shards, the shared index, mmap reads (see view_cache.h).
//
// Payload layout of an entry (all little-endian, sections 64-byte aligned):
//   EntryHeader | key bytes | global | global flipped? | mosaic? | mosaic flipped?
// The payload checksum covers all of it, so a reader also confirms the key it looked up.
#include "training/data/view_cache.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>

#include "engine/error.h"

namespace iqa {
namespace {

constexpr uint32_t kRecordMagic = 0x43565149;  // "IQVC"
constexpr uint32_t kEntryMagic = 0x45565149;   // "IQVE"
constexpr uint32_t kFormatVersion = 1;
constexpr uint64_t kKeySeedA = 1, kKeySeedB = 2, kPayloadSeed = 3;
constexpr size_t kAlign = 64;
constexpr size_t kMapWindow = size_t(1) << 30;  // the first mapping of a shard: 1 GiB of address space

enum : uint32_t { kGlobalFlipped = 1, kHasMosaic = 2, kMosaicFlipped = 4 };

struct IndexRecord {
  uint32_t magic = kRecordMagic, version = kFormatVersion;
  uint64_t key_hash = 0, key_check = 0;
  uint64_t shard_id = 0, offset = 0, length = 0;
  uint64_t payload_hash = 0;
  uint64_t record_hash = 0;  // of the bytes above
};
static_assert(sizeof(IndexRecord) == 64);

struct EntryHeader {
  uint32_t magic = kEntryMagic, key_bytes = 0;
  int32_t source_width = 0, source_height = 0;
  int32_t global_size = 0, mosaic_width = 0, mosaic_height = 0;
  uint32_t flags = 0;
};

size_t aligned(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

// The payload size a header describes (so a header that disagrees with its record is rejected).
size_t payload_length(const EntryHeader& h) {
  const size_t global = aligned(size_t(h.global_size) * size_t(h.global_size) * 3);
  const size_t mosaic = aligned(size_t(h.mosaic_width) * size_t(h.mosaic_height) * 3);
  return aligned(sizeof h + h.key_bytes) + global * ((h.flags & kGlobalFlipped) ? 2 : 1) +
         ((h.flags & kHasMosaic) ? mosaic * ((h.flags & kMosaicFlipped) ? 2 : 1) : 0);
}
uint64_t record_checksum(const IndexRecord& r) { return view_cache_hash(&r, offsetof(IndexRecord, record_hash), 7); }

std::string shard_name(uint64_t id) {
  char name[40];
  std::snprintf(name, sizeof name, "shard-%016llx.bin", static_cast<unsigned long long>(id));
  return name;
}

// writev until every piece is out (a regular file may still take a short write, e.g. at a size limit).
bool write_pieces(int fd, std::vector<iovec> pieces, std::string* why) {
  size_t first = 0;
  while (first < pieces.size()) {
    const int count = int(std::min<size_t>(pieces.size() - first, IOV_MAX));
    const ssize_t w = ::writev(fd, pieces.data() + first, count);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      *why = w < 0 ? std::strerror(errno) : "short write";
      return false;
    }
    for (size_t done = size_t(w); done > 0 && first < pieces.size();) {
      iovec& p = pieces[first];
      const size_t step = std::min(done, p.iov_len);
      p.iov_base = static_cast<uint8_t*>(p.iov_base) + step;
      p.iov_len -= step, done -= step;
      if (p.iov_len == 0) ++first;
    }
  }
  return true;
}

// Reads the section `bytes` at *at, advancing past its padding.
const uint8_t* take(const uint8_t* base, size_t* at, size_t bytes) {
  const uint8_t* p = base + *at;
  *at += aligned(bytes);
  return p;
}

}  // namespace

struct ViewCache::Record {
  IndexRecord r;
  bool verified = false;
};

struct ViewCache::Shard {
  int fd = -1;
  std::vector<std::pair<void*, size_t>> maps;  // every mapping stays valid until the cache closes
  size_t mapped = 0;                            // bytes covered by the newest mapping
  uint64_t known_size = 0;                      // the shard's size when last checked
  std::string path;
};

ViewCache::ViewCache(std::string dir) : dir_(std::move(dir)) {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  IQA_CHECK(!ec, "view cache: cannot create ", dir_, ": ", ec.message());
  const std::string index = dir_ + "/index.bin";
  index_fd_ = ::open(index.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  IQA_CHECK(index_fd_ >= 0, "view cache: cannot open ", index, ": ", std::strerror(errno));
  std::random_device rd;
  const uint64_t t = uint64_t(std::chrono::steady_clock::now().time_since_epoch().count());
  own_shard_id_ = (uint64_t(rd()) << 32 ^ rd() ^ t * 0x9E3779B97F4A7C15ull ^ uint64_t(getpid())) | 1;
  std::lock_guard<std::mutex> lock(mu_);
  refresh_index_locked();
}

ViewCache::~ViewCache() {
  for (auto& [id, s] : shards_) {
    for (auto& [addr, len] : s->maps) ::munmap(addr, len);
    if (s->fd >= 0) ::close(s->fd);
  }
  if (own_fd_ >= 0) ::close(own_fd_);
  if (index_fd_ >= 0) ::close(index_fd_);
}

// Parses index records appended since the last call. A record that fails its checksum (a torn write
// after a crash or a full disk) is skipped by resynchronising on the next byte that starts a valid one.
void ViewCache::refresh_index_locked() {
  struct stat st;
  if (::fstat(index_fd_, &st) != 0 || uint64_t(st.st_size) <= index_read_) return;
  std::vector<uint8_t> bytes(size_t(uint64_t(st.st_size) - index_read_));
  const ssize_t n = ::pread(index_fd_, bytes.data(), bytes.size(), off_t(index_read_));
  if (n <= 0) return;
  size_t at = 0;
  while (at + sizeof(IndexRecord) <= size_t(n)) {
    IndexRecord r;
    std::memcpy(&r, bytes.data() + at, sizeof r);
    if (r.magic != kRecordMagic || r.version != kFormatVersion || r.record_hash != record_checksum(r)) {
      ++at;
      continue;
    }
    at += sizeof r;
    auto rec = std::make_unique<Record>();
    rec->r = r;
    rec->verified = r.shard_id == own_shard_id_;  // this process wrote it
    records_[r.key_hash] = std::move(rec);
  }
  index_read_ += at;
}

const uint8_t* ViewCache::map_locked(const Record& rec) {
  std::unique_ptr<Shard>& slot = shards_[rec.r.shard_id];
  if (!slot) {
    slot = std::make_unique<Shard>();
    slot->path = dir_ + "/" + shard_name(rec.r.shard_id);
    slot->fd = ::open(slot->path.c_str(), O_RDONLY | O_CLOEXEC);
  }
  Shard& s = *slot;
  const uint64_t end = rec.r.offset + rec.r.length;
  if (s.fd < 0) return nullptr;
  if (end > s.known_size) {
    struct stat st;
    // A record past the end of its shard: the shard was truncated. Reading it would fault.
    if (::fstat(s.fd, &st) != 0 || uint64_t(st.st_size) < end) return nullptr;
    s.known_size = uint64_t(st.st_size);
  }
  if (end > s.mapped) {
    // A growing shard is mapped in windows well past its end (pages past the end are never touched:
    // every record read lies below known_size), so it is remapped a few times, not once per entry.
    const size_t window = std::max<size_t>(size_t(s.known_size) * 2, kMapWindow);
    void* addr = ::mmap(nullptr, window, PROT_READ, MAP_SHARED, s.fd, 0);
    if (addr == MAP_FAILED) return nullptr;
    s.maps.emplace_back(addr, window);
    s.mapped = window;
  }
  return static_cast<const uint8_t*>(s.maps.back().first) + rec.r.offset;
}

void ViewCache::drop_locked(uint64_t key_hash, const std::string& why) {
  records_.erase(key_hash);
  ++stats_.corrupt;
  if (!warned_corrupt_)
    std::fprintf(stderr, "view cache: %s; the entry is dropped and rebuilt (further bad entries are only counted)\n",
                 why.c_str());
  warned_corrupt_ = true;
}

std::optional<CachedViews> ViewCache::find(const std::string& key) {
  const uint64_t key_hash = view_cache_hash(key.data(), key.size(), kKeySeedA);
  std::unique_lock<std::mutex> lock(mu_);
  auto it = records_.find(key_hash);
  if (it == records_.end()) {
    refresh_index_locked();  // another process may have added it
    it = records_.find(key_hash);
  }
  if (it == records_.end() || it->second->r.key_check != view_cache_hash(key.data(), key.size(), kKeySeedB)) {
    ++stats_.misses;
    return std::nullopt;
  }
  const IndexRecord r = it->second->r;
  const uint8_t* p = map_locked(*it->second);
  const std::string where = cat(dir_, "/", shard_name(r.shard_id), " at ", r.offset);
  if (!p) {
    drop_locked(key_hash, cat("entry ", where, " is missing or past the end of its shard (truncated?)"));
    ++stats_.misses;
    return std::nullopt;
  }
  const bool verified = it->second->verified;
  lock.unlock();
  // The checksum is verified outside the lock (two threads may both verify one entry; that is harmless).
  bool good = verified || view_cache_hash(p, size_t(r.length), kPayloadSeed) == r.payload_hash;
  EntryHeader h;
  if (good) {
    std::memcpy(&h, p, sizeof h);
    good = h.magic == kEntryMagic && h.global_size >= 0 && h.mosaic_width >= 0 && h.mosaic_height >= 0 &&
           sizeof h + h.key_bytes <= r.length && payload_length(h) == r.length &&
           std::string_view(reinterpret_cast<const char*>(p + sizeof h), h.key_bytes) == key;
  }
  lock.lock();
  if (!good) {
    drop_locked(key_hash, cat("entry ", where, " fails its checksum"));
    ++stats_.misses;
    return std::nullopt;
  }
  auto again = records_.find(key_hash);
  if (again != records_.end() && again->second->r.offset == r.offset && again->second->r.shard_id == r.shard_id)
    again->second->verified = true;
  ++stats_.hits;
  lock.unlock();

  CachedViews v;
  v.source_width = h.source_width;
  v.source_height = h.source_height;
  size_t at = aligned(sizeof h + h.key_bytes);
  const size_t global_bytes = size_t(h.global_size) * size_t(h.global_size) * 3;
  if (h.global_size > 0) v.global = {take(p, &at, global_bytes), nullptr, h.global_size, h.global_size};
  if (h.flags & kGlobalFlipped) v.global.flipped = take(p, &at, global_bytes);
  if (h.flags & kHasMosaic) {
    const size_t mosaic_bytes = size_t(h.mosaic_width) * size_t(h.mosaic_height) * 3;
    v.mosaic = {take(p, &at, mosaic_bytes), nullptr, h.mosaic_width, h.mosaic_height};
    if (h.flags & kMosaicFlipped) v.mosaic.flipped = take(p, &at, mosaic_bytes);
  }
  return v;
}

void ViewCache::stop_filling_locked(const std::string& why) {
  if (!stats_.filling) return;
  stats_.filling = false;
  std::fprintf(stderr, "view cache: %s; no more entries are stored, training continues uncached\n", why.c_str());
}

void ViewCache::store(const std::string& key, const CachedViewImages& e) {
  EntryHeader h;
  h.key_bytes = uint32_t(key.size());
  h.source_width = e.source_width;
  h.source_height = e.source_height;
  h.global_size = e.global.width;
  h.flags = (e.global_flipped.empty() ? 0 : kGlobalFlipped) | (e.mosaic.empty() ? 0 : kHasMosaic) |
            (e.mosaic_flipped.empty() ? 0 : kMosaicFlipped);
  h.mosaic_width = e.mosaic.width;
  h.mosaic_height = e.mosaic.height;
  // The entry goes out as it lies: a small head block (header, key, padding), then each resize straight
  // from its image and its padding from a zero block. No copy into one payload buffer; the checksum
  // is computed over the same pieces in the same order.
  static const uint8_t kZeros[kAlign] = {};
  std::vector<uint8_t> head(aligned(sizeof h + key.size()), 0);
  std::memcpy(head.data(), &h, sizeof h);
  std::memcpy(head.data() + sizeof h, key.data(), key.size());
  std::vector<iovec> pieces{{head.data(), head.size()}};
  ViewCacheHasher hash(kPayloadSeed);
  hash.update(head.data(), head.size());
  for (const ImageU8* img : {&e.global, &e.global_flipped, &e.mosaic, &e.mosaic_flipped}) {
    if (img->empty()) continue;
    const size_t bytes = img->pixels.size(), pad = aligned(bytes) - bytes;
    pieces.push_back({const_cast<uint8_t*>(img->pixels.data()), bytes});
    hash.update(img->pixels.data(), bytes);
    if (pad) pieces.push_back({const_cast<uint8_t*>(kZeros), pad});
    hash.zeros(pad);
  }
  const size_t length = payload_length(h);
  IndexRecord r;
  r.key_hash = view_cache_hash(key.data(), key.size(), kKeySeedA);
  r.key_check = view_cache_hash(key.data(), key.size(), kKeySeedB);
  r.shard_id = own_shard_id_;
  r.length = length;
  r.payload_hash = hash.finish();

  std::lock_guard<std::mutex> lock(mu_);
  if (!stats_.filling) return;
  const std::string shard_path = dir_ + "/" + shard_name(own_shard_id_);
  if (own_fd_ < 0) {
    own_fd_ = ::open(shard_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
    if (own_fd_ < 0) return stop_filling_locked(cat("cannot create ", shard_path, ": ", std::strerror(errno)));
  }
  r.offset = own_size_;
  r.record_hash = record_checksum(r);
  std::string why;
  if (!write_pieces(own_fd_, pieces, &why)) {
    // The shard now ends in a partial entry that no record names; later entries would still be found,
    // but a full disk will not empty by itself, so stop here.
    return stop_filling_locked(cat("cannot write ", shard_path, ": ", why));
  }
  own_size_ += length;
  if (!write_pieces(index_fd_, {{&r, sizeof r}}, &why))
    return stop_filling_locked(cat("cannot append to ", dir_, "/index.bin: ", why));
  auto rec = std::make_unique<Record>();
  rec->r = r;
  rec->verified = true;
  records_[r.key_hash] = std::move(rec);
  ++stats_.stored;
  stats_.bytes_written += int64_t(length);
}

void ViewCache::store_image(const std::string& key, const ImageU8& image) {
  CachedViewImages e;
  e.source_width = image.width;
  e.source_height = image.height;
  e.mosaic = image;
  store(key, e);
}

bool ViewCache::filling() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_.filling;
}

ViewCacheStats ViewCache::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

int64_t ViewCache::disk_bytes(const std::string& dir) {
  int64_t total = 0;
  std::error_code ec;
  for (const auto& f : std::filesystem::directory_iterator(dir, ec))
    if (f.path().filename().string().rfind("shard-", 0) == 0) total += int64_t(f.file_size(ec));
  return total;
}

}  // namespace iqa
