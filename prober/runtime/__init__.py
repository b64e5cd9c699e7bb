"""The long-running process: the daemon, its event bus, its logging."""
