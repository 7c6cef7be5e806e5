"""The operations workbook's VBA project (the .bas modules beside this file)."""
