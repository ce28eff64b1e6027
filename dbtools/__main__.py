import sys

if sys.argv[1:] == ["verify"]:
    # A repeated verify answers from its cache before the command line loads SQLAlchemy
    # and Alembic; anything it cannot answer exactly, the command line does.
    from dbtools.verify.repeated import run

    status = run()
    if status is not None:
        sys.exit(status)

from dbtools.cli import main

sys.exit(main())
