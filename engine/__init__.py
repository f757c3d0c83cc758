"""The headless core of flowdeck: projects, SQL analysis, planning and execution of runs.

Never imports textual; importing it must stay cheap (heavy modules load where they are used).
"""
