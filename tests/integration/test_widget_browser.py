"""The chat widget in a real browser: /demo loads /widget.js, which starts a session, sends a
message, gets the agent's reply over the SSE stream and finds the conversation again after a
reload; a page outside the widget's allowedOrigins gets nothing.

Headless Chromium is driven through chromedriver's W3C WebDriver HTTP API with `requests`
only (no selenium). The tests are skipped only when /usr/bin/chromium or chromedriver is not
installed (Debian packages `chromium chromium-driver`)."""

import json
import os
import shutil
import signal
import subprocess
import time

import pytest
import requests

from fakes import SERVER_FLAGS, ChatWidget, Reply, fakes  # noqa: F401
from sbhelpers import REPO, free_port, tail

pytestmark = pytest.mark.server

CHROMIUM = "/usr/bin/chromium"
HELLO = "hello from the browser"
ELEMENT_KEY = "element-6066-11e4-a52e-4f735466cecf"


def _chromedriver():
    path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    return path if os.access(path, os.X_OK) else None


class WebDriverError(AssertionError):
    pass


class Browser:
    """One chromedriver process and one headless Chromium session (W3C WebDriver over HTTP)."""

    def __init__(self, workdir):
        self.workdir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.port = free_port()
        self.log_path = os.path.join(workdir, "chromedriver.log")
        self.http = requests.Session()
        self.http.trust_env = False  # never through a proxy: everything is on 127.0.0.1
        self.base = "http://127.0.0.1:%d" % self.port
        self.session = None
        log = open(self.log_path, "wb")
        try:
            self.proc = subprocess.Popen(
                [_chromedriver(), "--port=%d" % self.port, "--log-path=" + self.log_path],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)  # its own process group: Chromium goes with it
        finally:
            log.close()

    def start(self, timeout=20.0):
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise WebDriverError("chromedriver exited (%s): %s" % (
                    self.proc.returncode, tail(self.log_path)))
            try:
                if self.http.get(self.base + "/status", timeout=1).json()["value"]["ready"]:
                    break
            except (requests.RequestException, ValueError, KeyError):
                pass
            if time.monotonic() > deadline:
                raise WebDriverError("chromedriver not ready: %s" % tail(self.log_path))
            time.sleep(0.05)
        profile = os.path.join(self.workdir, "profile")
        caps = {"browserName": "chrome",
                "goog:loggingPrefs": {"browser": "ALL"},
                "goog:chromeOptions": {
                    "binary": CHROMIUM,
                    "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                             "--disable-quic", "--no-first-run",
                             "--disable-background-networking", "--disable-component-update",
                             "--disable-sync", "--disable-dev-shm-usage", "--no-proxy-server",
                             "--window-size=1024,768", "--user-data-dir=" + profile]}}
        value = self._call("POST", "/session", {"capabilities": {"alwaysMatch": caps}},
                           timeout=60)
        self.session = value["sessionId"]
        self.cmd("POST", "/timeouts", {"script": 15000, "pageLoad": 20000, "implicit": 0})
        return self

    def _call(self, method, path, body=None, timeout=30):
        r = self.http.request(method, self.base + path, timeout=timeout,
                              data=None if body is None else json.dumps(body),
                              headers={"Content-Type": "application/json"})
        try:
            payload = r.json()
        except ValueError:
            raise WebDriverError("WebDriver %s %s: %d %r" % (method, path, r.status_code,
                                                              r.text[:500]))
        value = payload.get("value")
        if r.status_code != 200:
            msg = value.get("message", "") if isinstance(value, dict) else value
            raise WebDriverError("WebDriver %s %s: %d %s" % (method, path, r.status_code,
                                                              str(msg)[:1500]))
        return value

    def cmd(self, method, path, body=None, timeout=30):
        return self._call(method, "/session/%s%s" % (self.session, path), body, timeout)

    # page --------------------------------------------------------------------------
    def get(self, url):
        self.cmd("POST", "/url", {"url": url})

    def refresh(self):
        self.cmd("POST", "/refresh", {})

    def js(self, script, *args):
        return self.cmd("POST", "/execute/sync", {"script": script, "args": list(args)})

    def js_async(self, script, *args):
        """`script` ends by calling arguments[arguments.length - 1](result)."""
        return self.cmd("POST", "/execute/async", {"script": script, "args": list(args)})

    def click(self, element):
        self.cmd("POST", "/element/%s/click" % element[ELEMENT_KEY], {})

    def type(self, element, text):
        self.cmd("POST", "/element/%s/value" % element[ELEMENT_KEY], {"text": text})

    def console(self):
        """Browser console entries so far (chromedriver's log endpoint); [] if unsupported."""
        try:
            return self.cmd("POST", "/se/log", {"type": "browser"}, timeout=5) or []
        except (WebDriverError, requests.RequestException):
            return []

    # widget ------------------------------------------------------------------------
    def widget(self, what, *args):
        """Call window.SwitchboardWidget.<what>(*args); None while the script is not loaded."""
        return self.js("var w = window.SwitchboardWidget;"
                       "return w ? w[arguments[0]].apply(w, arguments[1]) : null;",
                       what, list(args))

    def wait_widget(self, what, pred, timeout=10.0, desc=""):
        deadline = time.monotonic() + timeout
        while True:
            value = self.widget(what)
            if pred(value):
                return value
            if time.monotonic() > deadline:
                raise AssertionError("widget %s() never %s within %.0f s; last %r; error() %r;"
                                     " console %r" % (what, desc, timeout, value,
                                                      self.widget("error"), self.console()))
            time.sleep(0.1)

    def shadow(self, selector):
        """The first element matching `selector` inside the widget's shadow root (or None)."""
        return self.js("var h = document.querySelector('[data-sb-widget-host]');"
                       "return h && h.shadowRoot.querySelector(arguments[0]);", selector)

    def rendered(self):
        return self.js(
            "var h = document.querySelector('[data-sb-widget-host]');"
            "return h ? Array.from(h.shadowRoot.querySelectorAll('[data-sb-seq]')).map("
            "function (e) { return {seq: +e.getAttribute('data-sb-seq'),"
            " direction: e.getAttribute('data-sb-direction'), text: e.textContent}; }) : null;")

    # teardown ----------------------------------------------------------------------
    def quit(self):
        try:
            if self.session is not None:
                self._call("DELETE", "/session/%s" % self.session, timeout=10)
        except (WebDriverError, requests.RequestException):
            pass
        finally:
            self.session = None
            self.http.close()
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    pass
            try:  # whatever is left of this chromedriver's own process group (Chromium)
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass


@pytest.fixture
def browser(tmp_path):
    if not os.access(CHROMIUM, os.X_OK) or _chromedriver() is None:
        pytest.skip("needs /usr/bin/chromium and chromedriver (apt-get install chromium "
                    "chromium-driver)")
    b = Browser(str(tmp_path / "browser"))
    try:
        b.start()
        yield b
    finally:
        b.quit()


def echo_agent(rec, fake):
    """The widget's agent: answers every message_received with {"reply": "echo: <text>"}."""
    try:
        text = rec.json()["data"]["text"]
    except (ValueError, KeyError, TypeError):
        return Reply(400, "not a message_received envelope")
    return Reply(200, json.dumps({"reply": "echo: " + text}), content_type="application/json")


def session_keys(redis):
    return redis.cmd("KEYS", "sb:*:session:*") or []


def pairs(messages):
    return [(m["direction"], m["text"]) for m in messages]


def test_chat_with_the_agent_then_reload(server, redis, fakes, browser):  # noqa: F811
    agent = fakes(echo_agent)
    srv = server(*SERVER_FLAGS)
    # the page is served by the server itself: its origin is the whitelist's one entry
    wid = ChatWidget(srv, origins=[srv.url], agent_url=agent.url, greeting="Hi there!").id

    # both files are served byte for byte, with their types
    for path, name, ctype in (("/widget.js", "widget.js", "application/javascript"),
                              ("/demo", "demo.html", "text/html")):
        r = srv.get(path)
        assert r.status_code == 200, "GET %s: %d %r" % (path, r.status_code, r.text[:200])
        assert r.headers.get("Content-Type", "").startswith(ctype), (path, r.headers)
        with open(os.path.join(REPO, "web", name), "rb") as f:
            assert r.content == f.read(), "GET %s is not web/%s (rebuild?)" % (path, name)

    browser.get("%s/demo?widget=%s" % (srv.url, wid))
    # loading the page reads the config only: no session until the visitor opens the chat
    browser.wait_widget("state", lambda s: s == "idle", desc="idle")
    time.sleep(0.3)
    assert session_keys(redis) == [] and browser.widget("sessionId") is None

    # as a user would: open the launcher (the session starts), type, click send
    browser.click(browser.shadow("[data-sb-launcher]"))
    browser.wait_widget("state", lambda s: s == "ready", desc="ready")
    assert browser.widget("messages") == []
    assert len(session_keys(redis)) == 1
    sid = browser.widget("sessionId")
    assert sid
    browser.type(browser.shadow("[data-sb-input]"), HELLO)
    browser.click(browser.shadow("[data-sb-send]"))

    want = [("in", HELLO), ("out", "echo: " + HELLO)]
    got = browser.wait_widget("messages", lambda ms: pairs(ms or []) == want, timeout=10,
                              desc="showed the message and the agent's reply")
    seqs = [m["seq"] for m in got]
    assert seqs == sorted(seqs) and len(set(seqs)) == 2, got
    # the agent was called once, with the customer's message from this session
    rec = agent.wait_for(1, 5)[0]
    data = rec.json()["data"]
    assert data["text"] == HELLO and data["channel"] == "widget"
    assert data["chat_id"] == sid and data["channel_id"] == wid
    # the DOM hooks show the same conversation
    assert browser.rendered() == got
    assert browser.js("return document.querySelector('[data-sb-widget-host]')"
                      ".getAttribute('data-sb-state')") == "ready"

    # API send works too, and the reply comes over the stream again
    sent = browser.js_async(
        "var done = arguments[arguments.length - 1];"
        "window.SwitchboardWidget.send(arguments[0]).then("
        "function (m) { done({seq: m.seq, direction: m.direction, text: m.text}); },"
        "function (e) { done({error: String(e)}); });", "second")
    assert sent.get("direction") == "in" and sent.get("text") == "second", sent
    want += [("in", "second"), ("out", "echo: second")]
    got = browser.wait_widget("messages", lambda ms: pairs(ms or []) == want, timeout=10,
                              desc="showed the second exchange")

    # a reload finds the stored session and its history; no new session is started
    browser.refresh()
    browser.wait_widget("state", lambda s: s == "ready", desc="ready after the reload")
    assert browser.widget("sessionId") == sid
    assert browser.widget("messages") == got
    assert browser.rendered() == got
    assert len(session_keys(redis)) == 1, "the reload started another session"
    errors = [e for e in browser.console() if e.get("level") == "SEVERE"
              and "net::ERR_ABORTED" not in e.get("message", "")]  # the reload cuts the stream
    assert not errors, errors


def test_foreign_origin_gets_an_error_and_no_session(server, redis, fakes, browser):  # noqa: F811
    agent = fakes(echo_agent)
    srv = server(*SERVER_FLAGS)
    wid = ChatWidget(srv, agent_url=agent.url).id  # allowedOrigins: https://shop.example.com

    browser.get("%s/demo?widget=%s" % (srv.url, wid))
    browser.wait_widget("state", lambda s: s == "error", desc="error")
    assert browser.widget("sessionId") is None
    assert browser.widget("messages") == []
    # stays so: nothing retries behind the page's back
    time.sleep(0.5)
    assert browser.widget("state") == "error"
    assert session_keys(redis) == []
    assert agent.count() == 0


def test_operator_buttons_are_shown_and_a_postback_click_is_the_customers_message(
        server, browser):
    """docs/messages.md "Web widget": an operator's buttons under the message (a link opens in a
    new tab; a postback button posts {"postback": {title, payload}}, shown as the customer's
    message); every string set as text, never as HTML."""
    srv = server(*SERVER_FLAGS)
    w = ChatWidget(srv, origins=[srv.url])
    browser.get("%s/demo?widget=%s" % (srv.url, w.id))
    browser.wait_widget("state", lambda s: s == "idle", desc="idle")
    browser.click(browser.shadow("[data-sb-launcher]"))
    browser.wait_widget("state", lambda s: s == "ready", desc="ready")
    browser.type(browser.shadow("[data-sb-input]"), "which size?")
    browser.click(browser.shadow("[data-sb-send]"))
    browser.wait_widget("messages", lambda ms: pairs(ms or []) == [("in", "which size?")],
                        desc="showed the customer's message")
    convs = w.api("GET", "/api/conversations").json()["items"]
    assert len(convs) == 1, convs
    cid = convs[0]["id"]

    xss = "<img src=x onerror=alert(1)>"
    title = "Yes " + xss
    r = w.api("POST", "/api/conversations/%s/messages" % cid,
              json={"text": "Pick one " + xss,
                    "buttons": [{"title": title, "payload": "YES_1"},
                                {"title": "Size guide", "url": "https://shop.example/sizes"}]})
    assert r.status_code == 201, r.text
    browser.wait_widget("messages", lambda ms: ("out", "Pick one " + xss) in pairs(ms or []),
                        desc="showed the operator's message")
    shown = browser.js(
        "var r = document.querySelector('[data-sb-widget-host]').shadowRoot;"
        "var p = r.querySelector('[data-sb-postback]'), a = r.querySelector('a.btn');"
        "return {postback: p && {tag: p.tagName, text: p.textContent,"
        "                        payload: p.getAttribute('data-sb-postback')},"
        "        link: a && {text: a.textContent, href: a.getAttribute('href'),"
        "                    target: a.getAttribute('target')},"
        "        imgs: r.querySelectorAll('img').length,"
        "        buttons: r.querySelectorAll('[data-sb-postback]').length};")
    assert shown["postback"] == {"tag": "BUTTON", "text": title, "payload": "YES_1"}, shown
    assert shown["buttons"] == 1, shown
    assert shown["link"] == {"text": "Size guide", "href": "https://shop.example/sizes",
                             "target": "_blank"}, shown
    assert shown["imgs"] == 0, "a title is text, never HTML: %r" % shown

    browser.click(browser.shadow("[data-sb-postback]"))
    got = browser.wait_widget("messages", lambda ms: pairs(ms or [])[-1:] == [("in", title)],
                              desc="showed the click as the customer's message")
    assert pairs(got) == [("in", "which size?"), ("out", "Pick one " + xss), ("in", title)], got
    stored = w.api("GET", "/api/conversations/%s/messages" % cid).json()["items"]
    clicks = [m for m in stored if m.get("postback")]
    assert len(clicks) == 1, stored
    assert clicks[0]["direction"] == "in" and clicks[0]["text"] == title, clicks
    assert clicks[0]["postback"] == {"title": title, "payload": "YES_1"}, clicks
    assert browser.js("return document.querySelector('[data-sb-widget-host]')"
                      ".shadowRoot.querySelectorAll('img').length;") == 0
