/* SPDX-License-Identifier: Apache-2.0 */
/* One ctest entry (unit_alarm) running every alarm test group. */
#include "test_alarm.h"

int main(void)
{
    int failed = 0;
    failed += run_table_tests();
    failed += run_eval_tests();
    failed += run_reason_tests();
    failed += run_history_tests();
    failed += run_composite_tests();
    failed += run_validate_tests();
    return failed ? 1 : 0;
}
