"""The daemon: many guns in one process, the session journal, the local control API."""
