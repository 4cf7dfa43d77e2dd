/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Functions keysentry code must not call (after git's banned.h). Each use
 * becomes a compile error naming the function. Why: unbounded copies
 * (strcpy, strcat, sprintf), hidden state (strtok, gmtime, localtime, rand),
 * silent parse failures (atoi, atol), and shells (system, popen).
 */
#ifndef KS_BANNED_H
#define KS_BANNED_H

#define KS_BANNED(func) sorry_##func##_is_banned_in_keysentry

#undef strcpy
#define strcpy(x, y) KS_BANNED(strcpy)
#undef strcat
#define strcat(x, y) KS_BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) KS_BANNED(strncpy)
#undef sprintf
#define sprintf(...) KS_BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) KS_BANNED(vsprintf)
#undef strtok
#define strtok(x, y) KS_BANNED(strtok)
#undef atoi
#define atoi(x) KS_BANNED(atoi)
#undef atol
#define atol(x) KS_BANNED(atol)
#undef gmtime
#define gmtime(x) KS_BANNED(gmtime)
#undef localtime
#define localtime(x) KS_BANNED(localtime)
#undef system
#define system(x) KS_BANNED(system)
#undef popen
#define popen(x, y) KS_BANNED(popen)
#undef rand
#define rand() KS_BANNED(rand)

#endif
