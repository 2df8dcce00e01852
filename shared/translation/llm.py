"""LLM translation and post-editing: the provider table, the network rule, a client for the two
protocols, and the prompt and reply contract. Standard library only (urllib): prepare-job checks a
request with it in the common venv, the translate stage calls the service with it.

Protocols (config/llm.json "providers"): Anthropic's Messages API (POST {url}/messages, x-api-key)
and OpenAI's chat completions (POST {url}/chat/completions, a Bearer key), which Ollama, llama.cpp's
server, vLLM and LM Studio also speak. The providers' SDKs were not used: they weigh 66 MB with
their own HTTP stack and telemetry, read base URLs, profiles and keys from places of their own
(which would make what leaves the machine less explicit), and retry by rules of their own; the two
calls here are one JSON POST each, and the retry rule is ours (below).

The network is explicit: a loopback URL (a server on this machine) is always allowed; any other host
needs the job to allow the network (prepare-job.sh --allow-network, recorded in job.json). The key is
read from the environment when a request is made and is never written to the job, a log, a config or
an error message (scrub() removes it from anything shown).

Requests: each is bounded by llm_timeout_seconds; 429, 5xx, 529 and time-outs are retried
llm_retries times, after the server's Retry-After when it sends one (capped at
llm_max_backoff_seconds), else after llm_backoff_seconds doubling. A refused key, an unknown model
or an exhausted quota stop at once with one line naming the fix (LlmStop).
"""

from __future__ import annotations

import email.utils
import ipaddress
import json
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

from shared.core import config, languages
from shared.core.errors import UserError

ANTHROPIC_VERSION = "2023-06-01"


class LlmStop(UserError):
    """A fault no retry mends (bad key, unknown model, quota, the service failing every retry)."""


def table() -> dict:
    return config.load_json(config.CONFIG_DIR / "llm.json")


@dataclass(frozen=True)
class Endpoint:
    provider: str
    model: str
    protocol: str
    url: str
    key_env: str

    @property
    def spec(self) -> str:
        return f"{self.provider}:{self.model}"

    @property
    def host(self) -> str:
        return urllib.parse.urlsplit(self.url).hostname or ""

    @property
    def local(self) -> bool:
        return is_loopback(self.host)


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def endpoint(spec: str, url: str | None = None, key_env: str | None = None) -> Endpoint:
    """PROVIDER:MODEL (the model may hold colons, e.g. openai:qwen2.5:7b) with an optional URL and key
    variable; a one-line UserError for anything malformed."""
    providers = table()["providers"]
    provider, _, model = (spec or "").partition(":")
    if provider not in providers or not model.strip():
        raise UserError(f"--llm '{spec}' is not PROVIDER:MODEL: use {' or '.join(providers)}, e.g. "
                        "anthropic:claude-sonnet-4-5, openai:gpt-4.1-mini, or openai:qwen2.5:7b with --llm-url "
                        "http://localhost:11434/v1")
    entry = providers[provider]
    url = (url or entry["url"]).rstrip("/")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError(f"--llm-url '{url}' is not an http(s) URL: e.g. http://localhost:11434/v1")
    if key_env is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key_env):
        raise UserError(f"--llm-key-env '{key_env}' is not an environment variable name (e.g. MY_LLM_KEY)")
    return Endpoint(provider, model.strip(), entry["protocol"], url, key_env or entry["key_env"])


def check_network(point: Endpoint, allowed: bool) -> None:
    """The network rule: a loopback server always, another host only when the job allows it."""
    if not point.local and not allowed:
        raise UserError(f"{point.spec} sends the subtitles' text to {point.host}: add --allow-network to allow "
                        "it (recorded in the job), or use a server on this machine with --llm-url "
                        "http://localhost:PORT/v1")


def key(point: Endpoint, environ: dict) -> str | None:
    """The key from the environment; required for a remote service, optional for a local one."""
    value = (environ.get(point.key_env) or "").strip()
    if not value and not point.local:
        raise UserError(f"no API key for {point.spec}: set {point.key_env} (or name another variable with "
                        "--llm-key-env)")
    return value or None


def scrub(text: str, secret: str | None) -> str:
    """Text safe to show or store: the key, and anything shaped like one, removed."""
    if secret:
        text = text.replace(secret, "[key]")
    return re.sub(r"\b(sk-[A-Za-z0-9_\-]{6,}|sk-ant-[A-Za-z0-9_\-]{6,})", "[key]", text)


@dataclass
class Usage:
    requests: int = 0
    tokens_in: int = 0
    tokens_out: int = 0

    def add(self, other: "Usage") -> None:
        self.requests += other.requests
        self.tokens_in += other.tokens_in
        self.tokens_out += other.tokens_out


def cost(point: Endpoint, usage: Usage) -> tuple[float | None, str | None]:
    """(estimated US dollars, the price table's date), or (None, None) for a model the table lacks;
    0 for a server on this machine."""
    if point.local:
        return 0.0, None
    prices = table()["prices"]
    price = prices["usd_per_million_tokens"].get(point.spec)
    if price is None:
        return None, None
    return round((usage.tokens_in * price["in"] + usage.tokens_out * price["out"]) / 1e6, 4), prices["as_of"]


@dataclass
class Client:
    point: Endpoint
    secret: str | None
    settings: dict
    sleep: object = time.sleep
    usage: Usage = field(default_factory=Usage)

    def _request(self, system: str, user: str) -> tuple[str, dict]:
        s = self.settings
        sampling = {} if s["llm_temperature"] is None else {"temperature": float(s["llm_temperature"])}
        if self.point.protocol == "anthropic":
            url = f"{self.point.url}/messages"
            headers = {"anthropic-version": ANTHROPIC_VERSION, **({"x-api-key": self.secret} if self.secret else {})}
            body = {"model": self.point.model, "max_tokens": int(s["llm_max_tokens"]), "system": system, **sampling,
                    "messages": [{"role": "user", "content": user}]}
        else:
            url = f"{self.point.url}/chat/completions"
            headers = {"Authorization": f"Bearer {self.secret}"} if self.secret else {}
            # OpenAI's own API names the limit max_completion_tokens (its reasoning models refuse
            # max_tokens); the local servers read max_tokens
            limit = "max_completion_tokens" if self.point.host == "api.openai.com" else "max_tokens"
            body = {"model": self.point.model, limit: int(s["llm_max_tokens"]), **sampling,
                    "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}]}
        request = urllib.request.Request(url, data=json.dumps(body, ensure_ascii=False).encode("utf-8"), method="POST",
                                         headers={"content-type": "application/json", "accept": "application/json",
                                                  **headers})
        with urllib.request.urlopen(request, timeout=float(s["llm_timeout_seconds"])) as response:
            return response.read().decode("utf-8", "replace"), dict(response.headers)

    def complete(self, system: str, user: str) -> str:
        """The reply's text; retries what a retry can mend, stops (LlmStop) on what it cannot."""
        s = self.settings
        retries, what = int(s["llm_retries"]), ""
        for attempt in range(retries + 1):
            self.usage.requests += 1
            wait = float(s["llm_backoff_seconds"]) * 2 ** attempt
            try:
                raw, _ = self._request(system, user)
                return self._reply(raw)
            except urllib.error.HTTPError as error:
                body = error.read().decode("utf-8", "replace")
                self._stop_if_fatal(error.code, body)
                what = f"HTTP {error.code}"
                retry_after = _retry_after(error.headers.get("retry-after"))
                if retry_after is not None:
                    wait = retry_after
            except (TimeoutError, socket.timeout):
                what = f"no reply within {s['llm_timeout_seconds']} s (llm_timeout_seconds)"
            except urllib.error.URLError as error:
                if isinstance(error.reason, (TimeoutError, socket.timeout)):
                    what = f"no reply within {s['llm_timeout_seconds']} s (llm_timeout_seconds)"
                else:
                    what = f"cannot reach {self.point.url} ({scrub(str(error.reason), self.secret)})"
            except (ConnectionError, OSError) as error:
                what = f"the connection to {self.point.host} failed ({type(error).__name__})"
            if attempt < retries:
                self.sleep(min(wait, float(s["llm_max_backoff_seconds"])))
        raise LlmStop(f"{self.point.spec} at {self.point.url} failed {retries + 1} times ({what}): finished windows "
                      "are kept, so ./run-pipeline.sh -j <job> resumes where it stopped")

    def _reply(self, raw: str) -> str:
        try:
            data = json.loads(raw)
            if self.point.protocol == "anthropic":
                text = "".join(b.get("text", "") for b in data["content"] if b.get("type") == "text")
                usage = data.get("usage") or {}
                self.usage.tokens_in += int(usage.get("input_tokens") or 0)
                self.usage.tokens_out += int(usage.get("output_tokens") or 0)
            else:
                text = data["choices"][0]["message"]["content"] or ""
                usage = data.get("usage") or {}
                self.usage.tokens_in += int(usage.get("prompt_tokens") or 0)
                self.usage.tokens_out += int(usage.get("completion_tokens") or 0)
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            return ""  # not the protocol's shape: the reply fails validation and the window is retried smaller
        return text

    def _stop_if_fatal(self, code: int, body: str) -> None:
        message = _error_message(body)
        said = scrub(message, self.secret)[:160]
        if code in (401, 403):
            raise LlmStop(f"{self.point.spec} refused the key in {self.point.key_env} (HTTP {code}: {said}): "
                          "check the key, or name the right variable with --llm-key-env")
        if code == 404 or re.search(r"model[_ ]not[_ ]found|unknown model|does not exist", message, re.I):
            raise LlmStop(f"{self.point.url} does not serve the model '{self.point.model}' (HTTP {code}: {said}): "
                          "check --llm PROVIDER:MODEL (a local server lists its models at /v1/models)")
        if re.search(r"insufficient_quota|quota|credit balance|billing", message, re.I):
            raise LlmStop(f"{self.point.spec}: the account's quota or credit is used up (HTTP {code}: {said}): "
                          "check the provider's billing page, or use a local server with --llm-url")
        if code in (400, 413, 422):
            raise LlmStop(f"{self.point.spec} rejected the request (HTTP {code}: {said}): check --llm and the "
                          "llm_* settings in config/pipeline.json")


def _error_message(body: str) -> str:
    try:
        data = json.loads(body)
        error = data.get("error", data) if isinstance(data, dict) else {}
        if isinstance(error, dict):
            said = [str(error[k]) for k in ("type", "code", "message") if error.get(k)]
            return " ".join(dict.fromkeys(said))
        return str(error)
    except ValueError:
        return body.strip()[:200]


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds, or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        moment = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, moment.timestamp() - time.time()) if moment else None


# -- the prompt and the reply contract ---------------------------------------------------------------

def prompt(mode: str, source: str, target: str, items: list[dict], context: list[dict],
           terms: dict[str, str]) -> tuple[str, str]:
    """(system, user) for a window. items: [{"id", "text"[, "draft"]}]; context: the previous
    window's [{"id", "text", "output"}]; terms: source term -> required target rendering."""
    src, tgt = languages.name(source), languages.name(target)
    task = (f"You translate film and TV subtitles from {src} to {tgt}." if mode == "llm" else
            f"You post-edit machine translations of film and TV subtitles from {src} to {tgt}: each item has "
            "the source text and a machine draft; correct the draft's errors of meaning, gender, pronouns and "
            "register using the context, and keep what it got right.")
    said = any("speaker" in item for item in items + context)
    system = (f"{task} Each item is one sentence of dialogue, in order. Keep the speaker's register and "
              "the names; translate the meaning, not word for word; keep each item's length close to the "
              "source's, as subtitles are read quickly. "
              + ("An item's speaker says who says it: keep each speaker's gender, person and formality the "
                 "same from item to item, and do not put the speaker's name into the translation. " if said else "")
              + "Reply with JSON only, no other text: "
              '{"translations": [{"id": <the item\'s id>, "text": "<its translation>"}]}, '
              "exactly one entry for every id given, no other ids.")
    parts = []
    if context:
        parts.append("Context (already translated, do not translate again):\n" + json.dumps(
            [{"id": c["id"], **({"speaker": c["speaker"]} if c.get("speaker") else {}), "source": c["text"],
              "translation": c["output"]} for c in context], ensure_ascii=False))
    if terms:
        parts.append("Glossary: wherever the source has the term, the translation must have it exactly as given:\n"
                     + "\n".join(f"{term} => {rendering}" for term, rendering in terms.items()))
    parts.append("Translate these items:\n" + json.dumps(items, ensure_ascii=False))
    return system, "\n\n".join(parts)


def parse_reply(text: str, ids: list[int]) -> dict[int, str]:
    """{id: translation} from a reply, or ValueError saying what is wrong: not JSON, an id missing,
    repeated or invented, or an empty text."""
    body = text.strip()
    fenced = re.search(r"```(?:json)?\s*(.*?)```", body, re.S)
    if fenced:
        body = fenced.group(1).strip()
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end <= start:
        raise ValueError("the reply holds no JSON object")
    try:
        data = json.loads(body[start:end + 1])
        entries = data["translations"]
        pairs = [(int(e["id"]), str(e["text"])) for e in entries]
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"the reply is not the JSON asked for ({type(error).__name__})") from None
    found = [i for i, _ in pairs]
    if sorted(found) != sorted(ids):
        missing, extra = sorted(set(ids) - set(found)), sorted(set(found) - set(ids))
        repeated = sorted({i for i in found if found.count(i) > 1})
        raise ValueError("ids " + ", ".join(filter(None, [f"missing {missing}" if missing else "",
                                                          f"invented {extra}" if extra else "",
                                                          f"repeated {repeated}" if repeated else ""])))
    out = {i: t.strip() for i, t in pairs}
    empty = [i for i, t in out.items() if not t]
    if empty:
        raise ValueError(f"empty translations for ids {empty}")
    return out


# -- windows: context, validation, fallback, resume ----------------------------------------------------

class Store:
    """llm.<lang>.jsonl in the job: each finished window (its outputs and fallbacks, by a key of what
    was asked) and each request's usage, appended as they happen, so a killed or failed run resumes
    without paying again. A line cut short by a kill is skipped."""

    def __init__(self, path):
        import threading

        self.path, self.lock = path, threading.Lock()
        self.windows: dict[str, dict] = {}
        self.usage = Usage()
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if entry.get("kind") == "window":
                    self.windows[entry["key"]] = entry
                elif entry.get("kind") == "usage":
                    self.usage.add(Usage(entry["requests"], entry["tokens_in"], entry["tokens_out"]))

    def _append(self, entry: dict) -> None:
        import os

        with self.lock, open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def paid(self, usage: Usage) -> None:
        with self.lock:
            self.usage.add(usage)
        self._append({"kind": "usage", "requests": usage.requests, "tokens_in": usage.tokens_in,
                      "tokens_out": usage.tokens_out})

    def finished(self, key: str, outputs: list[str], fallbacks: list[dict]) -> None:
        entry = {"kind": "window", "key": key, "outputs": outputs, "fallbacks": fallbacks}
        self.windows[key] = entry
        self._append(entry)


def window_key(mode: str, point: Endpoint, source: str, target: str, items: list[dict], terms: dict) -> str:
    import hashlib

    asked = json.dumps([mode, point.spec, point.url, source, target, items, sorted(terms.items())], ensure_ascii=False)
    return hashlib.sha256(asked.encode("utf-8")).hexdigest()


@dataclass
class Job:
    """One target language's LLM translation: texts (sentences), the glossary's renderings per text,
    drafts (post-edit: all of them; llm: made on demand for fallbacks by draft(indices))."""
    mode: str
    point: Endpoint
    source: str
    target: str
    texts: list[str]
    terms: list[dict[str, str]]
    draft: object                   # callable: list of indices -> list of MT translations
    drafts: list[str] | None = None
    reused: int = 0
    windows: int = 0
    speakers: list[str | None] | None = None  # who says each text (the speakers stage), for gender and formality

    def window_terms(self, indices: list[int]) -> dict[str, str]:
        """The glossary renderings the window's sentences must show."""
        return {term: rendering for i in indices for term, rendering in self.terms[i].items()}

    def said_by(self, i: int) -> dict:
        return {"speaker": self.speakers[i]} if self.speakers and self.speakers[i] else {}

    def items(self, indices: list[int]) -> list[dict]:
        return [{"id": i + 1, **self.said_by(i), "text": self.texts[i],
                 **({"draft": self.drafts[i]} if self.drafts else {})} for i in indices]


def _repair(text: str, terms: dict[str, str]) -> tuple[str, list[str]]:
    """The reply with each required rendering present: a term left in its source form is replaced by
    its rendering; returns the text and the terms still missing."""
    missing = []
    for term, rendering in terms.items():
        if rendering in text:
            continue
        if term in text:
            text = text.replace(term, rendering)
        else:
            missing.append(term)
    return text, missing


def _ask(job: Job, client: Client, indices: list[int], context: list[dict], split: bool) -> tuple[dict, list]:
    """{index: output} for the indices and the fallbacks recorded: the window asked once; a reply that
    fails validation is asked again in two halves (split); what still fails takes the MT draft."""
    system, user = prompt(job.mode, job.source, job.target, job.items(indices), context, job.window_terms(indices))
    try:
        replies = parse_reply(client.complete(system, user), [i + 1 for i in indices])
    except ValueError as why:
        if split and len(indices) > 1:
            half = len(indices) // 2
            first, fell_first = _ask(job, client, indices[:half], context, False)
            second, fell_second = _ask(job, client, indices[half:], context, False)
            return {**first, **second}, fell_first + fell_second
        drafts = _drafts(job, indices)
        return dict(zip(indices, drafts)), [{"first": indices[0] + 1, "last": indices[-1] + 1,
                                             "reason": f"{why}; the MT draft stands in"}]
    out, fallbacks, lost = {}, [], []
    for i in indices:
        text, missing = _repair(replies[i + 1], job.terms[i])
        if missing:
            lost.append(i)
            fallbacks.append({"first": i + 1, "last": i + 1,
                              "reason": f"the reply dropped the glossary term {', '.join(missing)}; the MT draft "
                                        "(which keeps it) stands in"})
        out[i] = text
    for i, draft in zip(lost, _drafts(job, lost) if lost else []):
        out[i] = draft
    return out, fallbacks


def _drafts(job: Job, indices: list[int]) -> list[str]:
    if job.drafts is not None:
        return [job.drafts[i] for i in indices]
    return job.draft(indices)


def translate(job: Job, store: Store, make_client, settings: dict, progress=None) -> tuple[list[str], list[dict]]:
    """Every text translated window by window (llm_window sentences, the previous window as context),
    in llm_concurrency runs of neighbouring windows at once; returns the outputs and the fallbacks."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    size = max(1, int(settings["llm_window"]))
    windows = [list(range(a, min(a + size, len(job.texts)))) for a in range(0, len(job.texts), size)]
    job.windows = len(windows)
    runs_count = max(1, min(int(settings["llm_concurrency"]), len(windows)))
    per_run = -(-len(windows) // runs_count) if windows else 0
    runs = [windows[a:a + per_run] for a in range(0, len(windows), per_run)] if windows else []
    outputs: list[str] = [""] * len(job.texts)
    fallbacks: list[dict] = []
    done = [0]
    stopping = threading.Event()  # one run stopped (LlmStop): the others ask nothing more

    def chain(run: list[list[int]]) -> None:
        context: list[dict] = []
        client = make_client()
        for indices in run:
            if stopping.is_set():
                return
            key = window_key(job.mode, job.point, job.source, job.target, job.items(indices),
                             job.window_terms(indices))
            stored = store.windows.get(key)
            if stored:
                got, fell = dict(zip(indices, stored["outputs"])), stored["fallbacks"]
                job.reused += 1
            else:
                client.usage = Usage()  # this window's requests, recorded even when it fails
                try:
                    got, fell = _ask(job, client, indices, context, True)
                finally:
                    if client.usage.requests:
                        store.paid(client.usage)
                store.finished(key, [got[i] for i in indices], fell)
            for i in indices:
                outputs[i] = got[i]
            fallbacks.extend(fell)
            context = [{"id": i + 1, **job.said_by(i), "text": job.texts[i], "output": got[i]} for i in indices]
            done[0] += len(indices)
            if progress:
                progress(done[0], len(job.texts))

    def guarded(run: list[list[int]]) -> None:
        try:
            chain(run)
        except BaseException:
            stopping.set()
            raise

    with ThreadPoolExecutor(max_workers=max(1, len(runs))) as pool:
        futures = [pool.submit(guarded, run) for run in runs]
    for future in futures:
        future.result()
    return outputs, sorted(fallbacks, key=lambda f: f["first"])
