"""End-to-end tests of the order API for the merchant's own UI (/orders/api).

A merchant logs in with an access token, receives a bearer JWT and with it
lists its orders, reads one order with the coins on offer, chooses a coin
and refreshes the quote. The tests also check what must be rejected: a
login from outside the token's whitelist, another merchant's JWT, a JWT
whose access token was revoked and an unsigned JWT.
"""

import base64
import json
import os
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import run_cli  # noqa: E402

JWT_LIFETIME_S = 900


def b64url_decode(segment):
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def b64url_encode(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class OrderApi(harness.GatewayTestCase):

    def login(self, access_token, customer_id=None, field="token"):
        body = {field: access_token}
        if customer_id is not None:
            body["customer_id"] = str(customer_id)
        return self.post("/orders/api/login", json_body=body)

    def login_jwt(self, access_token=None, customer_id=None):
        resp = self.login(access_token or self.token, customer_id)
        self.assertEqual(resp.status, 200, "POST /orders/api/login: %r" % resp)
        return resp.body["data"]["token"]

    def bearer(self, jwt):
        return {"Authorization": "Bearer " + jwt}

    def order_path(self, order_token, suffix=""):
        return "/orders/api/" + urllib.parse.quote(str(order_token), safe="") + suffix

    def add_merchant_token(self, company, email, name):
        """Create a merchant with a sandbox token; return (customer id, access token)."""
        merchant = run_cli(self.db_path, "merchant", "add", "--company", company,
                           "--email", email)
        token = harness.create_token(self.db_path, merchant["customer_id"], name,
                                     [self.receiver.url])
        return merchant["customer_id"], token["token"]

    def test_login_returns_jwt(self):
        resp = self.login(self.token, self.customer_id)
        self.assertEqual(resp.status, 200, "login: %r" % resp)
        data = resp.body["data"]
        self.assertEqual(data["token_type"], "Bearer", "token_type: %r" % data)
        self.assertEqual(data["expires_in"], JWT_LIFETIME_S, "expires_in: %r" % data)

        segments = data["token"].split(".")
        self.assertEqual(len(segments), 3, "JWT segments: %r" % data["token"])
        header = json.loads(b64url_decode(segments[0]))
        self.assertEqual(header["alg"], "HS256", "JWT header: %r" % header)
        payload_text = b64url_decode(segments[1]).decode()
        payload = json.loads(payload_text)
        self.assertNotIn(self.token, data["token"], "the JWT contains the access token")
        self.assertNotIn(self.token[-12:], payload_text, "the payload contains token text")
        self.assertEqual(payload["sub"], str(self.customer_id), "sub: %r" % payload)
        self.assertLessEqual(payload["exp"] - payload["iat"], JWT_LIFETIME_S,
                             "lifetime: %r" % payload)
        self.assertTrue(payload["jti"], "jti missing: %r" % payload)

    def test_login_without_customer_id(self):
        resp = self.login(self.token, field="access_token")
        self.assertEqual(resp.status, 200, "login with access_token only: %r" % resp)
        self.assertEqual(len(resp.body["data"]["token"].split(".")), 3, "%r" % resp)

    def test_login_rejections(self):
        resp = self.login("cp_test_notavalidtoken")
        self.assertEqual(resp.status, 401, "malformed token: %r" % resp)
        self.assertEqual(resp.body["error"]["reason"], "BadCredentials", "%r" % resp)

        resp = self.login(self.token, int(self.customer_id) + 1000)
        self.assertEqual(resp.status, 401, "another customer_id: %r" % resp)

        resp = self.post("/orders/api/login", json_body={"customer_id": str(self.customer_id)})
        self.assertEqual(resp.status, 401, "missing token: %r" % resp)

    def test_login_outside_whitelist(self):
        token = harness.create_token(self.db_path, self.customer_id, "elsewhere",
                                     [self.receiver.url], ip_ranges=("192.0.2.0/24",))
        resp = self.login(token["token"], self.customer_id)
        self.assertEqual(resp.status, 403, "login outside the whitelist: %r" % resp)
        self.assertEqual(resp.body["error"]["reason"], "IpNotAllowed", "%r" % resp)
        self.assertNotIn("token", resp.body.get("data") or {}, "%r" % resp)

    def test_list_orders_paging(self):
        created = [self.create_order()[1]["token"] for _ in range(3)]
        jwt = self.login_jwt()

        resp = self.get("/orders/api?page=1&limit=2", headers=self.bearer(jwt))
        self.assertEqual(resp.status, 200, "list page 1: %r" % resp)
        meta = resp.body["data"]["meta"]
        total = meta["totalCount"]
        self.assertGreaterEqual(total, 3, "meta: %r" % meta)
        self.assertEqual(len(resp.body["data"]["items"]), 2, "items: %r" % resp)
        self.assertEqual(meta["pagesCount"], (total + 1) // 2, "meta: %r" % meta)
        self.assertEqual(meta["currentPage"], 1, "meta: %r" % meta)
        self.assertEqual(meta["nextPage"], 2, "meta: %r" % meta)
        first_page = [item["token"] for item in resp.body["data"]["items"]]
        self.assertEqual(first_page, [created[2], created[1]], "newest first: %r" % first_page)
        self.assertIn("status", resp.body["data"]["items"][0], "item: %r" % resp)

        last = meta["pagesCount"]
        resp = self.get("/orders/api?page=%d&limit=2" % last, headers={"bearer_token": jwt})
        self.assertEqual(resp.status, 200, "last page: %r" % resp)
        self.assertIsNone(resp.body["data"]["meta"]["nextPage"], "last page: %r" % resp)

        resp = self.get("/orders/api?limit=101", headers=self.bearer(jwt))
        self.assertEqual(resp.status, 422, "limit 101: %r" % resp)
        self.assertIn("limit", resp.body["message"], "%r" % resp)
        resp = self.get("/orders/api?page=0", headers=self.bearer(jwt))
        self.assertEqual(resp.status, 422, "page 0: %r" % resp)

    def test_order_coins_choose_and_rates(self):
        _, order = self.create_order()
        jwt = self.login_jwt()

        resp = self.get(self.order_path(order["token"]), headers=self.bearer(jwt))
        self.assertEqual(resp.status, 200, "get order: %r" % resp)
        data = resp.body["data"]
        self.assertEqual(data["token"], order["token"], "%r" % data)
        self.assertIn("BTC", data["coins"], "coins: %r" % data)

        resp = self.get(self.order_path(order["token"], "/rates"), headers=self.bearer(jwt))
        self.assertEqual(resp.status, 422, "rates before a coin is chosen: %r" % resp)

        resp = self.post(self.order_path(order["token"]), headers=self.bearer(jwt),
                         json_body={"coin": "NOPE"})
        self.assertEqual(resp.status, 422, "invalid coin: %r" % resp)
        self.assertIn("coin", resp.body["message"], "%r" % resp)

        resp = self.post(self.order_path(order["token"]), headers=self.bearer(jwt),
                         json_body={"coin": "BTC"})
        self.assertEqual(resp.status, 200, "choose BTC: %r" % resp)
        chosen = resp.body["data"]
        self.assertEqual(chosen["coin"], "BTC", "%r" % chosen)
        self.assertTrue(chosen["address"], "address missing: %r" % chosen)
        self.assertGreater(chosen["amount"], 0, "amount: %r" % chosen)

        resp = self.get(self.order_path(order["token"], "/rates"), headers=self.bearer(jwt))
        self.assertEqual(resp.status, 200, "refresh the quote: %r" % resp)
        self.assertEqual(resp.body["data"]["coin"], "BTC", "%r" % resp)
        self.assertEqual(resp.body["data"]["address"], chosen["address"], "%r" % resp)

        self.sandbox_pay_http(order["token"])
        resp = self.get(self.order_path(order["token"], "/rates"), headers=self.bearer(jwt))
        self.assertEqual(resp.status, 422, "refresh after a payment: %r" % resp)

    def test_other_merchant_order_not_found(self):
        _, order = self.create_order()
        other_id, other_token = self.add_merchant_token("Other Shop", "other@example.com",
                                                        "other")
        other_jwt = self.login_jwt(other_token, other_id)

        foreign = self.get(self.order_path(order["token"]), headers=self.bearer(other_jwt))
        missing = self.get(self.order_path("no-such-order-1"), headers=self.bearer(other_jwt))
        self.assertEqual(foreign.status, 404, "another merchant's order: %r" % foreign)
        self.assertEqual(missing.status, 404, "missing order: %r" % missing)
        self.assertEqual(foreign.body["message"], missing.body["message"],
                         "messages differ: %r vs %r" % (foreign, missing))
        self.assertEqual(foreign.body["error"]["reason"], "RecordNotFound", "%r" % foreign)

        chosen = self.post(self.order_path(order["token"]), headers=self.bearer(other_jwt),
                           json_body={"coin": "BTC"})
        self.assertEqual(chosen.status, 404, "choose on another merchant's order: %r" % chosen)

        listed = self.get("/orders/api", headers=self.bearer(other_jwt))
        self.assertEqual(listed.status, 200, "%r" % listed)
        self.assertEqual(listed.body["data"]["meta"]["totalCount"], 0, "%r" % listed)

    def test_revoked_token_ends_jwt(self):
        token = harness.create_token(self.db_path, self.customer_id, "ui-revoke",
                                     [self.receiver.url])
        jwt = self.login_jwt(token["token"], self.customer_id)
        resp = self.get("/orders/api", headers=self.bearer(jwt))
        self.assertEqual(resp.status, 200, "before revoking: %r" % resp)

        run_cli(self.db_path, "token", "revoke", "--customer", self.customer_id,
                "--name", "ui-revoke")
        resp = self.get("/orders/api", headers=self.bearer(jwt))
        self.assertEqual(resp.status, 401, "after revoking: %r" % resp)
        self.assertEqual(resp.body["error"]["reason"], "BadCredentials", "%r" % resp)
        self.assertIn("revoked", resp.body["message"]["bearer_token"], "%r" % resp)

    def test_bad_jwts_rejected(self):
        jwt = self.login_jwt()
        header, payload, _ = jwt.split(".")
        unsigned = b64url_encode(b'{"alg":"none","typ":"JWT"}') + "." + payload + "."
        claims = json.loads(b64url_decode(payload))
        claims["sub"] = str(int(claims["sub"]) + 1)
        tampered = header + "." + b64url_encode(json.dumps(claims).encode()) + "." + jwt.split(".")[2]
        expired_claims = dict(json.loads(b64url_decode(payload)), iat=int(time.time()) - 2000,
                              exp=int(time.time()) - 1100)
        expired = (header + "." + b64url_encode(json.dumps(expired_claims).encode()) + "."
                   + jwt.split(".")[2])

        cases = {
            "missing": {},
            "alg none": self.bearer(unsigned),
            "tampered payload": self.bearer(tampered),
            "forged expired": self.bearer(expired),
            "garbage": self.bearer("not.a.jwt"),
            "access token as bearer": self.bearer(self.token),
        }
        for name, headers in cases.items():
            resp = self.get("/orders/api", headers=headers)
            self.assertEqual(resp.status, 401, "%s: %r" % (name, resp))
            self.assertEqual(resp.body["error"]["reason"], "BadCredentials",
                             "%s: %r" % (name, resp))
            self.assertTrue(resp.body["message"].get("bearer_token"), "%s: %r" % (name, resp))


if __name__ == "__main__":
    unittest.main()
