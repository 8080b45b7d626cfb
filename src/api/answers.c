/* What every route family answers when the store fails it: 503 with nothing half-written (the
 * scripts are atomic), and the server reconnects by itself (SPEC 2). */
#include "switchboard/api.h"

void sb_api_unavailable(sb_req_t *req)
{
    sb_resp_problem(req, 503, "storage is unavailable, retry shortly", NULL);
}

bool sb_api_reply_failed(sb_req_t *req, const redisReply *reply)
{
    if (reply && reply->type != REDIS_REPLY_ERROR)
        return false;
    sb_api_unavailable(req);
    return true;
}
