// GradientSynchronizer: bucketed gradient averaging, started from backward's per-parameter hook.
//
// Buckets hold parameters in reverse order (the order backward finishes them), one dtype per bucket,
// about bucket_bytes each. Buckets are launched strictly in bucket order, each exactly once per step,
// so every rank issues the same sequence of collectives even when its gradients arrive in another
// order. On CUDA a bucket's copy-in and all-reduce run on a high-priority communication stream that
// first waits on an event recorded on the compute stream, so they overlap the rest of backward; on
// the CPU (TCP) the all-reduce runs inline in the hook.
//
// One backward per begin_step/finish_step: a gradient accumulated twice in one step is an error
// (its bucket may already be on the wire). A parameter whose gradient never arrives (unused in this
// rank's forward) contributes zeros; its bucket is launched in finish_step, and afterwards it holds
// the mean like every other parameter, so all ranks keep identical gradients.
#include <algorithm>

#include "engine/autograd.h"
#include "engine/comm.h"
#include "engine/cuda_runtime.h"
#include "engine/ops.h"

#ifdef IQA_WITH_CUDA
#include <cuda_runtime.h>

#include "kernels/cuda_check.h"
#endif

namespace iqa::dist {

namespace {
struct Bucket {
  std::vector<size_t> params;    // indices into Impl::params
  std::vector<int64_t> offsets;  // element offset of each parameter in `flat`
  int64_t numel = 0;
  DType dtype = DType::F32;
  Tensor flat;                   // persistent buffer, all-reduced in place
  size_t arrived = 0;
};
}  // namespace

struct GradientSynchronizer::Impl {
  Communicator& comm;
  std::vector<Tensor> params;
  std::vector<size_t> bucket_of;
  std::vector<char> arrived;
  std::vector<Bucket> buckets;
  size_t next_launch = 0;
  bool enabled = false;  // false: world size 1, begin/finish_step do nothing
  bool armed = false;
  bool on_cuda = false;
#ifdef IQA_WITH_CUDA
  cudaStream_t comm_stream = nullptr;
  cudaEvent_t grads_ready = nullptr;
  cudaEvent_t reduced = nullptr;
#endif

  Impl(Communicator& c, std::vector<Tensor> p) : comm(c), params(std::move(p)) {}

  std::string param_label(size_t i) const {
    const std::string& n = params[i].impl().name;
    return n.empty() ? cat("#", i, " ", params[i].str()) : cat("'", n, "' ", params[i].str());
  }

  void on_grad(size_t i) {
    if (!armed) return;
    IQA_CHECK(!arrived[i], "GradientSynchronizer: the gradient of parameter ", param_label(i),
              " was accumulated twice in one step; call finish_step() after each backward pass");
    arrived[i] = 1;
    ++buckets[bucket_of[i]].arrived;
    while (next_launch < buckets.size() && buckets[next_launch].arrived == buckets[next_launch].params.size())
      launch(buckets[next_launch++]);
  }

  // Packs the bucket's gradients (zeros for those that never arrived) and starts its all-reduce.
  void launch(Bucket& b) {
    NoGradGuard ng;
#ifdef IQA_WITH_CUDA
    cudaStream_t compute = nullptr;
    if (on_cuda) {
      compute = cuda::current_stream();
      IQA_CUDA_CHECK(cudaEventRecord(grads_ready, compute));
      IQA_CUDA_CHECK(cudaStreamWaitEvent(comm_stream, grads_ready, 0));
      cuda::set_current_stream(comm_stream);
    }
    struct Restore {
      bool active;
      cudaStream_t s;
      ~Restore() {
        if (active) cuda::set_current_stream(s);
      }
    } restore{on_cuda, compute};
#endif
    for (size_t k = 0; k < b.params.size(); ++k) {
      const Tensor& p = params[b.params[k]];
      Tensor slot = b.flat.narrow(0, b.offsets[k], p.numel()).view(p.shape());
      Tensor g = arrived[b.params[k]] ? p.grad() : Tensor();
      if (g.defined()) slot.copy_(g);
      else slot.zero_();
    }
    comm.all_reduce_sum(b.flat);
  }

  void wait_for_comm() {
#ifdef IQA_WITH_CUDA
    if (on_cuda) {
      IQA_CUDA_CHECK(cudaEventRecord(reduced, comm_stream));
      IQA_CUDA_CHECK(cudaStreamWaitEvent(cuda::current_stream(), reduced, 0));
    }
#endif
  }

  void set_hooks(bool on) {
    if (on)  // check all before installing any, so a refusal leaves no stray hooks behind
      for (size_t i = 0; i < params.size(); ++i)
        IQA_CHECK(bucket_of[i] == size_t(-1) || !params[i].impl().post_accumulate_grad_hook,
                  "GradientSynchronizer: parameter ", param_label(i),
                  " already has a gradient hook (is it in two synchronizers?)");
    for (size_t i = 0; i < params.size(); ++i) {
      if (bucket_of[i] == size_t(-1)) continue;
      auto& hook = params[i].impl().post_accumulate_grad_hook;
      if (on) hook = [this, i](TensorImpl&) { on_grad(i); };
      else hook = nullptr;
    }
  }
};

GradientSynchronizer::GradientSynchronizer(Communicator& comm, std::vector<Tensor> params, size_t bucket_bytes,
                                           bool bucket_at_world_size_1)
    : impl_(std::make_unique<Impl>(comm, std::move(params))) {
  Impl& s = *impl_;
  s.bucket_of.assign(s.params.size(), size_t(-1));
  s.arrived.assign(s.params.size(), 0);
  s.enabled = comm.world_size() > 1 || bucket_at_world_size_1;
  if (!s.enabled) return;  // nothing to average: begin/finish_step are no-ops
  const Tensor* first = nullptr;
  for (size_t i = s.params.size(); i-- > 0;) {
    const Tensor& p = s.params[i];
    IQA_CHECK(p.defined(), "GradientSynchronizer: parameter #", i, " is undefined");
    if (!p.requires_grad()) continue;  // never gets a gradient: not synchronised
    if (!first) first = &p;
    IQA_CHECK(p.device() == first->device(), "GradientSynchronizer: parameters on different devices: ",
              first->str(), " and ", s.param_label(i));
    IQA_CHECK(p.dtype() == DType::F32 || p.dtype() == DType::F64 || p.dtype() == DType::BF16 ||
                  p.dtype() == DType::F16,
              "GradientSynchronizer: parameter ", s.param_label(i), " is not floating point");
    const size_t bytes = size_t(p.numel()) * dtype_size(p.dtype());
    bool fresh = s.buckets.empty() || s.buckets.back().dtype != p.dtype() ||
                 (s.buckets.back().numel > 0 &&
                  size_t(s.buckets.back().numel) * dtype_size(p.dtype()) + bytes > bucket_bytes);
    if (fresh) {
      s.buckets.emplace_back();
      s.buckets.back().dtype = p.dtype();
    }
    Bucket& b = s.buckets.back();
    s.bucket_of[i] = s.buckets.size() - 1;
    b.params.push_back(i);
    b.offsets.push_back(b.numel);
    b.numel += p.numel();
  }
  if (!first) return;
  s.on_cuda = first->is_cuda();
  for (Bucket& b : s.buckets) b.flat = Tensor::zeros({b.numel}, b.dtype, first->device());
#ifdef IQA_WITH_CUDA
  if (s.on_cuda) {
    int least = 0, greatest = 0;
    IQA_CUDA_CHECK(cudaDeviceGetStreamPriorityRange(&least, &greatest));
    // High priority: a ready bucket's copy and all-reduce should not queue behind backward's kernels.
    IQA_CUDA_CHECK(cudaStreamCreateWithPriority(&s.comm_stream, cudaStreamNonBlocking, greatest));
    IQA_CUDA_CHECK(cudaEventCreateWithFlags(&s.grads_ready, cudaEventDisableTiming));
    IQA_CUDA_CHECK(cudaEventCreateWithFlags(&s.reduced, cudaEventDisableTiming));
  }
#endif
}

GradientSynchronizer::~GradientSynchronizer() {
  if (!impl_) return;
  Impl& s = *impl_;
  if (s.armed) s.set_hooks(false);
#ifdef IQA_WITH_CUDA
  if (s.comm_stream) {
    cudaStreamSynchronize(s.comm_stream);  // buffers may still be on the wire; no throwing here
    cudaStreamDestroy(s.comm_stream);
  }
  if (s.grads_ready) cudaEventDestroy(s.grads_ready);
  if (s.reduced) cudaEventDestroy(s.reduced);
#endif
}

void GradientSynchronizer::begin_step() {
  Impl& s = *impl_;
  if (!s.enabled || s.buckets.empty()) return;
  if (s.armed) {
    // The previous step never finished (an exception during backward): let its transfers drain
    // before the buffers are reused. Ranks are then out of step; callers normally abort instead.
    s.wait_for_comm();
    s.set_hooks(false);
  }
  std::fill(s.arrived.begin(), s.arrived.end(), 0);
  for (Bucket& b : s.buckets) b.arrived = 0;
  s.next_launch = 0;
  s.set_hooks(true);
  s.armed = true;
}

void GradientSynchronizer::finish_step() {
  Impl& s = *impl_;
  if (!s.enabled || s.buckets.empty()) return;
  IQA_CHECK(s.armed, "GradientSynchronizer: finish_step() without begin_step()");
  s.set_hooks(false);
  s.armed = false;
  // Buckets still waiting on an unused parameter go now, in order, with zeros in its place.
  while (s.next_launch < s.buckets.size()) s.launch(s.buckets[s.next_launch++]);
  s.wait_for_comm();
  NoGradGuard ng;
  const double inv_world = 1.0 / double(s.comm.world_size());
  for (Bucket& b : s.buckets) {
    Tensor mean = mul(b.flat, inv_world);
    for (size_t k = 0; k < b.params.size(); ++k) {
      Tensor& p = s.params[b.params[k]];
      Tensor avg = mean.narrow(0, b.offsets[k], p.numel()).view(p.shape());
      Tensor g = p.grad();
      // Write in place when we can; a fresh tensor otherwise (no gradient yet, or an odd layout).
      if (g.defined() && g.is_contiguous() && g.dtype() == p.dtype() && g.device() == p.device()) g.copy_(avg);
      else p.set_grad(avg.clone());
    }
  }
}

}  // namespace iqa::dist
