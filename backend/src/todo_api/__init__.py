"""todo-api: the multi-user task service behind the todo web application."""

__version__ = "0.1.0"
