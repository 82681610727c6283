"""Delta sync: what changed since a client's cursor, and the cursor it continues from.

The whole rule, for any transport: `feed` (the answer and the next cursor), `cursors` (what a
cursor holds, sealed) and `pages` (one page of changes, read in one snapshot). The statement
is services/statements/changes.py; the transaction-id type and the tombstones deletions
leave are models/xid8.py and models/tombstone.py; the REST route is api/sync.py.
"""
