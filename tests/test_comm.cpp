// Data-parallel communication: launcher detection, Slurm node lists, the TCP communicator over real
// localhost sockets (one thread per rank, each with its own communicator), and gradient averaging.
#include <atomic>
#include <cstdlib>
#include <optional>
#include <thread>

#include "engine/comm.h"
#include "engine/comm_tcp.h"
#include "tests/testing.h"

using namespace iqa;
using namespace iqa::dist;
using namespace iqa::testing;
using Catch::Matchers::Contains;

namespace {

// Unsets every launcher variable for the test's duration and restores the originals afterwards.
class LauncherEnv {
 public:
  LauncherEnv() {
    for (const char* v : kVars) {
      const char* old = std::getenv(v);
      saved_.emplace_back(v, old ? std::optional<std::string>(old) : std::nullopt);
      ::unsetenv(v);
    }
  }
  ~LauncherEnv() {
    for (auto& [name, value] : saved_) {
      if (value) ::setenv(name, value->c_str(), 1);
      else ::unsetenv(name);
    }
  }
  void set(const char* name, const char* value) { ::setenv(name, value, 1); }
  void unset(const char* name) { ::unsetenv(name); }

 private:
  static constexpr const char* kVars[] = {
      "RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "OMPI_COMM_WORLD_RANK",
      "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK", "PMI_RANK", "PMI_SIZE", "MPI_LOCALRANKID",
      "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "SLURM_STEP_NODELIST", "SLURM_JOB_NODELIST",
      "SLURM_NODELIST", "IQA_DIST_TIMEOUT"};
  std::vector<std::pair<const char*, std::optional<std::string>>> saved_;
};

LaunchInfo local_info(int rank, int world, int port, double timeout_s = 30) {
  LaunchInfo li;
  li.rank = rank;
  li.world_size = world;
  li.local_rank = rank;
  li.master_addr = "127.0.0.1";
  li.master_port = port;
  li.timeout_s = timeout_s;
  li.launcher = "torchrun";
  return li;
}

// Runs fn(comm, rank) on `world` threads, each with its own CPU communicator. Catch's assertions are
// not thread-safe, so threads only record; errors come back per rank ("" when none).
std::vector<std::string> run_ranks(int world, const std::function<void(Communicator&, int)>& fn) {
  int port = find_free_tcp_port();
  std::vector<std::string> errors(static_cast<size_t>(world));
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r)
    threads.emplace_back([&, r] {
      try {
        auto comm = Communicator::create(local_info(r, world, port), kCPU);
        fn(*comm, r);
      } catch (const std::exception& e) {
        errors[size_t(r)] = e.what();
      }
    });
  for (auto& t : threads) t.join();
  return errors;
}

}  // namespace

TEST_CASE("detect_launch: single process, torchrun, mpirun, srun", "[comm]") {
  LauncherEnv env;
  LaunchInfo li = detect_launch();
  REQUIRE(li.launcher == "single");
  REQUIRE(li.world_size == 1);
  REQUIRE(li.rank == 0);

  SECTION("torchrun") {
    env.set("RANK", "3");
    env.set("WORLD_SIZE", "4");
    env.set("LOCAL_RANK", "1");
    env.set("MASTER_ADDR", "10.1.2.3");
    env.set("MASTER_PORT", "1234");
    env.set("IQA_DIST_TIMEOUT", "12.5");
    env.set("SLURM_PROCID", "0");  // torchrun inside a Slurm allocation: torchrun's variables win
    env.set("SLURM_NTASKS", "1");
    li = detect_launch();
    REQUIRE(li.launcher == "torchrun");
    REQUIRE(li.rank == 3);
    REQUIRE(li.world_size == 4);
    REQUIRE(li.local_rank == 1);
    REQUIRE(li.master_addr == "10.1.2.3");
    REQUIRE(li.master_port == 1234);
    REQUIRE(li.timeout_s == 12.5);
  }
  SECTION("Open MPI mpirun, defaults for the master") {
    env.set("OMPI_COMM_WORLD_RANK", "5");
    env.set("OMPI_COMM_WORLD_SIZE", "8");
    env.set("OMPI_COMM_WORLD_LOCAL_RANK", "1");
    li = detect_launch();
    REQUIRE(li.launcher == "mpirun");
    REQUIRE(li.rank == 5);
    REQUIRE(li.world_size == 8);
    REQUIRE(li.local_rank == 1);
    REQUIRE(li.master_addr == "127.0.0.1");
    REQUIRE(li.master_port == 29500);
  }
  SECTION("MPICH / Hydra mpirun") {
    env.set("PMI_RANK", "2");
    env.set("PMI_SIZE", "3");
    env.set("MPI_LOCALRANKID", "0");
    env.set("MASTER_ADDR", "head");
    li = detect_launch();
    REQUIRE(li.launcher == "mpirun");
    REQUIRE(li.rank == 2);
    REQUIRE(li.world_size == 3);
    REQUIRE(li.local_rank == 0);
    REQUIRE(li.master_addr == "head");
  }
  SECTION("srun: master is the first host of the step's node list") {
    env.set("SLURM_PROCID", "6");
    env.set("SLURM_NTASKS", "8");
    env.set("SLURM_LOCALID", "2");
    env.set("SLURM_JOB_NODELIST", "login,gpu[01-04]");
    env.set("SLURM_STEP_NODELIST", "gpu[07-08],gpu11");
    env.set("MASTER_PORT", "40000");
    li = detect_launch();
    REQUIRE(li.launcher == "slurm");
    REQUIRE(li.rank == 6);
    REQUIRE(li.world_size == 8);
    REQUIRE(li.local_rank == 2);
    REQUIRE(li.master_addr == "gpu07");
    REQUIRE(li.master_port == 40000);
    env.unset("SLURM_STEP_NODELIST");
    REQUIRE(detect_launch().master_addr == "login");
    env.set("MASTER_ADDR", "explicit-host");
    REQUIRE(detect_launch().master_addr == "explicit-host");
  }
}

TEST_CASE("detect_launch: malformed values name the variable", "[comm]") {
  struct Bad {
    const char* what;
    std::vector<std::pair<const char*, const char*>> vars;
    std::vector<const char*> message;  // each must appear in the error
  };
  const std::vector<Bad> table = {
      {"not an integer", {{"RANK", "one"}, {"WORLD_SIZE", "2"}}, {"RANK='one'"}},
      {"rank outside the world", {{"RANK", "4"}, {"WORLD_SIZE", "4"}}, {"RANK=4", "WORLD_SIZE=4"}},
      {"half a launcher environment", {{"RANK", "0"}}, {"WORLD_SIZE is not set"}},
      {"port out of range", {{"OMPI_COMM_WORLD_RANK", "0"}, {"OMPI_COMM_WORLD_SIZE", "2"}, {"MASTER_PORT", "70000"}},
       {"MASTER_PORT"}},
      {"bad node list", {{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}, {"SLURM_JOB_NODELIST", "gpu[03-01]"}},
       {"SLURM_JOB_NODELIST", "backwards"}},
      {"bad timeout", {{"IQA_DIST_TIMEOUT", "-3"}}, {"IQA_DIST_TIMEOUT"}},
  };
  for (const Bad& bad : table) {
    INFO(bad.what);
    LauncherEnv env;
    for (const auto& [name, value] : bad.vars) env.set(name, value);
    std::string message;
    try {
      detect_launch();
    } catch (const std::exception& e) {
      message = e.what();
    }
    REQUIRE(!message.empty());
    for (const char* m : bad.message) CHECK_THAT(message, Contains(m));
  }
}

TEST_CASE("expand_nodelist: Slurm host list forms", "[comm]") {
  using V = std::vector<std::string>;
  REQUIRE(expand_nodelist("node7") == V{"node7"});
  REQUIRE(expand_nodelist("a,b") == V{"a", "b"});
  REQUIRE(expand_nodelist("node[01-04]") == V{"node01", "node02", "node03", "node04"});
  REQUIRE(expand_nodelist("node[8-11]") == V{"node8", "node9", "node10", "node11"});
  REQUIRE(expand_nodelist("gpu[1,3,5-6]x") == V{"gpu1x", "gpu3x", "gpu5x", "gpu6x"});
  REQUIRE(expand_nodelist("r[1-2]-n[01-02],login") == V{"r1-n01", "r1-n02", "r2-n01", "r2-n02", "login"});
  REQUIRE(expand_nodelist("gpu[098-101]").front() == "gpu098");
  REQUIRE_THROWS_WITH(expand_nodelist("node[1-3"), Contains("node[1-3"));
  REQUIRE_THROWS_AS(expand_nodelist("node[a-b]"), Error);
  REQUIRE_THROWS_AS(expand_nodelist("a,,b"), Error);
  REQUIRE_THROWS_AS(expand_nodelist("n[[1]]"), Error);
}

TEST_CASE("TCP communicator: all_reduce_sum, broadcast and barrier over 2 and 3 ranks", "[comm]") {
  for (int world : {2, 3}) {
    INFO("world size " << world);
    const int n = 1001;  // odd, and large enough for several TCP segments
    std::vector<std::vector<float>> sums32(static_cast<size_t>(world));
    std::vector<std::vector<double>> sums64(static_cast<size_t>(world)), bcast(static_cast<size_t>(world));
    std::vector<std::vector<int64_t>> bcast_i64(static_cast<size_t>(world));
    std::vector<int> seen_after_barrier(static_cast<size_t>(world), -1);
    std::atomic<int> arrived{0};
    auto errors = run_ranks(world, [&](Communicator& comm, int r) {
      if (comm.rank() != r || comm.world_size() != world) throw Error("wrong rank or world size");
      std::vector<float> v(n);
      std::vector<double> d(n);
      for (int i = 0; i < n; ++i) {
        v[size_t(i)] = float(i % 17) * 0.25f + float(r);
        d[size_t(i)] = std::sin(i + 10.0 * r);
      }
      Tensor t32 = Tensor::from_vector(v, {n});
      comm.all_reduce_sum(t32);
      sums32[size_t(r)] = t32.to_vector();
      Tensor t64 = Tensor::from_vector_f64(d, {7, 143});
      comm.all_reduce_sum(t64);
      sums64[size_t(r)] = t64.to_vector_f64();
      Tensor b = Tensor::full({5}, 100.0 + r, DType::F64);
      comm.broadcast(b, world - 1);
      bcast[size_t(r)] = b.to_vector_f64();
      Tensor bi = Tensor::from_vector_i64({r, 2 * r, 7}, {3});
      comm.broadcast(bi, 1);
      bcast_i64[size_t(r)] = bi.to_vector_i64();
      ++arrived;
      comm.barrier();
      seen_after_barrier[size_t(r)] = arrived.load();
    });
    for (int r = 0; r < world; ++r) {
      INFO("rank " << r);
      REQUIRE(errors[size_t(r)] == "");
      std::vector<double> want32(n), want64(n), got32(sums32[size_t(r)].begin(), sums32[size_t(r)].end());
      for (int i = 0; i < n; ++i)
        for (int q = 0; q < world; ++q) {
          want32[size_t(i)] += float(i % 17) * 0.25 + q;
          want64[size_t(i)] += std::sin(i + 10.0 * q);
        }
      require_close(got32, want32, 0, 1e-12, "f32 all_reduce_sum (small integers and quarters: exact)");
      require_close(sums64[size_t(r)], want64, 1e-15, 1e-15, "f64 all_reduce_sum");
      REQUIRE(sums64[size_t(r)] == sums64[0]);  // bitwise the same result on every rank
      REQUIRE(bcast[size_t(r)] == std::vector<double>(5, 100.0 + world - 1));
      REQUIRE(bcast_i64[size_t(r)] == std::vector<int64_t>{1, 2, 7});
      REQUIRE(seen_after_barrier[size_t(r)] == world);
    }
  }
}

TEST_CASE("TCP communicator: ranks that disagree get an error, not garbage", "[comm]") {
  auto errors = run_ranks(2, [](Communicator& comm, int r) {
    Tensor t = Tensor::ones({r == 0 ? 4 : 5});
    comm.all_reduce_sum(t);
  });
  REQUIRE_THAT(errors[0], Contains("expected all_reduce of 16 bytes from rank 1") && Contains("20 bytes"));
  REQUIRE(errors[1] != "");  // rank 0 hung up on it
  auto bad_dtype = run_ranks(2, [](Communicator& comm, int) {
    Tensor t = Tensor::ones({3}, DType::I64);
    comm.all_reduce_sum(t);
  });
  REQUIRE_THAT(bad_dtype[0], Contains("f32 or f64"));
}

TEST_CASE("TCP communicator: connection timeouts name the address", "[comm]") {
  int port = find_free_tcp_port();  // nobody listens there
  std::string where = "127.0.0.1:" + std::to_string(port);
  REQUIRE_THROWS_WITH(Communicator::create(local_info(1, 2, port, 0.3), kCPU),
                      Contains("could not connect to rank 0 at " + where) && Contains("MASTER_ADDR"));
  REQUIRE_THROWS_WITH(Communicator::create(local_info(0, 3, port, 0.3), kCPU),
                      Contains("only 0 of 2 other ranks connected to " + where));
}

namespace {

// A tiny linear regression step on one shard: loss = mse(x W^T + b, y) + (use_extra ? sum(extra * c) : 0).
struct TinyModel {
  Tensor w, b, extra;
  TinyModel() {
    manual_seed(77);
    NoGradGuard ng;
    w = mul(Tensor::randn({3, 5}), 0.5).detach().set_requires_grad(true);
    b = Tensor::from_vector({0.1f, -0.2f, 0.3f}, {3}).set_requires_grad(true);
    extra = Tensor::from_vector({1.5f, -0.5f}, {2}).set_requires_grad(true);
  }
  std::vector<Tensor> params() const { return {w, b, extra}; }
  void backward_on_shard(int shard, bool use_extra) const {
    std::vector<float> xv(4 * 5), yv(4 * 3);
    for (size_t i = 0; i < xv.size(); ++i) xv[i] = std::cos(float(i) + 31.0f * float(shard));
    for (size_t i = 0; i < yv.size(); ++i) yv[i] = std::sin(float(i) * 0.7f - float(shard));
    Tensor loss = mse_loss(linear(Tensor::from_vector(xv, {4, 5}), w, b), Tensor::from_vector(yv, {4, 3}));
    if (use_extra) loss = add(loss, sum(mul(extra, Tensor::from_vector({2.0f, 3.0f}, {2}))));
    loss.backward();
  }
};

std::vector<double> grads_of(const TinyModel& m) {
  std::vector<double> out;
  for (const Tensor& p : m.params()) {
    auto g = p.grad().defined() ? p.grad().to_vector_f64() : std::vector<double>(size_t(p.numel()), -999.0);
    out.insert(out.end(), g.begin(), g.end());
  }
  return out;
}

}  // namespace

TEST_CASE("GradientSynchronizer: 2 ranks end with the mean of their gradients", "[comm]") {
  // Reference: each shard's gradients computed alone. Rank 1 never uses `extra` (zero gradient).
  std::vector<double> want;
  {
    TinyModel m0, m1;
    m0.backward_on_shard(0, true);
    m1.backward_on_shard(1, false);
    auto g0 = grads_of(m0);
    m1.extra.set_grad(Tensor::zeros({2}));
    auto g1 = grads_of(m1);
    for (size_t i = 0; i < g0.size(); ++i) want.push_back(0.5 * (g0[i] + g1[i]));
  }
  for (size_t bucket_bytes : {size_t(16), size_t(1) << 20}) {  // one bucket per parameter; one in all
    INFO("bucket_bytes " << bucket_bytes);
    TinyModel models[2];
    std::vector<std::vector<double>> got(2), got_second_step(2);
    auto errors = run_ranks(2, [&](Communicator& comm, int r) {
      TinyModel& m = models[r];
      GradientSynchronizer sync(comm, m.params(), bucket_bytes);
      for (int step = 0; step < 2; ++step) {
        for (Tensor& p : m.params()) p.zero_grad();
        sync.begin_step();
        m.backward_on_shard(r, r == 0);
        sync.finish_step();
        (step == 0 ? got : got_second_step)[size_t(r)] = grads_of(m);
      }
    });
    REQUIRE(errors[0] == "");
    REQUIRE(errors[1] == "");
    for (int r = 0; r < 2; ++r) {
      require_close(got[size_t(r)], want, 1e-6, 1e-6, "averaged gradients, step 1");
      require_close(got_second_step[size_t(r)], want, 1e-6, 1e-6, "averaged gradients, step 2");
    }
    REQUIRE(got[0] == got[1]);
  }
}

TEST_CASE("GradientSynchronizer: one rank, and misuse", "[comm]") {
  TinyModel ref, m;
  ref.backward_on_shard(0, false);
  auto comm = Communicator::create(LaunchInfo{}, kCPU);
  REQUIRE(comm->world_size() == 1);
  SECTION("world size 1 leaves gradients untouched") {
    GradientSynchronizer sync(*comm, m.params());
    sync.begin_step();
    m.backward_on_shard(0, false);
    sync.finish_step();
    REQUIRE(!m.extra.grad().defined());
    REQUIRE(m.w.grad().to_vector() == ref.w.grad().to_vector());
  }
  SECTION("the bucketed path with one rank: unused parameters get zeros") {
    GradientSynchronizer sync(*comm, m.params(), 24, true);
    sync.begin_step();
    m.backward_on_shard(0, false);
    sync.finish_step();
    REQUIRE(m.extra.grad().to_vector() == std::vector<float>{0.0f, 0.0f});
    REQUIRE(m.w.grad().to_vector() == ref.w.grad().to_vector());
    REQUIRE(m.b.grad().to_vector() == ref.b.grad().to_vector());
    REQUIRE_THROWS_WITH(sync.finish_step(), Contains("without begin_step"));
    sync.begin_step();
    m.backward_on_shard(0, false);
    REQUIRE_THROWS_WITH(m.backward_on_shard(0, false), Contains("accumulated twice"));
  }
  SECTION("a parameter cannot be in two synchronisers at once") {
    GradientSynchronizer a(*comm, m.params(), 64, true), b(*comm, m.params(), 64, true);
    a.begin_step();
    REQUIRE_THROWS_WITH(b.begin_step(), Contains("already has a gradient hook"));
  }
}

TEST_CASE("NCCL communicator and GPU gradient buckets with one rank", "[comm][cuda]") {
  IQA_REQUIRE_CUDA_OR_SKIP();
  Device gpu = cuda_device(0);
  LaunchInfo li = local_info(0, 1, find_free_tcp_port());
  auto comm = dist::detail::create_nccl_communicator(li, gpu);
  REQUIRE(comm->world_size() == 1);
  for (DType dt : {DType::F32, DType::BF16, DType::F16}) {
    Tensor t = Tensor::from_vector({1.0f, -2.5f, 3.0f}, {3}, dt, gpu);
    comm->all_reduce_sum(t);
    REQUIRE(t.to_vector() == std::vector<float>{1.0f, -2.5f, 3.0f});
    comm->broadcast(t, 0);
    REQUIRE(t.to_vector() == std::vector<float>{1.0f, -2.5f, 3.0f});
  }
  comm->barrier();
  Tensor cpu_tensor = Tensor::ones({2});
  REQUIRE_THROWS_WITH(comm->all_reduce_sum(cpu_tensor), Contains("not on a GPU"));

  // The bucketed path on the GPU: copy-in on the communication stream, mean, copy-back.
  TinyModel ref, m;
  ref.backward_on_shard(0, false);
  for (Tensor* p : {&m.w, &m.b, &m.extra}) *p = p->to(gpu).detach().set_requires_grad(true);
  std::vector<float> xv(4 * 5), yv(4 * 3);
  GradientSynchronizer sync(*comm, m.params(), 24, true);
  for (int step = 0; step < 2; ++step) {
    for (Tensor& p : m.params()) p.zero_grad();
    sync.begin_step();
    for (size_t i = 0; i < xv.size(); ++i) xv[i] = std::cos(float(i));
    for (size_t i = 0; i < yv.size(); ++i) yv[i] = std::sin(float(i) * 0.7f);
    Tensor loss = mse_loss(linear(Tensor::from_vector(xv, {4, 5}, DType::F32, gpu), m.w, m.b),
                           Tensor::from_vector(yv, {4, 3}, DType::F32, gpu));
    loss.backward();
    sync.finish_step();
    require_close(m.w.grad().cpu(), ref.w.grad(), 1e-5, 1e-5, "w grad");
    require_close(m.b.grad().cpu(), ref.b.grad(), 1e-5, 1e-5, "b grad");
    REQUIRE(m.extra.grad().to_vector() == std::vector<float>{0.0f, 0.0f});
  }
}
