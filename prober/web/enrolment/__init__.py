"""Enrolment of participants (public form, address confirmation, operators' decisions,
invitations) and publication of a wave's results to them."""
