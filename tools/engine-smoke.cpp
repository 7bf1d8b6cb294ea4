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
#include "tools/engine_smoke_flags.h"
#include "tools/tool_error.h"

using namespace iqa;
using iqa::training::DeviceChoice;
using iqa::training::SmokeAutocast;

int main(int argc, char** argv) {
  iqa::use_passive_omp_waits(argv);
  CLI::App app{"engine-smoke: train a small MLP on synthetic data and print the loss falling"};
  EngineSmokeArgs a;
  add_engine_smoke_flags(app, a);
  CLI11_PARSE(app, argc, argv);

  try {
    Device dev = kCPU;
    if (a.device == DeviceChoice::CUDA) IQA_CHECK(cuda::available(), "--device cuda: ", cuda::unavailable_reason());
    if (a.device == DeviceChoice::CUDA || (a.device == DeviceChoice::Auto && cuda::available())) dev = cuda_device();
    const bool bf16 = a.autocast == SmokeAutocast::BF16;
    IQA_CHECK(!bf16 || dev.is_cuda(), "--autocast bf16 needs a GPU (--device cuda or auto on a GPU machine)");
    manual_seed(a.seed);
    Tensor x, y;
    RegressionData d = make_synthetic_regression(a.samples);
    x = d.x;
    y = d.y;
    MLP model(8, {64, 64}, 1, Activation::ReLU);
    model.to(dev);
    x = x.to(dev);
    y = y.to(dev);
    Adam opt({ParamGroup{model.parameters(), a.lr}});
    std::printf("engine-smoke: MLP 8-64-64-1 (ReLU), %d samples, Adam lr %g, %d steps on %s%s, OpenMP waits %s\n",
                a.samples, a.lr, a.steps, dev.str().c_str(), bf16 ? " (bf16 autocast)" : "", omp_wait_policy_name());

    auto t0 = std::chrono::steady_clock::now();
    double loss_value = 0;
    for (int step = 1; step <= a.steps; ++step) {
      opt.zero_grad();
      Tensor pred;
      {
        amp::AutocastGuard guard(DType::BF16, bf16);
        pred = model(x);
      }
      Tensor loss = mse_loss(pred.to(DType::F32), y);
      loss.backward();
      opt.step();
      if (step == 1 || step % a.print_every == 0 || step == a.steps) {
        loss_value = loss.item();
        std::printf("step %5d  loss %.5f\n", step, loss_value);
      }
    }
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("final loss %.5f after %d steps in %.2f s (%.2f ms/step)\n", loss_value, a.steps, seconds,
                1e3 * seconds / a.steps);
  } catch (const std::exception& e) {
    return iqa::tools::report_error("engine-smoke", e);
  }
  return 0;
}
