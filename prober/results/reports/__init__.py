"""Reports on a wave's results: HTML and PDF for people, CSV, XLSX and JSON for systems."""
