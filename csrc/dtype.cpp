#include "dtype.h"

#include "quant.h"

namespace llada {

void convert_to_f32(const void* src, DType dt, int64_t offset, int64_t n, float* dst) {
  if (is_quant(dt)) {
    dequantize(src, dt, offset, n, dst);
    return;
  }
  int64_t i = 0;
  if (dt == DType::F32) {
    std::memcpy(dst, static_cast<const float*>(src) + offset, size_t(n) * 4);
    return;
  }
  const uint16_t* s = static_cast<const uint16_t*>(src) + offset;
#ifdef LLADA_AVX2
  if (dt == DType::BF16) {
    for (; i + 8 <= n; i += 8) {
      __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i)));
      _mm256_storeu_ps(dst + i, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
    }
  } else {
    for (; i + 8 <= n; i += 8) {
      _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i))));
    }
  }
#endif
  for (; i < n; ++i) dst[i] = dt == DType::BF16 ? bf16_to_f32(s[i]) : f16_to_f32(s[i]);
}

}  // namespace llada
