"""The probes of each channel carried out end to end: phone, email, letters."""
