"""The Excel front: worksheet functions, macros, the operations workbook and its VBA."""
