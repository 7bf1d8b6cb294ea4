// Writes the seed corpora tools/fuzz.sh starts from: small valid files of each format the fuzz
// targets read, so the fuzzer begins deep inside the parsers instead of at their magic-byte checks.
//   make_seeds <dir>  ->  <dir>/decode, <dir>/dataset_json, <dir>/safetensors
#include <cstdio>
#include <filesystem>
#include <string>

#include "engine/safetensors.h"
#include "engine/tensor.h"
#include "training/data/dataset.h"
#include "training/image/encode.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds <dir>\n");
    return 2;
  }
  namespace fs = std::filesystem;
  const fs::path root = argv[1];
  try {
    for (const char* sub : {"decode", "dataset_json", "safetensors"}) fs::create_directories(root / sub);
    iqa::ImageU8 rgb(19, 11, 3), gray(9, 17, 1);
    for (size_t i = 0; i < rgb.pixels.size(); ++i) rgb.pixels[i] = uint8_t(i * 37);
    for (size_t i = 0; i < gray.pixels.size(); ++i) gray.pixels[i] = uint8_t(i * 11);
    const fs::path d = root / "decode";
    iqa::write_jpeg((d / "rgb.jpg").string(), rgb, 80);
    iqa::write_jpeg((d / "gray.jpg").string(), gray, 60);
    iqa::write_png((d / "rgb.png").string(), rgb);
    iqa::write_png((d / "gray.png").string(), gray);
    iqa::write_bmp((d / "rgb.bmp").string(), rgb);

    iqa::DatasetList list;
    list.entries = {{"SPAQ/TestImage/00001.jpg", 48.86, 105, "Night scene"},
                    {"kadid10k/images/I01_01_01.png", 4.57, 601, "", "01", "I01.png"}};
    list.domain_names[105] = "Night scene";
    iqa::write_data_json((root / "dataset_json" / "listing.json").string(), list);
    iqa::write_file_bytes((root / "dataset_json" / "scores.csv").string(),
                          {'"', 'a', '"', ',', 'b', '\n', '1', ',', '"', 'x', '"', '"', '"', '\r', '\n'});

    iqa::save_safetensors((root / "safetensors" / "two.safetensors").string(),
                          {{"w", iqa::Tensor::ones({2, 3})}, {"b", iqa::Tensor::zeros({3}, iqa::DType::F64)}},
                          {{"format", "pt"}});
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
