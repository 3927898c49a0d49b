"""The data layer: SQLite (connections, migrations, accounts and the ledger) and the
object store on disk. Every SQL statement and every path lives here. No Flask here.
"""
