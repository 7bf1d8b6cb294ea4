// What a view-cache entry holds and how views are cut from it (see view_cache.h), plus its checksum.
#include <algorithm>
#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <numeric>

#include "engine/error.h"
#include "training/data/view_cache.h"
#include "training/image/augment.h"

namespace iqa {
namespace {

CachedResize resize_view(const ImageU8& img, const ImageU8& flipped) {
  CachedResize r;
  if (img.empty()) return r;
  r.pixels = img.pixels.data();
  r.flipped = flipped.empty() ? nullptr : flipped.pixels.data();
  r.width = img.width;
  r.height = img.height;
  return r;
}

std::vector<int> all_indices(int n) {
  std::vector<int> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

// The resize and, if flipping does not commute with it, the resize of the flipped source.
void resize_pair(const ImageU8& src, int width, int height, ImageU8* out, ImageU8* flipped) {
  *out = resize_bilinear_antialias(src, width, height);
  if (!resize_flip_commutes(src.width, width))
    *flipped = resize_bilinear_antialias_gather(src, width, height, all_indices(height), all_indices(width), true);
}

inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

}  // namespace

CachedViews CachedViewImages::view() const {
  CachedViews v;
  v.source_width = source_width;
  v.source_height = source_height;
  v.global = resize_view(global, global_flipped);
  v.mosaic = resize_view(mosaic, mosaic_flipped);
  return v;
}

std::string view_cache_file_key(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return "";
  std::error_code ec;
  std::filesystem::path abs = std::filesystem::absolute(path, ec);
  return cat("iqa-view-cache-1|", (ec ? std::filesystem::path(path) : abs.lexically_normal()).string(),
             "|size=", int64_t(st.st_size), "|mtime=", int64_t(st.st_mtim.tv_sec), ".", int64_t(st.st_mtim.tv_nsec));
}

bool resize_flip_commutes(int in_size, int out_size) {
  const std::vector<int> outputs = all_indices(out_size);
  const kernels::PilTaps mirrored = kernels::pil_bilinear_taps(in_size, out_size, outputs, true);
  const kernels::PilTaps plain = kernels::pil_bilinear_taps(in_size, out_size, outputs, false);
  for (int o = 0; o < out_size; ++o) {
    const size_t m = size_t(o), p = size_t(out_size - 1 - o);
    if (mirrored.first[m] != plain.first[p] || mirrored.count[m] != plain.count[p]) return false;
    if (std::memcmp(&mirrored.weights[m * size_t(mirrored.max_taps)], &plain.weights[p * size_t(plain.max_taps)],
                    size_t(mirrored.count[m]) * sizeof(int32_t)) != 0)
      return false;
  }
  return true;
}

CachedViewImages build_cached_views(const ImageU8& decoded, int global_resize, int mosaic_short_side) {
  IQA_CHECK(decoded.channels == 3 && !decoded.empty(), "view cache: need a non-empty RGB image");
  CachedViewImages e;
  e.source_width = decoded.width;
  e.source_height = decoded.height;
  resize_pair(decoded, global_resize, global_resize, &e.global, &e.global_flipped);
  if (mosaic_short_side > 0) {
    const Size2 s = short_side_resize_size(decoded.width, decoded.height, mosaic_short_side);
    mosaic_cell_size(s.width, s.height);  // an image too small for the mosaic fails here, as uncached
    resize_pair(decoded, s.width, s.height, &e.mosaic, &e.mosaic_flipped);
  }
  return e;
}

namespace {

// Where view g's pixels lie in the cached resize of its size: the rows' start and each column's byte
// offset, mirrored when the view is flipped and the entry has no flipped twin. Every index is checked
// here, so the loops that copy the pixels need none.
struct ViewCut {
  std::vector<const uint8_t*> rows;
  std::vector<size_t> col_bytes;
};

ViewCut locate_view(const CachedViews& e, const kernels::ViewGather& g) {
  const CachedResize* r = nullptr;
  for (const CachedResize* c : {&e.global, &e.mosaic})
    if (c->pixels && c->width == g.resize_width && c->height == g.resize_height) r = c;
  IQA_CHECK(r != nullptr, "view cache: no cached ", g.resize_width, "x", g.resize_height, " resize (entry has ",
            e.global.width, "x", e.global.height, " and ", e.mosaic.width, "x", e.mosaic.height, ")");
  // Flipped views read the flipped twin when there is one, else this resize mirrored.
  const bool mirror = g.flip && r->flipped == nullptr;
  const uint8_t* src = g.flip && r->flipped ? r->flipped : r->pixels;
  const size_t stride = size_t(r->width) * 3;
  ViewCut cut;
  cut.col_bytes.resize(g.cols.size());
  for (size_t c = 0; c < g.cols.size(); ++c) {
    IQA_CHECK(g.cols[c] >= 0 && g.cols[c] < r->width, "view cache: column ", g.cols[c], " outside ", r->width);
    cut.col_bytes[c] = size_t(mirror ? r->width - 1 - g.cols[c] : g.cols[c]) * 3;
  }
  cut.rows.reserve(g.rows.size());
  for (int row : g.rows) {
    IQA_CHECK(row >= 0 && row < r->height, "view cache: row ", row, " outside ", r->height);
    cut.rows.push_back(src + size_t(row) * stride);
  }
  return cut;
}

}  // namespace

ImageU8 cut_cached_view(const CachedViews& e, const kernels::ViewGather& g) {
  const ViewCut cut = locate_view(e, g);
  ImageU8 out(int(cut.col_bytes.size()), int(cut.rows.size()), 3);
  uint8_t* dst = out.pixels.data();
  for (const uint8_t* line : cut.rows)
    for (size_t c = 0; c < cut.col_bytes.size(); ++c, dst += 3) std::memcpy(dst, line + cut.col_bytes[c], 3);
  return out;
}

// The warm loader's whole per-view work, so it is one pass: each pixel is read once from the mapped
// entry and written once as three floats, through the same per-value table as normalize_to_chw (so
// the floats are the same bits), with no intermediate image to allocate, zero and copy.
void cut_cached_view_normalized(const CachedViews& e, const kernels::ViewGather& g, float* out,
                                const std::array<float, 3>& mean, const std::array<float, 3>& stdev) {
  const ViewCut cut = locate_view(e, g);
  const NormalizeTable table = normalize_table(mean, stdev);
  const size_t plane = cut.rows.size() * cut.col_bytes.size();
  float* r = out;
  float* gr = out + plane;
  float* b = out + 2 * plane;
  const size_t* cols = cut.col_bytes.data();
  const size_t width = cut.col_bytes.size();
  for (size_t y = 0; y < cut.rows.size(); ++y) {
    const uint8_t* line = cut.rows[y];
    // Entries are far larger than the caches and each row of a view starts a new stream the hardware
    // prefetcher has not seen (another page of the mapped file), so ask for the row two ahead: every
    // 16 pixels (48 bytes) covers each 64-byte line. Measured: KonIQ-size warm 3,335 -> ~4,000 img/s.
    if (y + 2 < cut.rows.size())
      for (size_t c = 0; c < width; c += 16) __builtin_prefetch(cut.rows[y + 2] + cols[c]);
    for (size_t c = 0; c < width; ++c) {
      const uint8_t* px = line + cols[c];
      r[c] = table.value[0][px[0]];
      gr[c] = table.value[1][px[1]];
      b[c] = table.value[2][px[2]];
    }
    r += width, gr += width, b += width;
  }
}

namespace {
constexpr uint64_t kOdd1 = 0x9E3779B97F4A7C15ull, kOdd2 = 0xC2B2AE3D27D4EB4Full;
}  // namespace

ViewCacheHasher::ViewCacheHasher(uint64_t seed) : lane_{seed + kOdd1, seed ^ kOdd2, seed + 1, seed - kOdd1} {}

// Each lane step is a bijection of the lane for a fixed word, and word -> word * kOdd2 is one too, so
// two inputs differing in one word leave that lane, and the result, different.
void ViewCacheHasher::blocks(const uint8_t* p, size_t n) {
  for (size_t i = 0; i + 32 <= n; i += 32)
    for (int k = 0; k < 4; ++k) {
      uint64_t w;
      std::memcpy(&w, p + i + 8 * size_t(k), 8);
      lane_[k] = rotl(lane_[k] + w * kOdd2, 31) * kOdd1;
    }
}

void ViewCacheHasher::update(const void* data, size_t n) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  total_ += n;
  if (buffered_ > 0) {
    const size_t take = std::min(n, sizeof buf_ - buffered_);
    std::memcpy(buf_ + buffered_, p, take);
    buffered_ += take, p += take, n -= take;
    if (buffered_ < sizeof buf_) return;
    blocks(buf_, sizeof buf_);
    buffered_ = 0;
  }
  const size_t whole = n / 32 * 32;
  blocks(p, whole);
  std::memcpy(buf_, p + whole, n - whole);
  buffered_ = n - whole;
}

void ViewCacheHasher::zeros(size_t n) {
  static const uint8_t kZero[64] = {};
  for (; n > 0; n -= std::min(n, sizeof kZero)) update(kZero, std::min(n, sizeof kZero));
}

uint64_t ViewCacheHasher::finish() const {
  uint64_t h = uint64_t(total_) * kOdd2;
  for (int k = 0; k < 4; ++k) h = (h ^ rotl(lane_[k], 11 * k + 7)) * kOdd1;
  for (size_t i = 0; i < buffered_; ++i) h = (h ^ buf_[i]) * 0x100000001B3ull;  // the tail, FNV-style
  h ^= h >> 33;
  h *= 0xFF51AFD7ED558CCDull;
  h ^= h >> 33;
  h *= 0xC4CEB9FE1A85EC53ull;
  return h ^ (h >> 33);
}

uint64_t view_cache_hash(const void* data, size_t size, uint64_t seed) {
  ViewCacheHasher h(seed);
  h.update(data, size);
  return h.finish();
}

}  // namespace iqa
