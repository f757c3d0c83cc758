"""Warm start: a server that has imported the command line and the engine once, and forks a process
for each command its user types, which then starts in a few milliseconds (docs/operations.md, "Warm
start"). ``protocol`` is what both sides share, ``client`` what every `flowdeck` command tries first,
``server`` the server itself."""
