/* SPDX-License-Identifier: Apache-2.0 */
/* Shared helpers of the sigv4 unit tests (tests/unit/sigv4). */
#ifndef KS_TEST_SIGV4_H
#define KS_TEST_SIGV4_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sigv4/sigv4.h"

/* How a continuation line (obs-fold: a line starting with a space) reads. The
 * two suites disagree: the 2015 suite treats each continuation as another
 * value of the field (canonical "value1,value2,value3"), aws-c-auth joins it
 * to the previous value with a space ("value1 value2 value3"). HTTP servers
 * reject obs-fold (RFC 9112), so this is a property of the test files only. */
enum fold_mode {
    FOLD_REPEAT,
    FOLD_JOIN,
};

/* A request read from a test file. The body lives in `body` (owned). */
struct http_msg {
    struct sigv4_request req;
    char *body;
    size_t body_len;
};

/* Parses "METHOD target HTTP/1.1", header lines and an optional body after a
 * blank line (LF or CRLF). The target may contain spaces (the suites write
 * raw ones). false with why set on failure. */
bool http_parse(const char *text, size_t len, enum fold_mode mode, struct http_msg *m, char *why,
                size_t why_len);
void http_msg_release(struct http_msg *m);
/* Reads a whole file; NULL when absent. Caller frees. */
char *slurp(const char *path, size_t *len);
/* Semantic equality of two requests (method, path, query parameters as a
 * sorted multiset of decoded pairs, header fields as a stable-sorted list of
 * lower-case names with trimmed values, body). false with why set. */
bool http_same(const struct sigv4_request *a, const struct sigv4_request *b, char *why,
               size_t why_len);
/* The request as text (request line, CRLF header lines, blank line, body). */
char *http_render(const struct sigv4_request *req, size_t *len);

/* Registers and runs the third-party suites (under shared_data, may be NULL
 * or absent) and our own vectors; returns the number of failed tests. */
int run_suites(const char *shared_data, const char *own_vectors);

#endif
