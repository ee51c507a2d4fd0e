"""Metric readings and their values over the unit tree.

A unit's value is its own latest reading plus the latest readings of every unit below it
(:mod:`bot.metrics.values`). Readings come from CSV files (``unit,metric,value,at``) or a URL
returning CSV or JSON (:mod:`bot.metrics.importing`: :func:`import_csv`, :func:`import_rows`,
:func:`fetch_url`); a reading that jumps too far is held until a person confirms or drops it
(:mod:`bot.metrics.review`).
"""

from bot.metrics.importing import (
    FetchError,
    ImportResult,
    RowProblem,
    check_files,
    fetch_url,
    file_label,
    import_csv,
    import_rows,
    parse_csv_text,
    parse_json_text,
    parse_text,
    parse_timestamp,
    parse_value,
    read_source_file,
)
from bot.metrics.review import find_readings, review
from bot.metrics.values import (
    STATUS_DROPPED,
    STATUS_HELD,
    STATUS_OK,
    counting,
    main_metric,
    metric_label,
    metric_names,
    subtree_readings,
    subtree_values,
)

__all__ = [
    "STATUS_DROPPED", "STATUS_HELD", "STATUS_OK", "FetchError", "ImportResult", "RowProblem", "check_files",
    "counting", "fetch_url", "file_label", "find_readings", "import_csv", "import_rows", "main_metric",
    "metric_label", "metric_names", "parse_csv_text", "parse_json_text", "parse_text", "parse_timestamp",
    "parse_value", "read_source_file", "review", "subtree_readings", "subtree_values",
]
