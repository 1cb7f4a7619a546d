"""Generic webhooks: our JSON body (``templates.webhook_body``), signed as Standard Webhooks do.

Redirects are never followed (a 3xx is a final failure: a receiver that moved must be reconfigured, and following
would send the body and its signature to wherever the redirect points); 410 Gone disables the endpoint.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from llm_incident_manager.notify import templates
from llm_incident_manager.notify.config import Channel, HTTPConfig, TLSConfig
from llm_incident_manager.notify.model import Delivery, DeliveryError, Sent, parse_retry_after
from llm_incident_manager.notify.signing import sign_standard_webhook

__all__ = ["USER_AGENT", "HttpPoster", "WebhookNotifier", "endpoint_of", "http_headers", "public_url", "ssl_context"]

USER_AGENT = "llm-incident-manager"


def ssl_context(tls: TLSConfig | None) -> ssl.SSLContext | None:
    """An SSL context for Alertmanager's ``tls_config`` (CA, client certificate, ``insecure_skip_verify``); None
    (the default verification) when there is none."""
    if tls is None:
        return None
    context = ssl.create_default_context(cafile=tls.ca_file, cadata=tls.ca)
    if tls.insecure_skip_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if tls.cert_file and tls.key_file:
        context.load_cert_chain(tls.cert_file, tls.key_file)
    return context


def endpoint_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL: what the circuit breaker keys on."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


def public_url(url: str) -> str:
    """A URL as it may be shown (timeline, logs): no user info, no query, and credential-looking parts masked."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    return templates.scrub(urlunsplit((parts.scheme, netloc, parts.path, "", "")))


def http_headers(config: HTTPConfig | None) -> dict[str, str]:
    """Prometheus' ``http_headers`` (``{name: {values: [...], secrets: [...], files: [...]}}``, or a plain string
    per name), several values joined with ``, ``; files are read now."""
    out: dict[str, str] = {}
    for name, spec in ((config.http_headers or {}) if config is not None else {}).items():
        if isinstance(spec, Mapping):
            values = [str(v) for key in ("values", "secrets") for v in (spec.get(key) or [])]
            for path in spec.get("files") or []:
                with open(str(path), encoding="utf-8") as handle:
                    values.append(handle.read().strip())
        elif isinstance(spec, str | int | float):
            values = [str(spec)]
        else:
            continue
        if values:
            out[str(name)] = ", ".join(values)
    return out


class HttpPoster:
    """A lazily opened aiohttp session (sessions must be made inside the running loop) that POSTs JSON and turns
    every failure into a DeliveryError."""

    def __init__(
        self,
        *,
        name: str,
        timeout: float,
        tls: TLSConfig | None = None,
        proxy: str | None = None,
    ) -> None:
        self.name = name
        self.timeout = timeout
        self.proxy = proxy
        self._ssl = ssl_context(tls)
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        return self._session

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, str]:
        """POSTs; returns (status, the start of the answer) for a 2xx, raises DeliveryError otherwise."""
        session = self._open()
        try:
            async with session.post(
                url,
                data=body,
                headers=dict(headers),
                allow_redirects=False,
                ssl=self._ssl if self._ssl is not None else True,
                proxy=self.proxy,
            ) as response:
                text = (await response.content.read(2048)).decode("utf-8", errors="replace")
                status, answer = response.status, response.headers
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            msg = f"{self.name}: {type(exc).__name__}: {templates.scrub(str(exc))}"
            raise DeliveryError(msg, retryable=True) from exc
        if 200 <= status < 300:
            return status, text
        if 300 <= status < 400:
            where = templates.scrub(answer.get("Location", "?"))
            msg = f"{self.name}: HTTP {status} redirect to {where} not followed"
            raise DeliveryError(msg, retryable=False, status=status)
        reason = f"{self.name}: HTTP {status}"
        if text.strip():
            reason += f": {templates.scrub(' '.join(text.split()))[:200]}"
        raise DeliveryError.from_status(status, reason, parse_retry_after(answer.get("Retry-After")))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class WebhookNotifier:
    """A webhook receiver: POSTs :func:`templates.webhook_body` with the Standard Webhooks headers."""

    def __init__(
        self,
        *,
        url: str,
        timeout: float,
        signing_secret: str | None = None,
        http_config: HTTPConfig | None = None,
    ) -> None:
        self.channel = Channel.WEBHOOK
        self.recipient = public_url(url)
        self.endpoint = endpoint_of(url)
        self.url = url
        self.signing_secret = signing_secret
        self._auth = http_config.headers() if http_config is not None else {}
        self._extra = http_headers(http_config)
        self._http = HttpPoster(
            name="webhook",
            timeout=timeout,
            tls=http_config.tls_config if http_config is not None else None,
            proxy=http_config.proxy_url if http_config is not None else None,
        )

    def headers(self, delivery: Delivery, body: bytes, now: int) -> dict[str, str]:
        msg_id = templates.delivery_key(delivery).replace(".", "_").replace("\r", "").replace("\n", "")
        headers = {**self._extra, **self._auth}
        headers.update({"Content-Type": "application/json", "User-Agent": USER_AGENT})
        if self.signing_secret:
            headers.update(sign_standard_webhook(self.signing_secret, msg_id, now, body))
        else:
            headers.update({"webhook-id": msg_id, "webhook-timestamp": str(now)})
        return headers

    async def send(self, delivery: Delivery) -> Sent:
        if not delivery.events:
            raise DeliveryError("webhook: nothing to send", retryable=False)
        body = templates.webhook_body(delivery)
        status, _ = await self._http.post(self.url, body, self.headers(delivery, body, int(time.time())))
        return Sent(ref=templates.delivery_key(delivery), status=status)

    async def close(self) -> None:
        await self._http.close()
