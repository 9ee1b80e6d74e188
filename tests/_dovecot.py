"""A real IMAP server for the tests: Dovecot on loopback with a throwaway configuration —
a passwd-file user, a maildir in a fresh folder, TLS with a trustme certificate on an
implicit-TLS port and a STARTTLS port. Messages are put in with IMAP APPEND, as a mail
server delivers them."""

from __future__ import annotations

import hashlib
import imaplib
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

USER, PASSWORD = "clerk@bureau.cn", "授权码-secret"

CONFIG = """base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{root}/server.pem
ssl_key = <{root}/server.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{root}/mail/%u
default_internal_user = dovecot
default_login_user = dovenull
first_valid_uid = 1
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid=dovecot gid=dovecot home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {starttls}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {implicit}
    ssl = yes
  }}
  chroot =
}}
service anvil {{
  chroot =
}}
"""


def dovecot_binary() -> str | None:
    return shutil.which("dovecot") or next((p for p in ("/usr/sbin/dovecot",) if Path(p).exists()), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Dovecot:
    def __init__(self, certificates):
        ca, server_pem = certificates
        # not under pytest's tmp_path: its folders are private to root, and Dovecot's mail
        # processes run as the dovecot user
        self.root = Path(tempfile.mkdtemp(prefix="qz-dovecot-"))
        self.root.chmod(0o755)
        shutil.copy(server_pem, self.root / "server.pem")
        self.ca = ca
        self.implicit, self.starttls = _free_port(), _free_port()
        (self.root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}:::::\n", encoding="utf-8")
        (self.root / "mail").mkdir()
        (self.root / "state").mkdir()
        shutil.chown(self.root / "mail", "dovecot", "dovecot")
        self.config = self.root / "dovecot.conf"
        self.config.write_text(
            CONFIG.format(root=self.root, implicit=self.implicit, starttls=self.starttls), encoding="utf-8"
        )
        # the daemon keeps whatever it inherits open: no pipes, or run() would wait for it
        subprocess.run(
            [dovecot_binary(), "-c", str(self.config)],
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=30,
        )
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.implicit), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)

    def stop(self) -> None:
        subprocess.run(
            [dovecot_binary(), "-c", str(self.config), "stop"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=30,
        )
        shutil.rmtree(self.root, ignore_errors=True)

    def client(self) -> imaplib.IMAP4_SSL:
        context = ssl.create_default_context(cafile=str(self.ca))
        client = imaplib.IMAP4_SSL("127.0.0.1", self.implicit, ssl_context=context)
        client.authenticate("PLAIN", lambda _: f"\0{USER}\0{PASSWORD}".encode())  # a Chinese 授权码
        return client

    def append(self, raw: bytes, folder: str = "INBOX", when: float | None = None) -> None:
        client = self.client()
        try:
            if folder != "INBOX":
                client.create(folder)
            typ, data = client.append(folder, None, imaplib.Time2Internaldate(when or time.time()), raw)
            assert typ == "OK", data
        finally:
            client.logout()

    def clear(self) -> None:
        client = self.client()
        try:
            _, count = client.select("INBOX")
            if int(count[0]):
                client.store("1:*", "+FLAGS", "\\Deleted")
                client.expunge()
        finally:
            client.logout()

    def snapshot(self) -> dict[str, str]:
        """Every message file of the mailbox (its name carries its flags) and a digest of
        its bytes, and every message's flags as the server reports them."""
        files = {}
        for path in sorted((self.root / "mail").rglob("*")):
            if path.is_file() and path.parent.name in ("cur", "new", "tmp"):
                files[str(path.relative_to(self.root))] = hashlib.sha256(path.read_bytes()).hexdigest()
        client = self.client()
        try:
            client.select("INBOX", readonly=True)
            _, data = client.fetch("1:*", "(FLAGS)")
            files["flags"] = repr(sorted(str(d) for d in data if d))
        finally:
            client.logout()
        return files

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


def must_run_in_ci() -> bool:
    return bool(os.environ.get("CI"))
