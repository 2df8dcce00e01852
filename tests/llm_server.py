"""A local stand-in for an LLM service, for tests (standard library only).

It speaks both protocols the project uses, non-streaming:

    POST /v1/messages            Anthropic Messages API (x-api-key, anthropic-version; content blocks,
                                 usage.input_tokens / output_tokens; errors {"type": "error", "error": {...}})
    POST /v1/chat/completions    OpenAI chat completions (Authorization: Bearer; choices[0].message.content,
                                 usage.prompt_tokens / completion_tokens; errors {"error": {...}})

Each test scripts it: `script` is a list of behaviours taken one per request (then "good" for ever):

    good        a valid reply: each item translated by `translate` (default: the English of
                HINDI_ENGLISH_PAIRS, else "EN(<text>)"); an item with a draft (post-edit) gets
                "Revised: <draft>"
    malformed   prose with broken JSON
    missing_id  a valid reply less its last entry
    drop_term   a valid reply with every glossary rendering replaced by "someone"
    429         429 with Retry-After: 1 (rate limited)
    quota       429 with an insufficient_quota error
    500         500
    hang        no answer for `hang_seconds`, then a good one (past the client's time-out)
    401         401, the key refused
    404         404, the model unknown

It reads the items to translate from the prompt's "Translate these items:" JSON block, and the
glossary from its "term => rendering" lines, as a model would read them. Every request is kept in
`requests` (path, headers, body, time) so tests can count them and check what was sent.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tiny_models import HINDI_ENGLISH_PAIRS

ENGLISH = dict(HINDI_ENGLISH_PAIRS)


def default_translate(text: str) -> str:
    return ENGLISH.get(text, f"EN({text})")


class LlmServer:
    def __init__(self, script=(), key: str | None = None, translate=default_translate, hang_seconds: float = 5.0):
        self.script = list(script)
        self.key = key
        self.translate = translate
        self.hang_seconds = hang_seconds
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
                with server.lock:
                    server.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                                            "body": body,
                                            "time": time.monotonic()})
                    action = server.script.pop(0) if server.script else "good"
                server.answer(self, action, body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- replies ---------------------------------------------------------------------------------------

    @staticmethod
    def _prompt(body: dict) -> str:
        messages = body.get("messages", [])
        return "\n".join(m["content"] for m in messages if m.get("role") == "user")

    def _entries(self, body: dict) -> tuple[list[dict], dict[str, str]]:
        prompt = self._prompt(body)
        items = json.loads(prompt.split("Translate these items:\n", 1)[1])
        terms = dict(re.findall(r"^(.+?) => (.+)$", prompt, re.M))
        out = []
        for item in items:
            text = f"Revised: {item['draft']}" if "draft" in item else self.translate(item["text"])
            out.append({"id": item["id"], "text": text})
        return out, terms

    def answer(self, handler, action: str, body: dict) -> None:
        anthropic = handler.path.endswith("/messages")
        if self.key is not None:
            given = handler.headers.get("x-api-key") if anthropic else \
                (handler.headers.get("Authorization") or "").removeprefix("Bearer ")
            if given != self.key:
                action = "401"
        if action == "hang":
            time.sleep(self.hang_seconds)
            action = "good"
        errors = {"429": (429, "rate_limit_error", "rate limited", {"Retry-After": "1"}),
                  "quota": (429, "insufficient_quota", "You exceeded your current quota", {}),
                  "500": (500, "api_error", "internal error", {}),
                  "401": (401, "authentication_error", "invalid x-api-key", {}),
                  "404": (404, "not_found_error", f"model: {body.get('model')} not found", {})}
        if action in errors:
            status, kind, message, headers = errors[action]
            payload = ({"type": "error", "error": {"type": kind, "message": message}} if anthropic else
                       {"error": {"type": kind, "code": kind, "message": message}})
            return self._send(handler, status, payload, headers)
        if action == "malformed":
            text = 'Sure! Here are the translations: {"translations": [{"id": 1, "text": "oops"'
        else:
            entries, terms = self._entries(body)
            if action == "missing_id":
                entries = entries[:-1]
            if action == "drop_term":
                for entry in entries:
                    for rendering in terms.values():
                        entry["text"] = entry["text"].replace(rendering, "someone")
            text = json.dumps({"translations": entries}, ensure_ascii=False)
        tokens_in, tokens_out = len(json.dumps(body)) // 4, len(text) // 4
        if anthropic:
            payload = {"id": "msg_test", "type": "message", "role": "assistant", "model": body.get("model"),
                       "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
                       "usage": {"input_tokens": tokens_in, "output_tokens": tokens_out}}
        else:
            payload = {"id": "chatcmpl-test", "object": "chat.completion", "model": body.get("model"),
                       "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                    "finish_reason": "stop"}],
                       "usage": {"prompt_tokens": tokens_in, "completion_tokens": tokens_out,
                                 "total_tokens": tokens_in + tokens_out}}
        self._send(handler, 200, payload, {})

    @staticmethod
    def _send(handler, status: int, payload: dict, headers: dict) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        try:
            handler.send_response(status)
            handler.send_header("content-type", "application/json")
            handler.send_header("content-length", str(len(data)))
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (its time-out)
            pass
