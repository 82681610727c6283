"""List queries and pages: the whole rule of listing a user's tasks, for every transport.

`query` (the filters, sort and paging a list takes, and their limits), `pages` (keyset pages
in the list's own order, one page of a client's size, the digest a list's ETag is made of),
`whole` (a list without `limit`, read page by page in the bulk lane) and `cursors` (the
sealed position a next page starts from). The statements are services/statements/lists.py;
the ETag itself is services/conditional.py. The REST transport only parses the query string
(api/list_query.py), writes `Link` headers (api/links.py) and the response
(api/responses.py); the MCP tool `list_tasks` takes the same query as arguments.
"""
