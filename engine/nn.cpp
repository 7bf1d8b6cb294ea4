// Module base: registration, dotted names, state dicts, train/eval, in-place device moves.
#include "engine/nn.h"

#include <set>

#include "engine/autograd.h"

namespace iqa {

namespace {
// Points `dst`'s impl at `src`'s storage and geometry, so every holder of dst sees the change.
void replace_contents(const Tensor& dst, const Tensor& src) {
  TensorImpl& d = dst.impl();
  const TensorImpl& s = src.impl();
  d.storage = s.storage;
  d.shape = s.shape;
  d.strides = s.strides;
  d.offset = s.offset;
  d.dtype = s.dtype;
}
}  // namespace

Tensor Module::forward(const Tensor&) {
  fail(cat(type_name(), " has no single-tensor forward; call its own forward method"));
}

void Module::check_new_name(const std::string& name) const {
  IQA_CHECK(!name.empty() && name.find('.') == std::string::npos, type_name(), ": invalid member name '", name,
            "' (must be non-empty and contain no '.')");
  for (auto& [n, _] : params_) IQA_CHECK(n != name, type_name(), ": '", name, "' already registered as a parameter");
  for (auto& [n, _] : buffers_) IQA_CHECK(n != name, type_name(), ": '", name, "' already registered as a buffer");
  for (auto& [n, _] : children_) IQA_CHECK(n != name, type_name(), ": '", name, "' already registered as a module");
}

Tensor Module::register_parameter(const std::string& name, Tensor t, bool requires_grad) {
  check_new_name(name);
  IQA_CHECK(t.defined(), type_name(), ": parameter '", name, "' is undefined");
  IQA_CHECK(is_floating(t.dtype()), type_name(), ": parameter '", name, "' must be floating, got ", t.str());
  t = t.detach();  // a leaf, never the output of an op
  t.set_requires_grad(requires_grad);
  params_.push_back({name, t});
  return t;
}

Tensor Module::register_buffer(const std::string& name, Tensor t) {
  check_new_name(name);
  IQA_CHECK(t.defined(), type_name(), ": buffer '", name, "' is undefined");
  t = t.detach();
  buffers_.push_back({name, t});
  return t;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> m) {
  check_new_name(name);
  IQA_CHECK(m != nullptr, type_name(), ": child module '", name, "' is null");
  m->train(training_);
  children_.push_back({name, std::move(m)});
}

void Module::collect(const std::string& prefix, bool params, bool buffers, NamedTensors& out) const {
  if (params)
    for (auto& [n, t] : params_) out.push_back({prefix + n, t});
  if (buffers)
    for (auto& [n, t] : buffers_) out.push_back({prefix + n, t});
  for (auto& [n, c] : children_) c->collect(prefix + n + ".", params, buffers, out);
}

NamedTensors Module::named_parameters() const {
  NamedTensors out;
  collect("", true, false, out);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [_, t] : named_parameters()) out.push_back(t);
  return out;
}

NamedTensors Module::named_buffers() const {
  NamedTensors out;
  collect("", false, true, out);
  return out;
}

NamedTensors Module::state_dict() const {
  NamedTensors out;
  collect("", true, true, out);
  for (auto& [_, t] : out) t = t.detach();
  return out;
}

void Module::load_state_dict(const NamedTensors& state, bool strict) {
  std::map<std::string, Tensor> m;
  for (auto& [n, t] : state) m[n] = t;
  load_state_dict(m, strict);
}

void Module::load_state_dict(const std::map<std::string, Tensor>& state, bool strict) {
  NamedTensors own;
  collect("", true, true, own);
  std::vector<std::string> missing, mis_shaped, unexpected;
  std::set<std::string> own_names;
  for (auto& [n, t] : own) {
    own_names.insert(n);
    auto it = state.find(n);
    if (it == state.end()) missing.push_back(n);
    else if (it->second.shape() != t.shape())
      mis_shaped.push_back(cat(n, " (checkpoint ", shape_str(it->second.shape()), ", model ", shape_str(t.shape()), ")"));
  }
  for (auto& [n, _] : state)
    if (!own_names.count(n)) unexpected.push_back(n);
  bool bad = !mis_shaped.empty() || (strict && (!missing.empty() || !unexpected.empty()));
  if (bad) {
    std::string msg = cat("load_state_dict into ", type_name(), " failed:");
    auto list = [&msg](const char* what, const std::vector<std::string>& names) {
      if (names.empty()) return;
      msg += cat(" ", what, " [");
      for (size_t i = 0; i < names.size(); ++i) msg += (i ? ", " : "") + names[i];
      msg += "];";
    };
    if (strict) list("missing keys", missing);
    if (strict) list("unexpected keys", unexpected);
    list("shape mismatch", mis_shaped);
    fail(msg);
  }
  {
    NoGradGuard ng;
    for (auto& [n, t] : own) {
      auto it = state.find(n);
      if (it != state.end()) t.copy_(it->second);
    }
  }
  // Let every module in the tree refresh host-side mirrors of its buffers.
  std::vector<Module*> stack{this};
  while (!stack.empty()) {
    Module* m = stack.back();
    stack.pop_back();
    m->after_load_state_dict();
    for (auto& [_, c] : m->children_) stack.push_back(c.get());
  }
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [_, c] : children_) c->train(on);
}

template <class F>
void Module::for_each_tensor(F&& f) {
  for (auto& [_, t] : params_) f(t, true);
  for (auto& [_, t] : buffers_) f(t, false);
  for (auto& [_, c] : children_) c->for_each_tensor(f);
}

void Module::to(Device device) {
  for_each_tensor([&](Tensor& t, bool is_param) {
    if (t.device() == device) return;
    replace_contents(t, t.detach().to(device));
    if (is_param && t.grad().defined()) t.set_grad(t.grad().detach().to(device));
  });
}

void Module::to(DType dtype) {
  IQA_CHECK(is_floating(dtype), type_name(), ".to(", dtype_name(dtype), "): needs a floating dtype");
  for_each_tensor([&](Tensor& t, bool is_param) {
    if (!is_floating(t.dtype()) || t.dtype() == dtype) return;
    replace_contents(t, t.detach().to(dtype));
    if (is_param) t.zero_grad();
  });
}

void Module::zero_grad() {
  for_each_tensor([](Tensor& t, bool is_param) {
    if (is_param) t.zero_grad();
  });
}

}  // namespace iqa
