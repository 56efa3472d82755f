"""Documents the registry generates: plain data → Jinja → PDF (WeasyPrint, loading nothing from
outside), CSV or XLSX (openpyxl); charts as inline SVG."""
