"""Sample structures bundled with prober, used by the demo and the tests."""
