"""What a caller hands `migrations/env.py` for one run: one typed object under one key.

Every command that runs Alembic builds its `Config` with `run_config(RunOptions(...))`,
so `env.py` (`dbtools/apply/environment.py`) reads one object instead of a protocol of
string keys: the settings the command line read once, a connection handed in, the
rendering timeouts, and the hooks of whoever writes a revision, renders offline SQL or
compares with the models. Those hooks are handed in, never imported by the apply path.
"""

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO

from alembic.config import Config
from sqlalchemy import Connection, Engine

from dbtools.core.paths import ALEMBIC_INI
from dbtools.core.settings import Env, Timeouts

# The one key of `Config.attributes` this repository uses.
OPTIONS_KEY = "dbtools.run_options"
# Alembic's cookbook key ("Sharing a Connection"), written by third-party callers such as
# pytest-alembic; this repository's own callers use `RunOptions.connection`.
COOKBOOK_CONNECTION_KEY = "connection"

# `process_revision_directives(context, revision, directives)`, as Alembic calls it.
RevisionHook = Callable[[Any, Any, list[Any]], None]
# Wraps Alembic's offline output stream (`--sql`): (stream, timeouts) -> stream.
OutputWrapper = Callable[[TextIO, Timeouts], TextIO]


@dataclass(frozen=True)
class Hooks:
    """What review code hands in; an apply run hands in none of them."""

    process_revision_directives: RevisionHook | None = None
    # The `configure()` options that decide what autogenerate compares (target_metadata
    # with the models, compare_type, ...). None: the run compares nothing.
    compare: Callable[[], Mapping[str, Any]] | None = None
    offline_output: OutputWrapper | None = None


@dataclass(frozen=True)
class Request:
    """What the user asked for: the command that runs and its revision argument, as typed
    (`head`, `-1`, `<rev>+2`, a prefix, a branch label). The run's plan comes from it."""

    command: Literal["upgrade", "downgrade"]
    revision: str


@dataclass(frozen=True)
class RunOptions:
    """Everything one Alembic run is told by its caller."""

    env: Env  # the settings, read once by the command line
    connection: Connection | Engine | None = None  # None: connect to the configured URL
    # Offline renderings that must not depend on a developer's settings pass the defaults.
    timeouts: Timeouts | None = None
    hooks: Hooks = field(default_factory=Hooks)
    request: Request | None = None
    configure_logging: bool = True  # False: in-process callers keep their own logging
    autogenerate_revision: bool = False  # a revision file is being written: refuse an empty one
    # Set by env.py: the handed-in connection was inside a transaction the caller owns.
    inside_caller_transaction: bool = False

    @property
    def apply_only(self) -> bool:
        """Nothing is compared with the models: they stay unloaded."""
        return self.hooks.compare is None


def run_config(options: RunOptions, ini: Path = ALEMBIC_INI, **config_kwargs: Any) -> Config:
    """The one factory: Alembic's configuration (this repository's `alembic.ini`, or a
    copy's), carrying `options`."""
    # stdout named now: Alembic's default is the sys.stdout of when it was imported, so
    # a caller that captures sys.stdout (an in-process run) would not see what it prints.
    config = Config(str(ini), **{"stdout": sys.stdout, **config_kwargs})
    store(config, options)
    return config


def store(config: Config, options: RunOptions) -> None:
    config.attributes[OPTIONS_KEY] = options


def handed(config: Config | None) -> RunOptions | None:
    """The options a caller handed in with `config`; None for Alembic's own CLI."""
    if config is None:
        return None
    options = config.attributes.get(OPTIONS_KEY)
    return options if isinstance(options, RunOptions) else None


def connection_of(config: Config, options: RunOptions) -> Connection | Engine | None:
    """The connection handed in: the options', else Alembic's cookbook key (which
    pytest-alembic writes); None when the run connects itself."""
    return options.connection or config.attributes.get(COOKBOOK_CONNECTION_KEY)
