#!/usr/bin/env node
// Verifies one webhook delivery that switchboard sent, with the verifiers a subscriber uses:
//   - standardwebhooks (the Standard Webhooks reference library): new Webhook(secret).verify()
//   - svix: new Webhook(secret).verify(), once with the webhook-* headers as received and once
//     with them renamed to svix-id / svix-timestamp / svix-signature
//   - X-Hub-Signature-256 the way Meta's samples and seed 004's PHP sample check it:
//     HMAC-SHA256 keyed by the secret STRING as GET /api/webhooks/secret shows it ("whsec_..."
//     included), hex, compared with crypto.timingSafeEqual
//
// Input (stdin, one JSON object):
//   {"secret": "whsec_...",            current secret (GET /api/webhooks/secret)
//    "previousSecret": "whsec_...",    optional: the rotated-out secret, still valid
//    "headers": {"name": "value"},     the request's headers as received
//    "body": "<base64>",               the exact body bytes as received
//    "tamper": true}                   optional: also check that altered bodies, a wrong
//                                      secret and X-Hub-Signature-256's former key (the
//                                      secret's decoded bytes) are rejected
//
// With previousSecret, the old secret must verify the Standard Webhooks signature with both
// libraries (the header as received, and its second v1 entry alone), while X-Hub-Signature-256
// must NOT verify with it (it is for the current secret only).
//
// Prints {"ok": bool, "checks": [{name, expect, ok, error?}, ...]} and exits 0 only when every
// check came out as expected (1 when one did not, 2 on bad input).
"use strict";

const crypto = require("crypto");
const fs = require("fs");
const standardwebhooks = require("standardwebhooks");
const svix = require("svix");

function readStdin() {
  return fs.readFileSync(0, "utf8"); // fd 0: the whole of stdin
}

function bad(msg) {
  process.stdout.write(JSON.stringify({ ok: false, error: msg }) + "\n");
  process.exit(2);
}

let input;
try {
  input = JSON.parse(readStdin());
} catch (e) {
  bad("stdin is not one JSON object: " + e.message);
}
if (!input || typeof input !== "object") bad("stdin is not one JSON object");
const { secret, previousSecret, headers, tamper } = input;
if (typeof secret !== "string" || !secret) bad("secret: a string is required");
if (previousSecret !== undefined && previousSecret !== null && typeof previousSecret !== "string")
  bad("previousSecret: a string or absent");
if (!headers || typeof headers !== "object") bad("headers: an object is required");
if (typeof input.body !== "string") bad("body: base64 of the exact body bytes is required");
const body = Buffer.from(input.body, "base64");
if (body.toString("base64") !== input.body.replace(/\s+/g, "")) bad("body: not canonical base64");

// headers, names lowercased (HTTP names are case-insensitive; the libraries lowercase too)
const h = {};
for (const [k, v] of Object.entries(headers)) {
  if (typeof v !== "string") bad("headers." + k + ": a string is required");
  const lk = k.toLowerCase();
  if (lk in h) bad("header " + lk + " given twice");
  h[lk] = v;
}

// ---- the three verifiers: each returns normally on success and throws on rejection ---------

function viaStandardWebhooks(sec, payload, hdrs) {
  new standardwebhooks.Webhook(sec).verify(payload, hdrs);
}

function viaSvixWebhookHeaders(sec, payload, hdrs) {
  new svix.Webhook(sec).verify(payload, {
    "webhook-id": hdrs["webhook-id"],
    "webhook-timestamp": hdrs["webhook-timestamp"],
    "webhook-signature": hdrs["webhook-signature"],
  });
}

function viaSvixSvixHeaders(sec, payload, hdrs) {
  new svix.Webhook(sec).verify(payload, {
    "svix-id": hdrs["webhook-id"],
    "svix-timestamp": hdrs["webhook-timestamp"],
    "svix-signature": hdrs["webhook-signature"],
  });
}

function viaHubSignature(sec, payload, hdrs) {
  const got = hdrs["x-hub-signature-256"];
  if (typeof got !== "string") throw new Error("X-Hub-Signature-256 missing");
  const want = "sha256=" + crypto.createHmac("sha256", sec).update(payload).digest("hex");
  const a = Buffer.from(got, "utf8");
  const b = Buffer.from(want, "utf8");
  if (a.length !== b.length || !crypto.timingSafeEqual(a, b))
    throw new Error("X-Hub-Signature-256 does not match");
}

const VERIFIERS = [
  ["standardwebhooks", viaStandardWebhooks],
  ["svix(webhook-*)", viaSvixWebhookHeaders],
  ["svix(svix-*)", viaSvixSvixHeaders],
  ["x-hub-signature-256", viaHubSignature],
];
const STD_ONLY = VERIFIERS.filter(([n]) => n !== "x-hub-signature-256");
const HUB = VERIFIERS.filter(([n]) => n === "x-hub-signature-256");

const checks = [];
function check(name, expect, fn) {
  let ok, error;
  try {
    fn();
    ok = expect === "accept";
    if (!ok) error = "accepted, but it should have been rejected";
  } catch (e) {
    ok = expect === "reject";
    error = (e && e.message) || String(e);
  }
  const c = { name, expect, ok };
  if (error !== undefined) c.error = error;
  checks.push(c);
}

// the current secret: every verifier accepts the body as received
for (const [n, f] of VERIFIERS) check(n + " / current secret", "accept", () => f(secret, body, h));

// altered bodies: every verifier rejects them
if (tamper) {
  const mid = Math.floor(body.length / 2);
  const flipped = Buffer.from(body);
  if (flipped.length) flipped[mid] ^= 0x01;
  const variants = [
    ["one byte changed", flipped],
    ["a space appended", Buffer.concat([body, Buffer.from(" ")])],
    ["last byte dropped", body.subarray(0, Math.max(0, body.length - 1))],
  ];
  for (const [what, altered] of variants)
    for (const [n, f] of VERIFIERS)
      check(n + " / current secret / body " + what, "reject", () => f(secret, altered, h));
  // and a wrong secret is rejected too
  const wrong = "whsec_" + crypto.randomBytes(24).toString("base64");
  for (const [n, f] of VERIFIERS) check(n + " / a wrong secret", "reject", () => f(wrong, body, h));
  // X-Hub-Signature-256's former key, the bytes the base64 after "whsec_" decodes to, no more
  if (secret.startsWith("whsec_")) {
    const decoded = Buffer.from(secret.slice(6), "base64"); // a Buffer key: those bytes as they are
    for (const [n, f] of HUB)
      check(n + " / decoded bytes of the secret (the former key)", "reject", () =>
        f(decoded, body, h));
  }
}

if (previousSecret) {
  // the old secret: the Standard Webhooks signature as received verifies with it ...
  for (const [n, f] of STD_ONLY)
    check(n + " / previous secret", "accept", () => f(previousSecret, body, h));
  // ... through the second v1 entry: alone it verifies, the first entry alone does not
  const entries = (h["webhook-signature"] || "").split(" ").filter(Boolean);
  if (entries.length !== 2) {
    checks.push({
      name: "webhook-signature has two v1 entries after a rotation",
      expect: "accept",
      ok: false,
      error: "got " + JSON.stringify(h["webhook-signature"]),
    });
  } else {
    const only = (e) => Object.assign({}, h, { "webhook-signature": e });
    for (const [n, f] of STD_ONLY) {
      check(n + " / previous secret / second entry alone", "accept", () =>
        f(previousSecret, body, only(entries[1])));
      check(n + " / previous secret / first entry alone", "reject", () =>
        f(previousSecret, body, only(entries[0])));
      check(n + " / current secret / first entry alone", "accept", () =>
        f(secret, body, only(entries[0])));
    }
  }
  // X-Hub-Signature-256 is for the current secret only
  for (const [n, f] of HUB)
    check(n + " / previous secret", "reject", () => f(previousSecret, body, h));
  if (tamper)
    for (const [n, f] of STD_ONLY)
      check(n + " / previous secret / body a space appended", "reject", () =>
        f(previousSecret, Buffer.concat([body, Buffer.from(" ")]), h));
}

const ok = checks.every((c) => c.ok);
process.stdout.write(JSON.stringify({ ok, checks }, null, 1) + "\n");
process.exit(ok ? 0 : 1);
