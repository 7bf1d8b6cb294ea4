#include "training/data/mat_layout.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include <zlib.h>

#include "engine/error.h"
#include "training/image/decode.h"  // read_file_bytes

namespace iqa {
namespace {

constexpr uint32_t kMatrix = 14, kCompressed = 15;
constexpr size_t kHeaderBytes = 128;
constexpr size_t kMaxInflatedBytes = size_t(256) << 20;  // far above any score file

// A compressed element's zlib stream, inflated (at most kMaxInflatedBytes) so its elements can be
// checked like the file's.
std::vector<uint8_t> inflated(const uint8_t* data, size_t n, const std::string& path, size_t at) {
  z_stream z{};
  IQA_CHECK(inflateInit(&z) == Z_OK, path, ": cannot start zlib");
  z.next_in = const_cast<uint8_t*>(data);
  z.avail_in = uInt(n);
  std::vector<uint8_t> out;
  int rc = Z_OK;
  while (rc == Z_OK && out.size() <= kMaxInflatedBytes) {
    const size_t have = out.size();
    out.resize(have + (size_t(1) << 16));
    z.next_out = out.data() + have;
    z.avail_out = uInt(out.size() - have);
    rc = inflate(&z, Z_NO_FLUSH);
    out.resize(out.size() - z.avail_out);
    if (rc == Z_BUF_ERROR && z.avail_in == 0) break;  // the stream ends early: check what came out
  }
  inflateEnd(&z);
  IQA_CHECK(out.size() <= kMaxInflatedBytes, path, ": the compressed element at byte ", at, " inflates past ",
            kMaxInflatedBytes >> 20, " MiB");
  return out;
}

struct Mat5Reader {
  const std::vector<uint8_t>& bytes;
  bool swap;
  const std::string& path;

  uint32_t u32(size_t at) const {
    uint32_t v = uint32_t(bytes[at]) | uint32_t(bytes[at + 1]) << 8 | uint32_t(bytes[at + 2]) << 16 |
                 uint32_t(bytes[at + 3]) << 24;
    return swap ? __builtin_bswap32(v) : v;
  }

  // A matrix's dimensions against its size: libmatio allocates product(dims) elements up front, so an
  // array may not claim more elements than it has bytes (a 300-byte file with
  // dims 2x-3 asked for 68 GB: regressions/fuzz_mat/negative_dimension).
  void check_dimensions(size_t at, size_t begin, size_t end) const {
    constexpr uint32_t kUint32 = 6, kInt32 = 5;
    if (end == begin) return;  // an empty matrix (an empty cell)
    // libmatio reads the flags and dimensions at fixed places, whatever their tags say (a flags
    // element claiming 264 bytes made it read the next bytes as a 2 GB dimensions array).
    IQA_CHECK(end - begin >= 16 && u32(begin) == kUint32 && u32(begin + 4) == 8, path, ": the array at byte ", at,
              " does not start with its 8-byte array-flags element (a corrupt file)");
    // The classes a score file can hold: cell, struct, char and the ten numeric ones. libmatio reads a
    // function handle (16) like a cell and leaks its contents when that fails
    // (regressions/fuzz_mat/function_class_leak), and trusts a sparse array's (5) column index
    // (a negative one: a 4 GB request, regressions/fuzz_mat/sparse_negative_column); object (3) and
    // opaque (17) arrays are MATLAB objects. No dataset ships any of these.
    const uint32_t array_class = u32(begin + 8) & 0xff;  // the flags' low byte
    IQA_CHECK(array_class == 1 || array_class == 2 || array_class == 4 || (array_class >= 6 && array_class <= 15), path,
              ": the array at byte ", at, " has class ", array_class,
              " (a score file holds cell, struct, char or numeric arrays, not sparse ones or objects)");
    IQA_CHECK(end - begin >= 24, path, ": the array at byte ", at,
              " ends after its flags, with no dimensions (a corrupt file)");
    const uint32_t tag = u32(begin + 16);
    const size_t dims_at = (tag >> 16) ? begin + 20 : begin + 24;
    const size_t dims_bytes = (tag >> 16) ? (tag >> 16) : u32(begin + 20);
    // Two dimensions at least, as MATLAB writes them (a dimensions element of 0 bytes made libmatio
    // ask for 4 GB: regressions/fuzz_mat/dims_of_zero_bytes).
    IQA_CHECK((tag & 0xffff) == kInt32 && dims_bytes % 4 == 0 && dims_bytes >= 8, path, ": the array at byte ", at,
              " has no int32 dimensions element of two or more dimensions after its flags (a corrupt file)");
    if (dims_bytes > end - dims_at) return;  // check() names the element that does not fit
    // libmatio takes the element after the dimensions as the array's name and skips its bytes only
    // when it is an int8 element, the type a name has; any other type left it reading the name's
    // bytes as the data's tag (a 2 GB request from a 456-byte file: regressions/fuzz_mat/name_not_int8).
    constexpr uint32_t kInt8 = 1;
    const size_t name_at = (tag >> 16) ? begin + 24 : dims_at + (dims_bytes + 7) / 8 * 8;
    IQA_CHECK(name_at <= end && end - name_at >= 8, path, ": the array at byte ", at,
              " has no name element after its dimensions (a corrupt file)");
    const uint32_t name_tag = u32(name_at);
    IQA_CHECK(((name_tag >> 16) ? (name_tag & 0xffff) : name_tag) == kInt8, path, ": the array at byte ", at,
              " has a name element of type ", (name_tag >> 16) ? (name_tag & 0xffff) : name_tag,
              " (a name is int8, type 1; a corrupt file)");
    uint64_t elements = 1;
    for (size_t i = 0; i + 4 <= dims_bytes; i += 4) {
      elements *= u32(dims_at + i);  // a negative dimension reads as a huge one
      if (elements > end - begin) break;
    }
    IQA_CHECK(elements <= end - begin, path, ": the array at byte ", at, " claims more elements than its ",
              end - begin, " bytes can hold (a corrupt dimension)");
  }

  // The elements in [begin, end); a matrix's sub-elements are checked against the matrix's own size,
  // a compressed element's inflated content like a file of its own. depth bounds nested cell arrays;
  // `variables`: the elements are the file's variables (its top level, or a compressed element there).
  void check(size_t begin, size_t end, int depth, bool variables) const {
    IQA_CHECK(depth < 64, path, ": cell arrays nested deeper than 64 levels at byte ", begin);
    for (size_t pos = begin; pos < end;) {
      IQA_CHECK(end - pos >= 8, path, ": a data element at byte ", pos, " is cut off (", end - pos, " bytes left)");
      const uint32_t first = u32(pos);
      if (first >> 16) {  // small element: type and size in one word, data in the next 4 bytes
        IQA_CHECK((first >> 16) <= 4, path, ": a small data element at byte ", pos, " claims ", first >> 16, " bytes");
        pos += 8;
        continue;
      }
      const size_t n = u32(pos + 4);
      IQA_CHECK(n <= end - pos - 8, path, ": the data element at byte ", pos, " claims ", n, " bytes but only ",
                end - pos - 8, " follow in its container (a corrupt or truncated file)");
      if (first == kMatrix) {
        // An empty cell may be a bare zero-byte matrix, but libmatio reads a zero-byte *variable*'s
        // flags and dimensions from the bytes after it anyway (a variable of 268 M doubles from a
        // 216-byte file: regressions/fuzz_mat/zero_size_variable).
        IQA_CHECK(n > 0 || !variables, path, ": the variable at byte ", pos,
                  " is an array of 0 bytes (a corrupt file)");
        check_dimensions(pos, pos + 8, pos + 8 + n);
        check(pos + 8, pos + 8 + n, depth + 1, false);
      }
      if (first == kCompressed) {
        const std::vector<uint8_t> inner = inflated(bytes.data() + pos + 8, n, path, pos);
        Mat5Reader{inner, swap, path}.check(0, inner.size(), depth + 1, variables);
      }
      pos += 8 + n;
      if (first != kCompressed) pos = std::min(end, (pos + 7) / 8 * 8);  // elements are padded to 8 bytes
    }
  }
};

}  // namespace

void check_mat5_layout(const std::string& path) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  // Level 4 files have no such header; libmatio's level-4 reader allocates what the first bytes say
  // (1.5 GB for a mutated file), and no dataset ships one.
  IQA_CHECK(bytes.size() >= kHeaderBytes, path, ": not a readable MATLAB .mat file (", bytes.size(),
            " bytes, shorter than the 128-byte level-5 header)");
  const bool swap = bytes[126] == 'M' && bytes[127] == 'I';
  IQA_CHECK(swap || (bytes[126] == 'I' && bytes[127] == 'M'), path,
            ": not a readable MATLAB .mat file (no level-5 / 7.3 header; MATLAB 4 files are not read)");
  const uint16_t stored = uint16_t(bytes[124] | bytes[125] << 8);
  const uint16_t version = swap ? uint16_t(stored >> 8 | stored << 8) : stored;
  if (version == 0x0200) return;  // 7.3: an HDF5 file, read by libmatio through HDF5
  IQA_CHECK(version == 0x0100, path, ": not a readable MATLAB .mat file (header version ", version, ")");
  Mat5Reader{bytes, swap, path}.check(kHeaderBytes, bytes.size(), 0, true);
}

}  // namespace iqa
