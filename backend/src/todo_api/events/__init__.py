"""Task events: every committed change to a task, told to other services (issue 23).

The whole feature, in the order an event travels:

- **Recording** (migration 0005): a trigger on `tasks` writes each change to the outbox table
  `task_events` (models/task_event.py) in the change's own transaction, with a per-user
  sequence number (kept in `event_sequences` since migration 0013). A rolled-back change
  leaves nothing; a committed one always has its event.
- **Rendering** (`cloudevents.py`): an outbox row as a CloudEvents 1.0 structured JSON event
  whose `data` is the task as the REST API renders it.
- **Delivering** (`relay.py`): reads the outbox in order, hands events to the sink chosen by
  `EVENTS_URL` (`sinks/`: NATS JetStream, Kafka or a signed webhook), marks what the sink
  acknowledged. One relay delivers at a time across all workers and replicas (a PostgreSQL
  advisory lock per batch); at least once, in order per user.
- **Pruning** (`outbox.py`): delivered events are removed after `EVENTS_RETENTION_HOURS`.
- **Contract** (`asyncapi.py`): the AsyncAPI 3.0 document of the channels and messages.
"""
