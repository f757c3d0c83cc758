"""The headless daemon: schedules, file triggers, a pool of run workers, health and metrics.

Importing this package is cheap; the scheduler, watchdog and prometheus-client are only
imported by the modules that run the daemon.
"""
