"""What the tests share: real servers on loopback, scenes of probes, row seeding, CLI runners."""
