/* SPDX-License-Identifier: Apache-2.0 */
/* The libFuzzer entry point, shared by the fuzz targets and replay.c. */
#ifndef KS_TEST_FUZZ_H
#define KS_TEST_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
