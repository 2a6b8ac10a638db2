"""Rejected merchant API calls: status, error envelope, and no order created.

Every check also asserts that the response has an X-Request-Id header and that
`citypayctl order list` shows no new order after a rejected call.
"""

import http.client
import json
import os
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import count_orders, create_token, run_cli  # noqa: E402


class Rejections(harness.GatewayTestCase):

    def assert_request_id(self, resp):
        self.assertTrue(resp.header("x-request-id"), "no X-Request-Id header: %r %r"
                        % (resp.headers, resp))

    def assert_rejected(self, send, status, reason=None, field=None):
        """Call send(), check the error response, and check that no order was created.

        status is one HTTP status or a tuple of accepted ones. field names a key
        that the message object must contain. Returns the Response.
        """
        accepted = status if isinstance(status, tuple) else (status,)
        before = count_orders(self.db_path)
        resp = send()
        after = count_orders(self.db_path)

        self.assertIn(resp.status, accepted, "expected HTTP %s, got %r" % (status, resp))
        self.assert_request_id(resp)
        self.assertEqual(after, before, "a rejected request created an order: %r" % resp)
        self.assertIsInstance(resp.body, dict, "error response is not JSON: %r" % resp)
        self.assertIs(resp.body.get("success"), False, "success: %r" % resp)
        self.assertEqual(resp.body.get("status_code"), resp.status, "status_code: %r" % resp)
        message = resp.body.get("message")
        self.assertIsInstance(message, dict, "message is not an object: %r" % resp)
        self.assertTrue(message, "message is empty: %r" % resp)
        for key, sentence in message.items():
            self.assertIsInstance(sentence, str, "message[%r] is not a sentence: %r" % (key, resp))
            self.assertTrue(sentence.strip(), "message[%r] is empty: %r" % (key, resp))
        error = resp.body.get("error")
        self.assertIsInstance(error, dict, "error is not an object: %r" % resp)
        self.assertEqual(error.get("request_id"), resp.header("x-request-id"),
                         "error.request_id differs from X-Request-Id: %r" % resp)
        if reason is not None:
            self.assertEqual(error.get("reason"), reason, "error.reason: %r" % resp)
        if field is not None:
            self.assertIn(field, message, "message does not name %s: %r" % (field, resp))
        return resp

    def post_order(self, **overrides):
        return self.post("/api/generateOrder", json_body=self.order_fields(**overrides))

    # -- invalid fields ------------------------------------------------------

    def test_amount_missing(self):
        self.assert_rejected(lambda: self.post_order(amount=None), 422, "UnsupportedInput", "amount")

    def test_amount_invalid(self):
        for encoding in ("json_body", "form", "multipart"):
            for amount in ("0", "-1", "1e3", "12.345", "abc", "", "12.3.4", "NaN",
                           "100000000000000000000000"):
                with self.subTest(encoding=encoding, amount=amount):
                    body = {encoding: self.order_fields(amount=amount)}
                    self.assert_rejected(lambda: self.post("/api/generateOrder", **body), 422,
                                         "UnsupportedInput", "amount")

    def test_amount_invalid_json_number(self):
        for literal in ("0", "-1", "1e3", "12.345"):
            with self.subTest(amount=literal):
                fields = self.order_fields()
                del fields["amount"]
                body = json.dumps(fields)[:-1] + ', "amount": %s}' % literal
                self.assert_rejected(lambda: self.post("/api/generateOrder", json_body=body),
                                     422, "UnsupportedInput", "amount")

    def test_amount_currency_digits(self):
        # JPY has no minor unit, so a fraction is invalid there but not in USD.
        self.assert_rejected(lambda: self.post_order(currency="JPY", amount="100.5"), 422,
                             "UnsupportedInput", "amount")
        _, data = self.create_order(currency="JPY", amount="100")
        self.assertEqual(str(data.get("currency")), "JPY", "order currency: %r" % data)

    def test_currency_unknown(self):
        self.assert_rejected(lambda: self.post_order(currency="XYZ"), 422,
                             "UnsupportedInput", "currency")

    def test_order_id_too_long(self):
        self.assert_rejected(lambda: self.post_order(order_id="9" * 65), 422,
                             "UnsupportedInput", "order_id")

    def test_order_token_spaces(self):
        self.assert_rejected(lambda: self.post_order(order_token="bad token 1"), 422,
                             "UnsupportedInput", "order_token")

    def test_order_token_too_long(self):
        self.assert_rejected(lambda: self.post_order(order_token="t" * 65), 422,
                             "UnsupportedInput", "order_token")

    def test_order_id_missing(self):
        self.assert_rejected(lambda: self.post_order(order_id=None), 422,
                             "UnsupportedInput", "order_id")

    # -- credentials ---------------------------------------------------------

    def test_token_missing(self):
        self.assert_rejected(lambda: self.post_order(access_token=None), 401, "BadCredentials")

    def test_token_malformed(self):
        # Flipping the last character breaks the checksum of a well-formed token.
        last = self.token[-1]
        flipped = self.token[:-1] + ("A" if last != "A" else "B")
        for token in ("not-a-token", flipped, self.token + "x"):
            with self.subTest(token=token[:12]):
                self.assert_rejected(lambda: self.post_order(access_token=token), 401,
                                     "BadCredentials")

    def unknown_token(self):
        """Create a well-formed token in another database, so this daemon does not know it."""
        other_dir = tempfile.mkdtemp(prefix="citypay-e2e-other-", dir=self.tmpdir)
        other_db = os.path.join(other_dir, "other.db")
        run_cli(other_db, "init")
        merchant = run_cli(other_db, "merchant", "add", "--company", "Other", "--email",
                           "other@example.com")
        return create_token(other_db, merchant["customer_id"], "other",
                            ["http://127.0.0.1:9/callback"])["token"]

    def test_token_unknown(self):
        token = self.unknown_token()
        resp = self.assert_rejected(lambda: self.post_order(access_token=token), 401,
                                    "BadCredentials")
        self.assertNotIn(token, resp.text, "the error response echoes the token")

    def test_token_of_other_merchant(self):
        merchant = run_cli(self.db_path, "merchant", "add", "--company", "Second Shop",
                           "--email", "second@example.com")
        other = create_token(self.db_path, merchant["customer_id"], "second",
                             [self.receiver.url])["token"]
        unknown = self.unknown_token()

        foreign = self.assert_rejected(lambda: self.post_order(access_token=other), 401,
                                       "BadCredentials")
        missing = self.assert_rejected(lambda: self.post_order(access_token=unknown), 401,
                                       "BadCredentials")
        self.assertEqual(foreign.body["message"], missing.body["message"],
                         "the response reveals that another merchant's token exists")

    def test_token_revoked(self):
        token = create_token(self.db_path, self.customer_id, "to-revoke", [self.receiver.url])
        self.create_order(access_token=token["token"])

        revoked = run_cli(self.db_path, "token", "revoke", "--customer", self.customer_id,
                          "--name", "to-revoke")
        self.assertIs(revoked.get("revoked"), True, "token revoke: %r" % revoked)
        listed = run_cli(self.db_path, "token", "list", "--customer", self.customer_id)
        statuses = {t["name"]: t["status"] for t in listed["tokens"]}
        self.assertEqual(statuses.get("to-revoke"), "revoked", "token list: %r" % listed)

        resp = self.assert_rejected(lambda: self.post_order(access_token=token["token"]), 401,
                                    "BadCredentials")
        self.assertIn("revoked", json.dumps(resp.body["message"]).lower(),
                      "message should say the token is revoked: %r" % resp)

    def test_token_expired(self):
        expires_at = int(time.time()) + 4
        token = create_token(self.db_path, self.customer_id, "short-lived", [self.receiver.url],
                             expires_at=expires_at)
        self.create_order(access_token=token["token"])

        deadline = time.monotonic() + 10
        while time.time() <= expires_at + 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        resp = self.assert_rejected(lambda: self.post_order(access_token=token["token"]), 401,
                                    "BadCredentials")
        self.assertIn("expired", json.dumps(resp.body["message"]).lower(),
                      "message should say the token expired: %r" % resp)

    def test_ip_outside_whitelist(self):
        token = create_token(self.db_path, self.customer_id, "office-only", [self.receiver.url],
                             ip_ranges=("10.0.0.0/8",))
        resp = self.assert_rejected(lambda: self.post_order(access_token=token["token"]), 403,
                                    "IpNotAllowed")
        self.assertIn("127.0.0.1", json.dumps(resp.body["message"]),
                      "message should name the client address: %r" % resp)

        # No trusted proxy is configured, so forwarding headers must not
        # change the client address that the whitelist check uses.
        forged_headers = (
            {"X-Forwarded-For": "10.1.2.3"},
            {"Forwarded": "for=10.1.2.3"},
        )
        for headers in forged_headers:
            with self.subTest(headers=headers):
                self.assert_rejected(
                    lambda: self.post("/api/generateOrder",
                                      json_body=self.order_fields(access_token=token["token"]),
                                      headers=headers),
                    403, "IpNotAllowed")

    def test_coin_outside_token_type(self):
        token = create_token(self.db_path, self.customer_id, "btc-only", [self.receiver.url],
                             token_type="BTC")
        _, data = self.create_order(access_token=token["token"])

        choose = self.post("/invoice/coin", form={"token": data["token"], "coin": "ETH"})
        self.assertEqual(choose.status, 422, "choosing ETH for a BTC token: %r" % choose)
        self.assert_rejected(lambda: self.post("/sandbox/pay", json_body={
            "token": data["token"], "coin": "ETH"}), 422, "UnsupportedInput", "coin")
        info = self.order_info(data["token"])
        self.assertFalse(info.get("coin"), "the order got a coin its token does not allow: %r"
                         % info)
        self.assertEqual(info["transactions"], [], "a rejected payment was recorded: %r" % info)

    # -- HTTP edge -----------------------------------------------------------

    def test_body_too_large(self):
        fields = self.order_fields(description="x" * (70 * 1024))
        size = len(json.dumps(fields))

        def send():
            try:
                return self.post("/api/generateOrder", json_body=fields)
            except (http.client.RemoteDisconnected, ConnectionResetError) as exc:
                self.fail("citypayd closed the connection without a response to a %d-byte "
                          "body (%s); expected HTTP 413" % (size, exc))

        self.assert_rejected(send, 413, "PayloadTooLarge")

    def test_json_malformed(self):
        fields = self.order_fields()
        body = json.dumps(fields)[:-1] + ', "amount": }'
        resp = self.assert_rejected(lambda: self.post("/api/generateOrder", json_body=body),
                                    (400, 422))
        self.assertIn("json", json.dumps(resp.body["message"]).lower(),
                      "message should say the JSON is invalid: %r" % resp)

    def test_content_type_unsupported(self):
        body = json.dumps(self.order_fields()).encode()
        self.assert_rejected(lambda: self.post("/api/generateOrder", raw=body,
                                               content_type="text/plain"),
                             415, "UnsupportedMediaType")

    def test_method_wrong(self):
        resp = self.assert_rejected(lambda: self.get("/api/generateOrder"), 405,
                                    "MethodNotAllowed")
        self.assertIn("POST", resp.header("allow") or "",
                      "405 response lacks an Allow header naming POST: %r" % resp.headers)

    def test_path_unknown(self):
        self.assert_rejected(lambda: self.get("/api/noSuchEndpoint"), 404, "PageNotFound")

    def test_order_unknown(self):
        self.assert_rejected(lambda: self.get("/order/no-such-order"), 404, "RecordNotFound")

    # -- idempotent retries --------------------------------------------------

    def test_replay_same_values(self):
        fields = self.order_fields(amount="12.50")
        first = self.post("/api/generateOrder", json_body=fields)
        self.assertIn(first.status, (200, 201), "first generateOrder: %r" % first)
        self.assert_request_id(first)
        self.assertIsNone(first.header("idempotent-replayed"),
                          "a new order is marked as replayed: %r" % first.headers)
        before = count_orders(self.db_path)

        replay = self.post("/api/generateOrder", json_body=fields)
        self.assertEqual(replay.status, 200, "replayed generateOrder: %r" % replay)
        self.assert_request_id(replay)
        self.assertEqual(replay.header("idempotent-replayed"), "true",
                         "Idempotent-Replayed header: %r" % replay.headers)
        self.assertEqual(replay.body["data"]["id"], first.body["data"]["id"],
                         "replay returned another order: %r" % replay)
        self.assertEqual(replay.body["data"]["token"], first.body["data"]["token"],
                         "replay returned another token: %r" % replay)
        self.assertEqual(count_orders(self.db_path), before, "replay created an order")

    def test_replay_concurrent(self):
        fields = self.order_fields(amount="3.00")
        before = count_orders(self.db_path)
        responses = [None] * 8

        def send(index):
            responses[index] = self.post("/api/generateOrder", json_body=fields)

        threads = [threading.Thread(target=send, args=(i,)) for i in range(len(responses))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=harness.HTTP_TIMEOUT_S + 5)

        for resp in responses:
            self.assertIsNotNone(resp, "a concurrent request got no response")
            self.assertIn(resp.status, (200, 201), "concurrent generateOrder: %r" % resp)
        ids = {resp.body["data"]["id"] for resp in responses}
        self.assertEqual(len(ids), 1, "concurrent retries created several orders: %r" % ids)
        created = [resp for resp in responses if resp.header("idempotent-replayed") != "true"]
        self.assertEqual(len(created), 1, "expected one new order and %d replays: %r"
                         % (len(responses) - 1, responses))
        self.assertEqual(count_orders(self.db_path), before + 1, "order count after the retries")

    def test_replay_form_after_json(self):
        fields = self.order_fields(amount="7")
        first = self.post("/api/generateOrder", json_body=fields)
        self.assertIn(first.status, (200, 201), "first generateOrder: %r" % first)

        replay = self.post("/api/generateOrder", form=dict(fields, amount="7.00"))
        self.assertEqual(replay.status, 200, "same order sent as a form: %r" % replay)
        self.assertEqual(replay.header("idempotent-replayed"), "true",
                         "Idempotent-Replayed header: %r" % replay.headers)
        self.assertEqual(replay.body["data"]["id"], first.body["data"]["id"],
                         "replay returned another order: %r" % replay)

    def test_replay_different_values(self):
        fields = self.order_fields(amount="12.50")
        first = self.post("/api/generateOrder", json_body=fields)
        self.assertIn(first.status, (200, 201), "first generateOrder: %r" % first)

        for change in ({"amount": "13.50"}, {"order_id": "another-order"}):
            with self.subTest(change=change):
                changed = dict(fields, **change)
                resp = self.assert_rejected(
                    lambda: self.post("/api/generateOrder", json_body=changed),
                    422, "UnsupportedInput")
                named = {"order_token"} | set(change)
                self.assertTrue(named & set(resp.body["message"]),
                                "message names none of %s: %r" % (sorted(named), resp))

        info = self.order_info(fields["order_token"])
        self.assertEqual(str(info["amountFiat"]), "12.50", "the original order changed: %r" % info)
        self.assertEqual(info["id"], first.body["data"]["id"], "the order id changed: %r" % info)

    def test_healthz_request_id(self):
        resp = self.get("/healthz")
        self.assertEqual(resp.status, 200, "GET /healthz: %r" % resp)
        self.assert_request_id(resp)


class AuthFailureLimit(harness.GatewayTestCase):

    def test_repeated_bad_tokens(self):
        """Many rejected tokens from one address end in 429 with Retry-After."""
        before = count_orders(self.db_path)
        statuses = []
        limited = None
        for _ in range(60):
            resp = self.post("/api/generateOrder",
                             json_body=self.order_fields(access_token="cp_test_guess"))
            statuses.append(resp.status)
            if resp.status == 429:
                limited = resp
                break

        self.assertIsNotNone(limited, "no 429 after %d rejected tokens: %r"
                             % (len(statuses), statuses))
        self.assertEqual(set(statuses[:-1]), {401}, "statuses before the limit: %r" % statuses)
        self.assertEqual(limited.body["error"]["reason"], "RateLimited", "429 body: %r" % limited)
        retry_after = limited.header("retry-after") or ""
        self.assertTrue(retry_after.isdigit() and int(retry_after) > 0,
                        "Retry-After is not a positive number of seconds: %r" % limited.headers)
        self.assertTrue(limited.header("x-request-id"), "no X-Request-Id: %r" % limited.headers)
        self.assertEqual(count_orders(self.db_path), before, "a rejected request created an order")


class TokenRateLimitSetting(harness.GatewayTestCase):
    """limits.token_per_minute set to 2 through its environment variable."""

    daemon_env = {"CITYPAY_LIMIT_TOKEN_PER_MINUTE": "2"}

    def test_third_request_limited(self):
        statuses = [self.post("/api/generateOrder", json_body=self.order_fields()).status
                    for _ in range(2)]
        limited = self.post("/api/generateOrder", json_body=self.order_fields())

        self.assertEqual(statuses, [201, 201], "requests within the limit: %r" % statuses)
        self.assertEqual(limited.status, 429, "third request in one minute: %r" % limited)
        self.assertEqual(limited.body["error"]["reason"], "RateLimited", "429 body: %r" % limited)
        self.assertTrue((limited.header("retry-after") or "").isdigit(),
                        "Retry-After is missing: %r" % limited.headers)


class NoRateLimitSetting(harness.GatewayTestCase):
    """Every limits.* setting at 0, which turns the limit off."""

    daemon_env = {
        "CITYPAY_LIMIT_TOKEN_PER_MINUTE": "0",
        "CITYPAY_LIMIT_TOKEN_PER_HOUR": "0",
        "CITYPAY_LIMIT_ORDERS_PER_HOUR": "0",
        "CITYPAY_LIMIT_PUBLIC_PER_MINUTE": "0",
        "CITYPAY_LIMIT_PUBLIC_PER_HOUR": "0",
    }

    def test_over_default_limits(self):
        # The default per-minute limits are 200 per token and per address.
        created = [self.post("/api/generateOrder", json_body=self.order_fields()).status
                   for _ in range(210)]
        public = [self.get("/static/page.css").status for _ in range(210)]

        self.assertEqual(set(created), {201}, "generateOrder statuses: %r" % sorted(set(created)))
        self.assertEqual(set(public), {200}, "GET /static/page.css statuses: %r" % sorted(set(public)))


if __name__ == "__main__":
    unittest.main()
