"""Member clusters: kubeconfigs from Secrets, the client registry, applying objects to members."""
