"""Persistence for the trading loop: tables, exact money types, migrations, repositories.

SQLite (one file under the data directory) is the default; PostgreSQL is the same schema through
`postgresql://` URLs. Everything above this package talks to the repositories in `repos`, inside
one `Database.session()` per unit of work.
"""
