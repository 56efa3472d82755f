"""Documents the registry generates: plain data → Jinja → WeasyPrint, loading nothing from outside."""
