// The sequential loops of gru_viz.fast in C++: d2l's GRU recurrence forward, its backward through time, and the
// recurrent weights' gradients.
//
// Python does what is one big operation (output layer, loss, input and bias gradients, clipping, SGD); only the
// per-step work lives here, where a Python loop spent most of its time in dispatch overhead. The rows of a
// minibatch are independent sequences, so they are split into one block per core; each block runs its own
// recurrence on its own thread (at::parallel_for) with single-threaded BLAS (SerialSection), and then computes
// its share of the recurrent weights' gradients from the rows it has just produced, still in that core's cache.
//
// Layout: the B*T (row, step) positions are ordered block by block, and within a block step by step:
// position p(t, i) = b0*T + t*nb + i for row b0 + i of the block of rows [b0, b0 + nb). With one block this
// is d2l's time-major order. Tensors: ids (B*T) int64 in that order; h0 (B, h); w_x (V, 3h) = [W_xz | W_xr | W_xh];
// b (3h) = [b_z | b_r | b_h]; w_hzr (h, 2h) = [W_hz | W_hr]; per position: hs (., h) = H_t; zr (., 2h) = [Z | R];
// ht (., h) = H~; rh (., h) = R * H_{t-1}; da (., 3h) = dL/d(pre-activations of [Z | R | H~]);
// force (T, 2h) = the forced value of [Z | R] at each step and unit, NaN where the gate is free (or empty).

// Only the headers used: torch/extension.h pulls in all of torch and made the compiler peak at 1.6 GB of RAM
// (32 s); these take about 0.8 GB (15 s), which matters on a small shared server that builds at start-up.
#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>
#include <ATen/ops/mm.h>
#include <ATen/ops/sigmoid.h>
#include <ATen/ops/sum.h>
#include <ATen/ops/tanh.h>
#include <ATen/ops/zeros.h>
#include <torch/csrc/utils/pybind.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

// What torch's own BLAS exports (MKL here; weak, so absent symbols are null pointers and ATen is used instead).
extern "C" {
int MKL_Set_Num_Threads_Local(int) __attribute__((weak));
void sgemm_(const char*, const char*, const int*, const int*, const int*, const float*, const float*, const int*,
            const float*, const int*, const float*, float*, const int*) __attribute__((weak));
void dgemm_(const char*, const char*, const int*, const int*, const int*, const double*, const double*, const int*,
            const double*, const int*, const double*, double*, const int*) __attribute__((weak));
}

namespace {

// Up to this vocabulary size each block adds up its own input gradient (V x 3h per thread); above it, columns.
constexpr int64_t PER_BLOCK_MAX_VOCAB = 256;

// Everything in a block runs on the calling thread: single-threaded BLAS, and no OpenMP team for ATen's own
// kernels (its vectorised tanh and exp fork for as few as 2048 elements). The per-step operations are far too
// small to share, and when another process holds the other core each fork can wait a whole scheduler slice:
// tracing one text (one block, outside any parallel region) was 10-30x slower that way.
struct SerialSection {
  int blas = 0;
#ifdef _OPENMP
  int omp = omp_get_max_threads();
#endif
  SerialSection() {
#ifdef _OPENMP
    omp_set_num_threads(1);  // per task: at::get_num_threads() reads it, so ATen's parallel_for stays serial
#endif
    if (MKL_Set_Num_Threads_Local) blas = MKL_Set_Num_Threads_Local(1);
  }
  ~SerialSection() {
#ifdef _OPENMP
    omp_set_num_threads(omp);
#endif
    if (MKL_Set_Num_Threads_Local) MKL_Set_Num_Threads_Local(blas);
  }
};

// Row-major C (m x n) = op(A) B + beta C, op(A) = A (m x k) or, with trans_a, the transpose of A (k x m); row
// strides lda, ldb, ldc. Straight to BLAS when torch exports it: the per-step products are small enough that
// ATen's per-call work (views, checks, dispatch) was a sizeable part of their time. Column-major BLAS computes
// C^T = B^T op(A)^T from the same memory.
template <typename scalar_t>
void gemm(bool trans_a, int64_t m, int64_t n, int64_t k, const scalar_t* a, int64_t lda, const scalar_t* b,
          int64_t ldb, scalar_t beta, scalar_t* c, int64_t ldc) {
  const int M = m, N = n, K = k, LDA = lda, LDB = ldb, LDC = ldc;
  const scalar_t one = 1;
  const char* ta = trans_a ? "T" : "N";
  if constexpr (std::is_same_v<scalar_t, float>) {
    if (sgemm_) return sgemm_("N", ta, &N, &M, &K, &one, b, &LDB, a, &LDA, &beta, c, &LDC);
  } else {
    if (dgemm_) return dgemm_("N", ta, &N, &M, &K, &one, b, &LDB, a, &LDA, &beta, c, &LDC);
  }
  auto opts = at::TensorOptions().dtype(c10::CppTypeToScalarType<scalar_t>::value);
  auto A = trans_a ? at::from_blob(const_cast<scalar_t*>(a), {k, m}, {lda, 1}, opts).t()
                   : at::from_blob(const_cast<scalar_t*>(a), {m, k}, {lda, 1}, opts);
  auto B = at::from_blob(const_cast<scalar_t*>(b), {k, n}, {ldb, 1}, opts);
  auto C = at::from_blob(c, {m, n}, {ldc, 1}, opts);
  if (beta == scalar_t(0)) {
    C.copy_(at::mm(A, B));
  } else {
    C.addmm_(A, B);
  }
}

// Rows [r0, r1) of src (m x n) into dst (n x m) = src^T, by 16 x 16 tiles.
template <typename scalar_t>
void transpose_rows(const scalar_t* __restrict__ src, int64_t m, int64_t n, int64_t r0, int64_t r1,
                    scalar_t* __restrict__ dst) {
  constexpr int64_t tile = 16;
  for (int64_t i0 = r0; i0 < r1; i0 += tile)
    for (int64_t j0 = 0; j0 < n; j0 += tile)
      for (int64_t j = j0; j < std::min(n, j0 + tile); ++j)
        for (int64_t i = i0; i < std::min(r1, i0 + tile); ++i) dst[j * m + i] = src[i * n + j];
}

// Rows [start, start + count) of block `block` out of `blocks` nearly equal blocks of `batch` rows
// (gru_viz.fast._positions orders positions with the same formula).
inline std::pair<int64_t, int64_t> block_rows(int64_t block, int64_t blocks, int64_t batch) {
  const int64_t base = batch / blocks, extra = batch % blocks;
  return {block * base + std::min(block, extra), base + (block < extra ? 1 : 0)};
}

// Whether a step's row of the force table forces every gate of every unit (a plain RNN's step): then the gates'
// products are not computed at all, forward or backward (the PyTorch loops skip them the same way).
template <typename scalar_t>
inline bool all_forced(const scalar_t* f, int64_t n) {
  if (!f) return false;
  for (int64_t j = 0; j < n; ++j)
    if (std::isnan(f[j])) return false;
  return true;
}

template <typename scalar_t>
void forward_block(int64_t b0, int64_t nb, int64_t T, const at::Tensor& ids, const at::Tensor& h0,
                   const at::Tensor& w_x, const at::Tensor& b, const at::Tensor& w_hzr, const at::Tensor& w_hh,
                   const at::Tensor& force, at::Tensor& hs, at::Tensor& zr, at::Tensor& ht, at::Tensor& rh) {
  SerialSection serial;
  const int64_t h = hs.size(1);
  auto pre_zr_t = at::empty({nb, 2 * h}, hs.options());  // pre-activations of [Z | R], then the gates
  auto pre_h_t = at::empty({nb, h}, hs.options());       // pre-activation of H~, then H~
  scalar_t* __restrict__ pre_zr = pre_zr_t.data_ptr<scalar_t>();
  scalar_t* __restrict__ pre_h = pre_h_t.data_ptr<scalar_t>();
  const int64_t* tok = ids.data_ptr<int64_t>();
  const scalar_t* wx = w_x.data_ptr<scalar_t>();
  const scalar_t* bias = b.data_ptr<scalar_t>();
  const scalar_t* f_all = force.numel() ? force.data_ptr<scalar_t>() : nullptr;
  for (int64_t t = 0; t < T; ++t) {
    const int64_t p = b0 * T + t * nb;  // this block's first position at step t
    const scalar_t* __restrict__ hp =
        t == 0 ? h0.data_ptr<scalar_t>() + b0 * h : hs.data_ptr<scalar_t>() + (p - nb) * h;  // H_{t-1}
    scalar_t* __restrict__ g = zr.data_ptr<scalar_t>() + p * 2 * h;
    scalar_t* __restrict__ rhp = rh.data_ptr<scalar_t>() + p * h;
    scalar_t* __restrict__ cand = ht.data_ptr<scalar_t>() + p * h;
    scalar_t* __restrict__ hn = hs.data_ptr<scalar_t>() + p * h;  // H_t

    const scalar_t* f = f_all ? f_all + t * 2 * h : nullptr;
    const bool gates_forced = all_forced(f, 2 * h);
    if (!gates_forced) {
      gemm<scalar_t>(false, nb, 2 * h, h, hp, h, w_hzr.data_ptr<scalar_t>(), 2 * h, 0, pre_zr, 2 * h);  // both gates
      for (int64_t i = 0; i < nb; ++i) {
        const scalar_t* __restrict__ x = wx + tok[p + i] * 3 * h;  // X_t [W_xz | W_xr]: one-hot, so one row
        for (int64_t j = 0; j < 2 * h; ++j) pre_zr[i * 2 * h + j] += x[j] + bias[j];
      }
      at::sigmoid_(pre_zr_t);  // ATen's vectorised sigmoid: scalar exp() was most of the forward's time
    }
    for (int64_t i = 0; i < nb; ++i) {
      for (int64_t j = 0; j < 2 * h; ++j) {
        g[i * 2 * h + j] = (f && !std::isnan(f[j])) ? f[j] : pre_zr[i * 2 * h + j];  // a forced entry: the constant
      }
      for (int64_t j = 0; j < h; ++j) rhp[i * h + j] = g[i * 2 * h + h + j] * hp[i * h + j];
    }

    gemm<scalar_t>(false, nb, h, h, rhp, h, w_hh.data_ptr<scalar_t>(), h, 0, pre_h, h);  // (R * H_{t-1}) W_hh
    for (int64_t i = 0; i < nb; ++i) {
      const scalar_t* __restrict__ x = wx + tok[p + i] * 3 * h + 2 * h;
      for (int64_t j = 0; j < h; ++j) pre_h[i * h + j] += x[j] + bias[2 * h + j];
    }
    at::tanh_(pre_h_t);
    for (int64_t i = 0; i < nb; ++i) {
      for (int64_t j = 0; j < h; ++j) {
        const int64_t k = i * h + j;
        const scalar_t z = g[i * 2 * h + j], c = pre_h[k];
        cand[k] = c;
        hn[k] = z * hp[k] + (scalar_t(1) - z) * c;  // the chapter's H = Z*H + (1-Z)*H~
      }
    }
  }
}

// One row of one step, before the W_hh product: what needs only dL/dH_t (from the output, plus carried).
// Separate functions with restrict-qualified rows, so that the compiler vectorises the loops.
template <typename scalar_t>
inline void backward_through_h(int64_t h, const scalar_t* __restrict__ dho, const scalar_t* __restrict__ cr,
                               const scalar_t* __restrict__ z, const scalar_t* __restrict__ hp,
                               const scalar_t* __restrict__ c, scalar_t* __restrict__ dz, scalar_t* __restrict__ di,
                               scalar_t* __restrict__ da_h) {
  for (int64_t j = 0; j < h; ++j) {
    const scalar_t dh = dho[j] + cr[j];
    dz[j] = dh * (hp[j] - c[j]);                                       // dL/dZ
    di[j] = dh * z[j];                                                  // dL/dH_{t-1} through Z * H_{t-1}
    da_h[j] = dh * (scalar_t(1) - z[j]) * (scalar_t(1) - c[j] * c[j]);  // through (1-Z) * tanh
  }
}

// The same row after it: dr = dL/d(R * H_{t-1}) is known, so the gates' pre-activation gradients follow.
template <typename scalar_t>
inline void backward_through_gates(int64_t h, const scalar_t* __restrict__ z, const scalar_t* __restrict__ r,
                                   const scalar_t* __restrict__ hp, const scalar_t* __restrict__ dz,
                                   const scalar_t* __restrict__ dr, scalar_t* __restrict__ di,
                                   scalar_t* __restrict__ da_z, scalar_t* __restrict__ da_r) {
  for (int64_t j = 0; j < h; ++j) {
    di[j] += dr[j] * r[j];
    da_z[j] = dz[j] * z[j] * (scalar_t(1) - z[j]);
    da_r[j] = dr[j] * hp[j] * r[j] * (scalar_t(1) - r[j]);
  }
}

template <typename scalar_t>
inline void add_row(int64_t n, const scalar_t* __restrict__ src, scalar_t* __restrict__ dst,
                    scalar_t* __restrict__ sum) {
  for (int64_t j = 0; j < n; ++j) {
    dst[j] += src[j];
    sum[j] += src[j];
  }
}

// Back through time for one block, then its share of dW_hz, dW_hr (dw_zr, h x 2h) and dW_hh (dw_hh, h x h):
// sums over the block's positions, as a few large products over rows this core has just written; then, when
// dw_x is given (a small vocabulary), its share of the input weights' and biases' gradients (dw_x, V x 3h, and
// db, 3h, both zeroed by the caller) from the rows still in this core's cache.
template <typename scalar_t>
void backward_block(int64_t b0, int64_t nb, int64_t T, const at::Tensor& dh_out, const at::Tensor& h0,
                    const at::Tensor& hs, const at::Tensor& zr, const at::Tensor& ht, const at::Tensor& rh,
                    const at::Tensor& w_hzr_t, const at::Tensor& w_hh_t, const at::Tensor& force, at::Tensor& da,
                    const at::Tensor& ids, scalar_t* dw_zr, scalar_t* dw_hh, scalar_t* dw_x, scalar_t* db) {
  SerialSection serial;
  const int64_t h = hs.size(1);
  std::vector<scalar_t> carry_buf(nb * h, scalar_t(0)), direct_buf(nb * h), dz_buf(nb * h), drh_buf(nb * h);
  scalar_t* carry = carry_buf.data();    // dL/dH_t from the steps after t
  scalar_t* direct = direct_buf.data();  // dL/dH_{t-1} through Z*H_{t-1} and R*H_{t-1}
  scalar_t* dzp = dz_buf.data();
  scalar_t* dr = drh_buf.data();  // dL/d(R * H_{t-1})
  const scalar_t* f_all = force.numel() ? force.data_ptr<scalar_t>() : nullptr;
  const scalar_t* h0p = h0.data_ptr<scalar_t>() + b0 * h;
  bool every_step_forced = f_all != nullptr;
  for (int64_t t = 0; t < T && every_step_forced; ++t) every_step_forced = all_forced(f_all + t * 2 * h, 2 * h);
  for (int64_t t = T - 1; t >= 0; --t) {
    const int64_t p = b0 * T + t * nb;
    const scalar_t* dho = dh_out.data_ptr<scalar_t>() + p * h;
    const scalar_t* hp = t == 0 ? h0p : hs.data_ptr<scalar_t>() + (p - nb) * h;
    const scalar_t* g = zr.data_ptr<scalar_t>() + p * 2 * h;
    const scalar_t* c = ht.data_ptr<scalar_t>() + p * h;
    scalar_t* d = da.data_ptr<scalar_t>() + p * 3 * h;
    for (int64_t i = 0; i < nb; ++i) {
      backward_through_h(h, dho + i * h, carry + i * h, g + i * 2 * h, hp + i * h, c + i * h, dzp + i * h,
                         direct + i * h, d + i * 3 * h + 2 * h);
    }
    gemm<scalar_t>(false, nb, h, h, d + 2 * h, 3 * h, w_hh_t.data_ptr<scalar_t>(), h, 0, dr, h);
    const scalar_t* f = f_all ? f_all + t * 2 * h : nullptr;
    for (int64_t i = 0; i < nb; ++i) {
      backward_through_gates(h, g + i * 2 * h, g + i * 2 * h + h, hp + i * h, dzp + i * h, dr + i * h,
                             direct + i * h, d + i * 3 * h, d + i * 3 * h + h);
      if (f) {  // a forced gate is a constant: nothing flows into its pre-activation
        for (int64_t j = 0; j < 2 * h; ++j)
          if (!std::isnan(f[j])) d[i * 3 * h + j] = scalar_t(0);
      }
    }
    if (t > 0) {  // dL/dH_0 is not needed: the state entering a minibatch is detached
      if (!all_forced(f, 2 * h))  // else dA_z = dA_r = 0: nothing to add
        gemm<scalar_t>(false, nb, h, 2 * h, d, 3 * h, w_hzr_t.data_ptr<scalar_t>(), h, 1, direct, h);  // += dA W^T
      std::swap(carry, direct);
    }
  }
  // dW_hzr = sum over positions of H_{t-1}^T [dA_z | dA_r]: step 0 takes H_0, the later steps the block's H rows.
  const scalar_t* d0 = da.data_ptr<scalar_t>() + b0 * T * 3 * h;
  if (every_step_forced) {  // a plain RNN: the gates' weights get no gradient
    std::fill(dw_zr, dw_zr + h * 2 * h, scalar_t(0));
  } else {
    gemm<scalar_t>(true, h, 2 * h, nb, h0p, h, d0, 3 * h, 0, dw_zr, 2 * h);
  }
  if (T > 1 && !every_step_forced) {
    gemm<scalar_t>(true, h, 2 * h, (T - 1) * nb, hs.data_ptr<scalar_t>() + b0 * T * h, h, d0 + nb * 3 * h, 3 * h, 1,
                   dw_zr, 2 * h);
  }
  gemm<scalar_t>(true, h, h, T * nb, rh.data_ptr<scalar_t>() + b0 * T * h, h, d0 + 2 * h, 3 * h, 0, dw_hh, h);
  if (dw_x) {  // [dW_xz | dW_xr | dW_xh]: X is one-hot, so each position adds its dA to its token's row
    const int64_t* tok = ids.data_ptr<int64_t>();
    for (int64_t p = b0 * T; p < (b0 + nb) * T; ++p) {
      add_row(3 * h, d0 + (p - b0 * T) * 3 * h, dw_x + tok[p] * 3 * h, db);
    }
  }
}

// [dW_xz | dW_xr | dW_xh] (dw_x, V x 3h) and db (3h), columns [c0, c1), for a large vocabulary: split by
// columns, not by blocks of rows, so that no thread needs a private V x 3h copy to zero and add up at every step
// (for a raw vocabulary of 3,000 characters and 256 units, 9 MB per thread).
template <typename scalar_t>
void input_gradients(int64_t c0, int64_t c1, int64_t N, int64_t h, const int64_t* __restrict__ tok,
                     const scalar_t* __restrict__ da, scalar_t* __restrict__ dw_x, scalar_t* __restrict__ db) {
  for (int64_t j = c0; j < c1; ++j) db[j] = scalar_t(0);
  for (int64_t p = 0; p < N; ++p) {
    const scalar_t* __restrict__ src = da + p * 3 * h;
    scalar_t* __restrict__ dst = dw_x + tok[p] * 3 * h;
    for (int64_t j = c0; j < c1; ++j) {
      dst[j] += src[j];
      db[j] += src[j];
    }
  }
}

void check(std::initializer_list<const at::Tensor*> tensors) {
  for (const at::Tensor* x : tensors)
    TORCH_CHECK(x->device().is_cpu() && x->is_contiguous(), "gru_fast takes contiguous CPU tensors");
}

// Fills hs, zr, ht and rh (allocated by the caller, who may reuse them: fresh pages for these few megabytes on
// every call cost about a tenth of a training step in page faults).
// When w_hzr_t (2h, h) and w_hh_t (h, h) are given (not empty), each block also writes its share of the
// transposed weights that the backward needs: ATen's transposing copy took a quarter of a millisecond on one core.
void forward(const at::Tensor& ids, const at::Tensor& h0, const at::Tensor& w_x, const at::Tensor& b,
             const at::Tensor& w_hzr, const at::Tensor& w_hh, const at::Tensor& force, int64_t blocks, at::Tensor hs,
             at::Tensor zr, at::Tensor ht, at::Tensor rh, at::Tensor w_hzr_t, at::Tensor w_hh_t) {
  check({&ids, &h0, &w_x, &b, &w_hzr, &w_hh, &force, &hs, &zr, &ht, &rh, &w_hzr_t, &w_hh_t});
  const int64_t B = h0.size(0), h = h0.size(1), N = ids.numel(), T = B ? N / B : 0;
  TORCH_CHECK(ids.scalar_type() == at::kLong && N == B * T, "ids must hold batch * steps int64 token ids");
  TORCH_CHECK(w_x.size(1) == 3 * h && b.numel() == 3 * h && w_hzr.size(0) == h && w_hzr.size(1) == 2 * h &&
                  w_hh.size(0) == h && w_hh.size(1) == h && hs.numel() == N * h && zr.numel() == N * 2 * h &&
                  ht.numel() == N * h && rh.numel() == N * h &&
                  (force.numel() == 0 || (force.size(0) == T && force.size(1) == 2 * h)) &&
                  (w_hzr_t.numel() == 0 || (w_hzr_t.numel() == 2 * h * h && w_hh_t.numel() == h * h)),
              "gru_fast.forward: shape mismatch");
  TORCH_CHECK(N == 0 || (ids.min().item<int64_t>() >= 0 && ids.max().item<int64_t>() < w_x.size(0)),
              "token ids out of range");
  blocks = std::max<int64_t>(1, std::min(blocks, B));
  AT_DISPATCH_FLOATING_TYPES(hs.scalar_type(), "gru_fast_forward", [&] {
    at::parallel_for(0, blocks, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t blk = lo; blk < hi; ++blk) {
        auto [b0, nb] = block_rows(blk, blocks, B);
        forward_block<scalar_t>(b0, nb, T, ids, h0, w_x, b, w_hzr, w_hh, force, hs, zr, ht, rh);
        if (w_hzr_t.numel()) {
          const int64_t r0 = blk * h / blocks, r1 = (blk + 1) * h / blocks;
          transpose_rows(w_hzr.data_ptr<scalar_t>(), h, 2 * h, r0, r1, w_hzr_t.data_ptr<scalar_t>());
          transpose_rows(w_hh.data_ptr<scalar_t>(), h, h, r0, r1, w_hh_t.data_ptr<scalar_t>());
        }
      }
    });
  });
}

// dh_out = dL/dH_t through the output layer, per position; w_hzr_t (2h, h) and w_hh_t (h, h) the transposed
// weights, contiguous (BLAS was 1.5x slower on these per-step products with a transposed operand). Fills da and
// the gradients of the weights and biases of the gates and the candidate: dw_zr (h, 2h) = [dW_hz | dW_hr],
// dw_hh (h, h), dw_x (V, 3h) = [dW_xz | dW_xr | dW_xh] and db (3h).
void backward(const at::Tensor& ids, const at::Tensor& dh_out, const at::Tensor& h0, const at::Tensor& hs,
              const at::Tensor& zr, const at::Tensor& ht, const at::Tensor& rh, const at::Tensor& w_hzr_t,
              const at::Tensor& w_hh_t, const at::Tensor& force, int64_t blocks, at::Tensor da, at::Tensor dw_zr,
              at::Tensor dw_hh, at::Tensor dw_x, at::Tensor db) {
  check({&ids, &dh_out, &h0, &hs, &zr, &ht, &rh, &w_hzr_t, &w_hh_t, &force, &da, &dw_zr, &dw_hh, &dw_x, &db});
  const int64_t B = h0.size(0), h = h0.size(1), N = ids.numel(), T = B ? N / B : 0, V = dw_x.size(0);
  TORCH_CHECK(N == B * T && hs.numel() == N * h && dh_out.numel() == N * h && zr.numel() == N * 2 * h &&
                  ht.numel() == N * h && rh.numel() == N * h && da.numel() == N * 3 * h && w_hzr_t.size(0) == 2 * h &&
                  w_hzr_t.size(1) == h && w_hh_t.size(0) == h && w_hh_t.size(1) == h && dw_zr.numel() == 2 * h * h &&
                  dw_hh.numel() == h * h && dw_x.size(1) == 3 * h && db.numel() == 3 * h &&
                  (force.numel() == 0 || (force.size(0) == T && force.size(1) == 2 * h)),
              "gru_fast.backward: shape mismatch");
  TORCH_CHECK(N == 0 || (ids.min().item<int64_t>() >= 0 && ids.max().item<int64_t>() < V), "token ids out of range");
  blocks = std::max<int64_t>(1, std::min(blocks, B));
  // Each block writes partial sums, added up afterwards (one block writes the gradients in place). The input
  // gradient too while the vocabulary is small, from rows still in the core's cache (with d2l's 28 characters
  // and 2 blocks the column pass below was about 5 % slower); above that, by columns after the blocks.
  const bool one = blocks == 1, per_block = V <= PER_BLOCK_MAX_VOCAB;
  auto part_zr = one ? dw_zr : at::empty({blocks, h, 2 * h}, hs.options());
  auto part_hh = one ? dw_hh : at::empty({blocks, h, h}, hs.options());
  auto part_x = !per_block ? dw_x.zero_() : one ? dw_x.zero_() : at::zeros({blocks, V, 3 * h}, hs.options());
  auto part_b = !per_block ? db : one ? db.zero_() : at::zeros({blocks, 3 * h}, hs.options());
  AT_DISPATCH_FLOATING_TYPES(hs.scalar_type(), "gru_fast_backward", [&] {
    at::parallel_for(0, blocks, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t blk = lo; blk < hi; ++blk) {
        auto [b0, nb] = block_rows(blk, blocks, B);
        const int64_t k = one ? 0 : blk;
        backward_block<scalar_t>(
            b0, nb, T, dh_out, h0, hs, zr, ht, rh, w_hzr_t, w_hh_t, force, da, ids,
            part_zr.data_ptr<scalar_t>() + k * 2 * h * h, part_hh.data_ptr<scalar_t>() + k * h * h,
            per_block ? part_x.data_ptr<scalar_t>() + k * V * 3 * h : nullptr,
            per_block ? part_b.data_ptr<scalar_t>() + k * 3 * h : nullptr);
      }
    });
    if (!per_block) {  // by column ranges, at least 64 columns per thread
      at::parallel_for(0, 3 * h, 64, [&](int64_t c0, int64_t c1) {
        input_gradients<scalar_t>(c0, c1, N, h, ids.data_ptr<int64_t>(), da.data_ptr<scalar_t>(),
                                  dw_x.data_ptr<scalar_t>(), db.data_ptr<scalar_t>());
      });
    }
  });
  if (!one) {
    at::sum_out(dw_zr, part_zr, 0);
    at::sum_out(dw_hh, part_hh, 0);
    if (per_block) {
      at::sum_out(dw_x, part_x, 0);
      at::sum_out(db, part_b, 0);
    }
  }
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "gru_viz: the GRU's sequential loops (forward, and backward through time with the recurrent gradients)";
  // Without the GIL while computing, so that the app's other threads (the UI) keep running meanwhile.
  m.def("forward", &forward, "GRU recurrence forward", py::call_guard<py::gil_scoped_release>());
  m.def("backward", &backward, "GRU backward through time", py::call_guard<py::gil_scoped_release>());
}
