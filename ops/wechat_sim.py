"""Chat with the running bot through the WeChat path, from the terminal (``make wechat-sim``).

:class:`WeChatPeer` plays WeChat's side with wechatpy: it builds message XML, signs it with the
token, encrypts it in safe mode, posts it to the channel, and decrypts and parses the reply. The
tests and ``bench/wechat_latency.py`` use it too. In local mode (no AppID/secret on the server) the
customer-service messages the bot sends later (slow or long answers) are read from the channel's
development outbox and shown as well.

Usage: ``python -m ops.wechat_sim [--url URL] [--token T] [--aes-key K --appid A]``; type a
question, a digit to pick a numbered option, or a command (``:help``).
"""

from __future__ import annotations

import argparse
import time
import uuid
from dataclasses import dataclass
from typing import Dict, List

import requests
import xmltodict
from wechatpy.crypto import WeChatCrypto
from wechatpy.utils import WeChatSigner

from bot.channels.wechat_settings import DEV_TOKEN
from ops.settings import setting

DEFAULT_URL = "http://localhost:5005/webhooks/wechat/webhook"
ACCOUNT = "gh_renshe_sim"


def build_xml(fields: Dict[str, object]) -> str:
    """A WeChat message as XML (escaped by xmltodict; equivalent to WeChat's CDATA form)."""
    return xmltodict.unparse({"xml": {k: str(v) for k, v in fields.items()}}, full_document=False)


def _base(openid: str, msg_type: str, account: str = ACCOUNT) -> Dict[str, object]:
    return {"ToUserName": account, "FromUserName": openid, "CreateTime": int(time.time()),
            "MsgType": msg_type}


def new_msg_id() -> int:
    return uuid.uuid4().int % 10**18


def text_message(openid: str, content: str, msg_id: int | None = None) -> str:
    return build_xml({**_base(openid, "text"), "Content": content, "MsgId": msg_id or new_msg_id()})


def voice_message(openid: str, recognition: str = "", msg_id: int | None = None) -> str:
    fields = {**_base(openid, "voice"), "MediaId": "sim-media", "Format": "amr",
              "MsgId": msg_id or new_msg_id()}
    if recognition:
        fields["Recognition"] = recognition
    return build_xml(fields)


def event_message(openid: str, event: str, key: str = "") -> str:
    fields = {**_base(openid, "event"), "Event": event}
    if key:
        fields["EventKey"] = key
    return build_xml(fields)


def location_message(openid: str, label: str, x: float = 22.543, y: float = 114.058) -> str:
    return build_xml({**_base(openid, "location"), "Location_X": x, "Location_Y": y, "Scale": 15,
                      "Label": label, "MsgId": new_msg_id()})


def image_message(openid: str) -> str:
    return build_xml({**_base(openid, "image"), "PicUrl": "http://example.invalid/p.jpg",
                      "MediaId": "sim-media",
                      "MsgId": new_msg_id()})


@dataclass
class PeerReply:
    """The channel's answer as WeChat sees it."""

    status: int
    body: str
    elapsed: float
    kind: str  # "success", "text", "transfer_customer_service", "empty" or "error"
    content: str = ""
    xml: str = ""


class WeChatPeer:
    """WeChat's side of the webhook: signing, encryption, posting, opening replies."""

    def __init__(self, url: str, token: str = DEV_TOKEN, aes_key: str = "", appid: str = "",
                 session: requests.Session | None = None, timeout: float = 30.0) -> None:
        self.url = url
        self.token = token
        self.crypto = WeChatCrypto(token, aes_key, appid) if aes_key else None
        self.session = session or requests.Session()
        self.timeout = timeout

    def sign(self, *parts: str) -> str:
        signer = WeChatSigner()
        signer.add_data(self.token, *parts)
        return signer.signature

    def signed_query(self, timestamp: str | None = None, nonce: str | None = None) -> Dict[str, str]:
        timestamp = timestamp or str(int(time.time()))
        nonce = nonce or uuid.uuid4().hex[:10]
        return {"signature": self.sign(timestamp, nonce), "timestamp": timestamp, "nonce": nonce}

    def verify_server(self, echo: str, **overrides: str) -> requests.Response:
        """WeChat's GET handshake; ``overrides`` replace query values (to test refusals)."""
        params = {**self.signed_query(), "echostr": echo, **overrides}
        return self.session.get(self.url, params=params, timeout=self.timeout)

    def envelope(self, xml: str, timestamp: str, nonce: str) -> tuple[str, Dict[str, str]]:
        """The body and the extra query WeChat sends for ``xml`` (encrypted in safe mode)."""
        if self.crypto is None:
            return xml, {}
        sealed = xmltodict.parse(self.crypto.encrypt_message(xml, nonce, timestamp))["xml"]
        account = xmltodict.parse(xml)["xml"].get("ToUserName", ACCOUNT)
        body = build_xml({"ToUserName": account, "Encrypt": sealed["Encrypt"]})
        return body, {"encrypt_type": "aes", "msg_signature": sealed["MsgSignature"]}

    def post(self, xml: str, timestamp: str | None = None, nonce: str | None = None,
             signature: str | None = None, raw_body: bytes | None = None) -> PeerReply:
        params = self.signed_query(timestamp, nonce)
        if signature is not None:
            params["signature"] = signature
        body, extra = self.envelope(xml, params["timestamp"], params["nonce"])
        params.update(extra)
        started = time.perf_counter()
        response = self.session.post(
            self.url, params=params, data=raw_body if raw_body is not None else body.encode("utf-8"),
            headers={"Content-Type": "text/xml; charset=utf-8"}, timeout=self.timeout,
        )
        elapsed = time.perf_counter() - started
        return self.open_reply(response.status_code, response.text, elapsed)

    def open_reply(self, status: int, body: str, elapsed: float) -> PeerReply:
        if status != 200:
            return PeerReply(status, body, elapsed, "error")
        if body.strip() in ("success", ""):
            return PeerReply(status, body, elapsed, "success" if body.strip() else "empty")
        xml = body
        if self.crypto is not None:
            sealed = xmltodict.parse(body)["xml"]
            xml = self.crypto.decrypt_message(
                body, sealed["MsgSignature"], sealed["TimeStamp"], sealed["Nonce"]
            )
        reply = xmltodict.parse(xml)["xml"]
        return PeerReply(status, body, elapsed, reply.get("MsgType", ""), reply.get("Content") or "", xml)

    def outbox(self, openid: str) -> List[str] | None:
        """Customer-service texts kept by a server in local mode; None when it has no outbox."""
        response = self.session.get(self.url.rsplit("/", 1)[0] + "/outbox",
                                    params={**self.signed_query(), "openid": openid}, timeout=self.timeout)
        if response.status_code != 200:
            return None
        return list(response.json().get("messages") or [])


HELP = """Type a question, or a digit to choose a numbered option. Commands:
  :voice 文字       a voice message recognised as 文字 (:voice alone: not recognised)
  :click KEY        a menu click (keys in bot/channels/wechat_menu.yml)
  :location 地址    a location message with this label
  :image            an image
  :subscribe        follow the account again
  :quit             leave"""


def _show(reply: PeerReply) -> None:
    if reply.kind == "text":
        print(f"bot ({reply.elapsed * 1000:.0f} ms)> {reply.content}")
    elif reply.kind == "transfer_customer_service":
        print(f"bot ({reply.elapsed * 1000:.0f} ms)> [transfer_customer_service: a human agent takes over]")
    elif reply.kind == "success":
        print(f"bot ({reply.elapsed * 1000:.0f} ms)> "
              "[success: the answer comes through the customer-service API]")
    else:
        print(f"bot> [HTTP {reply.status}] {reply.body[:200]}")


def _drain(peer: WeChatPeer, openid: str, wait: float) -> bool:
    """Show customer-service texts from the local outbox; False when the server has no outbox."""
    deadline = time.monotonic() + wait
    while True:
        messages = peer.outbox(openid)
        if messages is None:
            return False
        for text in messages:
            print(f"bot [customer-service]> {text}")
        if messages or time.monotonic() >= deadline:
            return True
        time.sleep(0.5)


def _message_for(line: str, openid: str) -> str | None:
    command, _, rest = line.partition(" ")
    rest = rest.strip()
    if not line.startswith(":"):
        return text_message(openid, line)
    if command == ":voice":
        return voice_message(openid, rest)
    if command == ":click":
        return event_message(openid, "CLICK", rest or "SERVICE_POINTS")
    if command == ":location":
        return location_message(openid, rest or "广东省深圳市福田区福中三路")
    if command == ":image":
        return image_message(openid)
    if command == ":subscribe":
        return event_message(openid, "subscribe")
    return None


def main(argv: List[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Chat with the bot through the WeChat channel.")
    parser.add_argument("--url", default=setting("WECHAT_SIM_URL", DEFAULT_URL))
    parser.add_argument("--token", default=setting("WECHAT_TOKEN") or DEV_TOKEN)
    parser.add_argument("--aes-key", default=setting("WECHAT_AES_KEY", ""))
    parser.add_argument("--appid", default=setting("WECHAT_APPID", ""))
    parser.add_argument("--openid", default="sim-" + uuid.uuid4().hex[:12])
    parser.add_argument("--no-subscribe", action="store_true", help="do not start with a subscribe event")
    args = parser.parse_args(argv)
    peer = WeChatPeer(args.url, args.token, args.aes_key, args.appid)
    mode = "safe" if args.aes_key else "plaintext"
    print(f"WeChat simulator → {args.url} as openid {args.openid} ({mode} mode)")
    print(HELP)
    pending = [] if args.no_subscribe else [event_message(args.openid, "subscribe")]
    has_outbox = True
    while True:
        if pending:
            xml = pending.pop()
        else:
            try:
                line = input("you> ").strip()
            except (EOFError, KeyboardInterrupt):
                print()
                return 0
            if not line:
                continue
            if line in (":quit", ":q"):
                return 0
            if line == ":help":
                print(HELP)
                continue
            xml = _message_for(line, args.openid)
            if xml is None:
                print("unknown command; :help lists them")
                continue
        try:
            reply = peer.post(xml)
        except requests.RequestException as error:
            print(f"cannot reach {args.url}: {type(error).__name__} (is the bot running? make run)")
            continue
        _show(reply)
        if not has_outbox:
            continue
        # why: slow answers arrive up to tens of seconds later; the rest of a long answer (passive
        # replies stop at 2048 bytes) right after the reply.
        if reply.kind in ("success", "transfer_customer_service"):
            wait = 30.0
        else:
            wait = 1.5 if len(reply.content.encode("utf-8")) > 1500 else 0.0
        if not _drain(peer, args.openid, wait):
            has_outbox = False
            print("   (the server is not in local mode: customer-service messages go to WeChat itself)")


if __name__ == "__main__":
    raise SystemExit(main())
