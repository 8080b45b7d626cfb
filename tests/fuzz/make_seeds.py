#!/usr/bin/env python3
"""Writes the seed corpora of fuzz_platforms (corpus-platforms/), fuzz_jwks (corpus-jwks/) and
fuzz_client (corpus-client/).

The payloads follow the platforms' documented shapes and the ones the black-box tests send
(tests/integration/test_channels_inbound.py, test_channels_teams.py). Each seed starts with the
byte that picks the target's variant (see the targets' headers). The JWKS seeds are built from the
test key inside fuzz_jwks.c, so its tokens verify there. The client seeds are answers of the
kinds the client gets from subscribers, platforms and the Bot Framework, each after the three
set-up bytes fuzz_client.c reads (keep_body and chunk size, the cut). The output is deterministic: run it again
after changing a target's key or variants, and commit what changed.

Usage: python3 tests/fuzz/make_seeds.py
"""

import base64
import datetime
import json
import os
import re
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

HERE = os.path.dirname(os.path.abspath(__file__))

NOW = 1800000000  # fuzz_jwks.c NOW
ISSUER = "https://api.botframework.com"
APP_ID = "5e1d6b3a-0c1f-4f8e-9c2a-7d1e2f3a4b5c"
SERVICE_URL = "https://smba.trafficmanager.net/emea/"


def j(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def write(corpus, name, data):
    d = os.path.join(HERE, corpus)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- platforms ----------------------------------------------------------------------------

def slack_flat(**over):
    o = {"token": "slack-verification-token-0001", "team_id": "T0SB0001", "channel_id": "C0SB0001",
         "user_id": "U0SB0001", "text": "hello from slack", "event_ts": "1700000000.000100"}
    o.update(over)
    return o


def slack_event(ev_over=None, **over):
    ev = {"type": "message", "channel": "C0SB0002", "user": "U0SB0002", "text": "hello events",
          "ts": "1700000001.000200", "channel_type": "channel"}
    ev.update(ev_over or {})
    o = {"token": "slack-verification-token-0001", "team_id": "T0SB0001", "api_app_id": "A0SB0001",
         "type": "event_callback", "event_id": "Ev0SB00001", "event_time": 1700000001,
         "authorizations": [{"enterprise_id": None, "team_id": "T0SB0001", "user_id": "U0SBBOT",
                             "is_bot": True, "is_enterprise_install": False}],
         "is_ext_shared_channel": False, "event_context": "4-eyJldCI6Im1lc3NhZ2UifQ", "event": ev}
    o.update(over)
    return o


def tg_update(update_id=100001, text="hello from telegram", chat=None, key="message", **msg_over):
    msg = {"message_id": 51, "date": 1700000000,
           "chat": chat or {"id": 4242001, "type": "private", "username": "ayse_k", "first_name": "Ayse"},
           "from": {"id": 777001, "is_bot": False, "first_name": "Ayse", "username": "ayse_k",
                    "language_code": "tr"}}
    if text is not None:
        msg["text"] = text
    msg.update(msg_over)
    return {"update_id": update_id, key: msg}


def wa_text(mid, frm, body):
    return {"from": frm, "id": mid, "timestamp": "1700000000", "type": "text", "text": {"body": body}}


def wa_change(messages=(), statuses=(), contacts=(), phone="106540352242922", metadata=True):
    value = {"messaging_product": "whatsapp"}
    if metadata:
        value["metadata"] = {"display_phone_number": "15550001111", "phone_number_id": phone}
    if contacts:
        value["contacts"] = [{"profile": {"name": name}, "wa_id": wa} for wa, name in contacts]
    if messages:
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = list(statuses)
    return {"field": "messages", "value": value}


def wa_payload(*entries):
    return {"object": "whatsapp_business_account",
            "entry": [{"id": eid, "changes": list(changes)} for eid, changes in entries]}


def activity(type_="message", text="hello", **over):
    a = {"type": type_, "id": "1700000000001", "timestamp": "2026-11-21T10:00:00.000Z",
         "localTimestamp": "2026-11-21T11:00:00.000+01:00", "channelId": "msteams",
         "serviceUrl": SERVICE_URL, "from": {"id": "29:user", "name": "Ayse", "aadObjectId": "0f1e2d3c"},
         "conversation": {"id": "a:conv1", "conversationType": "personal", "tenantId": "72f988bf"},
         "recipient": {"id": "28:" + APP_ID, "name": "bot"}, "textFormat": "plain", "locale": "en-US",
         "channelData": {"tenant": {"id": "72f988bf"}}}
    if text is not None:
        a["text"] = text
    a.update(over)
    return a


def platforms():
    out = {}
    # Slack: Events API envelopes and the seed's flat body, JSON and form
    out["slack_flat"] = b"s" + j(slack_flat())
    out["slack_flat_unicode"] = b"s" + j(slack_flat(text="merhaba \u00fc\u011f \U0001F600 \u2028 tab\tline\nend",
                                                    thread_ts="1700000000.000050"))
    out["slack_flat_no_team"] = b"s" + j({k: v for k, v in slack_flat().items() if k != "team_id"})
    out["slack_event_message"] = b"s" + j(slack_event())
    out["slack_event_thread"] = b"s" + j(slack_event({"thread_ts": "1700000000.000100",
                                                      "text": "a reply \\u escapes \"quoted\""}))
    out["slack_event_bot"] = b"s" + j(slack_event({"bot_id": "B0SB0001", "subtype": "bot_message"}))
    out["slack_event_edit"] = b"s" + j(slack_event({"subtype": "message_changed",
                                                    "message": {"type": "message", "text": "edited"}}))
    out["slack_event_reaction"] = b"s" + j(slack_event({"type": "reaction_added", "reaction": "thumbsup",
                                                        "item": {"type": "message", "channel": "C0SB0002",
                                                                 "ts": "1700000001.000200"}}))
    out["slack_url_verification"] = b"s" + j({"token": "slack-verification-token-0001",
                                              "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                                              "type": "url_verification"})
    out["slack_app_rate_limited"] = b"s" + j({"token": "slack-verification-token-0001", "team_id": "T0SB0001",
                                              "minute_rate_limited": 1518467820, "api_app_id": "A0SB0001",
                                              "type": "app_rate_limited"})
    out["slack_flat_unsigned"] = b"S" + j(slack_flat())
    out["slack_event_unsigned"] = b"S" + j(slack_event())
    form = slack_flat(text="form body & symbols = ok \u00fc")
    out["slack_form"] = b"f" + urllib.parse.urlencode(form).encode()
    out["slack_form_escapes"] = b"f" + b"token=t&team_id=T0SB0001&channel_id=C%30&user_id=U+1&text=a%0Ab%09c%2B&event_ts=1.2&"
    out["slack_form_unsigned"] = b"F" + urllib.parse.urlencode(slack_flat()).encode()
    # Slack: a message with files, and an interactivity payload (a form's one field)
    out["slack_event_files"] = b"s" + j(slack_event({"text": "", "files": [
        {"id": "F0SB0001", "name": "receipt.png", "mimetype": "image/png", "mode": "hosted",
         "url_private": "https://files.slack.com/files-pri/T0SB0001-F0SB0001/receipt.png"},
        {"id": "F0SB0002", "mode": "tombstone"}]}))
    block_actions = {"type": "block_actions", "token": "slack-verification-token-0001",
                     "team": {"id": "T0SB0001", "domain": "sb"}, "user": {"id": "U0SB0007", "team_id": "T0SB0001"},
                     "container": {"type": "message", "message_ts": "1700000005.000100", "channel_id": "C0SB0009",
                                   "thread_ts": "1700000004.000100"},
                     "trigger_id": "13345224609.738474920.8088930838d8", "channel": {"id": "C0SB0009"},
                     "actions": [{"action_id": "sb_b0", "block_id": "b1", "type": "button",
                                  "text": {"type": "plain_text", "text": "Small", "emoji": True},
                                  "value": "SIZE_S", "action_ts": "1700000006.000200"},
                                 {"action_id": "sb_b1", "type": "button",
                                  "text": {"type": "plain_text", "text": "Guide"}, "url": "https://shop.example/sizes"}]}
    out["slack_block_actions"] = b"f" + urllib.parse.urlencode({"payload": json.dumps(block_actions)}).encode()

    # Telegram: updates with and without a message text, files, a button's click
    out["telegram_message"] = b"t" + j(tg_update())
    out["telegram_group_bot_path"] = b"b" + j(tg_update(chat={"id": -1001234567890, "type": "supergroup",
                                                              "title": "Support"}))
    out["telegram_reply"] = b"b" + j(tg_update(reply_to_message={"message_id": 50, "date": 1699999999,
                                                                 "chat": {"id": 4242001, "type": "private"},
                                                                 "text": "earlier"},
                                               entities=[{"offset": 0, "length": 5, "type": "bold"}]))
    out["telegram_photo"] = b"t" + j(tg_update(text=None, photo=[{"file_id": "AgACAgQAAxkBAAIB", "file_unique_id": "AQAD",
                                                                  "width": 90, "height": 67, "file_size": 1254}],
                                               caption="a photo"))
    out["telegram_edited"] = b"t" + j(tg_update(key="edited_message", edit_date=1700000100))
    out["telegram_callback_query"] = b"t" + j({"update_id": 100002, "callback_query": {
        "id": "4382bfdwdsb323b2d9", "from": {"id": 777001, "is_bot": False, "first_name": "Ayse"},
        "chat_instance": "-88888", "data": "button-1"}})
    out["telegram_unsigned"] = b"T" + j(tg_update())
    out["telegram_unsigned_bot_path"] = b"B" + j(tg_update())
    out["telegram_document"] = b"t" + j(tg_update(text=None, document={
        "file_id": "BQACAgQAAxkBAAIC", "file_unique_id": "AgAD", "file_name": "invoice.pdf",
        "mime_type": "application/pdf"}))
    out["telegram_voice"] = b"t" + j(tg_update(text=None, voice={
        "file_id": "AwACAgQAAxkBAAID", "file_unique_id": "AgAE", "duration": 3, "mime_type": "audio/ogg"}))
    out["telegram_callback_keyboard"] = b"t" + j({"update_id": 100003, "callback_query": {
        "id": "4382bfdwdsb323b2d9", "from": {"id": 777001, "is_bot": False, "first_name": "Ayse", "username": "ayse_k"},
        "message": {"message_id": 99, "date": 1700000000, "chat": {"id": 4242001, "type": "private"},
                    "text": "Which size?", "reply_markup": {"inline_keyboard": [
                        [{"text": "Small", "callback_data": "SIZE_S"}],
                        [{"text": "Large", "callback_data": "SIZE_L"}]]}},
        "chat_instance": "-88888", "data": "SIZE_L"}})

    # WhatsApp Cloud API: webhook payloads, and the GET verification's query
    one = wa_payload(("102290129340398", [wa_change(messages=[wa_text("wamid.HBgLMTU1NTAwMDExMTEVAgARGBI", "15550001111",
                                                                      "hello from whatsapp")],
                                                    contacts=[("15550001111", "Ayse")])]))
    out["whatsapp_text"] = b"w" + j(one)
    out["whatsapp_two_entries"] = b"w" + j(wa_payload(
        ("102290129340398", [wa_change(messages=[wa_text("wamid.A1", "15550001111", "first"),
                                                 wa_text("wamid.A2", "15550001111", "second")],
                                       contacts=[("15550001111", "Ayse")])]),
        ("102290129340399", [wa_change(messages=[wa_text("wamid.B1", "15550002222", "third")],
                                       phone="106540352242923")])))
    out["whatsapp_statuses"] = b"w" + j(wa_payload(("102290129340398", [wa_change(statuses=[
        {"id": "wamid.A1", "status": "delivered", "timestamp": "1700000000", "recipient_id": "15550001111",
         "conversation": {"id": "c1", "origin": {"type": "service"}},
         "pricing": {"billable": True, "pricing_model": "CBP", "category": "service"}}])])))
    out["whatsapp_image"] = b"w" + j(wa_payload(("102290129340398", [wa_change(messages=[
        {"from": "15550001111", "id": "wamid.IMG", "timestamp": "1700000000", "type": "image",
         "image": {"mime_type": "image/jpeg", "sha256": "abc", "id": "1234"}}])])))
    out["whatsapp_no_metadata"] = b"w" + j(wa_payload(("102290129340398", [wa_change(
        messages=[wa_text("wamid.C1", "15550001111", "by account")], metadata=False)])))
    out["whatsapp_unsigned"] = b"W" + j(one)
    out["whatsapp_media_kinds"] = b"w" + j(wa_payload(("102290129340398", [wa_change(messages=[
        {"from": "15550001111", "id": "wamid.DOC", "timestamp": "1700000000", "type": "document",
         "document": {"id": "880011", "mime_type": "application/pdf", "filename": "invoice.pdf", "caption": "mine"}},
        {"from": "15550001111", "id": "wamid.STK", "timestamp": "1700000000", "type": "sticker",
         "sticker": {"id": "880012", "mime_type": "image/webp", "animated": False}},
        {"from": "15550001111", "id": "wamid.LOC", "timestamp": "1700000000", "type": "location",
         "location": {"latitude": 41.0369, "longitude": 28.985, "name": "Taksim", "address": "Beyoglu"}}])])))
    out["whatsapp_replies"] = b"w" + j(wa_payload(("102290129340398", [wa_change(messages=[
        {"from": "15550001111", "id": "wamid.BR", "timestamp": "1700000000", "type": "interactive",
         "context": {"from": "15550009999", "id": "wamid.OUT1"},
         "interactive": {"type": "button_reply", "button_reply": {"id": "SIZE_S", "title": "Small"}}},
        {"from": "15550001111", "id": "wamid.LR", "timestamp": "1700000000", "type": "interactive",
         "interactive": {"type": "list_reply", "list_reply": {"id": "ROW_2", "title": "Second", "description": "d"}}},
        {"from": "15550001111", "id": "wamid.TB", "timestamp": "1700000000", "type": "button",
         "button": {"payload": "STOP", "text": "Stop promotions"}}])])))
    out["whatsapp_verify"] = b"vhub.mode=subscribe&hub.verify_token=wa-verify-token-0001&hub.challenge=1158201444"
    out["whatsapp_verify_escaped"] = b"vhub.mode=subscribe&hub.verify_token=a%20b+c&hub.challenge=%E2%9C%93&x="

    # Teams: Bot Framework Activities (text, files)
    out["teams_message"] = b"m" + j(activity())
    out["teams_message_mention"] = b"m" + j(activity(text="<at>bot</at> hi", entities=[
        {"type": "mention", "text": "<at>bot</at>", "mentioned": {"id": "28:" + APP_ID, "name": "bot"}}],
        replyToId="1700000000000"))
    out["teams_conversation_update"] = b"m" + j(activity(type_="conversationUpdate", text=None,
                                                         membersAdded=[{"id": "28:" + APP_ID}]))
    out["teams_attachment_only"] = b"m" + j(activity(text=None, attachments=[
        {"contentType": "image/png", "contentUrl": "https://example.com/a.png", "name": "a.png"}]))
    out["teams_bare_app_id"] = b"m" + j(activity(recipient={"id": APP_ID}))
    out["teams_files"] = b"m" + j(activity(text="", attachments=[
        {"contentType": "application/vnd.microsoft.teams.file.download.info",
         "contentUrl": "https://contoso.sharepoint.com/personal/a/c.pdf", "name": "contract.pdf",
         "content": {"downloadUrl": "https://contoso.sharepoint.com/dl/c.pdf?t=1", "uniqueId": "u-1",
                     "fileType": "pdf"}},
        {"contentType": "image/*",
         "contentUrl": "https://smba.trafficmanager.net/emea/v3/attachments/0-a/views/original"},
        {"contentType": "text/html", "content": "<div>the contract</div>"}]))
    out["teams_unsigned"] = b"M" + j(activity())
    return out


# ---- JWKS and tokens ----------------------------------------------------------------------

def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def int_bytes(n):
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


def target_key():
    src = open(os.path.join(HERE, "fuzz_jwks.c")).read()

    def hexconst(name):
        m = re.search(r"static const char %s\[\] =((?:\s*\"[0-9a-f]*\")+);" % name, src)
        return int("".join(re.findall(r"\"([0-9a-f]*)\"", m.group(1))), 16)

    p, q, e = hexconst("KEY_P"), hexconst("KEY_Q"), 65537
    d = pow(e, -1, (p - 1) * (q - 1))
    pub = rsa.RSAPublicNumbers(e, p * q)
    return rsa.RSAPrivateNumbers(p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q),
                                 rsa.rsa_crt_iqmp(p, q), pub).private_key()


def jwks_seeds(key):
    out = {}
    n = key.public_key().public_numbers().n
    n64 = b64u(int_bytes(n))

    def jwk(kid, endorsements=None, **over):
        k = {"kty": "RSA", "use": "sig", "kid": kid, "n": n64, "e": "AQAB"}
        if endorsements is not None:
            k["endorsements"] = endorsements
        k.update(over)
        return k

    own = {"keys": [jwk("k1", ["msteams", "skype"]), jwk("k2"), jwk("k3", ["webchat"])]}
    out["keyset_target"] = b"k" + j(own)

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "login.botframework.com")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(4242).not_valid_before(datetime.datetime(2026, 1, 1))
            .not_valid_after(datetime.datetime(2028, 1, 1)).sign(key, hashes.SHA256()))
    der = cert.public_bytes(serialization.Encoding.DER)
    x5t = b64u(cert.fingerprint(hashes.SHA1()))
    ms = {"keys": [jwk(x5t, ["msteams", "skype", "webchat", "emulator", "directline", "slack", "telegram"],
                       x5t=x5t, x5c=[base64.b64encode(der).decode()])]}
    out["keyset_botframework_shape"] = b"k" + json.dumps(ms, indent=1).encode()

    small = int_bytes(n)[:128]
    small = small[:-1] + bytes([small[-1] | 1])
    big = int_bytes(n) * 4  # 8192 bits, odd
    mixed = {"keys": [
        {"kty": "EC", "crv": "P-256", "kid": "ec1", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
         "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
        jwk("enc", use="enc"),
        jwk("rs384", alg="RS384"),
        jwk("rs256", ["msteams"], alg="RS256"),
        {"kty": "RSA", "kid": "no-e", "n": n64},
        jwk("padded", n=n64 + "=="),
        jwk("std-b64", n=base64.b64encode(int_bytes(n)).decode()),
        jwk("rs256"),
        jwk("small", n=b64u(small)),
        jwk("big-e", n=b64u(big), e="AQAAAAAAAAE"),
        jwk("zero-lead", n=b64u(b"\x00\x00" + int_bytes(n))),
        jwk("odd-endorsements", endorsements="msteams"),
        jwk("mixed-endorsements", endorsements=["msteams", 7, None, {"a": 1}, ""]),
        jwk("", ["msteams"]),
    ]}
    out["keyset_mixed_usable_and_skipped"] = b"k" + j(mixed)
    out["keyset_empty"] = b"k" + b'{"keys":[]}'
    out["keyset_not_array"] = b"k" + b'{"keys":{"kty":"RSA"}}'
    out["keyset_duplicate_member"] = b"k" + b'{"keys":[],"keys":[]}'

    def token(claims, kid="k1", header=None, sign_with=key):
        h = {"alg": "RS256", "kid": kid, "typ": "JWT"}
        h.update(header or {})
        si = (b64u(j(h)) + "." + b64u(j(claims))).encode()
        sig = sign_with.sign(si, padding.PKCS1v15(), hashes.SHA256())
        return (si.decode() + "." + b64u(sig)).encode()

    def claims(**over):
        c = {"iss": ISSUER, "aud": APP_ID, "exp": NOW + 600, "nbf": NOW - 60, "serviceurl": SERVICE_URL}
        c.update(over)
        return {k: v for k, v in c.items() if v is not None}

    out["token_good"] = b"t" + token(claims())
    out["token_aud_array"] = b"t" + token(claims(aud=["other", APP_ID]))
    out["token_not_endorsed_k2"] = b"t" + token(claims(), kid="k2")
    out["token_other_channel_k3"] = b"t" + token(claims(), kid="k3")
    out["token_unknown_kid"] = b"t" + token(claims(), kid="rolled-over")
    out["token_expired"] = b"t" + token(claims(exp=NOW - 301))
    out["token_not_yet"] = b"t" + token(claims(nbf=NOW + 301.5))
    out["token_no_serviceurl"] = b"t" + token(claims(serviceurl=None))
    out["token_fractional_dates"] = b"t" + token(claims(exp=NOW - 299.25, nbf=NOW + 299.75, iat=NOW))
    out["token_crit"] = b"t" + token(claims(), header={"crit": ["exp"]})
    out["token_alg_none"] = b"t" + (b64u(j({"alg": "none", "kid": "k1"})) + "." + b64u(j(claims())) + ".").encode()
    out["token_hs256"] = b"t" + (b64u(j({"alg": "HS256", "kid": "k1"})) + "." + b64u(j(claims())) + ".c2ln").encode()
    out["token_two_parts"] = b"t" + (b64u(j({"alg": "RS256", "kid": "k1"})) + "." + b64u(j(claims()))).encode()
    out["token_padded"] = b"t" + token(claims()).replace(b".", b"==.", 1)

    hdr = j({"alg": "RS256", "kid": "k1", "typ": "JWT"})
    out["claims_good"] = b"c" + hdr + b"\n" + j(claims())
    out["claims_default_header"] = b"c" + j(claims(aud=[APP_ID]))
    out["claims_lenient_only_k2"] = b"c" + j({"alg": "RS256", "kid": "k2"}) + b"\n" + j(claims(serviceurl=None))
    out["claims_wrong_issuer"] = b"c" + hdr + b"\n" + j(claims(iss="https://sts.windows.net/"))
    out["claims_bad_exp"] = b"c" + hdr + b"\n" + b'{"iss":"%s","aud":"%s","exp":1e300}' % (ISSUER.encode(), APP_ID.encode())
    out["claims_exp_string"] = b"c" + hdr + b"\n" + j(claims(exp=str(NOW + 600)))
    out["claims_serviceurl_number"] = b"c" + hdr + b"\n" + j(claims(serviceurl=1))
    out["claims_not_object"] = b"c" + hdr + b"\n" + b'["iss"]'
    return out


# ---- HTTP client responses ----------------------------------------------------------------

CLIENT_CAPS = {16384: 0, 1024: 1, 64: 2, 1: 3}  # fuzz_client.c caps[]


def client_seed(resp, cap=16384, chunk=13, cut=None):
    """The set-up bytes of fuzz_client.c, then the response. cut: where the second parse cuts
    (default: right after the header block, or the middle when there is none)."""
    if cut is None:
        end = resp.find(b"\r\n\r\n")
        cut = end + 4 if end >= 0 else len(resp) // 2
    return bytes([(chunk - 1) << 2 | CLIENT_CAPS[cap], cut >> 8 & 0xFF, cut & 0xFF]) + resp


def http(status_line, headers=(), body=b"", length=True):
    head = status_line + b"\r\n"
    if length:
        head += b"Content-Length: %d\r\n" % len(body)
    for h in headers:
        head += h + b"\r\n"
    return head + b"\r\n" + body


def chunked(*chunks, trailers=()):
    out = b""
    for c in chunks:
        out += b"%x\r\n" % len(c) + c + b"\r\n"
    out += b"0\r\n"
    for t in trailers:
        out += t + b"\r\n"
    return out + b"\r\n"


def client_seeds():
    out = {}
    json_ct = b"Content-Type: application/json; charset=utf-8"
    date = b"Date: Fri, 15 Jan 2027 08:00:00 GMT"
    # answers with a length
    out["ok_content_length"] = client_seed(http(b"HTTP/1.1 200 OK", [json_ct, date], j({"ok": True, "ts": "1700000001.000200"})))
    out["ok_empty"] = client_seed(http(b"HTTP/1.1 200 OK"))
    out["accepted_202"] = client_seed(http(b"HTTP/1.1 202 Accepted", [b"Server: subscriber"], b"queued"), chunk=1)
    out["agent_reply"] = client_seed(http(b"HTTP/1.1 200 OK", [json_ct],
                                          j({"reply": {"text": "merhaba \u00fc\u011f", "attachments": []}})), cut=20)
    out["teams_jwks"] = client_seed(http(b"HTTP/1.1 200 OK", [json_ct, b"Cache-Control: public, max-age=86400"],
                                         j({"keys": [{"kty": "RSA", "use": "sig", "kid": "k1", "n": "sXch", "e": "AQAB",
                                                      "endorsements": ["msteams"]}]})))
    out["telegram_error"] = client_seed(http(b"HTTP/1.1 400 Bad Request", [json_ct],
                                             j({"ok": False, "error_code": 400, "description": "Bad Request: chat not found"})))
    # chunked bodies
    out["chunked"] = client_seed(http(b"HTTP/1.1 200 OK", [b"Transfer-Encoding: chunked", json_ct],
                                      chunked(b'{"ok":', b"true}"), length=False))
    out["chunked_ext_trailer"] = client_seed(http(b"HTTP/1.1 200 OK", [b"Transfer-Encoding: chunked"],
                                                  b"7;name=value\r\nhello, \r\n6\r\nworld!\r\n0\r\nX-Checksum: 1\r\n\r\n",
                                                  length=False), cut=60)
    out["chunked_bad_size"] = client_seed(http(b"HTTP/1.1 200 OK", [b"Transfer-Encoding: chunked"],
                                               b"zz\r\nhello\r\n0\r\n\r\n", length=False))
    out["chunked_unfinished"] = client_seed(http(b"HTTP/1.1 200 OK", [b"Transfer-Encoding: chunked"],
                                                 b"10\r\nonly part", length=False))
    # Retry-After: seconds, dates (the target's clock is 2027-01-15T08:00:00Z), junk, twice
    out["retry_after_seconds"] = client_seed(http(b"HTTP/1.1 429 Too Many Requests", [b"Retry-After: 120", json_ct],
                                                  j({"ok": False, "error": "ratelimited"})))
    out["retry_after_date"] = client_seed(http(b"HTTP/1.1 503 Service Unavailable",
                                               [b"Retry-After: Fri, 15 Jan 2027 08:05:00 GMT"]), chunk=5)
    out["retry_after_past_date"] = client_seed(http(b"HTTP/1.1 503 Service Unavailable",
                                                    [b"retry-after:  Sun, 06 Nov 1994 08:49:37 GMT  "]))
    out["retry_after_junk"] = client_seed(http(b"HTTP/1.1 429 Too Many Requests", [b"Retry-After: soon"]))
    out["retry_after_twice"] = client_seed(http(b"HTTP/1.1 429 Too Many Requests",
                                                [b"Retry-After: 5", b"RETRY-AFTER: 99999999999", b"Retry-After-Ms: 7"]),
                                           cut=50)
    out["retry_after_split_name"] = client_seed(http(b"HTTP/1.1 429 Too Many Requests", [b"Retry-After: 30"]),
                                                cut=len(b"HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\nRetry-Af"))
    # no body by status
    out["no_content_204"] = client_seed(http(b"HTTP/1.1 204 No Content", [date], length=False))
    out["not_modified_304"] = client_seed(http(b"HTTP/1.1 304 Not Modified", [b"Content-Length: 1234", b'ETag: "abc"'],
                                               length=False))
    out["continue_100_then_200"] = client_seed(b"HTTP/1.1 100 Continue\r\n\r\n" + http(b"HTTP/1.1 200 OK", body=b"ok"))
    # connection handling: close-delimited, Connection headers, bytes after the response
    out["http10_close_delimited"] = client_seed(http(b"HTTP/1.0 200 OK", [b"Content-Type: text/plain"],
                                                     b"a body that runs to the end of the connection", length=False))
    out["http11_close_delimited"] = client_seed(http(b"HTTP/1.1 200 OK", [b"Connection: close"], b"until EOF",
                                                     length=False))
    out["http10_keep_alive"] = client_seed(http(b"HTTP/1.0 200 OK", [b"Connection: keep-alive"], b"ok"))
    out["http11_connection_close"] = client_seed(http(b"HTTP/1.1 200 OK", [b"Connection: close"], b"ok"))
    out["extra_bytes_after"] = client_seed(http(b"HTTP/1.1 200 OK", body=b"ok") + http(b"HTTP/1.1 500 Internal Server Error"))
    # bodies past the cap: kept truncated, counted in full
    out["too_large_chunked"] = client_seed(http(b"HTTP/1.1 200 OK", [b"Transfer-Encoding: chunked"],
                                                chunked(b"x" * 100, b"y" * 150, b"z" * 50), length=False), cap=64)
    out["too_large_content_length"] = client_seed(http(b"HTTP/1.1 500 Internal Server Error", [b"Content-Type: text/html"],
                                                       b"<html>" + b"e" * 1094), cap=1024, chunk=16)
    out["too_large_one_byte_cap"] = client_seed(http(b"HTTP/1.1 200 OK", body=b"two"), cap=1)
    out["body_cut_short"] = client_seed(http(b"HTTP/1.1 200 OK", [b"Content-Length: 100"], b"only ten b", length=False))
    # malformed status lines and framing
    out["bad_status_four_digits"] = client_seed(b"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n")
    out["bad_status_missing"] = client_seed(b"HTTP/1.1 OK\r\nContent-Length: 0\r\n\r\n")
    out["bad_status_short"] = client_seed(b"HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n")
    out["bad_version"] = client_seed(b"HTTP/2 200\r\ncontent-length: 0\r\n\r\n")
    out["bad_protocol"] = client_seed(b"ICY 200 OK\r\nicy-name: radio\r\n\r\n")
    out["bad_lf_only"] = client_seed(b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok")
    out["bad_no_reason"] = client_seed(b"HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok")
    out["bad_header_space"] = client_seed(b"HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok")
    out["bad_two_lengths"] = client_seed(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!")
    out["bad_length_and_chunked"] = client_seed(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                                                b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    out["bad_html_not_http"] = client_seed(b"<html><body>not http</body></html>\r\n")
    return out


def main():
    for name, data in platforms().items():
        write("corpus-platforms", name, data)
    for name, data in jwks_seeds(target_key()).items():
        write("corpus-jwks", name, data)
    for name, data in client_seeds().items():
        write("corpus-client", name, data)


if __name__ == "__main__":
    main()
