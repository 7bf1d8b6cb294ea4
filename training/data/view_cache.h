// The decoded-view cache: SIND's views are crops, flips and mosaics cut from two resizes of an image
// (the global squash and the mosaic's short-side resize) that never change between epochs, so the
// first use of an image stores those resizes (raw uint8) on disk and every later use cuts its views
// from them instead of decoding the JPEG again.
//
// Exactness. A view is a gather of pixels (rows[r], cols[c]) of PIL's resize of the (possibly
// flipped) source. Pixel (r, c) of that resize depends only on its own taps, so a gather equals the
// same cut of the full resize. Flipping commutes with resizing only when the mirrored taps of output c
// equal the taps of output W-1-c; Pillow's rounding of the tap ranges breaks that for some sizes
// (e.g. 768 -> 256, and about a quarter of the mosaic's width pairs), so an entry also stores the
// flipped resize whenever its width pair does not commute. Cached views are then byte-identical to
// rendered ones (tests/data/test_view_cache.cpp).
//
// On disk, under one directory shared by every process on the machine:
//   shard-<id>.bin  append-only entries, each written by one process only (its own shard);
//   index.bin       fixed-size records appended with O_APPEND, each with its own checksum, naming
//                   (key hashes, shard, offset, length, payload checksum). A record is appended only
//                   after its payload is fully written, so readers accept a record only when it is
//                   complete and checksummed; a later record for the same key wins.
// Payloads carry their key and a 64-bit checksum, verified the first time this process reads an entry
// (entries it wrote itself are trusted): a truncated or corrupted shard is reported, dropped and rebuilt,
// never read as pixels. A write error (full disk, file size limit) stops filling with one warning; the
// loader then keeps rendering uncached. Shards are read through mmap, so memory is the page cache's.
// Clearing the cache: remove the directory (no process may be using it).
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "kernels/views.h"
#include "training/image/augment.h"
#include "training/image/image.h"

namespace iqa {

// One stored resize (HWC RGB, tightly packed) and, when flipping does not commute with it, the resize
// of the flipped source (null otherwise: flipped views read this one mirrored).
struct CachedResize {
  const uint8_t* pixels = nullptr;
  const uint8_t* flipped = nullptr;
  int width = 0, height = 0;
};

// Everything a sample's views are cut from. mosaic.pixels is null when the entry has no mosaic.
struct CachedViews {
  int source_width = 0, source_height = 0;  // of the decoded image (plans are drawn for this size)
  CachedResize global, mosaic;
};

// The owning form, built from a decoded image when an entry is filled.
struct CachedViewImages {
  int source_width = 0, source_height = 0;
  ImageU8 global, global_flipped, mosaic, mosaic_flipped;  // the flipped ones empty when not needed
  CachedViews view() const;
};

// Whether resizing an axis in_size -> out_size commutes with mirroring it (identical mirrored taps).
bool resize_flip_commutes(int in_size, int out_size);
// The resizes the views of `decoded` are cut from: the global_resize squash and, when
// mosaic_short_side > 0, the short-side resize, each with its flipped twin when flipping does not commute.
CachedViewImages build_cached_views(const ImageU8& decoded, int global_resize, int mosaic_short_side);
// The view `g` (a gather from view_batch.h's global_view_gather / mosaic_view_gather, or one of
// nine_crop_test_views) cut from the cached resize of the same size; equals rendering g from the source.
ImageU8 cut_cached_view(const CachedViews& e, const kernels::ViewGather& g);

// normalize_to_chw(cut_cached_view(e, g), out, mean, stdev) in one pass, bit for bit (the warm path).
void cut_cached_view_normalized(const CachedViews& e, const kernels::ViewGather& g, float* out,
                                const std::array<float, 3>& mean = kImageNetMean,
                                const std::array<float, 3>& stdev = kImageNetStd);

// The part of a cache key that names the file: its absolute path (so relative and absolute spellings
// share entries), size and modification time. "" when the file cannot be stat'ed.
std::string view_cache_file_key(const std::string& path);

// A 64-bit checksum (four independent multiply-rotate lanes, then a final avalanche): any change of one
// 8-byte word changes the result; fast enough to verify a 2 MB entry in a fraction of a millisecond.
uint64_t view_cache_hash(const void* data, size_t size, uint64_t seed = 0);
// The same checksum over pieces fed in order (so an entry is hashed where its sections lie, without
// first being copied into one buffer): update(a); update(b) == view_cache_hash(a + b).
class ViewCacheHasher {
 public:
  explicit ViewCacheHasher(uint64_t seed = 0);
  void update(const void* data, size_t n);
  void zeros(size_t n);  // n zero bytes (section padding)
  uint64_t finish() const;

 private:
  void blocks(const uint8_t* p, size_t n);  // whole 32-byte blocks only
  uint64_t lane_[4];
  uint8_t buf_[32] = {};
  size_t buffered_ = 0, total_ = 0;
};

struct ViewCacheStats {
  int64_t hits = 0, misses = 0;
  int64_t stored = 0;          // entries this process added
  int64_t corrupt = 0;         // entries dropped because their checksum, key or shard did not match
  int64_t bytes_written = 0;   // payload bytes this process added
  bool filling = true;         // false after a write error
};

class ViewCache {
 public:
  // Creates the directory if needed and reads the index. Throws iqa::Error naming the directory when
  // it cannot be created or read.
  explicit ViewCache(std::string dir);
  ~ViewCache();
  ViewCache(const ViewCache&) = delete;
  ViewCache& operator=(const ViewCache&) = delete;

  // The verified entry for `key`, or nullopt (a miss: counted, and the caller fills it). The pointers
  // stay valid for the cache's lifetime. Thread-safe.
  std::optional<CachedViews> find(const std::string& key);
  // Appends the entry to this process's shard and publishes it in the index. Best effort: after a
  // write error it warns once and does nothing more. Thread-safe.
  void store(const std::string& key, const CachedViewImages& entry);
  // A decoded image stored whole, for views cut from the unresized photo (dsmix-train's linear probing):
  // an entry without a global resize whose mosaic section is the image. find() returns it as .mosaic.
  void store_image(const std::string& key, const ImageU8& image);
  ViewCacheStats stats() const;
  bool filling() const;  // false after a write error
  const std::string& dir() const { return dir_; }
  // Bytes of all shard files in the directory (every process's).
  static int64_t disk_bytes(const std::string& dir);

 private:
  struct Record;
  struct Shard;
  void refresh_index_locked();
  const uint8_t* map_locked(const Record& r);
  void drop_locked(uint64_t key_hash, const std::string& why);
  void stop_filling_locked(const std::string& why);

  std::string dir_;
  mutable std::mutex mu_;
  int index_fd_ = -1;
  uint64_t index_read_ = 0;  // bytes of the index already parsed
  std::unordered_map<uint64_t, std::unique_ptr<Record>> records_;  // by key hash
  std::unordered_map<uint64_t, std::unique_ptr<Shard>> shards_;    // by shard id
  uint64_t own_shard_id_ = 0;
  int own_fd_ = -1;
  uint64_t own_size_ = 0;
  bool warned_corrupt_ = false;
  ViewCacheStats stats_;
};

}  // namespace iqa
