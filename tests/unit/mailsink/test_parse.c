/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The decoders on tables: Subject unfolding and RFC 2047 encoded words (what
 * src/notify emits, what other mailers emit, and malformed words that must
 * stay visible), bodies in quoted-printable and base64, and hostile bytes
 * that must come out as valid UTF-8 without control characters.
 */
#include "test_mailsink.h"

static void test_decode_header_table(void **state)
{
    (void)state;
    static const struct {
        const char *in, *want;
    } t[] = {
        {"plain text", "plain text"},
        {"  padded \t", "padded"},
        {"folded\r\n line", "folded line"},
        {"folded\r\n\tline\n  twice", "folded line  twice"}, /* tabs print as spaces */
        /* what notify's add_encoded_words writes for a non-ASCII alarm name */
        {"=?UTF-8?B?QUxBUk06ICJrbXMtZMOpY3J5cHQiIGluIFVTIEVhc3Q=?=", "ALARM: \"kms-d\xc3\xa9"
                                                                     "crypt\" in US East"},
        {"=?UTF-8?B?QUxBUk06ICJr?=\r\n =?UTF-8?B?w6ki?=", "ALARM: \"k\xc3\xa9\""},
        {"=?utf-8?q?caf=C3=A9_au_lait?=", "caf\xc3\xa9 au lait"},
        {"=?UTF-8?Q?a?= =?UTF-8?Q?b?=", "ab"}, /* space between words dropped */
        {"=?UTF-8?Q?a?=   \t =?UTF-8?Q?b?=", "ab"},
        {"=?UTF-8?Q?a?= b =?UTF-8?Q?c?=", "a b c"}, /* but not next to text */
        {"x =?UTF-8?Q?a?=", "x a"},
        {"=?ISO-8859-1?Q?Andr=E9?=", "Andr\xc3\xa9"},
        {"=?iso-8859-1?b?6Q==?=", "\xc3\xa9"},
        {"=?US-ASCII*en?Q?lang?=", "lang"},                 /* RFC 2231 language tag */
        {"=?KOI8-R?B?8NLJ18XU?=", "=?KOI8-R?B?8NLJ18XU?="}, /* unknown charset: as written */
        {"=?UTF-8?X?abc?=", "=?UTF-8?X?abc?="},
        {"=?UTF-8?B?", "=?UTF-8?B?"},
        {"=?UTF-8?B?no end", "=?UTF-8?B?no end"},
        {"=??B?QQ==?=", "=??B?QQ==?="},
        {"=?UTF-8?Q?has space?=", "=?UTF-8?Q?has space?="},
        {"=?UTF-8?B?QUJD?==?UTF-8?B?REVG?=", "ABCDEF"},
        {"=?UTF-8?B?@@@QUJD!!?=", "ABC"}, /* stray bytes skipped */
        {"=?UTF-8?Q?=ZZ=4?=", "=ZZ=4"},   /* bad hex kept */
        {"=?UTF-8?Q?a=0D=0ABcc: evil?=", "=?UTF-8?Q?a=0D=0ABcc: evil?="},
        {"=?UTF-8?Q?a=0D=0ABcc:_evil?=", "a  Bcc: evil"}, /* no line breaks */
        {"=?UTF-8?B?G1szMW0=?=", " [31m"},                /* ESC never reaches a terminal */
        {"bell\x07tab\tdel\x7f", "bell tab del "},
        {"\xc2\x9b"
         "csi",
         " csi"}, /* C1 control (CSI) */
        {"bad \xff\xfe utf8 \xc3", "bad \xef\xbf\xbd\xef\xbf\xbd utf8 \xef\xbf\xbd"},
        {"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* a surrogate */
        {"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"},                 /* overlong */
        {"=?UTF-8?B?wA==?=", "\xef\xbf\xbd"},                     /* decoded bytes checked too */
        {"\xf0\x9f\x94\x91 key", "\xf0\x9f\x94\x91 key"},
        {"", ""},
    };
    for (size_t i = 0; i < KS_ARRAY_LEN(t); i++) {
        char *got = mailsink_decode_header(t[i].in, strlen(t[i].in));
        if (strcmp(got, t[i].want))
            fail_msg("case %zu: '%s' decoded to '%s', want '%s'", i, t[i].in, got, t[i].want);
        free(got);
    }
    /* a NUL inside the value never truncates what follows */
    char *got = mailsink_decode_header("a\0b", 3);
    assert_string_equal(got, "a b");
    free(got);
}

static struct mailsink_message *parsed(const char *raw)
{
    struct mailsink_message *m = calloc(1, sizeof(*m));
    m->raw = strdup(raw);
    m->raw_len = strlen(raw);
    mailsink_parse(m);
    return m;
}

static void test_parse_messages(void **state)
{
    (void)state;
    static const struct {
        const char *raw, *subject, *body;
    } t[] = {
        {"Subject: hi\r\n\r\nbody\r\n", "hi", "body\r\n"},
        {"subject: lower\r\n\r\n", "lower", ""},
        {"Subject : old style\r\n\r\nx", "old style", "x"},
        {"X-Subject: no\r\nSubject: yes\r\n\r\n", "yes", ""},
        {"Subject: first\r\nSubject: second\r\n\r\n", "first", ""},
        {"From: a\r\n\r\nSubject: in the body\r\n", NULL, "Subject: in the body\r\n"},
        {"Subject: unix\n\nline ends\n", "unix", "line ends\n"},
        {"Subject: no body at all", "no body at all", ""},
        {"\r\nSubject: body only\r\n", NULL, "Subject: body only\r\n"},
        {"Subject: folded\r\n across\r\n\tlines\r\nTo: x\r\n\r\nb", "folded across lines", "b"},
        /* notify's layout: QP for non-ASCII, soft breaks at 76 */
        {"Subject: qp\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
         "caf=C3=A9 =3D equal=\r\n joined\r\nlone = kept=\n",
         "qp", "caf\xc3\xa9 = equal joined\r\nlone = kept"},
        {"Subject: b64\r\nContent-Transfer-Encoding: BASE64 (comment)\r\n\r\n"
         "aGVsbG8g\r\nd29ybGQ=\r\n",
         "b64", "hello world"},
        {"Content-Transfer-Encoding: 7bit\r\n\r\n=C3=A9", NULL, "=C3=A9"},
        {"Content-Transfer-Encoding:\r\n quoted-printable\r\n\r\na=41", NULL, "aA"},
        {"", NULL, ""},
    };
    for (size_t i = 0; i < KS_ARRAY_LEN(t); i++) {
        struct mailsink_message *m = parsed(t[i].raw);
        if (!t[i].subject != !m->subject || (m->subject && strcmp(m->subject, t[i].subject)))
            fail_msg("case %zu: subject '%s', want '%s'", i, m->subject ? m->subject : "(null)",
                     t[i].subject ? t[i].subject : "(null)");
        if (strcmp(m->body, t[i].body) || m->body_len != strlen(t[i].body))
            fail_msg("case %zu: body '%s', want '%s'", i, m->body, t[i].body);
        mailsink_parse(m); /* parsing again replaces, never leaks */
        mailsink_message_free(m);
    }
}

static void test_parse_hostile_bytes(void **state)
{
    (void)state;
    uint64_t x = 88172645463325252u;
    static const char *const frag[] = {"Subject:", "=?",
                                       "?=",       "?B?",
                                       "?Q?",      "UTF-8",
                                       "\r\n",     "\r\n ",
                                       "\n",       "=",
                                       "_",        "Content-Transfer-Encoding:",
                                       " base64",  " quoted-printable",
                                       "\r\n\r\n", "\xc3"};
    char buf[4096];
    for (int round = 0; round < 3000; round++) {
        size_t n = 0;
        size_t parts = (x >> 7) % 40;
        for (size_t k = 0; k < parts; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if (x % 3 == 0) {
                buf[n++] = (char)(x >> 24);
            } else {
                const char *f = frag[(x >> 11) % KS_ARRAY_LEN(frag)];
                memcpy(buf + n, f, strlen(f));
                n += strlen(f);
            }
        }
        struct mailsink_message *m = calloc(1, sizeof(*m));
        m->raw = malloc(n + 1);
        memcpy(m->raw, buf, n);
        m->raw[n] = '\0';
        m->raw_len = n;
        mailsink_parse(m);
        assert_true(m->body_len <= n);
        if (m->subject) {
            size_t bad;
            assert_true(ks_text_clean(m->subject, strlen(m->subject), &bad));
            for (const char *c = m->subject; *c; c++)
                assert_true((unsigned char)*c >= 0x20 && *c != 0x7f);
        }
        mailsink_message_free(m);
    }
    /* a header of nothing but encoded-word starts: linear, not quadratic */
    size_t big = 4u << 20;
    struct mailsink_message *m = calloc(1, sizeof(*m));
    m->raw = malloc(big + 16);
    memcpy(m->raw, "Subject: ", 9);
    for (size_t i = 9; i + 7 <= big; i += 7)
        memcpy(m->raw + i, "=?u?B?a", 7);
    m->raw_len = big;
    m->raw[big] = '\0';
    mailsink_parse(m);
    assert_non_null(m->subject);
    mailsink_message_free(m);
}

int run_parse_tests(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_header_table),
        cmocka_unit_test(test_parse_messages),
        cmocka_unit_test(test_parse_hostile_bytes),
    };
    return cmocka_run_group_tests_name("mailsink_parse", tests, NULL, NULL);
}
