"""The loaded frames' pandera schemas, derived from atlas_xl.domain.schemas' declarations.

Only the tests validate loaded frames with pandera (the loader checks the raw text itself, from the same
declarations), so pandera is a test dependency, not a runtime one.
"""

from __future__ import annotations

import pandera.pandas as pa

from atlas_xl.domain.schemas import SCHEMAS, ColumnKind


def frame_schema(table: str) -> pa.DataFrameSchema:
    """The pandera schema of a LOADED frame (int64 cents / ppm, datetime64 dates), derived from the declaration."""
    spec = SCHEMAS[table]
    columns: dict[str, pa.Column] = {}
    for col in spec.columns:
        checks = []
        if col.kind in (ColumnKind.AMOUNT, ColumnKind.RATE, ColumnKind.INT):
            dtype: object = "int64"
            low = col.min_value
            if col.blank_value is not None and low is not None:
                checks.append(pa.Check(lambda s, lo=low, blank=col.blank_value: (s >= lo) | (s == blank),
                                       name=f"ge_{low}_or_blank"))
            elif low is not None:
                checks.append(pa.Check.gt(low) if col.min_exclusive else pa.Check.ge(low))
            if col.max_value is not None:
                checks.append(pa.Check.le(col.max_value))
        elif col.kind == ColumnKind.DATE:
            dtype = "datetime64[ns]"
        else:
            dtype = str
            if col.allowed:
                checks.append(pa.Check.isin(list(col.allowed)))
        columns[col.loaded_name] = pa.Column(dtype, checks=checks, nullable=False, description=col.rule)
    columns["source_row"] = pa.Column("int64", checks=[pa.Check.ge(2)])
    return pa.DataFrameSchema(columns, unique=list(spec.key), strict=True, name=table)
