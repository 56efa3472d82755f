"""Reports: plain data → Jinja → PDF (WeasyPrint), CSV or XLSX (openpyxl); charts as inline SVG."""
