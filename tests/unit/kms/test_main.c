/* SPDX-License-Identifier: Apache-2.0 */
/* One ctest entry (unit_kms) running every KMS test group. */
#include "test_kms.h"

int main(void)
{
    int failed = 0;
    failed += run_shape_tests();
    failed += run_state_tests();
    failed += run_decrypt_tests();
    failed += run_policy_tests();
    failed += run_limit_tests();
    failed += run_persist_tests();
    failed += run_trail_tests();
    failed += run_thread_tests();
    return failed ? 1 : 0;
}
