"""The browser tests: the dashboard served for real, driven in Chromium."""
