"""Wave planning (pure: calendars, slots, quotas) and dispatch (the loop claiming due probes)."""
