// What the AMX kernels (bf16dot.cpp, quant_amx.cpp, amx_gemm.cpp) share: the layout of a tile
// configuration (palette 1), the Linux permission for the tile data, and the f16 scale reader
// their dequantizing loops call.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace llada {

// _tile_loadconfig's 64 bytes: bytes per row (colsb) and rows of each tile 0..15.
struct AmxTileConfig {
  uint8_t palette = 1, start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

// Linux hands out the tile data state only on request (arch_prctl ARCH_REQ_XCOMP_PERM for
// XTILEDATA), once per process: true if granted; false on other systems and CPUs.
bool amx_tile_data_permitted();

#if defined(__x86_64__)
// The f16 at p (a block's scale, as GGUF stores it), with F16C.
__attribute__((target("f16c"), always_inline)) inline float f16c_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}
#endif

}  // namespace llada
