"""The rows a trace's scratch database gets (dbtools/review/seed.py): every table's rows
with values in one statement when the table takes them, else row by row, each row with
values or with the table's defaults alone, so one refused row spoils nothing."""

from sqlalchemy import text

from dbtools.review.seed import ROWS, seed
from tests.chain import free_table


def test_a_table_that_refuses_one_row_still_gets_every_row_it_can_take(engine):
    takes_all, refuses_one = free_table("seed_all"), free_table("seed_one")
    with engine.connect() as connection:
        connection.execute(text(f"CREATE TABLE {takes_all} (n integer NOT NULL, note text)"))
        # The second row's value is refused: that row goes in with the defaults (NULL).
        connection.execute(text(f"CREATE TABLE {refuses_one} (n integer CHECK (n <> 2))"))
        connection.commit()
        added = seed(connection)
        rows = {
            table: connection.execute(text(f"SELECT n FROM {table} ORDER BY n")).scalars().all()
            for table in (takes_all, refuses_one)
        }
    assert added[f"public.{takes_all}"] == added[f"public.{refuses_one}"] == ROWS
    assert rows[takes_all] == list(range(1, ROWS + 1))
    assert rows[refuses_one] == [1, 3, None]
