"""Remote service: agents, remote sessions, script runs."""
