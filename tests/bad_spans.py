"""The catalogue of bad spans: each turns the rows of a good taxi span (header first)
into the text of a bad CSV file. The end-to-end catalogue (tests/e2e/
test_bad_input_e2e.py) runs one case per way a run is refused through the real
LocalDagRunner; tests/test_bad_span_verdicts.py checks every case the data gate stops
at the level that decides it (CsvExampleGen's parsing, TFDV against the curated
schema, the gate's rules)."""

import csv
import io


def csv_text(rows):
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def _with_column(rows, name, change):
    index = rows[0].index(name)
    return [rows[0]] + [row[:index] + [change(row[index], n)] + row[index + 1:]
                        for n, row in enumerate(rows[1:])]


def missing_column(rows):
    index = rows[0].index("company")
    return csv_text([row[:index] + row[index + 1:] for row in rows])


def extra_column(rows):
    return csv_text([rows[0] + ["driver_rating"]] + [row + ["5"] for row in rows[1:]])


def new_payment_type(rows):
    return csv_text(_with_column(rows, "payment_type",
                                 lambda value, n: "Bitcoin" if n % 3 == 0 else value))


def text_in_numeric_column(rows):
    return csv_text(_with_column(rows, "fare", lambda value, n: "n/a" if n % 2 else value))


def out_of_range(rows):
    return csv_text(_with_column(rows, "trip_start_hour", lambda value, n: "30"))


def all_empty_column(rows):
    return csv_text(_with_column(rows, "trip_start_day", lambda value, n: ""))


def wrong_field_count(rows):
    return csv_text(rows) + "1,2,3\n"


def broken_quoting(rows):
    text = csv_text(rows).splitlines(keepends=True)
    return "".join(text[:100]) + '12,"unclosed,5\n' + "".join(text[100:])


# Spans the data gate stops (exit 3): case -> (span content, words the reason must
# contain, the first being the feature).
GATE_STOPS = {
    "missing column": (missing_column, ["company", "SCHEMA_MISSING_COLUMN"]),
    "extra column": (extra_column, ["driver_rating", "SCHEMA_NEW_COLUMN"]),
    "new payment_type": (new_payment_type, ["payment_type",
                                            "ENUM_TYPE_UNEXPECTED_STRING_VALUES", "Bitcoin"]),
    "text in a numeric column": (text_in_numeric_column, ["fare", "UNEXPECTED"]),
    "value out of range": (out_of_range, ["trip_start_hour", "INT_TYPE_BIG_INT"]),
    "all-empty column": (all_empty_column, ["trip_start_day"]),
}
# Files the CLI refuses before a run (exit 2; tests/test_cli.py, test_unusable_csv) or
# CsvExampleGen fails on (exit 1).
REFUSED = {
    "empty file": (lambda rows: "", 2, ["is empty"]),
    "header only": (lambda rows: csv_text(rows[:1]), 2, ["no data rows"]),
    "wrong field count": (wrong_field_count, 1, ["CsvExampleGen failed"]),
    "broken quoting": (broken_quoting, 1, ["CsvExampleGen failed"]),
}
