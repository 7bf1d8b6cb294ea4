// DevicePrefetcher: the batch a step pops is the one the loader pushed, in order and content, through
// the double buffer (CPU pass-through; CUDA copy stream when a GPU is present).
#include "engine/cuda_runtime.h"
#include "engine/device_prefetch.h"
#include "tests/testing.h"

using namespace iqa;
using namespace iqa::testing;

namespace {

// Batch k: images [2, 3, 4, 4] filled from k, scores [2] = {k, -k}, ids i64 [2] = {k, 1000 + k}.
std::vector<Tensor> loader_batch(int k) {
  std::vector<float> img(2 * 3 * 4 * 4);
  for (size_t i = 0; i < img.size(); ++i) img[i] = float(k * 100 + int(i));
  Tensor images = Tensor::from_vector(img, {2, 3, 4, 4});
  if (k % 2) images = images.permute({0, 2, 3, 1});  // a non-contiguous view arrives contiguous
  return {images, Tensor::from_vector({float(k), float(-k)}, {2}), Tensor::from_vector_i64({k, 1000 + k}, {2})};
}

void run_epoch(Device device) {
  DevicePrefetcher prefetch(device);
  REQUIRE_FALSE(prefetch.pop().has_value());
  const int n = 5;
  prefetch.push(loader_batch(0));
  for (int k = 0; k < n; ++k) {
    std::optional<std::vector<Tensor>> batch = prefetch.pop();
    REQUIRE(batch.has_value());
    if (k + 1 < n) prefetch.push(loader_batch(k + 1));
    const std::vector<Tensor> want = loader_batch(k);
    REQUIRE(batch->size() == want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      INFO("batch " << k << ", tensor " << i);
      REQUIRE((*batch)[i].device() == device);
      REQUIRE((*batch)[i].shape() == want[i].shape());
      REQUIRE((*batch)[i].dtype() == want[i].dtype());
      REQUIRE((*batch)[i].to_vector_f64() == want[i].to_vector_f64());
    }
  }
  REQUIRE(prefetch.pending() == 0);
  REQUIRE_FALSE(prefetch.pop().has_value());
}

}  // namespace

TEST_CASE("DevicePrefetcher (CPU): FIFO through two slots, the loader's content, a third push throws", "[prefetch]") {
  run_epoch(kCPU);
  DevicePrefetcher p(kCPU);
  p.push(loader_batch(7));
  p.push(loader_batch(8));
  REQUIRE_THROWS_WITH(p.push(loader_batch(9)), Catch::Contains("two batches are already pending"));
  REQUIRE(p.pop()->at(1).to_vector() == std::vector<float>{7, -7});
  p.push(loader_batch(9));
  REQUIRE(p.pop()->at(2).to_vector_i64() == std::vector<int64_t>{8, 1008});
  REQUIRE(p.pop()->at(2).to_vector_i64() == std::vector<int64_t>{9, 1009});
  REQUIRE_THROWS_WITH(p.push({Tensor()}), Catch::Contains("defined CPU tensor"));
}

TEST_CASE("DevicePrefetcher (CUDA): copies on the copy stream arrive in order with the loader's content",
          "[prefetch][cuda]") {
  IQA_REQUIRE_CUDA_OR_SKIP();
  run_epoch(cuda_device(0));
}
