"""Smart DNS: line catalogue, latency matrix, steering policies, plan/diff, providers, the server."""
