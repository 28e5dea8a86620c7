/* fuzz.h: shared by the fuzz targets. Each target defines
 * LLVMFuzzerTestOneInput; built with -DFUZZ=ON (clang) libFuzzer drives it,
 * otherwise replay.c's main() feeds it the files named on the command line.
 * FUZZ_CHECK aborts on a broken invariant, which both drivers report. */
#ifndef TENANT_AUTH_FUZZ_H
#define TENANT_AUTH_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__,     \
              #cond);                                                          \
      abort();                                                                 \
    }                                                                          \
  } while (0)

#endif
