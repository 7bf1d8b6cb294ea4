// engine/atomic_file.h: a file is replaced whole or not at all. A write that fails (here under a
// file-size limit, as on a full disk) names the path and the free space, leaves the earlier file
// byte for byte and no temporary file; an uncommitted writer leaves nothing; stale temporaries of a
// path are removed and nothing else.
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <thread>
#include <vector>

#include "engine/atomic_file.h"
#include "engine/error.h"
#include "tests/testing.h"

using namespace iqa;
using iqa::testing::read_text;
namespace fs = std::filesystem;
using Catch::Contains;

namespace {

fs::path fresh_folder(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / (name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::string message_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::set<std::string> names_in(const fs::path& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

}  // namespace

TEST_CASE("atomic file: replaces the whole file with an ordinary file's permissions", "[atomic_file]") {
  const fs::path dir = fresh_folder("iqa_atomic_write");
  const std::string path = (dir / "result.json").string();
  write_file_atomically(path, "{\"srcc\": 0.5}\n", "test");
  CHECK(read_text(path) == "{\"srcc\": 0.5}\n");
  write_file_atomically(path, "x", "test");
  CHECK(read_text(path) == "x");
  CHECK(names_in(dir) == std::set<std::string>{"result.json"});
  const mode_t mask = umask(0);
  umask(mask);
  CHECK((fs::status(path).permissions() & fs::perms::all) == fs::perms(0666 & ~mask));
}

TEST_CASE("atomic file: a failed write names the path and the free space and keeps the earlier file",
          "[atomic_file]") {
  const fs::path dir = fresh_folder("iqa_atomic_full");
  const std::string path = (dir / "summary.txt").string();
  write_file_atomically(path, "earlier\n", "test");
  // A file-size limit makes write() fail with EFBIG, as a full disk makes it fail with ENOSPC.
  rlimit old{};
  REQUIRE(getrlimit(RLIMIT_FSIZE, &old) == 0);
  const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit small = old;
  small.rlim_cur = 4096;
  REQUIRE(setrlimit(RLIMIT_FSIZE, &small) == 0);
  const std::string message =
      message_of([&] { write_file_atomically(path, std::string(10000, 'y'), "sind-train"); });
  setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, old_handler);
  CHECK_THAT(message, Contains("sind-train: " + path + " not written (") && Contains(" MiB free in " + dir.string()) &&
                          Contains("any earlier file is kept): sind-train: write failed: File too large"));
  CHECK(read_text(path) == "earlier\n");
  CHECK(names_in(dir) == std::set<std::string>{"summary.txt"});
}

TEST_CASE("atomic file: an uncommitted writer leaves the target and no temporary, stale ones are removed",
          "[atomic_file]") {
  const fs::path dir = fresh_folder("iqa_atomic_abandon");
  const std::string path = (dir / "last.safetensors").string();
  write_file_atomically(path, "old", "test");
  {
    AtomicFile f(path, "test");
    f.write("new content", 11);
    CHECK(names_in(dir).size() == 2);  // the temporary file beside the target
  }  // dropped before commit(), as when a write throws
  CHECK(read_text(path) == "old");
  CHECK(names_in(dir) == std::set<std::string>{"last.safetensors"});

  // What a killed writer leaves: its temporary file. Only the target's own are removed.
  std::ofstream(dir / ".last.safetensors.tmp.Ab12Cd") << "half";
  std::ofstream(dir / ".best.safetensors.tmp.Ab12Cd") << "another target's";
  remove_stale_temporaries(path);
  CHECK(names_in(dir) == std::set<std::string>{"last.safetensors", ".best.safetensors.tmp.Ab12Cd"});

  CHECK_THAT(message_of([&] { write_file_atomically((dir / "no/such/folder/x").string(), "x", "make-splits"); }),
             Contains("make-splits: cannot create a temporary file in " + (dir / "no/such/folder").string()));
}

TEST_CASE("atomic file: writers in many threads at once each give an ordinary whole file", "[atomic_file]") {
  // iqa-distort writes its images from OpenMP threads. The writer once read the umask by setting it to
  // 0 for a moment, which other threads' new files could pick up (world-writable).
  const fs::path dir = fresh_folder("iqa_atomic_threads");
  const mode_t mask = umask(0);
  umask(mask);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        const std::string name = "img_" + std::to_string(t) + "_" + std::to_string(i) + ".png";
        write_file_atomically((dir / name).string(), name, "test", i % 2 ? Survives::kill : Survives::power_cut);
        write_file_atomically((dir / "shared.txt").string(), std::string(1000, char('a' + t)), "test",
                              Survives::kill);
      }
    });
  for (auto& th : threads) th.join();
  const std::set<std::string> names = names_in(dir);
  CHECK(names.size() == 8 * 50 + 1);  // no temporary file left
  for (const std::string& name : names) {
    INFO(name);
    CHECK((fs::status(dir / name).permissions() & fs::perms::all) == fs::perms(0666 & ~mask));
    if (name != "shared.txt") CHECK(read_text((dir / name).string()) == name);
  }
  const std::string shared = read_text((dir / "shared.txt").string());  // one writer's whole content
  REQUIRE(shared.size() == 1000);
  CHECK(shared == std::string(1000, shared[0]));
}
