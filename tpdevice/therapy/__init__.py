"""Therapy: profiles (what a session does) and the session engine (doing it on a gun)."""
