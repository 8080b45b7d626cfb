/* The application layer (src/app/): what one loop thread serves with, composed once and
 * plugged into the HTTP server through its hooks. The top of the layer order
 * (docs/architecture.md): it may include every other layer; nothing includes it but main.c. */
#ifndef SWITCHBOARD_APP_H
#define SWITCHBOARD_APP_H

#include "switchboard/http.h"

/* The hooks that make, start and stop each loop's services (src/app/app.c). */
void sb_app_hooks(sb_server_hooks_t *hooks);

#endif
