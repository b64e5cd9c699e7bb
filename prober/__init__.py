"""prober, the application: command line, probes, daemon, web apps, results, demo."""
