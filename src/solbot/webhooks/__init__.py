"""Webhooks: the loop's events (entries, exits, breakers, the daily summary, the operator's
alerts) posted to Discord, Slack or any JSON endpoint, per user and for the operator.

- `registry`: the endpoints (`solbot webhook add/list/remove`), addresses sealed under the
  master key (they carry their token), every change audited.
- `formats`: which events make which group, and the body each kind of endpoint takes.
- `outbox`: deliveries as a durable queue with back-off; those that gave up are the
  dead-letter log (`solbot webhook failed`, `replay`).
- `sender`: one POST, and what its answer means (delivered, try later, never).
- `dispatcher`: the running loop's consumer: events to deliveries, deliveries to endpoints.
"""
