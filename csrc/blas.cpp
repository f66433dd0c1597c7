#include "blas.h"

#include <dlfcn.h>

#include <mutex>

namespace llada {
namespace blas {

namespace {
// cblas_sgemm of a 32-bit-integer (LP64) build. Enum values are the CBLAS standard's.
using SgemmFn = void (*)(int order, int trans_a, int trans_b, int M, int N, int K, float alpha, const float* A,
                         int lda, const float* B, int ldb, float beta, float* C, int ldc);
using SetThreadsFn = void (*)(int);
constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;

std::mutex mu;
SgemmFn sgemm_fn = nullptr;
}  // namespace

std::string load(const std::string& path) {
  std::lock_guard<std::mutex> lock(mu);
  if (sgemm_fn != nullptr) return "";
  void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* err = dlerror();
    return err ? err : "dlopen failed";
  }
  // scipy-openblas prefixes its symbols with "scipy_"; a plain OpenBLAS does not.
  auto fn = reinterpret_cast<SgemmFn>(dlsym(lib, "scipy_cblas_sgemm"));
  auto threads = reinterpret_cast<SetThreadsFn>(dlsym(lib, "scipy_openblas_set_num_threads"));
  if (fn == nullptr) {
    fn = reinterpret_cast<SgemmFn>(dlsym(lib, "cblas_sgemm"));
    threads = reinterpret_cast<SetThreadsFn>(dlsym(lib, "openblas_set_num_threads"));
  }
  if (fn == nullptr) {
    dlclose(lib);
    return "no cblas_sgemm in " + path;
  }
  if (threads != nullptr) threads(1);  // our pool parallelises; each call runs on one core
  sgemm_fn = fn;                       // the library stays loaded for the process's life
  return "";
}

bool available() { return sgemm_fn != nullptr; }

void sgemm(bool trans_b, int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb,
           float beta, float* C, int ldc) {
  sgemm_fn(kRowMajor, kNoTrans, trans_b ? kTrans : kNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace blas
}  // namespace llada
