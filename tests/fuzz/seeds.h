// The seed corpora of the fuzz targets (tests/fuzz/targets.h): small valid inputs of each format, so a
// fuzzer starts deep inside the parsers instead of at their magic-byte checks. Written by
// tests/fuzz/make_seeds.cpp for tools/fuzz.sh, and by the replay test for the ordinary suite.
//   write_seeds(root, source_dir)  ->  root/<target name>/<files> (source_dir: the checkout, for the
//   committed .xlsx/.mat fixtures)
#pragma once
#include <tiffio.h>

#include <filesystem>
#include <string>
#include <vector>

#include "engine/safetensors.h"
#include "engine/tensor.h"
#include "tests/fuzz/targets.h"
#include "training/image/encode.h"

namespace iqa::fuzz {

inline void write_text(const std::filesystem::path& path, const std::string& text) {
  write_file_bytes(path.string(), std::vector<uint8_t>(text.begin(), text.end()));
}

}  // namespace iqa::fuzz

#include "tests/fuzz/seeds_more.h"  // uses write_text

namespace iqa::fuzz {

// score_files inputs: the first byte selects the dataset (its index in fuzz_score_files' table).
inline void write_score_file_seeds(const std::filesystem::path& d) {
  const std::pair<char, std::string> seeds[] = {
      {0, "image_name,MOS_zscore,set\n10004473376.jpg,77.38,training\n10007357496.jpg,51.2,test\n"},
      {1, "Image name,MOS\n00001.jpg,48.86\n00002.jpg,70\n\fImage name,Animal,Night scene\n00001.jpg,1,0\n"
          "00002.jpg,1,1\n"},
      {2, "image,mos\nt1.bmp,63.9\n"},
      {5, "dist_img,ref_img,dmos,var\nI01_01_01.png,I01.png,4.57,0.49\nI01_02_05.png,I01.png,2.1,0.3\n"},
      {6, "image,dst_type,dst_lev,dmos,dst_idx\n1600,noise,1,0.06,1\nbridge,jpeg 2000,5,0.8,3\n"},
      {7, "image,reference,dmos\njp2k/img1.bmp,bikes.bmp,51.2\nwn/img3.bmp,bikes.bmp,0\n"},
      {8, "5.51 i01_01_1.bmp\n4.0 I02_24_5.BMP\r\n"},
      {9, "image_id=score\n1=5\n1=7\n2=3\n\fimage_id,category\n1,2\n2,6\n"},
      {10, "sessionId,imageName,aestheticScore_mean,semantic\ns1,a.jpg,3.4,people\ns2,b.jpg,2.5,animal\n"},
      {11, "1 953619 0 1 5 17 38 36 15 6 5 1 1 22 1396\n2 953958 10 7 15 33 43 8 5 2 0 1 0 0 1396\n"},
      {12, "0.5 D2_IC001_img1.jpg\n0.25 D2_IC002_img3.jpg\n"},
      {13, "IMAGE PATH,JOD,SCENE\nimgs\\1.jpg,0.3,Scene_1\nimgs\\2.jpg,-1.5,Scene_42\n"},
      {14, "name,prompt,adj1,adj2,style,mos_quality\nmidjourney_1.png,a cat,,,anime,3.2\nsd_2.png,a dog,,,,2.1\n"},
      {15, "A0001_00_00.bmp,1500.25\n\fA0005_10_00.bmp,1400\nA0499_01_02.bmp,1000\n"}};
  int i = 0;
  for (const auto& [dataset, text] : seeds) write_text(d / ("seed" + std::to_string(i++)), std::string(1, dataset) + text);
}

// A small LZW-compressed RGB TIFF in strips of 4 rows (PIQ23's photos are TIFF), written with libtiff.
inline void write_tiff_seed(const std::string& path, const ImageU8& rgb) {
  TIFF* t = TIFFOpen(path.c_str(), "w");
  if (!t) fail(cat("cannot write the TIFF seed ", path));
  TIFFSetField(t, TIFFTAG_IMAGEWIDTH, uint32_t(rgb.width));
  TIFFSetField(t, TIFFTAG_IMAGELENGTH, uint32_t(rgb.height));
  TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, uint16_t(3));
  TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, uint16_t(8));
  TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_RGB);
  TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
  TIFFSetField(t, TIFFTAG_COMPRESSION, COMPRESSION_LZW);
  TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, uint32_t(4));
  std::vector<uint8_t> row;
  for (int y = 0; y < rgb.height; ++y) {
    row.assign(rgb.pixels.begin() + ptrdiff_t(y) * rgb.width * 3, rgb.pixels.begin() + ptrdiff_t(y + 1) * rgb.width * 3);
    TIFFWriteScanline(t, row.data(), uint32_t(y), 0);
  }
  TIFFClose(t);
}

inline void write_seeds(const std::filesystem::path& root, const std::filesystem::path& source_dir) {
  namespace fs = std::filesystem;
  for (const Target& t : all_targets()) fs::create_directories(root / t.name);
  ImageU8 rgb(19, 11, 3), gray(9, 17, 1);
  for (size_t i = 0; i < rgb.pixels.size(); ++i) rgb.pixels[i] = uint8_t(i * 37);
  for (size_t i = 0; i < gray.pixels.size(); ++i) gray.pixels[i] = uint8_t(i * 11);
  const fs::path d = root / "decode";
  write_jpeg((d / "rgb.jpg").string(), rgb, 80);
  write_jpeg((d / "gray.jpg").string(), gray, 60);
  write_png((d / "rgb.png").string(), rgb);
  write_png((d / "gray.png").string(), gray);
  write_bmp((d / "rgb.bmp").string(), rgb);
  write_tiff_seed((d / "rgb.tif").string(), rgb);

  DatasetList list;
  list.entries = {{"SPAQ/TestImage/00001.jpg", 48.86, 105, "Night scene", "", ""},
                  {"kadid10k/images/I01_01_01.png", 4.57, 601, "", "01", "I01.png"},
                  {"kadid10k/images/I02_01_01.png", 3.5, 601, "", "01", "I02.png"},
                  {"kadid10k/images/I01_02_03.png", 2.25, 602, "", "02", "I01.png"}};
  list.domain_names[105] = "Night scene";
  write_data_json((root / "dataset_json" / "listing.json").string(), list);
  write_text(root / "dataset_json" / "scores.csv", "\"a\",b\n1,\"x\"\"\"\r\n");
  write_data_json((root / "splits" / "listing.json").string(), list);

  save_safetensors((root / "safetensors" / "two.safetensors").string(),
                   {{"w", Tensor::ones({2, 3})}, {"b", Tensor::zeros({3}, DType::F64)}}, {{"format", "pt"}});

  write_score_file_seeds(root / "score_files");
  write_text(root / "kadis_listing" / "kadis700k.csv", "ref_im,dist_type_1,dist_type_2\nref1.png,3,\nref2.png,7,8\n");
  write_text(root / "kadis_listing" / "distortions.csv",
             "image,reference,type,level\nref1_03_02.bmp,ref1.png,3,2\nref1_25_05.bmp,ref1.png,25,5\n");
  write_text(root / "kadis_listing" / "ids.txt", "1,3,7-9,jpeg2000\n");

  Generator rng;
  rng.seed = 42;
  rng.offset = 1000;
  Linear model(2, 1);  // the same tiny model fuzz_checkpoint loads into
  training::TrainingState state;
  state.model = &model;
  state.rng = &rng;
  state.step = 12;
  state.epoch = 3;
  state.config = {{"lr", "0.001"}, {"model", "sind"}};
  training::save_checkpoint((root / "checkpoint" / "state.safetensors").string(), state);

  copy_official_seeds(root, source_dir);
  write_xlsx_part_seeds(root, source_dir);
  write_compression_seeds(root / "compression");
  write_cli_seeds(root / "cli");
}

}  // namespace iqa::fuzz
