// Bad inputs, table-driven: each row runs one binary (sind-train, dsmix-train, sind-score, make-splits,
// iqa-distort, iqa-scenes, loader-bench, engine-smoke, iqa-bench) as a child on one broken input and
// checks the exit code, that the message names the file and the field or value at fault, and that the
// output the command was asked for was not left behind, whole or half-written (nor any writer's
// temporary file).
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "engine/safetensors.h"
#include "tests/fixture_paths.h"
#include "tests/reliability/tiny_run.h"
#include "tests/testing.h"
#include "training/data/mat_reader.h"

using namespace iqa;
using namespace iqa::testing;
namespace fs = std::filesystem;

namespace {

void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary) << bytes;
}

// A baseline JPEG header claiming width x height: SOI, SOF0 and SOS (no tables, no scan data), enough
// for libjpeg to read the size.
std::string jpeg_header_claiming(int width, int height) {
  std::string s = {char(0xFF), char(0xD8), char(0xFF), char(0xC0), 0, 17, 8};
  s += {char(height >> 8), char(height & 255), char(width >> 8), char(width & 255), 3};
  for (int c = 1; c <= 3; ++c) s += {char(c), char(0x11), 0};
  s += {char(0xFF), char(0xDA), 0, 12, 3, 1, 0, 2, 0, 3, 0, 0, 63, 0};
  return s;
}

// A safetensors file whose header says `tensor_json` for tensor "w", followed by 16 data bytes.
std::string safetensors_with(const std::string& tensor_json) {
  const std::string header = "{\"w\":" + tensor_json + "}";
  std::string s(8, '\0');
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) s[size_t(i)] = char((n >> (8 * i)) & 255);
  return s + header + std::string(16, '\0');
}

struct BadInput {
  std::string what;               // the row's label
  std::vector<std::string> args;  // after the binary
  std::string binary;
  int exit_code;
  std::vector<std::string> message;  // each must appear in the output
};

}  // namespace

TEST_CASE("bad inputs: every binary fails with a message naming the file and field", "[reliability][train]") {
  const TinyRun tiny("iqa_test_bad_inputs");
  const fs::path dir = tiny.root / "bad";
  fs::create_directories(dir);
  const std::string d = dir.string() + "/";
  // A real checkpoint to score with.
  const std::string run = (tiny.root / "run").string();
  const ChildResult trained = tiny.run(tiny.args(run, {"--epochs", "1"}));
  INFO(trained.output);
  REQUIRE(trained.exit_code == 0);
  const std::string ckpt = find_checkpoint(run).string();
  const std::string png = tiny.data + "/images/s0_r0_denoise_l1.png";
  const std::string png_bytes = file_bytes(png);

  write_file(d + "corrupt.jpg", std::string("\xFF\xD8\xFF\xE0") + std::string(300, '\x5A'));
  write_file(d + "truncated.png", png_bytes.substr(0, png_bytes.size() / 3));
  write_file(d + "huge.jpg", jpeg_header_claiming(60000, 60000));
  write_file(d + "offsets.safetensors", safetensors_with(R"({"dtype":"F32","shape":[4],"data_offsets":[0,4096]})"));
  write_file(d + "dtype.safetensors", safetensors_with(R"({"dtype":"Q7","shape":[4],"data_offsets":[0,16]})"));
  save_safetensors(d + "other_model.safetensors", {{"x", Tensor::zeros({2})}}, {{"format", "dsmix-encoder"}});
  write_file(d + "types.json", R"({"files": [{"image": "a.png", "score": "high", "domain_id": 0}]})");
  write_file(d + "missing_key.json", R"({"files": [{"image": "a.png", "domain_id": 0}]})");
  write_file(d + "not_json.json", "{\"files\": [");
  // Scene ids: 1050 lies between TID2013's 900..999 and EVA's 1100..1199, so no dataset owns it.
  for (const auto& [stem, id] : {std::pair{"scene_unowned", "1050"}, {"scene_negative", "-3"}, {"scene_fraction", "2.5"},
                                 {"scene_text", "\"kitchen\""}})
    write_file(d + stem + ".json", std::string(R"({"files": [{"image": "a.png", "score": 1, "domain_id": 7},)") +
                                       R"( {"image": "b.png", "score": 2, "domain_id": )" + id + "}]}");
  write_file(d + "koniq_columns.csv", "image_name,MOS\n1.jpg,3.2\n");
  write_file(d + "koniq_text.csv", "image_name,MOS_zscore\n1.jpg,3.2\n2.jpg,good\n");
  write_file(d + "koniq_nan.csv", "image_name,MOS_zscore\n1.jpg,nan\n");
  write_file(d + "koniq_inf.csv", "image_name,MOS_zscore\n1.jpg,inf\n");
  fs::create_directories(d + "unreadable");
  fs::permissions(d + "unreadable", fs::perms::none);
  // A finished run's result that --resume would reuse, cut off mid-write (before writes were atomic).
  fs::create_directories(d + "run_damaged");
  write_file(d + "run_damaged/result.json", R"({"steps": 5, "interrupted": fal)");
  // iqa-distort's references: one good image and one corrupt one.
  fs::create_directories(d + "references");
  fs::copy_file(png, d + "references/good.png");
  fs::copy_file(d + "corrupt.jpg", d + "references/corrupt.jpg");

  const std::string score_out = d + "scores.csv", splits_out = d + "splits", distort_csv = d + "distorted/distortions.csv";
  auto train = [&](const std::string& json) {
    return std::vector<std::string>{"--exp_type", "cross-set", "--train_dataset", json, "--test_dataset", json,
                                    "--data_root", tiny.data, "--project_dir", d + "run_" + fs::path(json).stem().string(),
                                    "--clip_model", "tiny", "--device", "cpu", "--epochs", "1"};
  };
  auto with = [](std::vector<std::string> a, const std::vector<std::string>& more) {
    a.insert(a.end(), more.begin(), more.end());
    return a;
  };
  auto score = [&](const std::string& checkpoint, const std::string& image) {
    return std::vector<std::string>{"--checkpoint", checkpoint, image, "--out", score_out};
  };
  auto koniq = [&](const std::string& csv) {
    return std::vector<std::string>{"--dataset", "koniq10k", "--scores", csv, "--out", splits_out};
  };
  auto distort = [&](const std::string& input, const std::string& types = "1") {
    return std::vector<std::string>{"--input", input, "--output", d + "distorted", "--types", types, "--levels", "1"};
  };
  std::vector<BadInput> table = {
      {"missing data_json", train(d + "absent.json"), "sind-train", 1, {d + "absent.json"}},
      {"data_json not JSON", train(d + "not_json.json"), "sind-train", 1, {d + "not_json.json"}},
      {"data_json score of the wrong type", train(d + "types.json"), "sind-train", 1, {d + "types.json", "score"}},
      {"data_json without a score", train(d + "missing_key.json"), "sind-train", 1, {d + "missing_key.json", "score"}},
      {"scene id no dataset owns", train(d + "scene_unowned.json"), "sind-train", 1,
       {d + "scene_unowned.json", "files[1].domain_id", "1050", "tid2013 900..999"}},
      {"negative scene id", train(d + "scene_negative.json"), "sind-train", 1,
       {d + "scene_negative.json", "files[1].domain_id", "-3"}},
      {"fractional scene id", train(d + "scene_fraction.json"), "sind-train", 1,
       {d + "scene_fraction.json", "files[1].domain_id", "2.5"}},
      {"scene id not a number", train(d + "scene_text.json"), "sind-train", 1,
       {d + "scene_text.json", "files[1].domain_id", "expected an integer"}},
      {"conflicting flags", with(train(tiny.json), {"--loss_type", "scale_shift", "--scene_sampling", "0"}),
       "sind-train", 1, {"--loss_type scale_shift needs --scene_sampling > 0"}},
      {"an ablation without its model", with(train(tiny.json), {"--all_global"}), "sind-train", 1,
       {"--all_global is an ablation of --local_global"}},
      {"unknown choice", with(train(tiny.json), {"--loss_type", "l3"}), "sind-train", 105, {"--loss_type", "l3"}},
      {"unknown DSMix stage", {"--stage", "pretrain"}, "dsmix-train", 105,
       {"--stage must be dsm, qep or lp, got 'pretrain'"}},
      {"unknown DSMix encoder", {"--stage", "lp", "--qe_model", "resnet18"}, "dsmix-train", 105,
       {"--qe_model must be resnet50 or tiny, got 'resnet18'"}},
      {"unknown SIND model", {"--clip_model", "ViT-L-14"}, "sind-train", 105,
       {"--clip_model must be one of openai/ViT-B-16", "got 'ViT-L-14'"}},
      {"missing checkpoint", score(d + "absent.safetensors", png), "sind-score", 1, {d + "absent.safetensors"}},
      {"safetensors offsets past the end", score(d + "offsets.safetensors", png), "sind-score", 1,
       {d + "offsets.safetensors", "'w'"}},
      {"safetensors unknown dtype", score(d + "dtype.safetensors", png), "sind-score", 1, {d + "dtype.safetensors", "Q7"}},
      {"checkpoint of another model", score(d + "other_model.safetensors", png), "sind-score", 1,
       {d + "other_model.safetensors", "dsmix-encoder"}},
      // sind-score's default policy names each unreadable image and exits 2 (no output when none was
      // scored); --bad-image fail stops at the first with exit 1.
      {"corrupt JPEG", score(ckpt, d + "corrupt.jpg"), "sind-score", 2, {d + "corrupt.jpg", "could not be read"}},
      {"corrupt JPEG, --bad-image fail", with(score(ckpt, d + "corrupt.jpg"), {"--bad-image", "fail"}), "sind-score",
       1, {d + "corrupt.jpg"}},
      {"truncated PNG", with(score(ckpt, d + "truncated.png"), {"--bad-image", "fail"}), "sind-score", 1,
       {d + "truncated.png"}},
      {"JPEG claiming 60000x60000", score(ckpt, d + "huge.jpg"), "sind-score", 2, {d + "huge.jpg", "60000"}},
      {"missing image", with(score(ckpt, d + "absent.png"), {"--bad-image", "fail"}), "sind-score", 1,
       {d + "absent.png"}},
      {"CSV without the MOS column", koniq(d + "koniq_columns.csv"), "make-splits", 1,
       {d + "koniq_columns.csv", "MOS_zscore"}},
      {"non-numeric MOS", koniq(d + "koniq_text.csv"), "make-splits", 1, {"koniq_text.csv:3", "good"}},
      {"NaN MOS", koniq(d + "koniq_nan.csv"), "make-splits", 1, {"koniq_nan.csv:2", "nan"}},
      {"infinite MOS", koniq(d + "koniq_inf.csv"), "make-splits", 1, {"koniq_inf.csv:2", "inf"}},
      {"missing score file", koniq(d + "absent.csv"), "make-splits", 1, {d + "absent.csv"}},
      {"damaged result.json on resume",
       {"--exp_type", "cross-set", "--train_dataset", tiny.json, "--test_dataset", tiny.json, "--data_root", tiny.data,
        "--project_dir", d + "run_damaged", "--clip_model", "tiny", "--device", "cpu", "--epochs", "1", "--resume", "auto"},
       "sind-train", 1, {d + "run_damaged/result.json (a finished run's result", "delete it to train that run again"}},
      {"corrupt reference image", distort(d + "references"), "iqa-distort", 1, {d + "references/corrupt.jpg"}},
      {"missing reference folder", distort(d + "absent"), "iqa-distort", 1, {d + "absent", "not a folder"}},
      {"distortion type out of range", distort(d + "references", "26"), "iqa-distort", 1,
       {"--types: '26' is outside 1..25"}},
      {"unknown distortion name", distort(d + "references", "blurry"), "iqa-distort", 1,
       {"--types: cannot read 'blurry'"}},
      {"missing CLIP checkpoint", {"--checkpoint", d + "absent_clip.safetensors", d + "references", "--out", score_out},
       "iqa-scenes", 1, {d + "absent_clip.safetensors"}},
      {"CLIP checkpoint of another model", {"--checkpoint", ckpt, d + "references", "--out", score_out}, "iqa-scenes", 1,
       {ckpt}},
      {"unknown loader-bench view", {"--local-view", "tiles"}, "loader-bench", 105,
       {"--local-view must be mosaic or same-crop, got 'tiles'"}},
      {"no loader workers", {"--workers", "0"}, "loader-bench", 1, {"--workers must be at least 1 each, got 0"}},
      {"unknown engine-smoke device", {"--device", "gpu"}, "engine-smoke", 105,
       {"--device must be auto, cpu or cuda, got 'gpu'"}},
      {"unknown iqa-bench dtype", {"--dtype", "f8"}, "iqa-bench", 1, {"unknown --dtype 'f8'"}},
      {"no timed iqa-bench reps", {"--reps", "0"}, "iqa-bench", 105, {"--reps: must be at least 1, got '0'"}},
  };
  // A LIVE Challenge image list whose third name element is not int8 (tests/fuzz found libmatio asking
  // for 2 GB on it): refused before libmatio reads it, naming the file and the byte.
  if (mat_supported()) {
    const std::string bad_mat = d + "AllImages_release.mat";
    fs::copy_file(testing::fixtures_dir().parent_path() / "fuzz/regressions/fuzz_mat/name_not_int8", bad_mat);
    const std::string mos_mat = (testing::fixtures_dir() / "official/AllMOS_release.mat").string();
    table.push_back({"corrupt .mat score file", {"--dataset", "livec", "--scores", bad_mat, mos_mat, "--out", splits_out},
                     "make-splits", 1, {bad_mat, "the array at byte 328 has a name element of type 0"}});
  }
  // Root reads any folder whatever its mode (CI runs as root): the row only means something otherwise.
  if (::geteuid() != 0) table.push_back({"unreadable folder", score(ckpt, d + "unreadable"), "sind-score", 1, {d + "unreadable"}});
  for (const BadInput& row : table) {
    std::vector<std::string> argv = {sibling_binary(row.binary)};
    argv.insert(argv.end(), row.args.begin(), row.args.end());
    ChildOptions o;
    o.env = {{"OMP_NUM_THREADS", "1"}};
    o.log = d + "child.log";
    const ChildResult r = run_child(argv, o);
    INFO(row.what << ": " << row.binary << " said\n" << r.output);
    CHECK(r.exit_code == row.exit_code);
    for (const std::string& m : row.message) CHECK_THAT(r.output, Catch::Contains(m));
    CHECK_THAT(r.output, !Catch::Contains("AddressSanitizer") && !Catch::Contains("runtime error"));
    CHECK_FALSE(fs::exists(score_out));
    CHECK_FALSE(fs::exists(splits_out));
    CHECK_FALSE(fs::exists(distort_csv));
    for (const auto& e : fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied))
      CHECK_THAT(e.path().filename().string(), !Catch::Contains(".tmp."));
  }
  fs::permissions(d + "unreadable", fs::perms::owner_all);
}
