"""The operations report workbook: layout, fast sheet writer, charts."""
