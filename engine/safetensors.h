// safetensors files: read through mmap (CPU tensors that point straight into the mapping, no copy)
// and written atomically (engine/atomic_file.h: temp file in the same folder, fsync, rename).
//
// Layout of the format: 8 bytes little-endian header length N, then N bytes of JSON
//   {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"key": "value"}}
// then the data buffer; offsets are relative to the start of that buffer.
// Every malformed file gives iqa::Error naming the file and, where there is one, the tensor.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace iqa {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;
using SafetensorsMetadata = std::map<std::string, std::string>;

struct SafetensorsEntry {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
  uint64_t begin = 0, end = 0;  // byte range in the data buffer
};

class SafetensorsFile {
 public:
  // Maps the file and validates the whole header (dtypes, shapes, offsets, overlaps).
  static SafetensorsFile open(const std::string& path);

  const std::string& path() const { return path_; }
  // Tensor names in the order their data lies in the file.
  std::vector<std::string> names() const;
  bool contains(const std::string& name) const { return index_.count(name) != 0; }
  const SafetensorsEntry& entry(const std::string& name) const;
  // A CPU tensor viewing the mapped bytes (copy-on-write: writing to it never touches the file).
  // The mapping lives as long as any tensor from it. Data whose offset is not aligned to its
  // element size (possible in files from other writers) is copied instead.
  Tensor get(const std::string& name) const;
  const SafetensorsMetadata& metadata() const { return metadata_; }

 private:
  std::string path_;
  std::shared_ptr<void> mapping_;    // owns the mmap; tensors hold a copy of this pointer
  const unsigned char* data_ = nullptr;  // start of the data buffer inside the mapping
  std::vector<SafetensorsEntry> entries_;  // sorted by begin offset
  std::map<std::string, size_t> index_;
  SafetensorsMetadata metadata_;
};

// Writes tensors (any device, any layout: copied to contiguous CPU memory) in the given order.
// Names must be unique, non-empty and not "__metadata__". Replaces `path` atomically.
void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const SafetensorsMetadata& metadata = {});

// Every tensor of the file by name (zero-copy CPU views, see SafetensorsFile::get).
std::map<std::string, Tensor> load_safetensors(const std::string& path);

// "F32", "BF16", ... as the format spells them.
const char* safetensors_dtype_name(DType t);

}  // namespace iqa
