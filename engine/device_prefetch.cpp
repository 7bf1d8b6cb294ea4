// DevicePrefetcher (engine/device_prefetch.h).
#include "engine/device_prefetch.h"

#include <cstring>

namespace iqa {

DevicePrefetcher::DevicePrefetcher(Device device) : device_(device) {
  if (!device.is_cuda()) return;
  copy_stream_ = cuda::create_stream();
  compute_ready_ = cuda::create_event();
  for (Slot& s : slots_) s.copied = cuda::create_event();
}

DevicePrefetcher::~DevicePrefetcher() {
  for (Slot& s : slots_) {
    if (s.copy_recorded) {
      try {
        cuda::event_synchronize(s.copied);  // staging must outlive its copy
      } catch (...) {
      }
    }
    for (const HostBlock& b : s.staging) free_host_block(b);
    cuda::destroy_event(s.copied);
  }
  cuda::destroy_event(compute_ready_);
  cuda::destroy_stream(copy_stream_);
}

void DevicePrefetcher::push(const std::vector<Tensor>& host_batch, const std::vector<bool>& page_locked) {
  IQA_CHECK(count_ < slots_.size(), "DevicePrefetcher::push: two batches are already pending; pop() one first");
  for (size_t i = 0; i < host_batch.size(); ++i)
    IQA_CHECK(host_batch[i].defined() && host_batch[i].device().is_cpu(), "DevicePrefetcher::push: tensor ", i,
              " of the batch must be a defined CPU tensor, got ",
              host_batch[i].defined() ? host_batch[i].str() : std::string("undefined"));
  Slot& slot = slots_[(head_ + count_) % slots_.size()];
  if (device_.is_cuda()) stage_on_cuda(slot, host_batch, page_locked);
  else slot.tensors = host_batch;
  ++count_;
}

void DevicePrefetcher::stage_on_cuda(Slot& slot, const std::vector<Tensor>& host_batch,
                                     const std::vector<bool>& page_locked) {
  // The slot's previous copy (two batches ago) must be done before its staging is overwritten.
  if (slot.copy_recorded) cuda::event_synchronize(slot.copied);
  slot.sources.clear();
  cuda::record_event(compute_ready_, cuda::current_stream());
  cuda::stream_wait_event(copy_stream_, compute_ready_);
  slot.staging.resize(std::max(slot.staging.size(), host_batch.size()));
  slot.tensors.clear();
  for (size_t i = 0; i < host_batch.size(); ++i) {
    if (i < page_locked.size() && page_locked[i] && host_batch[i].is_contiguous()) {
      const Tensor& host = host_batch[i];
      Tensor dev = Tensor::empty(host.shape(), host.dtype(), device_);
      cuda::copy_h2d_async(dev.raw_data(), host.raw_data(), host.nbytes(), copy_stream_);
      slot.sources.push_back(host);
      slot.tensors.push_back(dev);
      continue;
    }
    const Tensor host = host_batch[i].contiguous();
    HostBlock& block = slot.staging[i];
    if (block.nbytes < host.nbytes()) {
      free_host_block(block);
      block = allocate_host_block(host.nbytes(), true);
    }
    if (host.nbytes() > 0) std::memcpy(block.data, host.raw_data(), host.nbytes());
    Tensor dev = Tensor::empty(host.shape(), host.dtype(), device_);
    cuda::copy_h2d_async(dev.raw_data(), block.data, host.nbytes(), copy_stream_);
    slot.tensors.push_back(dev);
  }
  cuda::record_event(slot.copied, copy_stream_);
  slot.copy_recorded = true;
}

std::optional<std::vector<Tensor>> DevicePrefetcher::pop() {
  if (count_ == 0) return std::nullopt;
  Slot& slot = slots_[head_];
  if (device_.is_cuda()) cuda::stream_wait_event(cuda::current_stream(), slot.copied);
  std::vector<Tensor> out = std::move(slot.tensors);
  slot.tensors.clear();
  head_ = (head_ + 1) % slots_.size();
  --count_;
  return out;
}

}  // namespace iqa
