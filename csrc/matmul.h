// Matrix products Y = X · W^T with W in its stored dtype (PyTorch's [out, in] layout), f32
// accumulation. Two back ends: BLAS sgemm (f32 weights in place; bf16/f16 weights converted one
// panel of rows at a time into a small thread-local f32 buffer) and our own AVX2/FMA/F16C
// kernels (dtype converted in registers). The benchmark picks; Kernel::Auto = BLAS if loaded.
#pragma once

#include <cstdint>

#include "dtype.h"
#include "threadpool.h"

namespace llada {

enum class Kernel { Auto = 0, Blas = 1, Own = 2 };

// Resolves Auto to what will run: Blas when a BLAS is loaded, else Own.
Kernel resolve_kernel(Kernel k);

// Y[M, N] (row stride ldy) = X[M, K] (ldx) · W[N, K]^T (ldw, stored dtype), plus Y when
// accumulate. Parallel over the pool.
void matmul_wt(ThreadPool& pool, Kernel kernel, int64_t M, int64_t N, int64_t K, const float* X, int64_t ldx,
               const void* W, DType wdt, int64_t ldw, float* Y, int64_t ldy, bool accumulate);

// Several products with the same X (q/k/v, gate/up) in one parallel loop: the panels of all the
// Ws are handed out together, one pool wake-up and one join instead of one per product.
struct MatmulOut {
  const void* W;
  DType wdt;
  int64_t N;
  int64_t ldw;
  float* Y;
  int64_t ldy;
};
void matmul_wt_multi(ThreadPool& pool, Kernel kernel, int64_t M, int64_t K, const float* X, int64_t ldx,
                     const MatmulOut* outs, int n_outs, bool accumulate);

// Single-threaded f32 products for use inside a parallel task (attention):
// Y[M,N] = alpha * X[M,K] · B[N,K]^T
void gemm_nt_f32(Kernel kernel, int64_t M, int64_t N, int64_t K, float alpha, const float* X, int64_t ldx,
                 const float* B, int64_t ldb, float* Y, int64_t ldy);
// Y[M,N] = X[M,K] · B[K,N]
void gemm_nn_f32(Kernel kernel, int64_t M, int64_t N, int64_t K, const float* X, int64_t ldx, const float* B,
                 int64_t ldb, float* Y, int64_t ldy);

}  // namespace llada
