"""The node agent: makes this node match its desired state and reports what it sees."""
