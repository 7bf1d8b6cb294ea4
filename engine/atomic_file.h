// Files replaced whole or not at all. A writer fills a temporary file beside its target
// (".<name>.tmp.<pid>.<n>"), fsyncs it, renames it over the target and fsyncs the folder, so a kill, a
// power cut or a full disk leaves the target with its old content or the whole new one, never a part.
// Checkpoints (engine/safetensors.cpp) and the text a run writes and later reads back (results that
// a resumed run reuses, score files, summaries, plots) all go through here, and so do images
// (training/image/encode.h), without the fsyncs.
#pragma once
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace iqa {

// What a committed file survives. `kill`: a killed process (the rename alone); for outputs written
// by the thousand that a rerun makes again, such as iqa-distort's images, where an fsync per file
// would cost more than the image. `power_cut`: also a crash of the machine (fsync of the file and
// of its folder); for checkpoints and everything a resumed run reads back.
enum class Survives { kill, power_cut };

class AtomicFile {
 public:
  // Creates the temporary file; errors (here and below) throw iqa::Error starting with `where`.
  // Thread-safe: writers of different paths, or of one path, may run at once (the last rename wins).
  AtomicFile(std::string path, std::string where, Survives survives = Survives::power_cut);
  ~AtomicFile();  // not committed: the temporary file is removed and the target left as it was
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t n);
  // fsync, close, the permissions an ordinary new file gets, rename over the target; after_rename
  // runs next (a crash test's point: the file in place, its folder not yet synced); fsync the folder.
  void commit(const std::function<void()>& after_rename = {});

 private:
  std::string path_, where_, tmp_;
  Survives survives_;
  int fd_ = -1;
  bool committed_ = false;
};

// The whole of `bytes` into `path` through an AtomicFile. A failure says how much room there was and
// that `path` is unchanged: "<where>: <path> not written (<n> MiB free in <dir>; any earlier file is
// kept): <reason>".
void write_file_atomically(const std::string& path, std::string_view bytes, const std::string& where,
                           Survives survives = Survives::power_cut);

// "<n> MiB free in <dir>" for the folder that holds `path`, or why that is not known.
std::string free_space_text(const std::string& path);

// Removes the temporary files that writers of `path` killed midway left beside it (a run crashing
// often would fill the disk with them). Only for paths a single process writes.
void remove_stale_temporaries(const std::string& path);

}  // namespace iqa
