"""The auditors' review pages of the workspace: queue, call, reply, letter, grid, agreement."""
