// Every differentiable operation of the engine. Each op dispatches on device to kernels::cpu or
// kernels::cuda, and records one backward rule. Floating dtypes: f32/f64 on CPU; f32/bf16/f16 on
// CUDA (compute and accumulate in f32). Integer tensors are accepted where the op makes sense
// (indices, masks, comparisons, cast).
#pragma once
#include <optional>
#include <vector>

#include "engine/tensor.h"

namespace iqa {

// ---- elementwise, with NumPy broadcasting (engine/ops_elementwise.cpp) ----
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, double s);
Tensor mul(const Tensor& a, double s);
Tensor pow(const Tensor& a, double exponent);
Tensor maximum(const Tensor& a, const Tensor& b);  // gradient goes to a on ties
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor neg(const Tensor& a);
Tensor exp(const Tensor& a);
Tensor log(const Tensor& a);
Tensor sqrt(const Tensor& a);
Tensor rsqrt(const Tensor& a);
Tensor abs(const Tensor& a);
Tensor sign(const Tensor& a);  // gradient 0
Tensor clamp(const Tensor& a, std::optional<double> lo, std::optional<double> hi);
Tensor sigmoid(const Tensor& a);
Tensor tanh(const Tensor& a);
Tensor relu(const Tensor& a);
enum class GeluApprox { None, Tanh };
Tensor gelu(const Tensor& a, GeluApprox approx = GeluApprox::None);
Tensor quick_gelu(const Tensor& a);  // x * sigmoid(1.702 x), CLIP's activation
// Comparisons give u8 masks (no gradient).
Tensor gt(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor eq(const Tensor& a, const Tensor& b);
// where(cond, a, b): cond is u8 (nonzero = take a); broadcasting over all three.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
// dtype conversion; differentiable between floating dtypes (gradient cast back).
Tensor cast(const Tensor& a, DType dtype);

inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator-(const Tensor& a) { return neg(a); }
inline Tensor operator+(const Tensor& a, double s) { return add(a, s); }
inline Tensor operator-(const Tensor& a, double s) { return add(a, -s); }
inline Tensor operator*(const Tensor& a, double s) { return mul(a, s); }
inline Tensor operator/(const Tensor& a, double s) { return mul(a, 1.0 / s); }
inline Tensor operator*(double s, const Tensor& a) { return mul(a, s); }

// Sums `grad` down to `shape` (undoing broadcasting). Used by backward rules.
Tensor sum_to_shape(const Tensor& grad, const Shape& shape);

// ---- reductions (engine/ops_reduce.cpp). Empty dims = all dims. ----
Tensor sum(const Tensor& a, std::vector<int> dims = {}, bool keepdim = false);
Tensor mean(const Tensor& a, std::vector<int> dims = {}, bool keepdim = false);
// max over one dim: values (differentiable, gradient to the first maximal element) and i64 indices.
struct MaxResult { Tensor values, indices; };
MaxResult max(const Tensor& a, int dim, bool keepdim = false);
Tensor max_all(const Tensor& a);
// Variance with `correction` (1 = unbiased, like torch.var's default).
Tensor var(const Tensor& a, std::vector<int> dims = {}, int correction = 1, bool keepdim = false);
Tensor argmax(const Tensor& a, int dim, bool keepdim = false);

// ---- linear algebra (engine/ops_matmul.cpp): cuBLASLt on CUDA, OpenBLAS / blocked on CPU ----
// matmul: 2-D x 2-D, or batched with broadcasting over leading dims (like torch.matmul).
Tensor matmul(const Tensor& a, const Tensor& b);
Tensor bmm(const Tensor& a, const Tensor& b);  // [B,M,K] x [B,K,N]
// y = x W^T + b, x [..., in], W [out, in] (PyTorch layout), b [out] or undefined.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());
// Fused linear + GELU (cuBLASLt epilogue on CUDA); same numbers as gelu(linear(x, W, b)).
Tensor linear_gelu(const Tensor& x, const Tensor& weight, const Tensor& bias, GeluApprox approx = GeluApprox::None);
// Fused linear + QuickGELU (CLIP's MLP): the GEMM adds the bias in its epilogue, one pass applies
// QuickGELU; the backward is one pass giving d(pre) and the bias gradient (kernels/linear_quick_gelu.h).
// Same numbers as quick_gelu(linear(x, W, b)). bias may be undefined.
Tensor linear_quick_gelu(const Tensor& x, const Tensor& weight, const Tensor& bias);

// ---- normalisation and softmax (engine/ops_norm.cpp) ----
Tensor softmax(const Tensor& a, int dim = -1);
Tensor log_softmax(const Tensor& a, int dim = -1);
// LayerNorm over the last dim (normalized_shape = [C]); weight/bias [C] or undefined.
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps = 1e-5);
// Residual add fused with the LayerNorm after it: sum = x + residual (same shape and dtype) and
// out = layer_norm(sum, weight, bias, eps), from one pass over x and residual. Both are differentiable;
// the numbers equal add() followed by layer_norm().
struct AddLayerNormResult {
  Tensor sum, out;
};
AddLayerNormResult add_layer_norm(const Tensor& x, const Tensor& residual, const Tensor& weight, const Tensor& bias,
                                  double eps = 1e-5);

// ---- attention (engine/ops_attention.cpp) ----
// Scaled dot-product attention: q [B, H, Sq, D], k [B, H, Skv, D], v [B, H, Skv, Dv],
// scale 1/sqrt(D) unless given. softmax(q k^T * scale) v. `causal`: query i sees keys j <= i only
// (top-left aligned, as torch's is_causal=True; the same as bottom-right when Sq == Skv).
// Fused (no Sq x Skv matrix, logsumexp saved for the backward) on CUDA for bf16/f16 with
// D = Dv in {32, 64, 128} and a positive scale, and on the CPU for f32/f64 with D = Dv; otherwise the
// unfused composite below. The fused path reads any view whose last dim is contiguous in place (e.g.
// q, k, v sliced out of a fused qkv projection [B, S, 3, H, D]), and its output is stored
// [B, Sq, H, D] and returned as a [B, H, Sq, D] view: the layout the output projection reads.
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    std::optional<double> scale = std::nullopt, bool causal = false);
// The same from matmul and softmax (any dtype those take); the S x S scores are materialised, and
// causal adds a -inf upper triangle to them.
Tensor scaled_dot_product_attention_unfused(const Tensor& q, const Tensor& k, const Tensor& v,
                                            std::optional<double> scale = std::nullopt, bool causal = false);
// The fused op's two halves without autograd, for benchmarks and callers that keep their own graph.
// Throw when the fused path does not apply (see above). logsumexp: [B, H, Sq], f32 (f64 for f64 data).
struct AttentionForwardResult {
  Tensor out, logsumexp;
};
AttentionForwardResult scaled_dot_product_attention_fused_forward(const Tensor& q, const Tensor& k, const Tensor& v,
                                                                  std::optional<double> scale = std::nullopt,
                                                                  bool causal = false);
struct AttentionGrads {
  Tensor dq, dk, dv;
};
AttentionGrads scaled_dot_product_attention_fused_backward(const Tensor& q, const Tensor& k, const Tensor& v,
                                                           const Tensor& out, const Tensor& logsumexp,
                                                           const Tensor& grad_out,
                                                           std::optional<double> scale = std::nullopt,
                                                           bool causal = false);

// ---- convolution, pooling, batch norm (engine/ops_conv.cpp); NCHW ----
// weight [Cout, Cin/groups, kh, kw]; bias [Cout] or undefined.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int stride = 1, int padding = 0,
              int dilation = 1, int groups = 1);
// Training mode normalises with batch statistics and updates running_mean/var in place
// (momentum like PyTorch: r = (1-m) r + m * batch_stat, unbiased var for the running estimate).
Tensor batch_norm2d(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor running_mean,
                    Tensor running_var, bool training, double momentum = 0.1, double eps = 1e-5);
Tensor max_pool2d(const Tensor& x, int kernel, int stride, int padding = 0);
Tensor avg_pool2d(const Tensor& x, int kernel, int stride, int padding = 0);  // count_include_pad=True
Tensor adaptive_avg_pool2d(const Tensor& x, int out_h, int out_w);

// ---- channels-last (NHWC) convolution, batch norm and pools (engine/ops_nhwc.cpp) ----
// Activations are [N, H, W, C]; parameters keep PyTorch's shapes and names, so the same checkpoint
// serves both layouts. Each equals its NCHW op above on permuted data: conv2d_nhwc(x) ==
// conv2d(x.permute({0,3,1,2})).permute({0,2,3,1}), and so on. On CUDA the convolutions run through
// cuDNN with NHWC descriptors.
// weight [Cout, Cin/groups, kh, kw] (PyTorch layout); bias [Cout] or undefined.
Tensor conv2d_nhwc(const Tensor& x, const Tensor& weight, const Tensor& bias, int stride = 1, int padding = 0,
                   int dilation = 1, int groups = 1);
// Statistics per channel (the last dim) over N, H, W; running statistics and momentum as batch_norm2d.
// weight/bias/running stats may be f32 while x is bf16/f16 on CUDA (f32 statistics; out in x's dtype).
Tensor batch_norm2d_nhwc(const Tensor& x, const Tensor& weight, const Tensor& bias, Tensor running_mean,
                         Tensor running_var, bool training, double momentum = 0.1, double eps = 1e-5);
// kernel <= 15; padding <= kernel/2 as max_pool2d.
Tensor max_pool2d_nhwc(const Tensor& x, int kernel, int stride, int padding = 0);
// [N, H, W, C] -> [N, C]: the mean over the pixels (mean(x_nchw, {2, 3})).
Tensor global_avg_pool2d_nhwc(const Tensor& x);

// ---- shape and indexing (engine/ops_index.cpp) ----
Tensor concat(const std::vector<Tensor>& xs, int dim);
Tensor stack(const std::vector<Tensor>& xs, int dim);
Tensor index_select(const Tensor& x, int dim, const Tensor& index);  // index i64/i32 1-D
Tensor gather(const Tensor& x, int dim, const Tensor& index);        // torch.gather semantics

// ---- losses (engine/ops_loss.cpp): mean reduction ----
Tensor l1_loss(const Tensor& pred, const Tensor& target);
Tensor mse_loss(const Tensor& pred, const Tensor& target);
Tensor smooth_l1_loss(const Tensor& pred, const Tensor& target, double beta = 1.0);
// logits [N, C]; target i64 [N] class indices.
Tensor cross_entropy(const Tensor& logits, const Tensor& target);
// logits [N, C]; target probabilities [N, C] (soft labels): mean_n( -sum_c t log_softmax(x) ).
// One fused kernel per direction (kernels/cross_entropy.h); gradients for logits and target.
Tensor cross_entropy_soft(const Tensor& logits, const Tensor& target_probs);

// ---- IQA: SIND's loss and fusion head (engine/ops_iqa.cpp) ----
// Robust scale-and-shift-invariant L1 (shared/spec/sind.md §2): per scene id, prediction and MOS are
// each normalised by (x - lower median) / (mean |x - median| + eps); the loss is the mean over scenes of
// mean |p̂ - ĝ|. pred and mos have the same shape and dtype; scene_ids is i64 with as many elements.
// Returns a 0-d tensor; gradients (pred and mos) are torch autograd's, see kernels/scale_shift_loss.h.
Tensor scale_shift_loss(const Tensor& pred, const Tensor& mos, const Tensor& scene_ids, double eps = 1e-8);
// The same launch without normalisation: the mean over scene ids of each scene's mean |pred - mos|
// (SIND's --loss_type l1 with scene sampling); one scene id for the whole batch is plain L1.
Tensor scene_l1_loss(const Tensor& pred, const Tensor& mos, const Tensor& scene_ids);
// SIND's LocalGlobal head: Linear(G + D -> 1) on [global_cls ; mean over tokens of local_tokens].
// global_cls [B, G], local_tokens [B, N, D], weight [1, G + D], bias [1], one dtype; returns [B, 1].
Tensor local_global_head(const Tensor& global_cls, const Tensor& local_tokens, const Tensor& weight,
                         const Tensor& bias);

}  // namespace iqa
