#include "amx_tiles.h"

#if defined(__x86_64__) && defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace llada {

bool amx_tile_data_permitted() {
#if defined(__x86_64__) && defined(__linux__)
  static const bool permitted = syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XTILEDATA */) == 0;
  return permitted;
#else
  return false;
#endif
}

}  // namespace llada
