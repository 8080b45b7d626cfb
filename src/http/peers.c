/* Per-client connection counts (peers.h): an open-addressing table with linear probing and
 * backward-shift deletion, so it holds no tombstones and shrinks back as clients leave. */
#include "switchboard/peers.h"

#include <netinet/in.h>
#include <string.h>
#include <uv.h>

#include "switchboard/alloc.h"
#include "switchboard/hash.h"

#define MIN_CAP 64

typedef struct slot {
    unsigned char key[16];
    unsigned n; /* 0: empty */
} slot_t;

struct sb_peers {
    uv_mutex_t lock;
    slot_t *slots;
    size_t cap, used; /* cap: a power of two, used <= cap / 2 */
};

sb_peers_t *sb_peers_new(void)
{
    sb_peers_t *t = sb_calloc(1, sizeof(*t));
    uv_mutex_init(&t->lock);
    t->cap = MIN_CAP;
    t->slots = sb_calloc(t->cap, sizeof(slot_t));
    return t;
}

void sb_peers_free(sb_peers_t *t)
{
    if (!t)
        return;
    uv_mutex_destroy(&t->lock);
    sb_free(t->slots);
    sb_free(t);
}

void sb_peers_key(const struct sockaddr *sa, unsigned v6prefix, unsigned char key[16])
{
    memset(key, 0, 16);
    if (sa->sa_family == AF_INET) {
        key[10] = key[11] = 0xff; /* as ::ffff:a.b.c.d */
        memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return;
    }
    if (sa->sa_family != AF_INET6)
        return;
    const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    memcpy(key, a, 16);
    if (IN6_IS_ADDR_V4MAPPED(a))
        return;
    unsigned bits = v6prefix > 128 ? 128 : v6prefix;
    for (unsigned i = 0; i < 16; i++) {
        unsigned keep = bits >= 8 ? 8 : bits;
        key[i] &= (unsigned char)(0xff00u >> keep);
        bits -= keep;
    }
}

static size_t home(const sb_peers_t *t, const unsigned char key[16])
{
    return sb_fnv1a(key, 16) & (t->cap - 1);
}

/* The slot holding key, or the empty slot where it would go. */
static size_t find(const sb_peers_t *t, const unsigned char key[16])
{
    size_t i = home(t, key);
    while (t->slots[i].n && memcmp(t->slots[i].key, key, 16) != 0)
        i = (i + 1) & (t->cap - 1);
    return i;
}

static void resize(sb_peers_t *t, size_t cap)
{
    slot_t *old = t->slots;
    size_t oldcap = t->cap;
    t->slots = sb_calloc(cap, sizeof(slot_t));
    t->cap = cap;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].n)
            t->slots[find(t, old[i].key)] = old[i];
    sb_free(old);
}

bool sb_peers_take(sb_peers_t *t, const unsigned char key[16], unsigned limit)
{
    uv_mutex_lock(&t->lock);
    size_t i = find(t, key);
    bool ok = t->slots[i].n < limit;
    if (ok && t->slots[i].n) {
        t->slots[i].n++;
    } else if (ok) {
        memcpy(t->slots[i].key, key, 16);
        t->slots[i].n = 1;
        if (++t->used * 2 > t->cap)
            resize(t, t->cap * 2);
    }
    uv_mutex_unlock(&t->lock);
    return ok;
}

void sb_peers_drop(sb_peers_t *t, const unsigned char key[16])
{
    uv_mutex_lock(&t->lock);
    size_t i = find(t, key);
    if (t->slots[i].n && --t->slots[i].n == 0) {
        /* Backward shift: move later entries of the probe run into the hole when their home
         * is not between the hole and their slot, so every entry stays reachable. */
        size_t hole = i, j = i;
        for (;;) {
            j = (j + 1) & (t->cap - 1);
            if (!t->slots[j].n)
                break;
            size_t h = home(t, t->slots[j].key);
            bool between = hole <= j ? (hole < h && h <= j) : (hole < h || h <= j);
            if (!between) {
                t->slots[hole] = t->slots[j];
                hole = j;
            }
        }
        memset(&t->slots[hole], 0, sizeof(slot_t));
        t->used--;
        if (t->cap > MIN_CAP && t->used * 8 < t->cap)
            resize(t, t->cap / 2);
    }
    uv_mutex_unlock(&t->lock);
}

unsigned sb_peers_count(sb_peers_t *t)
{
    uv_mutex_lock(&t->lock);
    unsigned n = (unsigned)t->used;
    uv_mutex_unlock(&t->lock);
    return n;
}
