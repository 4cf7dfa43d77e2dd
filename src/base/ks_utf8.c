/* SPDX-License-Identifier: Apache-2.0 */
/*
 * UTF-8 and NUL screening. Every event passes through here before it is
 * scanned, so the common case (ASCII, as nearly all of CloudTrail is) runs
 * 16 bytes per step with SSE2; only blocks holding a high bit or a zero byte
 * drop to the scalar decoder (RFC 3629 table: no overlongs, no surrogates).
 */
#include "base/ks.h"

#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static size_t utf8_scalar(const unsigned char *p, size_t len, size_t i, size_t stop, bool *ok)
{
    /* Decodes from i until at least stop, returns where it ended. */
    while (i < stop) {
        unsigned char c = p[i];
        if (c < 0x80) {
            if (c == 0) {
                *ok = false;
                return i;
            }
            i++;
            continue;
        }
        size_t need;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c == 0xE0) {
            need = 2;
            lo = 0xA0;
        } else if (c >= 0xE1 && c <= 0xEC) {
            need = 2;
        } else if (c == 0xED) {
            need = 2;
            hi = 0x9F;
        } else if (c >= 0xEE && c <= 0xEF) {
            need = 2;
        } else if (c == 0xF0) {
            need = 3;
            lo = 0x90;
        } else if (c >= 0xF1 && c <= 0xF3) {
            need = 3;
        } else if (c == 0xF4) {
            need = 3;
            hi = 0x8F;
        } else {
            *ok = false;
            return i;
        }
        if (len - i <= need) {
            *ok = false;
            return i;
        }
        if (p[i + 1] < lo || p[i + 1] > hi) {
            *ok = false;
            return i;
        }
        for (size_t k = 2; k <= need; k++) {
            if ((p[i + k] & 0xC0) != 0x80) {
                *ok = false;
                return i;
            }
        }
        i += need + 1;
    }
    return i;
}

bool ks_text_clean(const char *text, size_t len, size_t *bad_at)
{
    const unsigned char *p = (const unsigned char *)text;
    size_t i = 0;
    bool ok = true;
#if defined(__SSE2__)
    const __m128i zero = _mm_setzero_si128();
    while (i + 16 <= len) {
        __m128i v = _mm_loadu_si128((const __m128i *)(p + i));
        int hi = _mm_movemask_epi8(v);
        int z = _mm_movemask_epi8(_mm_cmpeq_epi8(v, zero));
        if ((hi | z) == 0) {
            i += 16;
            continue;
        }
        i = utf8_scalar(p, len, i, i + 16, &ok);
        if (!ok) {
            *bad_at = i;
            return false;
        }
    }
#endif
    i = utf8_scalar(p, len, i, len, &ok);
    if (!ok) {
        *bad_at = i;
        return false;
    }
    return true;
}
