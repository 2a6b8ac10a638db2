"""The merchant cabinet's JSON API under /cabinet/api/, as docs/CABINET.md describes it.

The class signs in two merchants once: the fixture's merchant, whose session
most tests share, and a second merchant for the checks that one account
cannot read or change another account's tokens and orders. Tests that end
sessions or lock an account out add merchants of their own. Sign-ins are
kept few because each one computes an argon2id hash.

Only one test, test_orders, creates orders for the fixture's merchant,
because it counts that merchant's orders.
"""

import base64
import calendar
import os
import sys
import threading
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import (REQUIRED_CONFIRMATIONS, create_token, for_order, http_request,  # noqa: E402
                     run_cli)

SESSION_COOKIE = "citypay_session"
FIXTURE_EMAIL = "shop@example.com"  # the e-mail address GatewayTestCase gives its merchant
OTHER_EMAIL = "other@example.com"

# Sign-in limits of docs/CABINET.md: 5 failures per account in 15 minutes.
SIGN_IN_FAILURES_PER_ACCOUNT = 5
SIGN_IN_WINDOW_S = 15 * 60
# citypayd counts sign-in failures in fixed windows aligned to Unix time, so
# failures on both sides of a window boundary land in two windows. The rate
# limit test waits for a new window when less than this is left.
WINDOW_MARGIN_S = 15

# Bound of the polling loops that wait for a callback delivery's state.
DELIVERY_WAIT_S = 30
# Retry delay after a failed callback: long enough that within a test only
# a resend from the cabinet delivers a failed callback again.
SLOW_RETRY_S = "600"


class CabinetSession:
    """A signed-in cabinet session: the citypay_session cookie value and its CSRF token."""

    def __init__(self, cookie, csrf_token):
        self.cookie = cookie
        self.csrf_token = csrf_token


def parse_set_cookie(header):
    """Split a Set-Cookie value into (name, value, {lower-cased attribute name: value})."""
    first, *attribute_parts = header.split(";")
    name, _, value = first.strip().partition("=")
    attributes = {}
    for part in attribute_parts:
        key, _, attribute_value = part.strip().partition("=")
        attributes[key.lower()] = attribute_value
    return name, value, attributes


def session_set_cookie(resp):
    """Return the Set-Cookie header of citypay_session in resp, or None."""
    for header in resp.set_cookies:
        if parse_set_cookie(header)[0] == SESSION_COOKIE:
            return header
    return None


def sign_in_request(base_url, email, password):
    return http_request(base_url + "/cabinet/api/login", "POST",
                        json_body={"email": email, "password": password})


def session_from_sign_in(resp):
    """Return the CabinetSession that a successful sign-in response starts."""
    header = session_set_cookie(resp)
    if resp.status != 200 or header is None or not isinstance(resp.body, dict):
        raise AssertionError("sign-in did not start a session: %r; Set-Cookie: %r"
                             % (resp, resp.set_cookies))
    return CabinetSession(parse_set_cookie(header)[1], resp.body["data"]["csrf_token"])


def add_merchant(db_path, company, email):
    """Add a merchant with citypayctl and return its output, initial password included."""
    return run_cli(db_path, "merchant", "add", "--company", company, "--email", email)


def query_path(path, **params):
    return path + "?" + urllib.parse.urlencode(params) if params else path


class Cabinet(harness.GatewayTestCase):

    daemon_env = {
        "CITYPAY_CALLBACK_RETRY_BASE_S": SLOW_RETRY_S,
        "CITYPAY_CALLBACK_RETRY_CAP_S": SLOW_RETRY_S,
    }

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            cls.password = cls.merchant_info["initial_password"]
            cls.other = add_merchant(cls.db_path, "Other Shop", OTHER_EMAIL)
            cls.first_sign_in = sign_in_request(cls.daemon.base_url, FIXTURE_EMAIL, cls.password)
            cls.session = session_from_sign_in(cls.first_sign_in)
            cls.other_session = session_from_sign_in(
                sign_in_request(cls.daemon.base_url, OTHER_EMAIL, cls.other["initial_password"]))
        except BaseException:
            cls.tearDownClass()
            raise

    # -- helpers ---------------------------------------------------------

    def cabinet(self, method, path, session=None, *, json_body=None, csrf_token=None,
                send_csrf=True):
        """Send a cabinet request with the session's cookie and, on POST, its CSRF token.

        csrf_token replaces the session's token; send_csrf=False sends none.
        A POST without json_body sends an empty JSON object.
        """
        headers = {}
        if session is not None:
            headers["Cookie"] = "%s=%s" % (SESSION_COOKIE, session.cookie)
        if method == "POST":
            if json_body is None:
                json_body = {}
            if csrf_token is None and session is not None:
                csrf_token = session.csrf_token
            if send_csrf and csrf_token is not None:
                headers["X-CSRF-Token"] = csrf_token
        return http_request(self.url(path), method, json_body=json_body, headers=headers)

    def sign_in(self, email, password):
        return sign_in_request(self.daemon.base_url, email, password)

    def start_session(self, email, password):
        resp = self.sign_in(email, password)
        self.assertEqual(resp.status, 200, "sign-in of %s: %r" % (email, resp))
        return session_from_sign_in(resp)

    def assert_data(self, resp, status, request):
        """Check a success envelope with the given status and return its data."""
        self.assertEqual(resp.status, status, "%s: %r" % (request, resp))
        self.assertIsInstance(resp.body, dict, "%s returned no JSON object: %r" % (request, resp))
        self.assertIs(resp.body.get("success"), True, "%s: %r" % (request, resp))
        data = resp.body.get("data")
        self.assertIsInstance(data, dict, "%s has no data object: %r" % (request, resp))
        return data

    def assert_error(self, resp, status, request):
        """Check an error envelope with the given status and return its message object."""
        self.assertEqual(resp.status, status, "%s: %r" % (request, resp))
        self.assertIsInstance(resp.body, dict, "%s returned no JSON object: %r" % (request, resp))
        self.assertIs(resp.body.get("success"), False, "%s: %r" % (request, resp))
        message = resp.body.get("message")
        self.assertIsInstance(message, dict, "%s has no message object: %r" % (request, resp))
        return message

    def assert_fields_named(self, resp, fields, request):
        """Check a 422 response whose message names every field in fields."""
        message = self.assert_error(resp, 422, request)
        for field in fields:
            self.assertIn(field, message, "%s does not name %s: %r" % (request, field, resp))
            self.assertTrue(str(message[field]).strip(),
                            "%s gives %s an empty sentence: %r" % (request, field, resp))
        return message

    def assert_signed_out(self, session, context):
        resp = self.cabinet("GET", "/cabinet/api/me", session)
        self.assert_error(resp, 401, "GET /cabinet/api/me %s" % context)

    def token_fields(self, name, **overrides):
        """Every field of a valid sandbox token that calls back to the receiver."""
        fields = {
            "name": name,
            "type": "crypto",
            "currency": "USD",
            "ip_whitelist": "127.0.0.1/32\n::1",
            "callback_urls": self.receiver.url,
            "success_url": harness.DEFAULT_SUCCESS_URL,
            "cancel_url": harness.DEFAULT_CANCEL_URL,
            "expires_at": int(time.time()) + 86400,
            "mode": "sandbox",
        }
        fields.update(overrides)
        return {key: value for key, value in fields.items() if value is not None}

    def create_cabinet_token(self, name, session=None, **overrides):
        """Create a token with POST /cabinet/api/tokens and return the response's data."""
        resp = self.cabinet("POST", "/cabinet/api/tokens", session or self.session,
                            json_body=self.token_fields(name, **overrides))
        return self.assert_data(resp, 201, "POST /cabinet/api/tokens %s" % name)

    def list_tokens(self, session=None):
        resp = self.cabinet("GET", "/cabinet/api/tokens", session or self.session)
        return resp, self.assert_data(resp, 200, "GET /cabinet/api/tokens")

    def listed_token(self, token_id):
        """Return the token object with token_id from the token list, failing when absent."""
        resp, data = self.list_tokens()
        for token in data["tokens"]:
            if token["id"] == token_id:
                return token
        self.fail("token %s is not in the list: %r" % (token_id, resp))

    def change_settings(self, **fields):
        resp = self.cabinet("POST", "/cabinet/api/settings", self.session, json_body=fields)
        return self.assert_data(resp, 200, "POST /cabinet/api/settings %r" % fields)

    def generate_order(self, access_token, **overrides):
        suffix = harness.unique_suffix()
        fields = {
            "customer_id": str(self.customer_id),
            "access_token": access_token,
            "order_id": "cab-" + suffix,
            "order_token": "cab-tok-" + suffix,
            "amount": "10.00",
        }
        fields.update(overrides)
        return self.post("/api/generateOrder", json_body=fields)

    def order_detail(self, order_token, session=None):
        path = "/cabinet/api/orders/" + order_token
        resp = self.cabinet("GET", path, session or self.session)
        return self.assert_data(resp, 200, "GET " + path)

    def list_orders(self, **params):
        path = query_path("/cabinet/api/orders", **params)
        resp = self.cabinet("GET", path, self.session)
        return resp, self.assert_data(resp, 200, "GET " + path)

    # -- sign-in ---------------------------------------------------------

    def test_sign_in_cookie(self):
        resp = self.first_sign_in
        data = self.assert_data(resp, 200, "POST /cabinet/api/login")
        self.assertIs(data.get("signed_in"), True, "signed_in: %r" % resp)
        self.assertIs(data.get("code_required"), False, "code_required: %r" % resp)
        self.assertTrue(data.get("csrf_token"), "no csrf_token: %r" % resp)

        header = session_set_cookie(resp)
        self.assertIsNotNone(header, "no %s cookie set: %r %r"
                             % (SESSION_COOKIE, resp.set_cookies, resp))
        _, value, attributes = parse_set_cookie(header)
        self.assertIn("httponly", attributes, "cookie lacks HttpOnly: %r" % header)
        self.assertEqual(attributes.get("samesite"), "Strict", "cookie SameSite: %r" % header)
        self.assertEqual(attributes.get("path"), "/cabinet", "cookie Path: %r" % header)
        self.assertNotIn("secure", attributes, "cookie is Secure over http: %r" % header)
        id_bytes = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        self.assertEqual(len(id_bytes), 32, "session id is not 256 bits: %r" % header)

        me = self.cabinet("GET", "/cabinet/api/me", self.session)
        me_data = self.assert_data(me, 200, "GET /cabinet/api/me")
        merchant = me_data.get("merchant") or {}
        self.assertEqual(str(merchant.get("customer_id")), str(self.customer_id), "me: %r" % me)
        self.assertEqual(merchant.get("email"), FIXTURE_EMAIL, "me: %r" % me)
        self.assertEqual(merchant.get("company"), "Example Shop", "me: %r" % me)
        self.assertIs(merchant.get("totp_enabled"), False, "me: %r" % me)
        self.assertEqual(me_data.get("csrf_token"), data["csrf_token"],
                         "CSRF token of me differs from the sign-in's: %r" % me)

    def test_sign_in_rejections(self):
        wrong_password = self.sign_in(FIXTURE_EMAIL, "not-the-password-123")
        unknown_email = self.sign_in("nobody@example.com", "not-the-password-123")
        wrong_message = self.assert_error(wrong_password, 401, "sign-in with a wrong password")
        unknown_message = self.assert_error(unknown_email, 401, "sign-in with an unknown e-mail")
        self.assertEqual(unknown_email.status, wrong_password.status,
                         "statuses differ: %r vs %r" % (wrong_password, unknown_email))
        self.assertEqual(unknown_message, wrong_message,
                         "messages differ: %r vs %r" % (wrong_password, unknown_email))
        self.assertIsNone(session_set_cookie(wrong_password),
                          "a failed sign-in set a session cookie: %r" % wrong_password.set_cookies)

        credentials = {"email": FIXTURE_EMAIL, "password": self.password}
        form = self.post("/cabinet/api/login", form=credentials)
        self.assert_error(form, 415, "form-encoded POST /cabinet/api/login")
        self.assertIsNone(session_set_cookie(form),
                          "a form-encoded sign-in set a session cookie: %r" % form.set_cookies)
        multipart = self.post("/cabinet/api/login", multipart=credentials)
        self.assert_error(multipart, 415, "multipart POST /cabinet/api/login")

    def test_sign_in_rate_limit(self):
        email = "limited@example.com"
        merchant = add_merchant(self.db_path, "Limited Shop", email)
        left = SIGN_IN_WINDOW_S - time.time() % SIGN_IN_WINDOW_S
        if left < WINDOW_MARGIN_S:
            time.sleep(left + 1)

        for attempt in range(1, SIGN_IN_FAILURES_PER_ACCOUNT + 1):
            resp = self.sign_in(email, "wrong-password-%d" % attempt)
            self.assert_error(resp, 401, "wrong password, attempt %d" % attempt)

        limited = self.sign_in(email, merchant["initial_password"])
        self.assert_error(limited, 429, "right password after %d failures"
                          % SIGN_IN_FAILURES_PER_ACCOUNT)
        self.assertIsNone(session_set_cookie(limited),
                          "a rate-limited sign-in set a session cookie: %r" % limited.set_cookies)
        retry_after = limited.header("retry-after")
        self.assertIsNotNone(retry_after, "429 without Retry-After: %r %r"
                             % (limited.headers, limited))
        self.assertTrue(retry_after.isdigit(), "Retry-After is not seconds: %r" % retry_after)
        self.assertGreaterEqual(int(retry_after), 1, "Retry-After: %r" % retry_after)
        self.assertLessEqual(int(retry_after), SIGN_IN_WINDOW_S, "Retry-After: %r" % retry_after)

    # -- sessions and CSRF -------------------------------------------------

    def test_csrf(self):
        missing = self.cabinet("POST", "/cabinet/api/settings", self.session, send_csrf=False)
        self.assert_error(missing, 403, "POST /cabinet/api/settings without X-CSRF-Token")
        wrong = self.cabinet("POST", "/cabinet/api/settings", self.session,
                             csrf_token="A" * len(self.session.csrf_token))
        self.assert_error(wrong, 403, "POST /cabinet/api/settings with a wrong X-CSRF-Token")
        other = self.cabinet("POST", "/cabinet/api/settings", self.session,
                             csrf_token=self.other_session.csrf_token)
        self.assert_error(other, 403, "POST /cabinet/api/settings with another session's token")

        me = self.cabinet("GET", "/cabinet/api/me", self.session)
        csrf_token = self.assert_data(me, 200, "GET /cabinet/api/me").get("csrf_token")
        self.assertTrue(csrf_token, "me has no csrf_token: %r" % me)
        accepted = self.cabinet("POST", "/cabinet/api/settings", self.session,
                                csrf_token=csrf_token)
        self.assert_data(accepted, 200, "POST /cabinet/api/settings with the token of me")

    def test_no_session(self):
        unknown = CabinetSession("A" * 43, "A" * 43)
        requests = (
            ("GET", "/cabinet/api/me", None),
            ("GET", "/cabinet/api/tokens", None),
            ("GET", "/cabinet/api/orders", None),
            ("POST", "/cabinet/api/settings", None),
            ("POST", "/cabinet/api/tokens", None),
            ("GET", "/cabinet/api/me", unknown),
            ("POST", "/cabinet/api/logout", unknown),
        )
        for method, path, session in requests:
            resp = self.cabinet(method, path, session)
            request = "%s %s %s" % (method, path,
                                    "with an unknown cookie" if session else "without a session")
            self.assert_error(resp, 401, request)

        page = self.get("/cabinet/tokens")
        self.assertEqual(page.status, 303, "GET /cabinet/tokens without a session: %r" % page)
        location = page.header("location") or ""
        self.assertTrue(location.endswith("/cabinet/login"),
                        "GET /cabinet/tokens redirects to %r: %r" % (location, page.headers))

    # -- tokens ------------------------------------------------------------

    def test_token_create(self):
        suffix = harness.unique_suffix()
        second_url = self.receiver.url + "/second"
        unix_expiry = int(time.time()) + 3 * 86400
        created = self.create_cabinet_token("create-" + suffix, expires_at=unix_expiry,
                                            callback_urls=self.receiver.url + "\n" + second_url)
        token = created.get("token") or {}
        self.assertTrue(str(created.get("access_token", "")).startswith("cp_"),
                        "access_token: %r" % created)
        self.assertTrue(str(created.get("signing_secret", "")).startswith("whsec_"),
                        "signing_secret: %r" % created)
        self.assertEqual(token.get("name"), "create-" + suffix, "name: %r" % created)
        self.assertEqual(token.get("type"), "crypto", "type: %r" % created)
        self.assertEqual(token.get("currency"), "USD", "currency: %r" % created)
        self.assertEqual(token.get("ip_whitelist"), ["127.0.0.1/32", "::1/128"],
                         "ip_whitelist: %r" % created)
        self.assertEqual(token.get("callback_urls"), [self.receiver.url, second_url],
                         "callback_urls: %r" % created)
        self.assertEqual(token.get("success_url"), harness.DEFAULT_SUCCESS_URL,
                         "success_url: %r" % created)
        self.assertEqual(token.get("cancel_url"), harness.DEFAULT_CANCEL_URL,
                         "cancel_url: %r" % created)
        self.assertEqual(token.get("expires_at"), unix_expiry, "expires_at: %r" % created)
        self.assertEqual(token.get("mode"), "sandbox", "mode: %r" % created)
        self.assertEqual(token.get("status"), "active", "status: %r" % created)
        self.assertIsNone(token.get("last_used_at"), "last_used_at of a new token: %r" % created)
        self.assertTrue(created["access_token"].endswith(token.get("last_chars") or "-"),
                        "last_chars is not the end of the token: %r" % created)

        # The form's datetime field sends "YYYY-MM-DDTHH:MM", which is read as UTC.
        future = time.gmtime(time.time() + 5 * 86400)
        form_expiry = time.strftime("%Y-%m-%dT%H:%M", future)
        expected_expiry = calendar.timegm(time.strptime(form_expiry, "%Y-%m-%dT%H:%M"))
        second = self.create_cabinet_token("create-form-" + suffix, expires_at=form_expiry)
        self.assertEqual(second["token"].get("expires_at"), expected_expiry,
                         "expires_at %s read as %r" % (form_expiry, second))

        resp, data = self.list_tokens()
        listed_ids = [t.get("id") for t in data["tokens"]]
        self.assertIn(token.get("id"), listed_ids, "first token not listed: %r" % resp)
        self.assertIn(second["token"].get("id"), listed_ids, "second token not listed: %r" % resp)
        for secret in (created["access_token"], created["signing_secret"],
                       second["access_token"], second["signing_secret"]):
            self.assertNotIn(secret, resp.text, "the token list contains a secret: %r" % resp)
        for listed in data["tokens"]:
            self.assertNotIn("access_token", listed, "a listed token has access_token: %r" % listed)
            self.assertNotIn("signing_secret", listed,
                             "a listed token has signing_secret: %r" % listed)
        self.assertEqual(data.get("choices", {}).get("modes"), ["live", "sandbox"],
                         "choices: %r" % resp)
        self.assertIs(data.get("totp_required"), False, "totp_required: %r" % resp)

    def test_token_invalid_fields(self):
        self.change_settings(auto_exchange="off")
        suffix = harness.unique_suffix()
        past = int(time.time()) - 3600
        cases = (
            ("ip_whitelist", {"ip_whitelist": "10.0.0.1/8"}),
            ("expires_at", {"expires_at": past}),
            ("callback_urls", {"callback_urls": "ftp://127.0.0.1/callback"}),
            ("type", {"type": "binance_pay"}),
        )
        _, before = self.list_tokens()

        for field, override in cases:
            with self.subTest(field=field):
                fields = self.token_fields("invalid-%s-%s" % (field, suffix), **override)
                resp = self.cabinet("POST", "/cabinet/api/tokens", self.session, json_body=fields)
                self.assert_fields_named(resp, [field], "POST /cabinet/api/tokens %r" % override)

        every = {}
        for _, override in cases:
            every.update(override)
        resp = self.cabinet("POST", "/cabinet/api/tokens", self.session,
                            json_body=self.token_fields("invalid-all-" + suffix, **every))
        self.assert_fields_named(resp, [field for field, _ in cases],
                                 "POST /cabinet/api/tokens with four invalid fields")

        self.create_cabinet_token("duplicate-" + suffix)
        again = self.cabinet("POST", "/cabinet/api/tokens", self.session,
                             json_body=self.token_fields("duplicate-" + suffix))
        self.assert_fields_named(again, ["name"], "POST /cabinet/api/tokens with a taken name")

        resp, after = self.list_tokens()
        self.assertEqual(len(after["tokens"]), len(before["tokens"]) + 1,
                         "invalid requests changed the token count: %r" % resp)

    def test_token_edit(self):
        suffix = harness.unique_suffix()
        created = self.create_cabinet_token("edit-" + suffix)
        token_id = created["token"]["id"]
        path = "/cabinet/api/tokens/%d" % token_id
        fields = self.token_fields("edited-" + suffix, ip_whitelist="192.0.2.0/24, 2001:db8::/32",
                                   mode="live")

        resp = self.cabinet("POST", path, self.session, json_body=fields)
        edited = self.assert_data(resp, 200, "POST " + path).get("token") or {}
        self.assertEqual(edited.get("id"), token_id, "id after the edit: %r" % resp)
        self.assertEqual(edited.get("name"), "edited-" + suffix, "name after the edit: %r" % resp)
        self.assertEqual(edited.get("ip_whitelist"), ["192.0.2.0/24", "2001:db8::/32"],
                         "ip_whitelist after the edit: %r" % resp)
        self.assertEqual(edited.get("mode"), "sandbox", "an edit changed the mode: %r" % resp)
        self.assertEqual(edited.get("last_chars"), created["token"]["last_chars"],
                         "an edit changed the token text: %r" % resp)

        listed = self.listed_token(token_id)
        self.assertEqual(listed.get("name"), "edited-" + suffix, "listed name: %r" % listed)
        self.assertEqual(listed.get("ip_whitelist"), ["192.0.2.0/24", "2001:db8::/32"],
                         "listed ip_whitelist: %r" % listed)
        self.assertEqual(listed.get("mode"), "sandbox", "listed mode: %r" % listed)

        other_fields = self.token_fields("taken-over-" + suffix)
        other_edit = self.cabinet("POST", path, self.other_session, json_body=other_fields)
        self.assert_error(other_edit, 404, "POST %s by another merchant" % path)
        other_get = self.cabinet("GET", path, self.other_session)
        self.assert_error(other_get, 404, "GET %s by another merchant" % path)
        other_revoke = self.cabinet("POST", path + "/revoke", self.other_session)
        self.assert_error(other_revoke, 404, "POST %s/revoke by another merchant" % path)

        listed = self.listed_token(token_id)
        self.assertEqual(listed.get("name"), "edited-" + suffix,
                         "another merchant changed the token: %r" % listed)
        self.assertEqual(listed.get("status"), "active",
                         "another merchant revoked the token: %r" % listed)

    def test_token_revoke(self):
        created = self.create_cabinet_token("revoke-" + harness.unique_suffix())
        token_id = created["token"]["id"]
        access_token = created["access_token"]

        # An invalid amount is checked after the token, so 422 shows the
        # token is accepted without creating an order.
        before = self.generate_order(access_token, amount="0")
        self.assertEqual(before.status, 422, "generateOrder before the revocation: %r" % before)

        path = "/cabinet/api/tokens/%d/revoke" % token_id
        self.assert_data(self.cabinet("POST", path, self.session), 200, "POST " + path)
        listed = self.listed_token(token_id)
        self.assertEqual(listed.get("status"), "revoked", "status after revoking: %r" % listed)

        after = self.generate_order(access_token)
        self.assertEqual(after.status, 401, "generateOrder with a revoked token: %r" % after)
        invalid_after = self.generate_order(access_token, amount="0")
        self.assertEqual(invalid_after.status, 401,
                         "generateOrder with a revoked token and an invalid amount: %r"
                         % invalid_after)

    # -- settings ----------------------------------------------------------

    def test_settings(self):
        changed = self.change_settings(enabled_coins="BTC,ETH", tolerance_under_pct="2",
                                       tolerance_over_pct="3", order_expiry_minutes="30",
                                       auto_exchange="on")
        self.assertEqual(changed.get("settings", {}).get("enabled_coins"), ["BTC", "ETH"],
                         "settings in the response: %r" % changed)

        resp = self.cabinet("GET", "/cabinet/api/settings", self.session)
        settings = self.assert_data(resp, 200, "GET /cabinet/api/settings").get("settings") or {}
        self.assertEqual(settings.get("enabled_coins"), ["BTC", "ETH"], "enabled_coins: %r" % resp)
        self.assertEqual(settings.get("tolerance_under_pct"), 2, "tolerance_under_pct: %r" % resp)
        self.assertEqual(settings.get("tolerance_over_pct"), 3, "tolerance_over_pct: %r" % resp)
        self.assertEqual(settings.get("order_expiry_minutes"), 30,
                         "order_expiry_minutes: %r" % resp)
        self.assertIs(settings.get("auto_exchange"), True, "auto_exchange: %r" % resp)

        binance = self.create_cabinet_token("binance-" + harness.unique_suffix(),
                                            type="binance_pay")
        self.assertEqual(binance["token"].get("type"), "binance_pay", "token type: %r" % binance)

        invalid = {"tolerance_under_pct": "100", "tolerance_over_pct": "100",
                   "enabled_coins": "BTC,XRP"}
        rejected = self.cabinet("POST", "/cabinet/api/settings", self.session, json_body=invalid)
        self.assert_fields_named(rejected, list(invalid), "POST /cabinet/api/settings %r" % invalid)

        resp = self.cabinet("GET", "/cabinet/api/settings", self.session)
        unchanged = self.assert_data(resp, 200, "GET /cabinet/api/settings").get("settings") or {}
        self.assertEqual(unchanged, settings, "rejected settings changed something: %r" % resp)

    # -- orders --------------------------------------------------------------

    def test_orders(self):
        name = "orders-" + harness.unique_suffix()
        access_token = self.create_cabinet_token(name)["access_token"]
        order_tokens = []
        for number in range(3):
            resp = self.generate_order(access_token)
            self.assertIn(resp.status, (200, 201), "generateOrder %d: %r" % (number, resp))
            order_tokens.append(resp.body["data"]["token"])
        today = time.strftime("%Y-%m-%d", time.gmtime())
        paid = order_tokens[0]

        # The receiver responds 500 to the paid order's callbacks until failing is cleared.
        failing = threading.Event()
        failing.set()
        self.addCleanup(failing.clear)
        paid_callbacks = for_order(paid)
        self.receiver.fail_matching(lambda callback: failing.is_set() and paid_callbacks(callback),
                                    times=1000, status=500)
        self.choose_coin(paid, "BTC")
        self.sandbox_pay_http(paid)
        self.mine(REQUIRED_CONFIRMATIONS["BTC"])
        self.wait_order_status(paid, "CONFIRMED")

        self.check_order_list(name, order_tokens, paid, today)
        self.check_order_detail(paid)
        self.check_resend(paid, order_tokens[1], failing)

    def check_order_list(self, token_name, order_tokens, paid, today):
        newest_first = list(reversed(order_tokens))
        resp, data = self.list_orders()
        self.assertEqual([o.get("token") for o in data["orders"]], newest_first,
                         "orders are not listed newest first: %r" % resp)
        self.assertEqual(data["meta"].get("totalCount"), 3, "meta: %r" % resp)
        self.assertEqual(data["meta"].get("pagesCount"), 1, "meta: %r" % resp)
        self.assertIsNone(data["meta"].get("nextPage"), "meta: %r" % resp)
        for row in data["orders"]:
            self.assertEqual(row.get("token_name"), token_name, "token_name: %r" % row)
            self.assertEqual(row.get("currency"), "USD", "currency: %r" % row)
        self.assertEqual(data["orders"][-1].get("status"), "CONFIRMED", "paid order row: %r" % resp)

        resp, data = self.list_orders(status="CONFIRMED")
        self.assertEqual([o.get("token") for o in data["orders"]], [paid],
                         "status=CONFIRMED rows: %r" % resp)
        self.assertEqual(data["filters"].get("status"), "CONFIRMED", "filters: %r" % resp)

        resp, data = self.list_orders(token=token_name)
        self.assertEqual(len(data["orders"]), 3, "token=%s rows: %r" % (token_name, resp))
        resp, data = self.list_orders(token="no-such-token-name")
        self.assertEqual(len(data["orders"]), 0, "rows of an unknown token name: %r" % resp)

        resp, data = self.list_orders(**{"from": today, "to": today})
        self.assertEqual(len(data["orders"]), 3, "rows from and to %s: %r" % (today, resp))
        resp, data = self.list_orders(**{"from": "2020-01-01", "to": "2020-01-31"})
        self.assertEqual(len(data["orders"]), 0, "rows in January 2020: %r" % resp)
        self.assertEqual(data["meta"].get("totalCount"), 0, "meta in January 2020: %r" % resp)

        resp, data = self.list_orders(limit=2, page=1)
        self.assertEqual([o.get("token") for o in data["orders"]], newest_first[:2],
                         "page 1 of 2: %r" % resp)
        self.assertEqual(data["meta"].get("nextPage"), 2, "nextPage of page 1: %r" % resp)
        resp, data = self.list_orders(limit=2, page=2)
        self.assertEqual([o.get("token") for o in data["orders"]], newest_first[2:],
                         "page 2 of 2: %r" % resp)
        self.assertIsNone(data["meta"].get("nextPage"), "nextPage of the last page: %r" % resp)
        self.assertEqual(data["meta"].get("currentPage"), 2, "currentPage: %r" % resp)
        self.assertEqual(data["meta"].get("pagesCount"), 2, "pagesCount: %r" % resp)

        for params, field in (({"status": "PAID"}, "status"), ({"from": "2020-13-45"}, "from"),
                              ({"to": "yesterday"}, "to")):
            path = query_path("/cabinet/api/orders", **params)
            resp = self.cabinet("GET", path, self.session)
            self.assert_fields_named(resp, [field], "GET " + path)

    def check_order_detail(self, paid):
        data = self.order_detail(paid)
        order = data.get("order") or {}
        self.assertEqual(order.get("status", {}).get("code"), "CONFIRMED", "order: %r" % data)
        self.assertTrue(data.get("deliveries"), "a paid order has no deliveries: %r" % data)
        for delivery in data["deliveries"]:
            for key in ("id", "event_id", "action", "state", "attempts"):
                self.assertIn(key, delivery, "delivery lacks %s: %r" % (key, delivery))

        path = "/cabinet/api/orders/" + paid
        other = self.cabinet("GET", path, self.other_session)
        self.assert_error(other, 404, "GET %s by another merchant" % path)

        other_token = create_token(self.db_path, self.other["customer_id"], "other-shop",
                                   [self.receiver.url])
        resp = self.post("/api/generateOrder", json_body={
            "customer_id": str(self.other["customer_id"]),
            "access_token": other_token["token"],
            "order_id": "other-" + harness.unique_suffix(),
            "order_token": "other-tok-" + harness.unique_suffix(),
            "amount": "5.00",
        })
        self.assertIn(resp.status, (200, 201), "generateOrder of the other merchant: %r" % resp)
        other_order = resp.body["data"]["token"]
        path = "/cabinet/api/orders/" + other_order
        mine = self.cabinet("GET", path, self.session)
        self.assert_error(mine, 404, "GET %s of another merchant's order" % path)

    def wait_delivery(self, order_token, predicate, description):
        """Poll the order detail until a delivery matches predicate; return that delivery."""
        deadline = time.monotonic() + DELIVERY_WAIT_S
        data = None
        while time.monotonic() < deadline:
            data = self.order_detail(order_token)
            for delivery in data["deliveries"]:
                if predicate(delivery):
                    return delivery
            time.sleep(harness.POLL_INTERVAL_S)
        self.fail("no delivery of %s became %s within %d s; deliveries: %r"
                  % (order_token, description, DELIVERY_WAIT_S, data and data["deliveries"]))

    def check_resend(self, paid, another_order, failing):
        def failed_once(delivery):
            return delivery["attempts"] >= 1 and delivery["state"] == "pending"

        pending = self.wait_delivery(paid, failed_once, "pending after a failed attempt")
        self.assertEqual(pending.get("last_http_status"), 500, "failed delivery: %r" % pending)
        waiting_ids = [d["id"] for d in self.order_detail(paid)["deliveries"]
                       if failed_once(d) and d["id"] != pending["id"]]

        def resent_callback(callback):
            return callback.get("event_id") == pending["event_id"] and callback.status_sent == 200

        failing.clear()
        self.assertEqual(self.receiver.callbacks(resent_callback), [],
                         "event %s was delivered before the resend" % pending["event_id"])
        path = "/cabinet/api/orders/%s/resend" % paid
        resp = self.cabinet("POST", path, self.session, json_body={"delivery_id": pending["id"]})
        self.assert_data(resp, 200, "POST %s delivery_id=%s" % (path, pending["id"]))

        callback = self.wait_callback(resent_callback,
                                      "the resent callback with event_id %s" % pending["event_id"])
        self.assertEqual(callback.get("order_token"), paid, "resent callback: %r" % callback)
        delivered = self.wait_delivery(
            paid, lambda d: d["id"] == pending["id"] and d["state"] == "delivered", "delivered")
        self.assertIsNotNone(delivered.get("delivered_at"), "delivered_at: %r" % delivered)
        for delivery in self.order_detail(paid)["deliveries"]:
            if delivery["id"] in waiting_ids:
                self.assertEqual(delivery["state"], "pending",
                                 "a delivery that was not resent changed: %r" % delivery)

        path = "/cabinet/api/orders/%s/resend" % another_order
        resp = self.cabinet("POST", path, self.session, json_body={"delivery_id": pending["id"]})
        self.assert_error(resp, 404, "POST %s with a delivery of %s" % (path, paid))
        path = "/cabinet/api/orders/%s/resend" % paid
        resp = self.cabinet("POST", path, self.session, json_body={"delivery_id": "first"})
        self.assert_fields_named(resp, ["delivery_id"], "POST %s delivery_id=first" % path)
        resp = self.cabinet("POST", path, self.other_session,
                            json_body={"delivery_id": pending["id"]})
        self.assert_error(resp, 404, "POST %s by another merchant" % path)

    # -- deposits and audit log ------------------------------------------------

    def test_deposits(self):
        fields = {
            "customer_id": str(self.customer_id),
            "access_token": self.token,
            "deposit_id": "user-7",
            "deposit_token": "user-7-" + harness.unique_suffix(),
        }
        resp = self.post("/api/generateDeposit", json_body=fields)
        self.assertIn(resp.status, (200, 201), "generateDeposit: %r" % resp)
        deposit = resp.body["data"]

        listed = self.cabinet("GET", "/cabinet/api/deposits", self.session)
        data = self.assert_data(listed, 200, "GET /cabinet/api/deposits")
        deposit_token = fields["deposit_token"]
        rows = [row for row in data["deposits"] if row.get("deposit_token") == deposit_token]
        self.assertEqual(len(rows), 1, "deposit %s not listed once: %r" % (deposit_token, listed))
        self.assertEqual(rows[0].get("deposit_id"), "user-7", "deposit row: %r" % rows[0])
        self.assertEqual(rows[0].get("token"), deposit.get("token"), "deposit row: %r" % rows[0])
        self.assertEqual(rows[0].get("currency"), "USD", "deposit row: %r" % rows[0])
        self.assertGreaterEqual(data["meta"].get("totalCount", 0), 1, "meta: %r" % listed)

        other = self.cabinet("GET", "/cabinet/api/deposits", self.other_session)
        other_data = self.assert_data(other, 200, "GET /cabinet/api/deposits of another merchant")
        self.assertNotIn(fields["deposit_token"], other.text,
                         "another merchant sees the deposit: %r" % other)
        self.assertEqual(other_data["meta"].get("totalCount"), 0,
                         "other merchant's meta: %r" % other)

    def test_audit_log(self):
        failed = self.sign_in(FIXTURE_EMAIL, "wrong-password-for-audit")
        self.assert_error(failed, 401, "sign-in with a wrong password")
        name = "audit-" + harness.unique_suffix()
        token_id = self.create_cabinet_token(name)["token"]["id"]
        path = "/cabinet/api/tokens/%d" % token_id
        edit = self.cabinet("POST", path, self.session,
                            json_body=self.token_fields(name, ip_whitelist="127.0.0.1"))
        self.assert_data(edit, 200, "POST " + path)
        revoke = self.cabinet("POST", path + "/revoke", self.session)
        self.assert_data(revoke, 200, "POST %s/revoke" % path)
        self.change_settings(order_expiry_minutes="45")

        resp = self.cabinet("GET", "/cabinet/api/audit?limit=100", self.session)
        data = self.assert_data(resp, 200, "GET /cabinet/api/audit")
        entries = data["entries"]
        self.assertLess(len(entries), 100, "the audit log needs more than one page: %r" % resp)
        times = [entry.get("at") for entry in entries]
        self.assertEqual(times, sorted(times, reverse=True),
                         "entries are not newest first: %r" % resp)

        def newest(action, detail_part=""):
            for index, entry in enumerate(entries):
                if entry.get("action") == action and detail_part in entry.get("detail", ""):
                    self.assertEqual(entry.get("ip"), harness.LOOPBACK,
                                     "ip of %s: %r" % (action, entry))
                    return index
            self.fail("no %s entry with %r in its detail: %r" % (action, detail_part, resp))

        settings_changed = newest("settings_changed")
        token_revoked = newest("token_revoked", name)
        token_edited = newest("token_edited", name)
        token_created = newest("token_created", name)
        sign_in_failed = newest("sign_in_failed")
        sign_in = newest("sign_in")
        self.assertLess(settings_changed, token_revoked, "order of entries: %r" % resp)
        self.assertLess(token_revoked, token_edited, "order of entries: %r" % resp)
        self.assertLess(token_edited, token_created, "order of entries: %r" % resp)
        self.assertLess(token_created, sign_in_failed, "order of entries: %r" % resp)
        self.assertLess(sign_in_failed, sign_in, "order of entries: %r" % resp)

        other = self.cabinet("GET", "/cabinet/api/audit?limit=100", self.other_session)
        self.assert_data(other, 200, "GET /cabinet/api/audit of another merchant")
        self.assertNotIn(name, other.text, "another merchant sees the audit entries: %r" % other)

    # -- password and sign-out -------------------------------------------------

    def test_password_change(self):
        email = "password-change@example.com"
        initial = add_merchant(self.db_path, "Password Shop", email)["initial_password"]
        session = self.start_session(email, initial)
        new_password = "cabinet-e2e-" + harness.unique_suffix()
        path = "/cabinet/api/security/password"

        wrong = self.cabinet("POST", path, session, json_body={
            "current_password": "not-the-password-123", "new_password": new_password})
        self.assert_fields_named(wrong, ["current_password"],
                                 "POST %s with a wrong current password" % path)
        for weak in ("short-pw", "a" * 16):
            weak_resp = self.cabinet("POST", path, session, json_body={
                "current_password": initial, "new_password": weak})
            self.assert_fields_named(weak_resp, ["new_password"],
                                     "POST %s with new password %r" % (path, weak))
        self.assert_data(self.cabinet("GET", "/cabinet/api/me", session), 200,
                         "GET /cabinet/api/me after rejected changes")

        changed = self.cabinet("POST", path, session, json_body={
            "current_password": initial, "new_password": new_password})
        self.assert_data(changed, 200, "POST %s with a valid new password" % path)
        self.assert_signed_out(session, "after the password change")

        old = self.sign_in(email, initial)
        self.assert_error(old, 401, "sign-in with the old password")
        self.start_session(email, new_password)

    def test_password_reset_cli(self):
        email = "password-reset@example.com"
        merchant = add_merchant(self.db_path, "Reset Shop", email)
        session = self.start_session(email, merchant["initial_password"])

        result = run_cli(self.db_path, "merchant", "password", "--customer",
                         merchant["customer_id"])
        new_password = result.get("password")
        self.assertTrue(new_password, "merchant password printed no password: %r" % result)
        self.assertNotEqual(new_password, merchant["initial_password"],
                            "password unchanged: %r" % result)
        self.assert_signed_out(session, "after citypayctl merchant password")
        self.start_session(email, new_password)

    def test_logout(self):
        session = self.start_session(OTHER_EMAIL, self.other["initial_password"])

        rejected = self.cabinet("POST", "/cabinet/api/logout", session, send_csrf=False)
        self.assert_error(rejected, 403, "POST /cabinet/api/logout without X-CSRF-Token")
        resp = self.cabinet("POST", "/cabinet/api/logout", session)
        self.assert_data(resp, 200, "POST /cabinet/api/logout")
        header = session_set_cookie(resp)
        self.assertIsNotNone(header, "logout does not clear the cookie: %r" % resp.set_cookies)
        self.assertEqual(parse_set_cookie(header)[2].get("max-age"), "0",
                         "logout cookie: %r" % header)
        self.assert_signed_out(session, "after logout")

        still = self.cabinet("GET", "/cabinet/api/me", self.other_session)
        self.assert_data(still, 200, "GET /cabinet/api/me of the merchant's other session")


if __name__ == "__main__":
    unittest.main()
