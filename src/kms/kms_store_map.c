/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kms_map: the string-keyed hash map behind the in-memory key, alias and
 * grant indexes. Open addressing with linear probing and backward-shift
 * deletion (no tombstones), so lookups stay short after many deletions.
 * Keys are borrowed from the stored values (a key's id lives in its
 * struct kms_key). Readers never modify the map, so concurrent lookups under
 * the service's shared lock are safe.
 */
#include "kms/kms_int.h"

/* FNV-1a: key ids are random UUIDs and alias names are short. */
static uint64_t map_hash(const char *k, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)k[i];
        h *= 1099511628211ull;
    }
    return h | 1; /* 0 never appears, so it can mark nothing */
}

void kms_map_init(struct kms_map *m)
{
    m->slots = NULL;
    m->cap = 0;
    m->len = 0;
}

void kms_map_release(struct kms_map *m)
{
    free(m->slots);
    kms_map_init(m);
}

static size_t map_find(const struct kms_map *m, uint64_t h, const char *k, size_t n, bool *hit)
{
    size_t mask = m->cap - 1;
    size_t i = (size_t)h & mask;
    for (;;) {
        const struct kms_map_slot *s = &m->slots[i];
        if (!s->key) {
            *hit = false;
            return i;
        }
        if (s->hash == h && s->klen == n && memcmp(s->key, k, n) == 0) {
            *hit = true;
            return i;
        }
        i = (i + 1) & mask;
    }
}

void *kms_map_get(const struct kms_map *m, const char *key, size_t klen)
{
    if (!m->len)
        return NULL;
    bool hit;
    size_t i = map_find(m, map_hash(key, klen), key, klen, &hit);
    return hit ? m->slots[i].val : NULL;
}

static void map_grow(struct kms_map *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 16;
    struct kms_map_slot *old = m->slots;
    size_t ocap = m->cap;
    m->slots = ks_xcalloc(ncap, sizeof(*m->slots));
    m->cap = ncap;
    for (size_t i = 0; i < ocap; i++) {
        if (!old[i].key)
            continue;
        bool hit;
        size_t j = map_find(m, old[i].hash, old[i].key, old[i].klen, &hit);
        m->slots[j] = old[i];
    }
    free(old);
}

void kms_map_put(struct kms_map *m, const char *key, size_t klen, void *val)
{
    /* load factor <= 1/2 keeps probe runs short */
    if ((m->len + 1) * 2 > m->cap)
        map_grow(m);
    uint64_t h = map_hash(key, klen);
    bool hit;
    size_t i = map_find(m, h, key, klen, &hit);
    if (!hit)
        m->len++;
    m->slots[i] = (struct kms_map_slot){.hash = h, .key = key, .klen = klen, .val = val};
}

void *kms_map_del(struct kms_map *m, const char *key, size_t klen)
{
    if (!m->len)
        return NULL;
    bool hit;
    size_t i = map_find(m, map_hash(key, klen), key, klen, &hit);
    if (!hit)
        return NULL;
    void *val = m->slots[i].val;
    size_t mask = m->cap - 1;
    /* Backward shift: move later members of the probe run into the hole
     * when their home slot does not lie (cyclically) between hole and them. */
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!m->slots[j].key)
            break;
        size_t home = (size_t)m->slots[j].hash & mask;
        bool between = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (between)
            continue;
        m->slots[i] = m->slots[j];
        i = j;
    }
    m->slots[i] = (struct kms_map_slot){0};
    m->len--;
    return val;
}
