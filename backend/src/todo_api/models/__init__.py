"""SQLModel tables and the request/response shapes of the API.

Importing this package registers every table on `SQLModel.metadata` (Alembic relies on it).
"""

from todo_api.models.conversation import ChatMessage, Conversation
from todo_api.models.idempotency import IdempotencyKey
from todo_api.models.server_key import ServerKey
from todo_api.models.stream_ticket import StreamTicket
from todo_api.models.task import Task, TaskCompletion, TaskCreate, TaskRead, TaskUpdate
from todo_api.models.task_event import EventRelay, EventSequence, TaskEvent
from todo_api.models.task_reminder import TaskReminder
from todo_api.models.tombstone import TaskTombstone
from todo_api.models.user import User

__all__ = [
    "ChatMessage",
    "Conversation",
    "EventRelay",
    "EventSequence",
    "IdempotencyKey",
    "ServerKey",
    "StreamTicket",
    "Task",
    "TaskCompletion",
    "TaskCreate",
    "TaskEvent",
    "TaskRead",
    "TaskReminder",
    "TaskTombstone",
    "TaskUpdate",
    "User",
]
