"""The access token and the callback signing secret never reach disk or logs.

The store may keep only a keyed digest of the token and a sealed signing
secret, so neither text, nor its random part without the prefix, may appear
in the database, its WAL and shared-memory files, or the daemon's log.
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from harness import REQUIRED_CONFIRMATIONS, create_token, for_order  # noqa: E402

DB_SUFFIXES = ("", "-wal", "-shm", "-journal", ".token-version")


class Secrets(harness.GatewayTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # A second token created while the daemon runs, used only by header.
        cls.second = create_token(cls.db_path, cls.customer_id, "second", [cls.receiver.url])
        cls.exercised = False

    def setUp(self):
        # Run the traffic once, before the first check, inside a test so that
        # its assertions report like any other failure.
        if not type(self).exercised:
            type(self).exercised = True
            self.exercise_api()

    def exercise_api(self):
        """Use both tokens in every way the API takes them and get a signed callback."""
        fields, data = self.create_order()
        self.post("/api/generateOrder", form=self.order_fields())
        self.post("/api/generateOrder", multipart=self.order_fields())
        self.post("/api/generateOrder", json_body=self.order_fields(customer_id="999999"))
        self.post("/api/generateOrder", json_body=self.order_fields(order_id=None))
        self.post("/api/generateOrder", json_body=self.order_fields(access_token=None),
                  headers={"Authorization": "Bearer " + self.second["token"]})
        self.post("/api/generateOrder", json_body=self.order_fields(access_token=self.token + "x"))
        self.post("/api/generateDeposit", json_body={
            "customer_id": self.customer_id, "access_token": self.token,
            "deposit_id": "user-1", "deposit_token": "user-1"})

        self.sandbox_pay_http(data["token"], coin="BTC")
        self.mine(REQUIRED_CONFIRMATIONS["BTC"])
        callback = self.wait_callback(for_order(data["token"], status="CONFIRMED"),
                                      "CONFIRMED callback of order %s" % data["token"])
        self.assert_signed(callback)

    def secret_texts(self):
        """Each secret and its random part without the prefix, with a label for messages."""
        texts = {}
        for label, info in (("first token", self.token_info), ("second token", self.second)):
            token = info["token"]
            secret = info["signing_secret"]
            self.assertTrue(token.startswith("cp_test_"), "sandbox token prefix: %r" % token[:8])
            self.assertTrue(secret.startswith("whsec_"), "signing secret prefix: %r" % secret[:6])
            texts[label + " text"] = token
            texts[label + " random part"] = token[len("cp_test_"):]
            texts[label + " signing secret"] = secret
            texts[label + " signing secret random part"] = secret[len("whsec_"):]
        return texts

    def assert_files_clean(self):
        contents = {}
        for suffix in DB_SUFFIXES:
            path = self.db_path + suffix
            if os.path.exists(path):
                with open(path, "rb") as f:
                    contents[path] = f.read()
        self.assertTrue(contents, "no database file found at %s" % self.db_path)

        # The merchant's company name is stored in plain text, so finding it
        # shows that these are the files the daemon writes.
        self.assertTrue(any(b"Example Shop" in content for content in contents.values()),
                        "the company name is in none of %s" % sorted(contents))
        for path, content in contents.items():
            for label, text in self.secret_texts().items():
                self.assertNotIn(text.encode(), content, "%s found in %s" % (label, path))

    def test_database_files_running(self):
        self.assert_files_clean()

    def test_daemon_log(self):
        log = self.daemon.log_text()
        self.assertTrue(log, "the daemon logged nothing")
        for label, text in self.secret_texts().items():
            self.assertNotIn(text, log, "%s found in the daemon log" % label)

    def test_database_files_stopped(self):
        # Stopping checkpoints the WAL into the main file, which is then checked too.
        returncode = self.daemon.stop()
        try:
            self.assertEqual(returncode, 0, "citypayd exited with %s on SIGTERM" % returncode)
            self.assert_files_clean()
        finally:
            self.daemon.start()

    def test_token_list_hides_secrets(self):
        listed = harness.run_cli(self.db_path, "token", "list", "--customer", self.customer_id)
        text = str(listed)
        for label, secret in self.secret_texts().items():
            self.assertNotIn(secret, text, "%s found in token list output" % label)
        for token in listed["tokens"]:
            self.assertNotIn("token", token, "token list shows a token field: %r" % token)
            self.assertNotIn("signing_secret", token, "token list shows the secret: %r" % token)


if __name__ == "__main__":
    unittest.main()
