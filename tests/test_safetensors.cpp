#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "engine/random.h"
#include "engine/safetensors.h"
#include "tests/testing.h"

using namespace iqa;
using namespace iqa::testing;
namespace fs = std::filesystem;

namespace {

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), std::streamsize(bytes.size()));
}

// 8-byte little-endian length + header text + data, with the length given explicitly or taken
// from the header.
std::string file_bytes(const std::string& header, const std::string& data, int64_t len = -1) {
  uint64_t n = len < 0 ? header.size() : uint64_t(len);
  std::string out(8, '\0');
  std::memcpy(out.data(), &n, 8);
  return out + header + data;
}

// Opens `path` expecting an iqa::Error whose message contains every one of `parts`.
void require_open_fails(const std::string& path, const std::vector<std::string>& parts) {
  std::string msg;
  try {
    SafetensorsFile::open(path);
  } catch (const Error& e) {
    msg = e.what();
  }
  INFO("error message: " << msg);
  REQUIRE_FALSE(msg.empty());
  for (const auto& p : parts) REQUIRE(msg.find(p) != std::string::npos);
}

std::vector<uint8_t> raw_bytes(const Tensor& t) {
  Tensor c = t.contiguous();
  const auto* p = static_cast<const uint8_t*>(c.raw_data());
  return std::vector<uint8_t>(p, p + c.nbytes());
}

}  // namespace

TEST_CASE("safetensors round trip of every dtype with metadata", "[safetensors]") {
  TempDir dir;
  std::string path = dir.file("model.safetensors");
  Tensor base = Tensor::arange(0, 12, 1, DType::F32).reshape({3, 4});
  NamedTensors tensors = {
      {"f32", Tensor::from_vector({1.5f, -2.25f, 3.0f, 1e-3f}, {2, 2})},
      {"f64", Tensor::from_vector_f64({3.141592653589793, -1e-300, 2.0}, {3})},
      {"bf16", Tensor::from_vector({1.0f, -0.5f, 3.140625f, 256.0f}, {4}, DType::BF16)},
      {"f16", Tensor::from_vector({65504.0f, -0.125f, 0.0f}, {1, 3}, DType::F16)},
      {"i32", Tensor::from_vector_i64({-7, 0, 2147483647}, {3}, DType::I32)},
      {"i64", Tensor::from_vector_i64({-9000000000LL, 42}, {2, 1}, DType::I64)},
      {"u8", Tensor::from_vector({0, 1, 255}, {3}, DType::U8)},
      {"transposed", base.transpose(0, 1)},  // non-contiguous view: saved as its logical (4, 3) values
      {"scalar", Tensor::scalar(-4.0)},
      {"empty", Tensor::zeros({0, 5})},
  };
  SafetensorsMetadata meta = {{"format", "pt"}, {"epoch", "17"}};
  save_safetensors(path, tensors, meta);

  // No temporary file is left beside the result.
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir.path)) {
    (void)e;
    ++files;
  }
  REQUIRE(files == 1);

  // The data buffer starts 8-byte aligned.
  std::ifstream in(path, std::ios::binary);
  uint64_t header_len = 0;
  in.read(reinterpret_cast<char*>(&header_len), 8);
  REQUIRE((8 + header_len) % 8 == 0);

  SafetensorsFile f = SafetensorsFile::open(path);
  REQUIRE(f.metadata() == meta);
  std::vector<std::string> expected_order;
  for (const auto& [n, t] : tensors) expected_order.push_back(n);
  // names() follows data order, which is the order they were written in.
  REQUIRE(f.names() == expected_order);
  for (const auto& [name, t] : tensors) {
    INFO("tensor " << name);
    Tensor got = f.get(name);
    REQUIRE(got.dtype() == t.dtype());
    REQUIRE(got.shape() == t.shape());
    REQUIRE(got.is_contiguous());
    REQUIRE(raw_bytes(got) == raw_bytes(t));
  }
  REQUIRE(f.get("transposed").to_vector() == std::vector<float>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11});
  REQUIRE(f.entry("bf16").dtype == DType::BF16);
  REQUIRE(f.entry("i64").shape == Shape{2, 1});
  REQUIRE_THROWS_WITH(f.get("missing"), Catch::Contains("no tensor named 'missing'") && Catch::Contains(path));
}

TEST_CASE("safetensors reads are zero-copy views that outlive the file object", "[safetensors]") {
  TempDir dir;
  std::string path = dir.file("w.safetensors");
  Tensor w = Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  save_safetensors(path, {{"w", w}});

  Tensor loaded;
  {
    SafetensorsFile f = SafetensorsFile::open(path);
    loaded = f.get("w");
    // The tensor points into the mapping, which the storage keeps alive.
    REQUIRE_FALSE(loaded.impl().storage->owned);
    REQUIRE(loaded.impl().storage->keep_alive != nullptr);
  }
  REQUIRE(loaded.to_vector() == std::vector<float>{1, 2, 3, 4, 5, 6});
  // Writing to a loaded tensor changes the copy-on-write page, never the file.
  loaded.fill_(9.0);
  REQUIRE(loaded.to_vector() == std::vector<float>(6, 9.0f));
  REQUIRE(load_safetensors(path).at("w").to_vector() == std::vector<float>{1, 2, 3, 4, 5, 6});

  // Saving again replaces the file atomically with the new contents.
  save_safetensors(path, {{"w", loaded}, {"b", Tensor::ones({2})}});
  auto all = load_safetensors(path);
  REQUIRE(all.size() == 2);
  REQUIRE(all.at("w").to_vector() == std::vector<float>(6, 9.0f));
  REQUIRE(all.at("b").to_vector() == std::vector<float>{1, 1});
}

TEST_CASE("safetensors files from other writers: unpadded header and BOOL", "[safetensors]") {
  TempDir dir;
  std::string path = dir.file("foreign.safetensors");
  // Header of odd length: the f32 data starts misaligned and is copied rather than viewed.
  std::string header = R"({"m":{"dtype":"BOOL","shape":[3],"data_offsets":[0,3]},"x":{"dtype":"F32","shape":[2],"data_offsets":[3,11]}})";
  REQUIRE((8 + header.size()) % 4 != 0);
  float xs[2] = {0.25f, -7.5f};
  std::string data = std::string("\x01\x00\x01", 3) + std::string(reinterpret_cast<const char*>(xs), 8);
  write_bytes(path, file_bytes(header, data));
  SafetensorsFile f = SafetensorsFile::open(path);
  REQUIRE(f.names() == std::vector<std::string>{"m", "x"});
  REQUIRE(f.get("m").dtype() == DType::U8);
  REQUIRE(f.get("m").to_vector() == std::vector<float>{1, 0, 1});
  REQUIRE(f.get("x").to_vector() == std::vector<float>{0.25f, -7.5f});
  REQUIRE(f.metadata().empty());
}

TEST_CASE("safetensors save rejects bad names", "[safetensors]") {
  TempDir dir;
  std::string path = dir.file("bad.safetensors");
  Tensor t = Tensor::ones({2});
  REQUIRE_THROWS_WITH(save_safetensors(path, {{"a", t}, {"a", t}}), Catch::Contains("'a' appears twice"));
  REQUIRE_THROWS_WITH(save_safetensors(path, {{"__metadata__", t}}), Catch::Contains("reserved"));
  REQUIRE_THROWS_WITH(save_safetensors(path, {{"u", Tensor()}}), Catch::Contains("'u' is undefined"));
  REQUIRE_FALSE(fs::exists(path));
  REQUIRE_THROWS_WITH(save_safetensors(dir.file("no/such/dir/x.safetensors"), {{"t", t}}),
                      Catch::Contains("cannot create a temporary file"));
}

TEST_CASE("malformed safetensors files give errors naming the file and tensor", "[safetensors]") {
  TempDir dir;
  std::string p = dir.file("broken.safetensors");
  const std::string eight_floats(32, '\0');  // room for 8 f32 values

  SECTION("missing file") { require_open_fails(dir.file("absent.safetensors"), {"absent.safetensors", "cannot open"}); }
  SECTION("shorter than 8 bytes") {
    write_bytes(p, "abc");
    require_open_fails(p, {p, "3 bytes"});
  }
  SECTION("header length past the end of the file") {
    write_bytes(p, file_bytes("{}", "", 4096));
    require_open_fails(p, {p, "header length 4096", "past the end"});
  }
  SECTION("absurd header length") {
    write_bytes(p, file_bytes("{}", "", int64_t(1) << 60));
    require_open_fails(p, {p, "absurd"});
  }
  SECTION("header is not JSON") {
    write_bytes(p, file_bytes("{\"w\": [1, 2", ""));
    require_open_fails(p, {p, "not valid JSON"});
  }
  SECTION("header is not an object") {
    write_bytes(p, file_bytes("[1, 2, 3]", ""));
    require_open_fails(p, {p, "must be a JSON object"});
  }
  SECTION("entry is not an object") {
    write_bytes(p, file_bytes(R"({"w": 5})", ""));
    require_open_fails(p, {p, "'w'", "entry must be a JSON object"});
  }
  // Tensor entries of 'w' that break one rule each: the message names the file, 'w' and the rule.
  struct BadEntry {
    const char* what;
    const char* header;
    std::vector<std::string> rule;
  };
  const BadEntry bad_entries[] = {
      {"missing dtype", R"({"w":{"shape":[2],"data_offsets":[0,8]}})", {"missing \"dtype\""}},
      {"dtype of the wrong type", R"({"w":{"dtype":4,"shape":[2],"data_offsets":[0,8]}})", {"\"dtype\" must be a string"}},
      {"unknown dtype", R"({"w":{"dtype":"C64","shape":[2],"data_offsets":[0,8]}})", {"unsupported dtype \"C64\""}},
      {"missing shape", R"({"w":{"dtype":"F32","data_offsets":[0,8]}})", {"missing \"shape\""}},
      {"shape of the wrong type", R"({"w":{"dtype":"F32","shape":"2x2","data_offsets":[0,16]}})", {"\"shape\" must be an array"}},
      {"negative dim", R"({"w":{"dtype":"F32","shape":[-2,1],"data_offsets":[0,8]}})", {"non-negative integer", "-2"}},
      {"fractional dim", R"({"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", {"non-negative integer"}},
      {"shape whose element count overflows", R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}})", {"overflows"}},
      {"missing data_offsets", R"({"w":{"dtype":"F32","shape":[2]}})", {"missing \"data_offsets\""}},
      {"data_offsets of the wrong form", R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", {"[begin, end]"}},
      {"negative offset", R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})", {"data_offsets begin must be a non-negative integer"}},
      {"begin after end", R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", {"begin 8 > end 0"}},
      {"byte size does not match dtype and shape", R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", {"holds 8 bytes", "need 12"}},
      {"offsets past the end of the data", R"({"w":{"dtype":"F64","shape":[8],"data_offsets":[0,64]}})", {"past the end of the 32-byte data buffer"}},
  };
  for (const BadEntry& b : bad_entries) {
    DYNAMIC_SECTION(b.what) {
      write_bytes(p, file_bytes(b.header, eight_floats));
      std::vector<std::string> parts{p, "'w'"};
      parts.insert(parts.end(), b.rule.begin(), b.rule.end());
      require_open_fails(p, parts);
    }
  }
  SECTION("overlapping tensors") {
    write_bytes(p, file_bytes(
                       R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
                       eight_floats));
    require_open_fails(p, {p, "'a'", "'b'", "overlap"});
  }
  SECTION("metadata that is not a string map") {
    write_bytes(p, file_bytes(R"({"__metadata__":{"epoch":3}})", ""));
    require_open_fails(p, {p, "'epoch'", "must be a string"});
  }
}

TEST_CASE("safetensors saves CUDA tensors through the host", "[safetensors][cuda]") {
  IQA_REQUIRE_CUDA_OR_SKIP();
  TempDir dir;
  std::string path = dir.file("gpu.safetensors");
  manual_seed(3);
  Tensor g = Tensor::randn({197, 49}, DType::BF16, cuda_device());
  save_safetensors(path, {{"g", g.transpose(0, 1)}});
  Tensor back = load_safetensors(path).at("g");
  REQUIRE(back.device() == kCPU);
  REQUIRE(back.shape() == Shape{49, 197});
  REQUIRE(raw_bytes(back) == raw_bytes(g.transpose(0, 1).contiguous().cpu()));
}
