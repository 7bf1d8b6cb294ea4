#include "training/deferred_scalars.h"

#include "engine/autograd.h"
#include "engine/error.h"
#include "engine/ops.h"

namespace iqa::training {

std::vector<double> read_scalars(const std::vector<Tensor>& scalars) {
  if (scalars.empty()) return {};
  NoGradGuard ng;
  const Device dev = scalars.front().device();
  DType common = scalars.front().dtype();
  for (const Tensor& s : scalars) {
    IQA_CHECK(s.numel() == 1 && s.device() == dev && is_floating(s.dtype()), "read_scalars: ", s.str(),
              " is not a one-element floating tensor on ", dev.str());
    if (s.dtype() != common) common = dev.is_cpu() ? DType::F64 : DType::F32;
  }
  std::vector<Tensor> flat;
  flat.reserve(scalars.size());
  for (const Tensor& s : scalars) flat.push_back(s.detach().reshape({1}).to(common));
  return stack(flat, 0).to_vector_f64();
}

void DeferredSum::add(const Tensor& scalar) {
  pending_.push_back(scalar.detach());
  if (pending_.size() >= fold_every_) sum();
}

double DeferredSum::sum() {
  for (double v : read_scalars(pending_)) sum_ += v;
  pending_.clear();
  return sum_;
}

void DeferredSum::reset(double start) {
  pending_.clear();
  sum_ = start;
}

}  // namespace iqa::training
