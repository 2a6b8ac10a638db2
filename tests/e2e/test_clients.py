"""Replay the request shapes of four real CityPay integrations against citypayd.

Each test sends the body exactly as that client encodes it and checks the
response the way that client checks it. It then opens the payment page, pays
on the sandbox chain, waits for the signed CONFIRMED callback and reads the
order status the way the client does.
"""

import os
import sys
import time
import unittest
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import REQUIRED_CONFIRMATIONS, for_order  # noqa: E402


class ClientShapes(harness.GatewayTestCase):

    def open_payment_page(self, payment_url, order_token):
        """Open payment_url as a buyer's browser does and check that it is the order's invoice."""
        parts = urllib.parse.urlsplit(payment_url)
        self.assertEqual(parts.hostname, harness.LOOPBACK,
                         "payment_url %r does not point at the daemon" % payment_url)
        self.assertEqual(parts.port, self.daemon.port,
                         "payment_url %r does not use the daemon's port %d"
                         % (payment_url, self.daemon.port))
        self.assertEqual(parts.path, "/invoice", "payment_url path: %r" % payment_url)
        query = urllib.parse.parse_qs(parts.query)
        self.assertEqual(query.get("token"), [str(order_token)],
                         "payment_url token parameter: %r" % payment_url)

        page = harness.http_request(payment_url)
        self.assertEqual(page.status, 200, "GET %s: %r" % (payment_url, page))
        self.assertIn("text/html", page.header("content-type") or "",
                      "payment page content type: %r" % page.headers)
        self.assertIn("<html", page.text.lower(), "payment page is not HTML: %r" % page)

    def assert_message_equals_data(self, body):
        self.assertIsInstance(body.get("message"), dict, "message is not an object: %r" % body)
        self.assertEqual(body["message"], body["data"], "message differs from data: %r" % body)

    def wait_confirmed_callback(self, order_token, client_order_id):
        """Wait for the signed CONFIRMED callback of the order and check its ids."""
        callback = self.wait_callback(for_order(order_token, status="CONFIRMED"),
                                      "CONFIRMED callback of order %s" % order_token)
        self.assert_signed(callback)
        self.assertEqual(str(callback.get("client_order_id")), str(client_order_id),
                         "client_order_id in callback: %r" % callback)
        self.assertEqual(str(callback.get("order_token")), str(order_token),
                         "order_token in callback: %r" % callback)
        self.assertEqual(callback.get("type"), "order", "callback type: %r" % callback)
        return callback

    def test_wordpress_form_urlencoded(self):
        """Client A: form-urlencoded body, checks success, data.payment_url and data.token."""
        body = ("order_id=1057&order_token=1057482913&amount=49.90&customer_id=%s&access_token=%s"
                % (self.customer_id, urllib.parse.quote(self.token, safe="")))
        resp = self.post("/api/generateOrder", form=body)

        self.assertIn(resp.status, (200, 201), "generateOrder: %r" % resp)
        self.assertIsInstance(resp.body, dict, "generateOrder returned no JSON: %r" % resp)
        self.assertIs(resp.body.get("success"), True, "success: %r" % resp)
        data = resp.body.get("data")
        self.assertIsInstance(data, dict, "data: %r" % resp)
        self.assertTrue(data.get("payment_url"), "data.payment_url missing: %r" % resp)
        self.assertTrue(data.get("token"), "data.token missing: %r" % resp)
        self.assert_message_equals_data(resp.body)
        stored_token = data["token"]
        self.assertEqual(stored_token, "1057482913", "data.token should equal order_token: %r" % resp)

        self.open_payment_page(data["payment_url"], stored_token)

        paid = self.sandbox_pay_cli(stored_token)
        coin = paid["coin"]
        self.assertEqual(coin, "BTC", "sandbox pay should default to BTC for a crypto token: %r" % paid)
        self.mine(REQUIRED_CONFIRMATIONS[coin])

        self.wait_confirmed_callback(stored_token, "1057")
        info = self.order_info(stored_token)
        self.assertEqual(info["status"]["code"], "CONFIRMED", "GET /order data: %r" % info)
        self.assertEqual(str(info["amountFiat"]), "49.90", "amountFiat of 49.90: %r" % info)
        self.assertEqual(info["urls"].get("successUrl"), harness.DEFAULT_SUCCESS_URL,
                         "urls.successUrl of the token: %r" % info)
        self.assertEqual(info["urls"].get("cancelUrl"), harness.DEFAULT_CANCEL_URL,
                         "urls.cancelUrl of the token: %r" % info)

    def test_php_curl_multipart(self):
        """Client B: multipart body with string values; polls GET /order/{order_token}."""
        order_token = "%d-111" % int(time.time())
        fields = {
            "customer_id": str(self.customer_id),
            "access_token": self.token,
            "order_id": "111",
            "order_token": order_token,
            "amount": "100",
        }
        resp = self.post("/api/generateOrder", multipart=fields)

        self.assertIn(resp.status, (200, 201), "generateOrder: %r" % resp)
        self.assertIsInstance(resp.body, dict, "generateOrder returned no JSON: %r" % resp)
        self.assertIs(resp.body.get("success"), True, "success: %r" % resp)
        self.assertTrue(resp.body["data"].get("payment_url"), "data.payment_url: %r" % resp)
        self.assertEqual(resp.body["data"].get("token"), order_token, "data.token: %r" % resp)
        self.assert_message_equals_data(resp.body)

        self.open_payment_page(resp.body["data"]["payment_url"], order_token)

        paid = self.sandbox_pay_http(order_token, coin="BTC")
        self.assertEqual(paid["coin"], "BTC", "POST /sandbox/pay: %r" % paid)
        self.mine(REQUIRED_CONFIRMATIONS["BTC"])

        info = self.wait_order_status(order_token, "CONFIRMED")
        self.assertEqual(str(info["amountFiat"]), "100.00", "amountFiat of 100: %r" % info)
        self.wait_confirmed_callback(order_token, "111")

    def test_laravel_json_integer_ids(self):
        """Client C: JSON with integer order_id and order_token; reads status and transaction_id."""
        number = int(time.time()) * 1000 + int(uuid.uuid4().int % 1000)
        body = {
            "customer_id": str(self.customer_id),
            "access_token": self.token,
            "order_id": number,
            "order_token": number,
            "amount": "25.00",
        }
        resp = self.post("/api/generateOrder", json_body=body)

        self.assertTrue(200 <= resp.status < 300, "generateOrder: %r" % resp)
        self.assertIsInstance(resp.body, dict, "generateOrder returned no JSON: %r" % resp)
        self.assertIs(resp.body.get("success"), True, "success: %r" % resp)
        self.assert_message_equals_data(resp.body)
        data = resp.body["data"]
        self.assertEqual(str(data.get("token")), str(number), "data.token: %r" % resp)

        self.open_payment_page(data["payment_url"], number)

        chosen = self.choose_coin(str(number), "ETH")
        self.assertEqual(chosen.get("coin"), "ETH", "order after choosing ETH: %r" % chosen)
        paid = self.sandbox_pay_http(str(number))
        self.assertEqual(paid["coin"], "ETH",
                         "sandbox pay should use the chosen coin: %r" % paid)
        self.mine(REQUIRED_CONFIRMATIONS["ETH"])

        self.wait_confirmed_callback(number, number)
        received = self.wait_callback(for_order(number, action="transaction_received"),
                                      "transaction_received callback of order %s" % number)
        self.assertTrue(received.get("transaction_id"),
                        "transaction_received callback has no transaction_id: %r" % received)
        for callback in self.receiver.callbacks(for_order(number)):
            self.assertIn(callback.get("status"), harness.ORDER_STATUSES,
                          "callback status is not an order status: %r" % callback)
        info = self.order_info(number)
        self.assertEqual(info["status"]["code"], "CONFIRMED", "GET /order data: %r" % info)
        self.assertEqual(str(info["amountFiat"]), "25.00", "amountFiat of 25.00: %r" % info)

    def test_dotnet_json_decimal_number(self):
        """Client D: JSON number amount 25.5 and a GUID order_token; reads message, then data."""
        guid = uuid.uuid4().hex
        body = ('{"customer_id": %s, "access_token": "%s", "order_id": "%s", '
                '"order_token": "%s", "amount": 25.5}' % (self.customer_id, self.token, guid, guid))
        resp = self.post("/api/generateOrder", json_body=body)

        self.assertIn(resp.status, (200, 201), "generateOrder: %r" % resp)
        self.assertIsInstance(resp.body, dict, "generateOrder returned no JSON: %r" % resp)
        payload = resp.body.get("message")
        if not isinstance(payload, dict):
            payload = resp.body.get("data")
        self.assertIsInstance(payload, dict, "neither message nor data is an object: %r" % resp)
        self.assertTrue(payload.get("payment_url"), "payment_url: %r" % resp)
        self.assertEqual(payload.get("token"), guid, "token: %r" % resp)
        self.assertIsInstance(payload.get("id"), int, "id is not a JSON integer: %r" % resp)
        self.assertNotIsInstance(payload.get("id"), bool, "id is a boolean: %r" % resp)
        self.assert_message_equals_data(resp.body)

        self.open_payment_page(payload["payment_url"], guid)

        paid = self.sandbox_pay_cli(guid, coin="LTC")
        self.assertEqual(paid["coin"], "LTC", "sandbox pay --coin LTC: %r" % paid)
        self.mine(REQUIRED_CONFIRMATIONS["LTC"])

        self.wait_confirmed_callback(guid, guid)
        info = self.order_info(guid)
        self.assertIn(str(info["status"]["code"]).upper(), ("CONFIRMED", "OVERPAID"),
                      "GET /order data: %r" % info)
        self.assertEqual(str(info["amountFiat"]), "25.50", "amountFiat of 25.5: %r" % info)
        self.assertEqual(info.get("id"), payload["id"], "GET /order id: %r" % info)

    def test_order_info_fields(self):
        """GET /order/{token} has every documented field and no buyer e-mail or callback URL."""
        _, data = self.create_order(amount="12.34", email="buyer@example.com",
                                    description="Two mugs")
        token = data["token"]
        self.choose_coin(token, "BTC")
        paid = self.sandbox_pay_http(token)
        info = self.order_info(token)

        for field in ("companyName", "id", "customerId", "token", "coin", "coinBaseName",
                      "exchangeRate", "amountFiat", "amount", "currency", "createdAt",
                      "createdAtMiliseconds", "type", "expiresAt", "expirationTime", "address",
                      "qrCode", "status", "urls", "transactions"):
            self.assertIn(field, info, "GET /order data lacks %s: %r" % (field, info))
        self.assertEqual(info["companyName"], "Example Shop", "companyName: %r" % info)
        self.assertEqual(info["customerId"], self.customer_id, "customerId: %r" % info)
        self.assertEqual(info["type"], "Order", "type: %r" % info)
        self.assertEqual(info["currency"].get("abbreviation"), "USD", "currency: %r" % info)
        self.assertEqual(str(info["amountFiat"]), "12.34", "amountFiat: %r" % info)
        self.assertRegex(info["createdAt"], r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$",
                         "createdAt is not YYYY-MM-DD HH:MM: %r" % info)
        self.assertEqual(info["expiresAt"] - info["createdAtMiliseconds"], 60 * 60 * 1000,
                         "default expiry is not 60 minutes after creation: %r" % info)
        self.assertTrue(0 < info["expirationTime"] <= 60 * 60 * 1000,
                        "expirationTime is not the milliseconds left: %r" % info)
        self.assertEqual(set(info["status"]), {"code", "label"}, "status: %r" % info)

        self.assertEqual(len(info["transactions"]), 1, "transactions: %r" % info)
        transaction = info["transactions"][0]
        for field in ("id", "hash", "amount", "amountFiat", "confirmations", "createdAt",
                      "createdAtMiliseconds"):
            self.assertIn(field, transaction, "transaction lacks %s: %r" % (field, info))
        self.assertEqual(transaction["hash"], paid["hash"], "transaction hash: %r" % info)
        for field in ("base", "total", "underPaid", "overPaid"):
            self.assertIn(field, transaction["amountFiat"],
                          "transaction amountFiat lacks %s: %r" % (field, info))

        self.assertNotIn("email", info, "the public order view shows the buyer's e-mail")
        self.assertNotIn("buyer@example.com", self.get("/order/" + token).text,
                         "the public order view shows the buyer's e-mail")
        self.assertNotIn(self.receiver.url, self.get("/order/" + token).text,
                         "the public order view shows the callback URL")

    def test_bearer_header_token(self):
        """The access token is accepted in an Authorization: Bearer header instead of the body."""
        fields = self.order_fields()
        del fields["access_token"]
        resp = self.post("/api/generateOrder", json_body=fields,
                         headers={"Authorization": "Bearer " + self.token})

        self.assertIn(resp.status, (200, 201), "generateOrder with a bearer token: %r" % resp)
        self.assertIs(resp.body.get("success"), True, "success: %r" % resp)
        self.assertEqual(resp.body["data"].get("token"), fields["order_token"], "data.token: %r" % resp)


if __name__ == "__main__":
    unittest.main()
