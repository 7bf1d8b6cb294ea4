// How this process was launched: torchrun-style env, mpirun (Open MPI or MPICH/Hydra PMI), Slurm srun,
// or a single process. Only the environment is read; nothing is contacted here.
#include <cerrno>
#include <cstdlib>
#include <optional>

#include "engine/comm.h"
#include "engine/cuda_runtime.h"

namespace iqa::dist {

namespace {

std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (!v) return std::nullopt;
  return std::string(v);
}

// The whole value must be a base-10 integer in [lo, hi]; the error names the variable.
int env_int(const char* name, const std::string& value, long lo, long hi) {
  errno = 0;
  char* end = nullptr;
  long v = std::strtol(value.c_str(), &end, 10);
  IQA_CHECK(!value.empty() && end && *end == '\0' && errno == 0, "environment variable ", name, "='", value,
            "' is not an integer");
  IQA_CHECK(v >= lo && v <= hi, "environment variable ", name, "=", v, " is out of range [", lo, ", ", hi, "]");
  return int(v);
}

int required_int(const char* name, const char* needed_by, long lo, long hi) {
  auto v = env(name);
  IQA_CHECK(v.has_value(), "environment variable ", name, " is not set, but ", needed_by,
            " is (incomplete launcher environment)");
  return env_int(name, *v, lo, hi);
}

constexpr long kMaxRanks = 1 << 20;

// MASTER_ADDR / MASTER_PORT when set; the defaults (or the given address) otherwise.
void read_master(LaunchInfo& li, const std::string& default_addr) {
  auto addr = env("MASTER_ADDR");
  li.master_addr = addr ? *addr : default_addr;
  IQA_CHECK(!li.master_addr.empty(), "environment variable MASTER_ADDR is empty");
  if (auto port = env("MASTER_PORT")) li.master_port = env_int("MASTER_PORT", *port, 1, 65535);
}

void check_ranks(const LaunchInfo& li, const char* rank_var, const char* size_var) {
  IQA_CHECK(li.rank < li.world_size, "environment variable ", rank_var, "=", li.rank, " is not below ", size_var,
            "=", li.world_size);
}

// One "prefix[ranges]suffix" item (suffix may hold further bracket groups) expanded into `out`.
void expand_item(const std::string& list, const std::string& item, std::vector<std::string>& out) {
  size_t open = item.find('[');
  if (open == std::string::npos) {
    IQA_CHECK(item.find(']') == std::string::npos, "node list '", list, "': unmatched ']' in '", item, "'");
    IQA_CHECK(!item.empty(), "node list '", list, "' has an empty host name");
    out.push_back(item);
    return;
  }
  size_t close = item.find(']', open);
  IQA_CHECK(close != std::string::npos, "node list '", list, "': unmatched '[' in '", item, "'");
  std::string prefix = item.substr(0, open);
  std::string ranges = item.substr(open + 1, close - open - 1);
  std::string rest = item.substr(close + 1);
  std::vector<std::string> tails;  // every expansion of what follows the brackets
  if (rest.empty()) tails.push_back("");
  else expand_item(list, rest, tails);
  IQA_CHECK(!ranges.empty(), "node list '", list, "': empty brackets in '", item, "'");
  size_t start = 0;
  while (start <= ranges.size()) {
    size_t comma = ranges.find(',', start);
    std::string r = ranges.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    size_t dash = r.find('-');
    std::string lo_s = r.substr(0, dash), hi_s = dash == std::string::npos ? lo_s : r.substr(dash + 1);
    auto all_digits = [](const std::string& s) {
      return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
    };
    IQA_CHECK(all_digits(lo_s) && all_digits(hi_s) && lo_s.size() <= 9 && hi_s.size() <= 9, "node list '", list,
              "': range '", r, "' is not N or N-M");
    long lo = std::stol(lo_s), hi = std::stol(hi_s);
    IQA_CHECK(lo <= hi, "node list '", list, "': range '", r, "' runs backwards");
    IQA_CHECK(hi - lo < 100000, "node list '", list, "': range '", r, "' is implausibly large");
    for (long n = lo; n <= hi; ++n) {
      std::string num = std::to_string(n);
      // Slurm keeps the width of the lower bound: node[01-10] -> node01 .. node10.
      if (num.size() < lo_s.size()) num.insert(0, lo_s.size() - num.size(), '0');
      for (const auto& t : tails) out.push_back(prefix + num + t);
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
}

}  // namespace

std::vector<std::string> expand_nodelist(const std::string& nodelist) {
  std::vector<std::string> hosts;
  // Split on commas outside brackets: "a[1,2],b" is two items.
  int depth = 0;
  size_t begin = 0;
  for (size_t i = 0; i <= nodelist.size(); ++i) {
    char c = i < nodelist.size() ? nodelist[i] : ',';
    if (c == '[') ++depth;
    if (c == ']') --depth;
    IQA_CHECK(depth >= 0 && depth <= 1, "node list '", nodelist, "' has unbalanced or nested brackets");
    if (c == ',' && depth == 0) {
      expand_item(nodelist, nodelist.substr(begin, i - begin), hosts);
      begin = i + 1;
    }
  }
  IQA_CHECK(depth == 0, "node list '", nodelist, "' has an unclosed '['");
  return hosts;
}

namespace {
// A positive number of seconds from the environment variable `name`, when set.
void read_seconds(const char* name, double& seconds) {
  auto t = env(name);
  if (!t) return;
  char* end = nullptr;
  const double v = std::strtod(t->c_str(), &end);
  IQA_CHECK(!t->empty() && end && *end == '\0' && v > 0, "environment variable ", name, "='", *t,
            "' is not a positive number of seconds");
  seconds = v;
}
}  // namespace

LaunchInfo detect_launch() {
  LaunchInfo li;
  read_seconds("IQA_DIST_TIMEOUT", li.timeout_s);
  read_seconds("IQA_COMM_TIMEOUT_S", li.collective_timeout_s);

  if (env("RANK") || env("WORLD_SIZE")) {  // torchrun, or a hand-written launch in its style
    li.launcher = "torchrun";
    li.world_size = required_int("WORLD_SIZE", "RANK", 1, kMaxRanks);
    li.rank = required_int("RANK", "WORLD_SIZE", 0, kMaxRanks);
    check_ranks(li, "RANK", "WORLD_SIZE");
    auto lr = env("LOCAL_RANK");
    li.local_rank = lr ? env_int("LOCAL_RANK", *lr, 0, kMaxRanks) : li.rank;
    read_master(li, li.master_addr);
    return li;
  }
  if (env("OMPI_COMM_WORLD_RANK")) {  // Open MPI's mpirun
    li.launcher = "mpirun";
    li.rank = required_int("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", 0, kMaxRanks);
    li.world_size = required_int("OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", 1, kMaxRanks);
    check_ranks(li, "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE");
    auto lr = env("OMPI_COMM_WORLD_LOCAL_RANK");
    li.local_rank = lr ? env_int("OMPI_COMM_WORLD_LOCAL_RANK", *lr, 0, kMaxRanks) : li.rank;
    read_master(li, li.master_addr);
    return li;
  }
  if (env("PMI_RANK")) {  // MPICH / Intel MPI (Hydra)
    li.launcher = "mpirun";
    li.rank = required_int("PMI_RANK", "PMI_SIZE", 0, kMaxRanks);
    li.world_size = required_int("PMI_SIZE", "PMI_RANK", 1, kMaxRanks);
    check_ranks(li, "PMI_RANK", "PMI_SIZE");
    // Hydra exports the node-local rank as MPI_LOCALRANKID; without it assume a single node.
    auto lr = env("MPI_LOCALRANKID");
    li.local_rank = lr ? env_int("MPI_LOCALRANKID", *lr, 0, kMaxRanks) : li.rank;
    read_master(li, li.master_addr);
    return li;
  }
  if (env("SLURM_PROCID")) {  // srun
    li.launcher = "slurm";
    li.rank = required_int("SLURM_PROCID", "SLURM_NTASKS", 0, kMaxRanks);
    li.world_size = required_int("SLURM_NTASKS", "SLURM_PROCID", 1, kMaxRanks);
    check_ranks(li, "SLURM_PROCID", "SLURM_NTASKS");
    auto lr = env("SLURM_LOCALID");
    li.local_rank = lr ? env_int("SLURM_LOCALID", *lr, 0, kMaxRanks) : 0;
    std::string first_host = li.master_addr;
    for (const char* var : {"SLURM_STEP_NODELIST", "SLURM_JOB_NODELIST", "SLURM_NODELIST"}) {
      if (auto nl = env(var)) {
        std::vector<std::string> hosts;
        try {
          hosts = expand_nodelist(*nl);
        } catch (const Error& e) {
          fail(cat("environment variable ", var, ": ", e.what()));
        }
        IQA_CHECK(!hosts.empty(), "environment variable ", var, " is empty");
        first_host = hosts.front();
        break;
      }
    }
    read_master(li, first_host);
    return li;
  }
  return li;
}

int cuda_device_index(const LaunchInfo& info) {
  int n = cuda::device_count();
  IQA_CHECK(n > 0, "rank ", info.rank, " wants a GPU but none is usable: ", cuda::unavailable_reason());
  return info.local_rank % n;
}

}  // namespace iqa::dist
