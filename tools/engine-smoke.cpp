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
#include "engine/omp_wait_policy.h"
#include "engine/optim.h"
#include "engine/random.h"
#include "training/synthetic_regression.h"
#include "tools/cli_choice.h"
#include "tools/tool_error.h"

using namespace iqa;
using iqa::training::add_choice;
using iqa::training::DeviceChoice;

namespace iqa::training {
// The engine's autocast alone: bf16 needs no loss scaling, so this tool needs no GradScaler.
enum class SmokeAutocast { None, BF16 };
IQA_CHOICE_SPELLINGS(SmokeAutocast, "--autocast", {SmokeAutocast::None, "none"}, {SmokeAutocast::BF16, "bf16"});
}  // namespace iqa::training
using iqa::training::SmokeAutocast;

int main(int argc, char** argv) {
  iqa::use_passive_omp_waits(argv);
  CLI::App app{"engine-smoke: train a small MLP on synthetic data and print the loss falling"};
  int steps = 400, print_every = 50, samples = 512;
  double lr = 3e-3;
  uint64_t seed = 0;
  DeviceChoice device = DeviceChoice::Auto;
  SmokeAutocast autocast = SmokeAutocast::None;
  app.add_option("--steps", steps, "optimizer steps")->check(CLI::PositiveNumber);
  app.add_option("--lr", lr, "Adam learning rate")->check(CLI::PositiveNumber);
  app.add_option("--samples", samples, "training set size (full-batch training)")->check(CLI::PositiveNumber);
  app.add_option("--print-every", print_every, "print the loss every N steps")->check(CLI::PositiveNumber);
  app.add_option("--seed", seed, "Philox seed for data and init");
  add_choice(app, "--device", device, "auto (CUDA when a GPU is usable), cpu or cuda");
  add_choice(app, "--autocast", autocast, "CUDA compute dtype: none or bf16");
  CLI11_PARSE(app, argc, argv);

  try {
    Device dev = kCPU;
    if (device == DeviceChoice::CUDA) IQA_CHECK(cuda::available(), "--device cuda: ", cuda::unavailable_reason());
    if (device == DeviceChoice::CUDA || (device == DeviceChoice::Auto && cuda::available())) dev = cuda_device();
    const bool bf16 = autocast == SmokeAutocast::BF16;
    IQA_CHECK(!bf16 || dev.is_cuda(), "--autocast bf16 needs a GPU (--device cuda or auto on a GPU machine)");
    manual_seed(seed);
    Tensor x, y;
    RegressionData d = make_synthetic_regression(samples);
    x = d.x;
    y = d.y;
    MLP model(8, {64, 64}, 1, Activation::ReLU);
    model.to(dev);
    x = x.to(dev);
    y = y.to(dev);
    Adam opt({ParamGroup{model.parameters(), lr}});
    std::printf("engine-smoke: MLP 8-64-64-1 (ReLU), %d samples, Adam lr %g, %d steps on %s%s, OpenMP waits %s\n",
                samples, lr, steps, dev.str().c_str(), bf16 ? " (bf16 autocast)" : "", omp_wait_policy_name());

    auto t0 = std::chrono::steady_clock::now();
    double loss_value = 0;
    for (int step = 1; step <= steps; ++step) {
      opt.zero_grad();
      Tensor pred;
      {
        amp::AutocastGuard guard(DType::BF16, bf16);
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
    return iqa::tools::report_error("engine-smoke", e);
  }
  return 0;
}
