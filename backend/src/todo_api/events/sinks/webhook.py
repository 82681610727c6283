"""A webhook: one POST per event, in order, signed per the Standard Webhooks spec.

The body is the structured CloudEvent (`application/cloudevents+json`); the headers
`webhook-id` (the event id, the same on every redelivery), `webhook-timestamp` and
`webhook-signature` are made by the standardwebhooks library with `EVENTS_WEBHOOK_SECRET`
(`whsec_` + base64, as the spec writes secrets). A non-2xx answer or a timeout stops the
batch there; the relay retries it with backoff, so the receiver sees the events in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import httpx
from standardwebhooks import Webhook

from todo_api.events.cloudevents import CONTENT_TYPE, OutboundEvent
from todo_api.events.sinks import DeliveryError


class WebhookSink:
    name = "webhook"

    def __init__(self, url: str, *, secret: str, timeout: float) -> None:
        self._url = url
        self._signer = Webhook(secret)
        self._timeout = timeout
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        # No redirects: a signed event goes to the configured URL or nowhere.
        self._client = httpx.AsyncClient(timeout=self._timeout, follow_redirects=False)

    async def deliver(self, events: Sequence[OutboundEvent]) -> int:
        client = self._client
        assert client is not None, "start() first"
        for delivered, event in enumerate(events):
            body = event.body.decode()
            sent_at = datetime.now(UTC)
            headers = {
                "content-type": CONTENT_TYPE,
                "webhook-id": event.event_id,
                "webhook-timestamp": str(int(sent_at.timestamp())),
                "webhook-signature": self._signer.sign(event.event_id, sent_at, body),
            }
            try:
                response = await client.post(self._url, content=event.body, headers=headers)
            except httpx.HTTPError as error:
                raise DeliveryError(delivered, f"webhook unreachable: {error!r}") from None
            if not response.is_success:
                raise DeliveryError(delivered, f"webhook answered {response.status_code}")
        return len(events)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
        self._client = None
