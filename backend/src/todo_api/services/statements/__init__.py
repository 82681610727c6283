"""The statements over one user's tasks, by job (columns, creates, writes, lists, changes).

Only `services/scope.py` `UserTasks` hands them out, each bound to its user (`Scoped`); no
other module names a task table (a test reads every module's syntax tree to check).
"""
