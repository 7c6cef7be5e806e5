"""Shim: existing workbooks name `atlas_xl.udfs` in xlwings.conf (UDF Modules); the functions live in
atlas_xl.excel.udfs."""

from atlas_xl.excel.udfs import *  # noqa: F403
