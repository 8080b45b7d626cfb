# shellcheck shell=bash
# bench/scenarios/31-whatsapp-ingest.sh — signed WhatsApp multi-message ingest:
# POST /api/webhooks/whatsapp with a Cloud API payload of 5 text messages (5 customers, one
# change of one entry; docs/channels.md). Each request: parse the JSON, find the binding of the
# change's phone_number_id (the loop's 1 s binding cache), verify X-Hub-Signature-256
# (HMAC-SHA256 over the body with the appSecret), then one script in Redis that claims the 5
# message ids (SET NX EX, 7 days) and queues the 5 messages (XADD sb:q:in); then the 200.
#
# Everything else is slack_ingest's (bench/scenarios/30-slack-ingest.sh, whose in_* helpers run
# it): switchboard with 1 and 2 threads, each with its own Redis; on each a tenant, an agent
# (webhookUrl: the local nginx sink) and a whatsapp channel (phoneNumberId, wabaId, appSecret,
# verifyToken) made through the admin API, and one signed payload by hand that must answer 200;
# a fresh file of pre-signed payloads before every wrk run (no timestamp here, but the message
# ids must be new in every run: switchboard keeps them 7 days), BENCH_WHATSAPP_MAX_RPS x the run's
# seconds of them; bench/wrk/presigned.lua, whose non-200 answers fail the row; the queue
# side (5 conversation messages and 5 agent deliveries per request) running meanwhile, its
# backlog dropped after each run; interleaved rounds, best run per row.
#
# Reported: requests/s, messages/s (5x, in the note), p50, p99. The only target line is
# p99 <= 5 ms at 64 connections (sb-2t): the issue sets that p99 for Slack, and the same line
# is held here, marked as not the issue's.

bench_scenario whatsapp_ingest "POST /api/webhooks/whatsapp, signed, 5 text messages with new ids each (verify + 5 dedup claims + enqueue): switchboard 1/2 threads"

scenario_whatsapp_ingest() {
  bench_have_sb || return 0
  in_run whatsapp
  table_note "whatsapp_ingest rows: requests/s = signed WhatsApp payloads accepted/s, 5 text messages with new ids each (messages/s = 5x, in the note; every non-200 answer fails the row); errors, CPU and queue side as for slack_ingest."
  in_bound_notes whatsapp
  in_targets whatsapp
}
