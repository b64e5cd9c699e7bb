"""``prober demo``: a whole wave against the sandbox (the only importer of the sandbox)."""
