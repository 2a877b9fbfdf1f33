"""CEN reachability between regions: the pure verdicts and `fedctl network`."""
