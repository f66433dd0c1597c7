// An optional BLAS (OpenBLAS, e.g. the scipy-openblas32 wheel), loaded at run time with dlopen.
// The engine builds and runs without it (its own kernels); when loaded, sgemm is called
// single-threaded from the engine's own thread pool, so two pools never fight over the cores.
#pragma once

#include <string>

namespace llada {
namespace blas {

// Loads the library at `path`; returns "" on success, else why not. Idempotent.
std::string load(const std::string& path);
bool available();

// Row-major C[M,N] = alpha * A[M,K] * op(B) + beta * C, op(B) = B^T ([N,K], ldb) when trans_b
// else B ([K,N], ldb). Only valid when available().
void sgemm(bool trans_b, int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb,
           float beta, float* C, int ldc);

}  // namespace blas
}  // namespace llada
