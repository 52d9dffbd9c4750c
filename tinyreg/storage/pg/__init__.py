"""The metadata store on PostgreSQL (psycopg 3 and psycopg_pool, the `postgresql` extra).

connection.py   the pool; snapshots (REPEATABLE READ, read only) and units of work (SERIALIZABLE,
                retried on serialization failures and deadlocks, bounded)
migrations.py   numbered SQL files in migrations/, applied at open under an advisory lock
tx.py           what every transaction shares: query helpers, keyset pagination, repository ids
content_reader.py, content_writer.py   repositories, manifests, tags, blobs, links, referrers, uploads,
                the staging states of uploads in S3
access.py       users, projects, groups, members, tokens, counters
usage.py        usage counts and totals, the bytes stored
housekeeping.py cleanup policies and leases
events.py       event queues and projects' webhooks
cache.py        the pull-through cache's rows of cached repositories
moves.py        moving repositories and projects, the aliases of old paths
store.py        PgMetaStore: the MetaStore of tinyreg.storage.interfaces
"""
