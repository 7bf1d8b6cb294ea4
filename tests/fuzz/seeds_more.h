// Seeds of the newer fuzz targets (tests/fuzz/targets_formats.h, targets_cli.h): the committed official
// .xlsx/.mat fixtures, small images for the compression round trips, and each binary's documented
// command lines. Included from tests/fuzz/seeds.h.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

namespace iqa::fuzz {

// cli inputs: byte 0 picks the binary (its index in kCliTools), arguments are separated by newlines.
inline void write_cli_seeds(const std::filesystem::path& d) {
  const std::pair<char, std::string> lines[] = {
      {0, "--demo\n--epochs\n1"},
      {0, "--clip_model\nopenai/ViT-B-16\n--local_global\n--loss_type\nscale_shift\n--scene_sampling\n2\n"
          "--train_dataset\nspaq\n--test_dataset\nspaq\n--exp_type\nleave-one-out\n--mixed_precision\nbf16"},
      {0, "--from_scratch\n--clip_model\nViT-B-16\n--exp_type\ncross-set\n--train_dataset\nkoniq10k\n--test_dataset\n"
          "livec,bid\n--local_view\nsame-crop\n--resume\nauto"},
      {1, "--checkpoint\nrun/checkpoints/best.safetensors\nimages/\n--out\nscores.json\n--single-view\n--calibrate"},
      {1, "--checkpoint=last.safetensors\n--data_json\nlist.json\n--data_root\ndata\n--bad-image\nfail\n--decode\nfast"},
      {2, "--dataset\nkadid10k\n--scores\nkadid10k/dmos.csv\n--out\ndata_json"},
      {2, "--dataset\nlive\n--scores\nall.json\n--protocols\nrandom-split,cross-set\n--splits\n10\n--seed\n3"},
      {3, "--stage\nqep\n--kadis_root\nkadis\n--dsm_checkpoint\ndsm.safetensors\n--channels_last\n--mix\n3"},
      {3, "--stage\nlp\n--encoder\nenc.safetensors\n--dataset\ncsiq\n--channels_last=off\n--score_norm\nminmax"},
      {4, "--checkpoint\nclip.safetensors\n--dataset\nkoniq10k\n--format\njson\n--batch\n8\nimgs/"},
      {4, "--checkpoint\nc.safetensors\n--labels\nsky,city\n--prompt\na photo of {label}\n--domain-base\n200"},
      {5, "--input\nrefs\n--output\nout\n--types\n1-8,10,jpeg2000\n--levels\n2,4\n--types-per-image\n1"},
      {6, "--workers\n1,2\n--images\n64\n--distinct\n4\n--batch\n16\n--sizes\nkoniq\n--cache"},
      {7, "--steps\n50\n--lr\n0.001\n--device\ncpu\n--autocast\nnone\n--print-every\n10\n--seed\n3"},
      {8, "--device\ncpu\n--ops\nmatmul,softmax\n--reps\n5\n--warmup\n0\n--dtype\nf64\n--small\n--json"}};
  int i = 0;
  for (const auto& [tool, text] : lines) write_text(d / ("seed" + std::to_string(i++)), std::string(1, tool) + text);
}

// compression inputs: byte 0 type and level, bytes 1-2 the size, then pixels (fuzz_compression).
inline void write_compression_seeds(const std::filesystem::path& d) {
  for (int k = 0; k < 4; ++k) {
    std::string bytes = {char(k), char(k * 11 + 15), char(k * 7 + 9)};
    for (int i = 0; i < 96; ++i) bytes += char((i * 37 + k * 91) & 0xff);
    write_text(d / ("seed" + std::to_string(k)), bytes);
  }
}

// xlsx and mat: the official files committed under tests/fixtures/official/ (make_official_files.py).
inline void copy_official_seeds(const std::filesystem::path& root, const std::filesystem::path& source_dir) {
  namespace fs = std::filesystem;
  const fs::path official = source_dir / "tests" / "fixtures" / "official";
  if (!fs::is_directory(official)) fail(cat("fuzz seeds: no folder ", official.string()));
  for (const auto& e : fs::directory_iterator(official)) {
    const std::string ext = e.path().extension().string();
    if (ext == ".xlsx" || ext == ".mat")
      fs::copy_file(e.path(), root / ext.substr(1) / e.path().filename(), fs::copy_options::overwrite_existing);
  }
}

// xlsx_parts: a minimal workbook written out here (so there is a seed without libzip), and the parts
// of every committed official workbook, NUL-separated in kXlsxParts' order (tests/fuzz/targets_xlsx_parts.h).
inline void write_xlsx_part_seeds(const std::filesystem::path& root, const std::filesystem::path& source_dir) {
  namespace fs = std::filesystem;
  const fs::path d = root / "xlsx_parts";
  const std::string minimal[] = {
      R"(<workbook><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>)",
      R"(<Relationships><Relationship Id="rId1" Target="worksheets/sheet1.xml"/></Relationships>)",
      R"(<sst><si><t>image</t></si><si><t>MOS</t></si><si><t>a.jpg</t></si></sst>)",
      R"(<worksheet><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>)"
      R"(<row r="2"><c r="A2" t="s"><v>2</v></c><c r="B2"><v>3.25</v></c></row>)"
      R"(<row r="3"><c r="A3" t="inlineStr"><is><t>b.jpg</t></is></c><c r="B3"><v>1E-3</v></c></row>)"
      R"(</sheetData></worksheet>)",
      ""};
  std::string joined;
  for (size_t i = 0; i < std::size(minimal); ++i) joined += (i ? std::string(1, '\0') : "") + minimal[i];
  write_text(d / "minimal", joined);
#ifdef IQA_FUZZ_CAN_ZIP
  for (const auto& e : fs::directory_iterator(source_dir / "tests" / "fixtures" / "official")) {
    if (e.path().extension() != ".xlsx") continue;
    int err = 0;
    zip_t* zip = zip_open(e.path().c_str(), ZIP_RDONLY, &err);
    if (!zip) fail(cat("fuzz seeds: cannot open ", e.path().string()));
    std::string seed;
    for (size_t i = 0; i < kXlsxParts.size(); ++i) {
      if (i) seed += '\0';
      zip_stat_t st;
      zip_file_t* f = zip_stat(zip, kXlsxParts[i], 0, &st) == 0 ? zip_fopen(zip, kXlsxParts[i], 0) : nullptr;
      if (!f) continue;  // an absent part stays empty
      std::string part(size_t(st.size), '\0');
      const zip_int64_t got = zip_fread(f, part.data(), st.size);
      zip_fclose(f);
      if (got != zip_int64_t(st.size)) fail(cat("fuzz seeds: short read of ", kXlsxParts[i], " in ", e.path().string()));
      seed += part;
    }
    zip_close(zip);
    std::string name = e.path().stem().string();
    for (char& c : name) if (c == ' ') c = '_';
    write_text(d / name, seed);
  }
#else
  (void)source_dir;
#endif
}

}  // namespace iqa::fuzz
