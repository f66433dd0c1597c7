// Stored weight dtypes and their conversion to float32 (the accumulation type).
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define LLADA_AVX2 1
#include <immintrin.h>
#endif

namespace llada {

// F32/F16/BF16 are arrays of values; the Q types are GGML block-quantized rows (quant.h), stored
// as bytes.
enum class DType { F32 = 0, F16 = 1, BF16 = 2, Q8_0 = 3, Q4_0 = 4, Q4_K = 5, Q6_K = 6 };

inline bool is_quant(DType dt) { return int(dt) >= int(DType::Q8_0); }

// Bytes per stored element: 4 or 2 for the float types, 1 (a byte of a block) for the Q types.
inline int dtype_size(DType dt) { return dt == DType::F32 ? 4 : is_quant(dt) ? 1 : 2; }

// bf16 is the top half of an IEEE float32.
inline float bf16_to_f32(uint16_t b) {
  uint32_t u = uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// IEEE half -> float, portable (subnormals, inf and nan included).
inline float f16_to_f32(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t u;
  if (exp == 0) {
    if (mant == 0) {
      u = sign;
    } else {  // subnormal: renormalise
      exp = 127 - 15 + 1;
      while ((mant & 0x400) == 0) {
        mant <<= 1;
        --exp;
      }
      mant &= 0x3ff;
      u = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 31) {
    u = sign | 0x7f800000u | (mant << 13);
  } else {
    u = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Element i of a stored array, as float32. Loads are unaligned-safe (memcpy).
inline float load_as_f32(const void* base, DType dt, int64_t i) {
  switch (dt) {
    case DType::F32: {
      float f;
      std::memcpy(&f, static_cast<const char*>(base) + 4 * i, 4);
      return f;
    }
    case DType::BF16: {
      uint16_t b;
      std::memcpy(&b, static_cast<const char*>(base) + 2 * i, 2);
      return bf16_to_f32(b);
    }
    case DType::F16: {
      uint16_t b;
      std::memcpy(&b, static_cast<const char*>(base) + 2 * i, 2);
      return f16_to_f32(b);
    }
    default: break;  // Q types: whole blocks only (convert_to_f32)
  }
  return 0.0f;
}

// dst[0:n] = float32(src[offset : offset + n]); for the Q types offset and n are in values and
// on block boundaries.
void convert_to_f32(const void* src, DType dt, int64_t offset, int64_t n, float* dst);

}  // namespace llada
