#include "engine/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

#include <nlohmann/json.hpp>

#include "engine/atomic_file.h"
#include "engine/autograd.h"
#include "engine/fault_point.h"

namespace iqa {

static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes a little-endian host");

namespace {

// The reference implementation refuses headers over 100 MB; a larger length means a corrupt file.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

struct DTypeSpelling {
  const char* name;
  DType dtype;
};
// BOOL is read as u8 (one byte, 0/1), which is how masks are stored here anyway.
constexpr DTypeSpelling kSpellings[] = {{"F32", DType::F32}, {"F64", DType::F64}, {"BF16", DType::BF16},
                                        {"F16", DType::F16}, {"I32", DType::I32}, {"I64", DType::I64},
                                        {"U8", DType::U8},   {"BOOL", DType::U8}};

std::string errno_text() { return std::strerror(errno); }

// Owns one read mapping of a whole file.
struct Mapping {
  void* addr = MAP_FAILED;
  size_t size = 0;
  ~Mapping() {
    if (addr != MAP_FAILED) munmap(addr, size);
  }
};

// Reads a non-negative JSON integer, or throws with `what` in the message.
uint64_t json_uint(const nlohmann::json& v, const std::string& what) {
  IQA_CHECK(v.is_number_unsigned(), what, " must be a non-negative integer, got ", v.dump());
  return v.get<uint64_t>();
}

SafetensorsEntry parse_entry(const std::string& file, const std::string& name, const nlohmann::json& j) {
  std::string where = cat("safetensors file ", file, ": tensor '", name, "'");
  IQA_CHECK(j.is_object(), where, ": entry must be a JSON object, got ", j.dump());
  SafetensorsEntry e;
  e.name = name;

  auto dt = j.find("dtype");
  IQA_CHECK(dt != j.end(), where, ": missing \"dtype\"");
  IQA_CHECK(dt->is_string(), where, ": \"dtype\" must be a string, got ", dt->dump());
  std::string dname = dt->get<std::string>();
  bool known = false;
  for (const auto& s : kSpellings)
    if (dname == s.name) {
      e.dtype = s.dtype;
      known = true;
    }
  IQA_CHECK(known, where, ": unsupported dtype \"", dname, "\" (supported: F32 F64 BF16 F16 I32 I64 U8 BOOL)");

  auto sh = j.find("shape");
  IQA_CHECK(sh != j.end(), where, ": missing \"shape\"");
  IQA_CHECK(sh->is_array(), where, ": \"shape\" must be an array, got ", sh->dump());
  uint64_t numel = 1;
  for (const auto& d : *sh) {
    uint64_t v = json_uint(d, where + ": every dim of \"shape\"");
    IQA_CHECK(v <= uint64_t(INT64_MAX), where, ": dim ", v, " is too large");
    IQA_CHECK(!__builtin_mul_overflow(numel, v, &numel), where, ": shape ", sh->dump(), " overflows");
    e.shape.push_back(int64_t(v));
  }

  auto off = j.find("data_offsets");
  IQA_CHECK(off != j.end(), where, ": missing \"data_offsets\"");
  IQA_CHECK(off->is_array() && off->size() == 2, where, ": \"data_offsets\" must be [begin, end], got ", off->dump());
  e.begin = json_uint((*off)[0], where + ": data_offsets begin");
  e.end = json_uint((*off)[1], where + ": data_offsets end");
  IQA_CHECK(e.begin <= e.end, where, ": data_offsets begin ", e.begin, " > end ", e.end);

  uint64_t expected = 0;
  IQA_CHECK(!__builtin_mul_overflow(numel, uint64_t(dtype_size(e.dtype)), &expected), where, ": shape ",
            sh->dump(), " overflows");
  IQA_CHECK(e.end - e.begin == expected, where, ": holds ", e.end - e.begin, " bytes but dtype ", dname,
            " and shape ", shape_str(e.shape), " need ", expected);
  return e;
}

}  // namespace

const char* safetensors_dtype_name(DType t) {
  for (const auto& s : kSpellings)
    if (s.dtype == t) return s.name;  // first spelling wins: U8, not BOOL
  return "?";
}

SafetensorsFile SafetensorsFile::open(const std::string& path) {
  SafetensorsFile f;
  f.path_ = path;
  const std::string where = "safetensors file " + path;

  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  IQA_CHECK(fd >= 0, where, ": cannot open: ", errno_text());
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    std::string why = errno_text();
    ::close(fd);
    fail(cat(where, ": cannot stat: ", why));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(cat(where, ": not a regular file"));
  }
  uint64_t file_size = uint64_t(st.st_size);
  if (file_size < 8) {
    ::close(fd);
    fail(cat(where, ": file is ", file_size, " bytes, shorter than the 8-byte header length"));
  }
  auto mapping = std::make_shared<Mapping>();
  mapping->size = size_t(file_size);
  // Private + writable: tensors handed out may be modified in place (copy-on-write pages); the file
  // itself is never written.
  mapping->addr = mmap(nullptr, mapping->size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  std::string mmap_error = mapping->addr == MAP_FAILED ? errno_text() : "";
  ::close(fd);  // the mapping stays valid without the descriptor
  IQA_CHECK(mapping->addr != MAP_FAILED, where, ": mmap failed: ", mmap_error);
  const auto* bytes = static_cast<const unsigned char*>(mapping->addr);

  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes, 8);
  IQA_CHECK(header_len <= kMaxHeaderBytes, where, ": header length ", header_len, " is absurd (limit ",
            kMaxHeaderBytes, ")");
  IQA_CHECK(header_len <= file_size - 8, where, ": header length ", header_len, " runs past the end of the ",
            file_size, "-byte file");

  nlohmann::json header;
  try {
    header = nlohmann::json::parse(reinterpret_cast<const char*>(bytes + 8),
                                           reinterpret_cast<const char*>(bytes + 8 + header_len));
  } catch (const nlohmann::json::exception& e) {
    fail(cat(where, ": header is not valid JSON: ", e.what()));
  }
  IQA_CHECK(header.is_object(), where, ": header must be a JSON object, got ", header.type_name());

  const uint64_t data_size = file_size - 8 - header_len;
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      IQA_CHECK(value.is_object(), where, ": \"__metadata__\" must be an object of strings");
      for (const auto& [mk, mv] : value.items()) {
        IQA_CHECK(mv.is_string(), where, ": metadata value for '", mk, "' must be a string, got ", mv.dump());
        f.metadata_[mk] = mv.get<std::string>();
      }
      continue;
    }
    SafetensorsEntry e = parse_entry(path, key, value);
    IQA_CHECK(e.end <= data_size, where, ": tensor '", key, "': data_offsets [", e.begin, ", ", e.end,
              "] run past the end of the ", data_size, "-byte data buffer");
    f.entries_.push_back(std::move(e));
  }

  std::stable_sort(f.entries_.begin(), f.entries_.end(),
                   [](const SafetensorsEntry& a, const SafetensorsEntry& b) { return a.begin < b.begin; });
  const SafetensorsEntry* prev = nullptr;  // last non-empty entry
  for (const auto& e : f.entries_) {
    if (e.begin == e.end) continue;  // empty tensors occupy no bytes
    if (prev && e.begin < prev->end)
      fail(cat(where, ": tensors '", prev->name, "' [", prev->begin, ", ", prev->end, ") and '", e.name, "' [",
               e.begin, ", ", e.end, ") overlap"));
    prev = &e;
  }
  for (size_t i = 0; i < f.entries_.size(); ++i) f.index_[f.entries_[i].name] = i;

  f.data_ = bytes + 8 + header_len;
  f.mapping_ = std::move(mapping);
  return f;
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const auto& e : entries_) out.push_back(e.name);
  return out;
}

const SafetensorsEntry& SafetensorsFile::entry(const std::string& name) const {
  auto it = index_.find(name);
  IQA_CHECK(it != index_.end(), "safetensors file ", path_, ": no tensor named '", name, "'");
  return entries_[it->second];
}

Tensor SafetensorsFile::get(const std::string& name) const {
  const SafetensorsEntry& e = entry(name);
  const unsigned char* p = data_ + e.begin;
  size_t nbytes = size_t(e.end - e.begin);
  if (reinterpret_cast<uintptr_t>(p) % dtype_size(e.dtype) != 0) {
    Tensor t = Tensor::empty(e.shape, e.dtype);
    if (nbytes) std::memcpy(t.raw_data(), p, nbytes);
    return t;
  }
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = Storage::wrap(const_cast<unsigned char*>(p), nbytes, kCPU, mapping_);
  impl->shape = e.shape;
  impl->strides = contiguous_strides(e.shape);
  impl->dtype = e.dtype;
  impl->name = name;
  return Tensor(impl);
}

std::map<std::string, Tensor> load_safetensors(const std::string& path) {
  SafetensorsFile f = SafetensorsFile::open(path);
  std::map<std::string, Tensor> out;
  for (const auto& n : f.names()) out[n] = f.get(n);
  return out;
}

// ---------------------------------------------------------------- writing

void save_safetensors(const std::string& path, const NamedTensors& tensors, const SafetensorsMetadata& metadata) {
  const std::string where = "safetensors file " + path;
  NoGradGuard no_grad;

  // Contiguous CPU copies (views of the caller's data where already so).
  std::vector<Tensor> host;
  host.reserve(tensors.size());
  std::set<std::string> seen;
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json m = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) m[k] = v;
    header["__metadata__"] = m;
  }
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    IQA_CHECK(!name.empty(), where, ": tensor names must be non-empty");
    IQA_CHECK(name != "__metadata__", where, ": '__metadata__' is reserved and cannot name a tensor");
    IQA_CHECK(seen.insert(name).second, where, ": tensor name '", name, "' appears twice");
    IQA_CHECK(t.defined(), where, ": tensor '", name, "' is undefined");
    Tensor h = t.detach();
    if (h.is_cuda()) h = h.cpu();
    h = h.contiguous();
    nlohmann::ordered_json entry;
    entry["dtype"] = safetensors_dtype_name(h.dtype());
    entry["shape"] = h.shape();
    entry["data_offsets"] = {offset, offset + h.nbytes()};
    header[name] = entry;
    offset += h.nbytes();
    host.push_back(h);
  }
  std::string json = header.dump();
  // Pad with spaces so the data buffer starts 8-byte aligned (8 + json length is a multiple of 8).
  json.append((8 - json.size() % 8) % 8, ' ');
  uint64_t header_len = json.size();

  AtomicFile file(path, where);
  file.write(&header_len, 8);
  file.write(json.data(), json.size());
  fault_point("safetensors_write");
  for (const auto& h : host)
    if (h.nbytes()) {
      file.write(h.raw_data(), h.nbytes());
      fault_point("safetensors_write");
    }
  file.commit([] { fault_point("safetensors_renamed"); });
}

}  // namespace iqa
