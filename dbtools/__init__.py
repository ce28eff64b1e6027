"""Tooling around the migrations: configuration, the development server, the CLI.

Nothing here is part of the `schema` package that services install.
"""
