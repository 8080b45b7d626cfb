/* The route table: every route switchboard serves, with the credential it takes. Reads like
 * the SPEC's tables; handlers live in one file per route family. */
#include "switchboard/api.h"
#include "switchboard/metrics.h"

#define T "/api/admin/tenants/{tenantId}"

static const struct {
    unsigned method;
    const char *pattern;
    sb_handler_fn handler;
    unsigned auth;
} table[] = {
    /* operations (SPEC 12) */
    {SB_M_GET, "/healthz", sb_ops_healthz, SB_AUTH_NONE},
    {SB_M_GET, "/readyz", sb_ops_readyz, SB_AUTH_NONE},
    {SB_M_GET, "/metrics", sb_ops_metrics, SB_AUTH_NONE},

    /* tenancy (SPEC 3) */
    {SB_M_POST, "/api/admin/tenants", sb_admin_tenant_create, SB_AUTH_ADMIN},
    {SB_M_GET, "/api/admin/tenants", sb_admin_tenant_list, SB_AUTH_ADMIN},
    {SB_M_GET, T, sb_admin_tenant_get, SB_AUTH_ADMIN},
    {SB_M_PUT, T, sb_admin_tenant_update, SB_AUTH_ADMIN},
    {SB_M_DELETE, T, sb_admin_tenant_delete, SB_AUTH_ADMIN},
    {SB_M_POST, T "/api-keys", sb_admin_key_create, SB_AUTH_ADMIN},
    {SB_M_GET, T "/api-keys", sb_admin_key_list, SB_AUTH_ADMIN},
    {SB_M_DELETE, T "/api-keys/{keyId}", sb_admin_key_revoke, SB_AUTH_ADMIN},
    {SB_M_POST, T "/widgets", sb_admin_widget_create, SB_AUTH_ADMIN},
    {SB_M_GET, T "/widgets", sb_admin_widget_list, SB_AUTH_ADMIN},
    {SB_M_GET, T "/widgets/{id}", sb_admin_widget_get, SB_AUTH_ADMIN},
    {SB_M_PUT, T "/widgets/{id}", sb_admin_widget_update, SB_AUTH_ADMIN},
    {SB_M_DELETE, T "/widgets/{id}", sb_admin_widget_delete, SB_AUTH_ADMIN},
    {SB_M_POST, T "/agents", sb_admin_agent_create, SB_AUTH_ADMIN},
    {SB_M_GET, T "/agents", sb_admin_agent_list, SB_AUTH_ADMIN},
    {SB_M_GET, T "/agents/{id}", sb_admin_agent_get, SB_AUTH_ADMIN},
    {SB_M_PUT, T "/agents/{id}", sb_admin_agent_update, SB_AUTH_ADMIN},
    {SB_M_DELETE, T "/agents/{id}", sb_admin_agent_delete, SB_AUTH_ADMIN},
    {SB_M_POST, T "/channels", sb_admin_channel_create, SB_AUTH_ADMIN},
    {SB_M_GET, T "/channels", sb_admin_channel_list, SB_AUTH_ADMIN},
    {SB_M_GET, T "/channels/{id}", sb_admin_channel_get, SB_AUTH_ADMIN},
    {SB_M_PUT, T "/channels/{id}", sb_admin_channel_update, SB_AUTH_ADMIN},
    {SB_M_DELETE, T "/channels/{id}", sb_admin_channel_delete, SB_AUTH_ADMIN},

    /* API chat partner API (SPEC 5.6, seed 004) */
    {SB_M_POST, "/api/admin/partners", sb_admin_partner_create, SB_AUTH_ADMIN},
    {SB_M_GET, "/api/admin/partners", sb_admin_partner_list, SB_AUTH_ADMIN},
    {SB_M_GET, "/api/admin/partners/{partnerId}", sb_admin_partner_get, SB_AUTH_ADMIN},
    {SB_M_PUT, "/api/admin/partners/{partnerId}", sb_admin_partner_update, SB_AUTH_ADMIN},
    {SB_M_DELETE, "/api/admin/partners/{partnerId}", sb_admin_partner_delete, SB_AUTH_ADMIN},
    {SB_M_GET, "/api/partner/workspace/{workspace_id}/apichat-webhook", sb_partner_webhook_get, SB_AUTH_PARTNER},
    {SB_M_POST, "/api/partner/workspace/{workspace_id}/apichat-webhook", sb_partner_webhook_set, SB_AUTH_PARTNER},
    {SB_M_DELETE, "/api/partner/workspace/{workspace_id}/apichat-webhook", sb_partner_webhook_delete, SB_AUTH_PARTNER},

    /* tenant API (X-API-Key) */
    {SB_M_GET, "/api/tenant", sb_tenant_whoami, SB_AUTH_TENANT},

    /* web chat widget (SPEC 4): public, origin whitelist, rate-limited */
    {SB_M_GET, "/api/widget/{widgetId}/config", sb_widget_config, SB_AUTH_NONE},
    {SB_M_OPTIONS, "/api/widget/{widgetId}/config", sb_widget_config, SB_AUTH_NONE},
    {SB_M_POST, "/api/widget/{widgetId}/session/start", sb_widget_session_start, SB_AUTH_NONE},
    {SB_M_OPTIONS, "/api/widget/{widgetId}/session/start", sb_widget_config, SB_AUTH_NONE},
    {SB_M_POST, "/api/widget/{widgetId}/session/otp-verify", sb_widget_otp_verify, SB_AUTH_NONE},
    {SB_M_OPTIONS, "/api/widget/{widgetId}/session/otp-verify", sb_widget_config, SB_AUTH_NONE},
    /* ... and with a session token (Bearer) */
    {SB_M_POST, "/api/widget/{widgetId}/messages", sb_widget_message_post, SB_AUTH_NONE},
    {SB_M_GET, "/api/widget/{widgetId}/messages", sb_widget_messages_get, SB_AUTH_NONE},
    {SB_M_OPTIONS, "/api/widget/{widgetId}/messages", sb_widget_config, SB_AUTH_NONE},
    {SB_M_GET, "/api/widget/{widgetId}/events", sb_widget_events, SB_AUTH_NONE},
    {SB_M_OPTIONS, "/api/widget/{widgetId}/events", sb_widget_config, SB_AUTH_NONE},
    {SB_M_GET, "/widget.js", sb_asset_widget_js, SB_AUTH_NONE},
    {SB_M_GET, "/demo", sb_asset_demo, SB_AUTH_NONE},

    /* conversations (SPEC 6) */
    {SB_M_GET, "/api/conversations", sb_conv_list, SB_AUTH_TENANT},
    {SB_M_GET, "/api/conversations/{conversationId}", sb_conv_get, SB_AUTH_TENANT},
    {SB_M_GET, "/api/conversations/{conversationId}/messages", sb_conv_messages, SB_AUTH_TENANT},
    {SB_M_POST, "/api/conversations/{conversationId}/messages", sb_conv_message_post, SB_AUTH_TENANT},
    {SB_M_POST, "/api/conversations/{conversationId}/close", sb_conv_close, SB_AUTH_TENANT},
    {SB_M_POST, "/api/conversations/{conversationId}/commands", sb_conv_command, SB_AUTH_TENANT},

    /* the incoming "send" webhook (SPEC 9, seed 002; docs/incoming.md): the token is the secret */
    {SB_M_POST, "/api/incoming/{token}", sb_incoming_activate, SB_AUTH_NONE},
    {SB_M_GET, "/api/incoming-webhook", sb_incoming_get, SB_AUTH_TENANT},
    {SB_M_PUT, "/api/incoming-webhook", sb_incoming_update, SB_AUTH_TENANT},
    {SB_M_POST, "/api/incoming-webhook/regenerate", sb_incoming_regenerate, SB_AUTH_TENANT},
    {SB_M_POST, "/api/incoming-webhook/purge", sb_incoming_purge, SB_AUTH_TENANT},
    {SB_M_GET, "/api/incoming-webhook/sends", sb_incoming_sends, SB_AUTH_TENANT},
    {SB_M_GET, "/api/incoming-webhook/sends/{messageId}", sb_incoming_send_get, SB_AUTH_TENANT},
    {SB_M_GET, "/api/incoming-webhook/log", sb_incoming_log, SB_AUTH_TENANT},
    {SB_M_GET, "/api/credits", sb_credits_get, SB_AUTH_TENANT},
    {SB_M_PUT, T "/credits", sb_admin_credits_set, SB_AUTH_ADMIN},

    /* proactive messages (SPEC 10, seed 000; docs/proactive.md) */
    {SB_M_GET, "/api/proactive-messages", sb_pm_list, SB_AUTH_TENANT},
    {SB_M_POST, "/api/proactive-messages", sb_pm_create, SB_AUTH_TENANT},
    {SB_M_GET, "/api/proactive-messages/{messageId}", sb_pm_get, SB_AUTH_TENANT},
    {SB_M_PUT, "/api/proactive-messages/{messageId}", sb_pm_update, SB_AUTH_TENANT},
    {SB_M_DELETE, "/api/proactive-messages/{messageId}", sb_pm_delete, SB_AUTH_TENANT},
    {SB_M_POST, "/api/proactive-messages/{messageId}/fire", sb_pm_fire, SB_AUTH_TENANT},

    /* event subscriptions and the delivery engine (SPEC 7, 8; docs/deliveries.md) */
    {SB_M_POST, "/api/webhooks/slack", sb_webhook_slack, SB_AUTH_NONE},
    {SB_M_POST, "/api/webhooks/telegram", sb_webhook_telegram, SB_AUTH_NONE},
    {SB_M_POST, "/api/webhooks/telegram/{botId}", sb_webhook_telegram, SB_AUTH_NONE},
    {SB_M_GET, "/api/webhooks/whatsapp", sb_webhook_whatsapp_verify, SB_AUTH_NONE},
    {SB_M_POST, "/api/webhooks/whatsapp", sb_webhook_whatsapp, SB_AUTH_NONE},
    {SB_M_POST, "/api/webhooks/teams", sb_webhook_teams, SB_AUTH_NONE},
    /* API chat's bot_url (SPEC 5.6): the flow key is checked with the code (src/channels/apichat.c) */
    {SB_M_POST, "/api/apichat/{code}", sb_webhook_apichat, SB_AUTH_NONE},
    {SB_M_GET, "/api/webhooks/subscriptions", sb_webhooks_subs_get, SB_AUTH_TENANT},
    {SB_M_PUT, "/api/webhooks/subscriptions", sb_webhooks_subs_put, SB_AUTH_TENANT},
    {SB_M_GET, "/api/webhooks/secret", sb_webhooks_secret_get, SB_AUTH_TENANT},
    {SB_M_POST, "/api/webhooks/secret/rotate", sb_webhooks_secret_rotate, SB_AUTH_TENANT},
    {SB_M_POST, "/api/webhooks/test", sb_webhooks_test, SB_AUTH_TENANT},
    {SB_M_POST, "/api/commands", sb_webhooks_command, SB_AUTH_TENANT},
    {SB_M_GET, "/api/webhooks/endpoints", sb_webhooks_endpoints, SB_AUTH_TENANT},
    {SB_M_GET, "/api/webhooks/endpoints/{endpointId}/attempts", sb_webhooks_attempts, SB_AUTH_TENANT},
    {SB_M_POST, "/api/webhooks/endpoints/{endpointId}/enable", sb_webhooks_enable, SB_AUTH_TENANT},
    {SB_M_POST, "/api/webhooks/endpoints/{endpointId}/disable", sb_webhooks_disable, SB_AUTH_TENANT},
    {SB_M_POST, "/api/webhooks/endpoints/{endpointId}/recover", sb_webhooks_recover, SB_AUTH_TENANT},
    {SB_M_GET, "/api/webhooks/dead-letters", sb_webhooks_dead_list, SB_AUTH_TENANT},
    {SB_M_POST, "/api/webhooks/dead-letters/{id}/replay", sb_webhooks_dead_replay, SB_AUTH_TENANT},
};

int sb_api_routes(sb_router_t *r)
{
    sb_router_init(r);
    for (size_t i = 0; i < SB_ARRAY_SIZE(table); i++) {
        int rc = sb_router_add(r, table[i].method, table[i].pattern, table[i].handler, table[i].auth);
        if (rc < 0)
            return rc;
        sb_metrics_set_route_label(r->routes[r->count - 1].slot, table[i].pattern, sb_method_name(table[i].method));
    }
    return 0;
}

void sb_api_on_request(sb_req_t *req)
{
    switch (req->match.route->flags) {
    case SB_AUTH_ADMIN: sb_auth_admin(req); break;
    case SB_AUTH_TENANT: sb_auth_tenant(req); break;
    case SB_AUTH_PARTNER: sb_auth_partner(req); break;
    default: req->match.route->handler(req);
    }
}
