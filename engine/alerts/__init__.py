"""Alerting: rules that raise and resolve alerts, routes to channels, and the outbox sender.

The alert state, the notification log and the outbox live in the ledger (``state.alerting``);
this package decides what they hold and delivers what the outbox holds through Apprise.
"""
