"""Business rules. Every task query is built from `UserTasks`, the one user-scoped start."""
