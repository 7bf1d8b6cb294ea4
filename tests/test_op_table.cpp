// The op table's generic checks (rows in tests/op_table/): every row's f64 finite-difference
// gradchecks on the CPU, and its CUDA forward (and backward) against the CPU on the same rounded
// inputs. Known values, reference fixtures and edge cases stay in the per-op test files.
#include "engine/autograd.h"
#include "engine/random.h"
#include "tests/op_table/op_table.h"
#include "tests/testing.h"

using namespace iqa;
using namespace iqa::testing;
using namespace iqa::op_table;

namespace {

// Uniform [lo, hi) f64 values on the CPU.
Tensor uniform(const Shape& shape, double lo, double hi, uint64_t seed) {
  manual_seed(seed);
  NoGradGuard ng;
  return add(mul(Tensor::rand(shape, DType::F64), hi - lo), lo);
}

bool differentiable(const Operand& o) { return !o.fixed.defined() || is_floating(o.fixed.dtype()); }

// The operands' values in f64 on the CPU, rounded through `dt` (fixed integer tensors as they are),
// so the device and the CPU reference see the same numbers.
std::vector<Tensor> make_values(const Operands& operands, DType dt, uint64_t seed) {
  std::vector<Tensor> values;
  for (const Operand& o : operands) {
    if (o.fixed.defined()) values.push_back(is_floating(o.fixed.dtype()) ? o.fixed.to(dt).to(DType::F64).clone() : o.fixed);
    else values.push_back(uniform(o.shape, o.lo, o.hi, seed++).to(dt).to(DType::F64));
  }
  return values;
}

// Leaves on (device, dt) holding `values`; the differentiable ones require grad.
std::vector<Tensor> make_leaves(const Operands& operands, const std::vector<Tensor>& values, Device device, DType dt,
                                bool grad) {
  std::vector<Tensor> leaves;
  for (size_t i = 0; i < operands.size(); ++i) {
    const bool fl = differentiable(operands[i]);
    Tensor leaf = values[i].to(device, fl ? dt : values[i].dtype()).detach();
    if (fl && grad) leaf.set_requires_grad(true);
    leaves.push_back(leaf);
  }
  return leaves;
}

std::vector<Tensor> with_layouts(const Operands& operands, const std::vector<Tensor>& leaves) {
  std::vector<Tensor> seen;
  for (size_t i = 0; i < leaves.size(); ++i) seen.push_back(apply_layout(leaves[i], operands[i].layout));
  return seen;
}

struct Run {
  std::vector<DType> out_dtypes;
  std::vector<Tensor> results;  // the outputs, then each differentiable operand's gradient
};

// Runs the row on (device, dt) and back-propagates upstream[k] into output k (ones for a 0-d one).
Run run_row(const OpCase& c, const Operands& operands, const std::vector<Tensor>& values, Device device, DType dt,
            bool backward, const std::vector<Tensor>& upstream) {
  std::vector<Tensor> leaves = make_leaves(operands, values, device, dt, backward);
  const std::vector<Tensor> outs = row_outputs(c, with_layouts(operands, leaves));
  Run r;
  std::vector<Tensor> grads;
  for (size_t k = 0; k < outs.size(); ++k) {
    r.out_dtypes.push_back(outs[k].dtype());
    r.results.push_back(outs[k].detach().cpu());
    grads.push_back(outs[k].dim() == 0 ? Tensor() : upstream[k].to(device, outs[k].dtype()));
  }
  if (!backward) return r;
  run_backward(outs, grads);
  for (size_t i = 0; i < operands.size(); ++i)
    if (differentiable(operands[i])) r.results.push_back(leaves[i].grad().cpu());
  return r;
}

void compare_on_device(const OpCase& c, const Operands& operands, DType dt, bool backward, uint64_t seed) {
  const std::vector<Tensor> values = make_values(operands, dt, seed);
  std::vector<Tensor> probe;
  {
    NoGradGuard ng;
    probe = row_outputs(c, with_layouts(operands, make_leaves(operands, values, kCPU, c.reference, false)));
  }
  std::vector<Tensor> upstream;
  for (size_t k = 0; k < probe.size(); ++k)
    upstream.push_back(uniform(probe[k].shape(), c.grad_lo, c.grad_hi, seed + 1000 + k).to(dt).to(DType::F64));
  const Run cpu = run_row(c, operands, values, kCPU, c.reference, backward, upstream);
  const Run gpu = run_row(c, operands, values, cuda_device(0), dt, backward, upstream);
  if (c.keeps_dtype)
    for (DType out_dt : gpu.out_dtypes) REQUIRE(out_dt == dt);
  REQUIRE(gpu.results.size() == cpu.results.size());
  for (size_t k = 0; k < cpu.results.size(); ++k) {
    INFO("result " << k << " (the " << probe.size() << " output(s), then the gradients)");
    const Tol tol = c.tol(dt, k);
    require_close(gpu.results[k], cpu.results[k], tol.rtol, tol.atol, c.name.c_str());
  }
}

// What the gradcheck differentiates: fn's output, or for a row with several outputs the sum over
// them of <output, fixed random weights>, so every output's gradient path counts.
Tensor checked_output(const OpCase& c, const std::vector<Tensor>& in, uint64_t seed) {
  if (!c.outputs) return c.fn(in);
  const std::vector<Tensor> outs = c.outputs(in);
  Tensor total;
  for (size_t k = 0; k < outs.size(); ++k) {
    const Tensor term = sum(mul(outs[k], uniform(outs[k].shape(), -1, 1, seed + 500 + k)));
    total = total.defined() ? add(total, term) : term;
  }
  return total;
}

}  // namespace

TEST_CASE("op table: f64 finite-difference gradients of every row", "[ops][gradcheck]") {
  size_t checks = 0;
  for (const OpCase& c : op_cases()) {
    for (size_t i = 0; i < c.gradcheck.size(); ++i) {
      INFO("row '" << c.name << "', gradcheck " << i);
      const Operands& operands = c.gradcheck[i];
      std::vector<Tensor> leaves = make_leaves(operands, make_values(operands, DType::F64, seed_of(c.name) + 10 * i),
                                               kCPU, DType::F64, true);
      gradcheck([&](const std::vector<Tensor>& in) { return checked_output(c, with_layouts(operands, in), seed_of(c.name)); },
                leaves, c.gradcheck_tol);
      ++checks;
    }
  }
  REQUIRE(checks >= 80);  // the table cannot silently lose its rows
}

namespace {

// Every device check of one row, in each of its dtypes.
void compare_row_on_device(const OpCase& c) {
  for (size_t i = 0; i < c.device.size(); ++i) {
    const DeviceCheck& d = c.device[i];
    const bool backward = d.backward < 0 ? c.backward : d.backward == 1;
    for (DType dt : d.dtypes.empty() ? c.dtypes : d.dtypes) {
      INFO("row '" << c.name << "', device check " << i << " " << shape_str(d.operands[0].shape) << " in "
                   << dtype_name(dt));
      compare_on_device(c, d.operands, dt, backward, seed_of(c.name) + 10 * i);
    }
  }
}

const OpCase& row_named(const std::string& name) {
  const OpCase* found = nullptr;
  for (const OpCase& c : op_cases())
    if (c.name == name) found = &c;
  INFO("op table row '" << name << "'");
  REQUIRE(found != nullptr);
  return *found;
}

}  // namespace

// One section per row, so that a failing row on a first GPU contact does not hide the rows after it
// (select one with -c "<row name>").
TEST_CASE("op table: CUDA matches the CPU for every row", "[ops][cuda]") {
  IQA_REQUIRE_CUDA_OR_SKIP();
  for (const OpCase& c : op_cases()) {
    DYNAMIC_SECTION(c.name) { compare_row_on_device(c); }
  }
}

// The rows bench/gpu_check.sh re-runs under compute-sanitizer (memcheck, racecheck): small, and the
// scale-shift loss kernel's block reductions are where a race would show.
TEST_CASE("scale_shift_loss CUDA matches the CPU", "[ops][cuda][scale_shift]") {
  IQA_REQUIRE_CUDA_OR_SKIP();
  compare_row_on_device(row_named("scale_shift_loss"));
}
