"""A wave's results: scoring, published results, reports and exports."""
