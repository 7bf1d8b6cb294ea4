// engine-smoke: trains a small MLP (8 -> 64 -> 64 -> 1, ReLU) with Adam on a synthetic regression
// drawn from a seeded Philox generator, and prints the loss falling. The quickest end-to-end check
// of tensors, autograd, ops, nn and optimizers on a fresh machine.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>

#include "engine/amp.h"
#include "engine/cuda_runtime.h"
#include "engine/nn.h"
#include "engine/optim.h"
#include "engine/random.h"

using namespace iqa;

namespace {
// y = sin(x.u1) + 0.5 tanh(x.u2) along two random unit directions u1, u2.
void make_data(int64_t n, Tensor& x, Tensor& y) {
  x = Tensor::randn({n, 8});
  Tensor w = Tensor::randn({2, 8});
  auto xv = x.to_vector();
  auto wv = w.to_vector();
  // Orthonormal directions u1, u2 (Gram-Schmidt): with x ~ N(0, I) the two projections are
  // independent N(0, 1), so the target's variance does not hinge on the draw.
  std::vector<double> u1(8), u2(8);
  double n1 = 0, dot = 0, n2 = 0;
  for (int k = 0; k < 8; ++k) n1 += double(wv[k]) * wv[k];
  for (int k = 0; k < 8; ++k) u1[k] = wv[k] / std::sqrt(n1);
  for (int k = 0; k < 8; ++k) dot += wv[8 + k] * u1[k];
  for (int k = 0; k < 8; ++k) u2[k] = wv[8 + k] - dot * u1[k];
  for (int k = 0; k < 8; ++k) n2 += u2[k] * u2[k];
  for (int k = 0; k < 8; ++k) u2[k] /= std::sqrt(n2);
  std::vector<float> yv(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    double a = 0, b = 0;
    for (int k = 0; k < 8; ++k) {
      a += xv[i * 8 + k] * u1[k];
      b += xv[i * 8 + k] * u2[k];
    }
    yv[size_t(i)] = float(std::sin(a) + 0.5 * std::tanh(b));
  }
  y = Tensor::from_vector(yv, {n, 1});
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"engine-smoke: train a small MLP on synthetic data and print the loss falling"};
  int steps = 400, print_every = 50, samples = 512;
  double lr = 3e-3;
  uint64_t seed = 0;
  std::string device = "cpu", autocast = "none";
  app.add_option("--steps", steps, "optimizer steps")->check(CLI::PositiveNumber);
  app.add_option("--lr", lr, "Adam learning rate")->check(CLI::PositiveNumber);
  app.add_option("--samples", samples, "training set size (full-batch training)")->check(CLI::PositiveNumber);
  app.add_option("--print-every", print_every, "print the loss every N steps")->check(CLI::PositiveNumber);
  app.add_option("--seed", seed, "Philox seed for data and init");
  app.add_option("--device", device, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}));
  app.add_option("--autocast", autocast, "CUDA compute dtype: none, bf16")->check(CLI::IsMember({"none", "bf16"}));
  CLI11_PARSE(app, argc, argv);

  try {
    Device dev = kCPU;
    if (device == "cuda") {
      IQA_CHECK(cuda::available(), "--device cuda: ", cuda::unavailable_reason());
      dev = cuda_device();
    }
    IQA_CHECK(autocast == "none" || dev.is_cuda(), "--autocast bf16 needs --device cuda");
    manual_seed(seed);
    Tensor x, y;
    make_data(samples, x, y);
    MLP model(8, {64, 64}, 1, Activation::ReLU);
    model.to(dev);
    x = x.to(dev);
    y = y.to(dev);
    Adam opt({ParamGroup{model.parameters(), lr}});
    std::printf("engine-smoke: MLP 8-64-64-1 (ReLU), %d samples, Adam lr %g, %d steps on %s%s\n", samples, lr, steps,
                dev.str().c_str(), autocast == "bf16" ? " (bf16 autocast)" : "");

    auto t0 = std::chrono::steady_clock::now();
    double loss_value = 0;
    for (int step = 1; step <= steps; ++step) {
      opt.zero_grad();
      Tensor pred;
      {
        amp::AutocastGuard guard(DType::BF16, autocast == "bf16");
        pred = model(x);
      }
      Tensor loss = mse_loss(pred.to(DType::F32), y);
      loss.backward();
      opt.step();
      if (step == 1 || step % print_every == 0 || step == steps) {
        loss_value = loss.item();
        std::printf("step %5d  loss %.5f\n", step, loss_value);
      }
    }
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("final loss %.5f after %d steps in %.2f s (%.2f ms/step)\n", loss_value, steps, seconds,
                1e3 * seconds / steps);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
