/* Open connections per client address, across every loop of the process (src/http/peers.c):
 * the --max-connections-per-ip cap. Taken at accept and dropped at close only, never per
 * request, so one mutex serves. Entries exist only while a client has connections open. */
#ifndef SWITCHBOARD_PEERS_H
#define SWITCHBOARD_PEERS_H

#include <stdbool.h>
#include <sys/socket.h>

typedef struct sb_peers sb_peers_t;

sb_peers_t *sb_peers_new(void);
void sb_peers_free(sb_peers_t *t);
/* The client a peer address counts as: an IPv4 address (also when written ::ffff:a.b.c.d), or
 * an IPv6 address cut to its network of v6prefix bits. key: 16 bytes. */
void sb_peers_key(const struct sockaddr *sa, unsigned v6prefix, unsigned char key[16]);
/* Counts one more connection of key and returns true, or false (nothing counted) when it has
 * limit open already. */
bool sb_peers_take(sb_peers_t *t, const unsigned char key[16], unsigned limit);
/* One connection of key closed. */
void sb_peers_drop(sb_peers_t *t, const unsigned char key[16]);
/* Clients with a connection open (for tests). */
unsigned sb_peers_count(sb_peers_t *t);

#endif
