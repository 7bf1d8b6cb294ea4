// Disk full: sind-train resumed under a file-size limit (RLIMIT_FSIZE, SIGXFSZ ignored, so a write
// fails with EFBIG as it would with ENOSPC) one byte below its checkpoint's size trains a pass, fails
// to write the next checkpoint, and exits with an error naming the path and the free space; the
// previous checkpoint is byte-for-byte what it was, still loads, and no temporary copy is left.
#include <filesystem>
#include <set>

#include "tests/reliability/tiny_run.h"
#include "tests/testing.h"
#include "training/checkpoint.h"

using namespace iqa;
using namespace iqa::testing;
namespace fs = std::filesystem;

TEST_CASE("disk full: a checkpoint write that fails names the path and keeps the previous checkpoint",
          "[reliability][train]") {
  const TinyRun tiny("iqa_test_disk_full");
  const std::string run = (tiny.root / "run").string();
  // No view cache: its shards are the one other file that could reach the limit first.
  const std::vector<std::string> args = tiny.args(run, {"--cache_dir", ""});
  const ChildResult first = tiny.run(args, "step:7");  // epoch 1, after epoch 0's checkpoint
  INFO(first.output);
  const fs::path ckpt = find_checkpoint(run);
  REQUIRE(!ckpt.empty());
  const std::string before = file_bytes(ckpt);

  const ChildResult full = tiny.run(args, "", static_cast<long long>(before.size()) - 1);
  INFO(full.output);
  CHECK(full.exit_code == 1);
  CHECK_THAT(full.output, Catch::Contains("checkpoint " + ckpt.string() + ": not written ("));
  CHECK_THAT(full.output, Catch::Contains(" MiB free in " + ckpt.parent_path().string()));
  CHECK_THAT(full.output, Catch::Contains("File too large"));
  CHECK(file_bytes(ckpt) == before);
  training::TrainingState st;
  REQUIRE_NOTHROW(training::load_checkpoint(ckpt.string(), st));
  CHECK(st.step == 5);
  // No temporary copy is left: only the final names (last, and the kept best weights of epoch 0).
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(ckpt.parent_path())) names.insert(e.path().filename().string());
  CHECK(names == std::set<std::string>{"best.safetensors", "last.safetensors"});
}
