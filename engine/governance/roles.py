"""Roles: which OS users and groups may read, operate or administer a project.

``roles:`` in flowdeck.yaml lists users (``alice``) and groups (``@etl``) as admins,
operators and viewers; anyone listed nowhere gets ``roles.default`` (viewer unless said
otherwise). Without ``roles:`` everyone is admin: on a single-user machine there is no one to
keep out. The engine checks roles in ``Workspace`` (the one door the CLI, the console and the
daemon come through); the console also hides what a role may not do.

Roles guard what people do through flowdeck. File permissions guard the files themselves:
see docs/security.md for the setup that makes the two agree.
"""

from __future__ import annotations

import grp
import os
import pwd
from dataclasses import dataclass

from flowdeck.engine.project.config.security import RolesConfig

ROLES = ("viewer", "operator", "admin")
RANK = {role: rank for rank, role in enumerate(ROLES)}

# action -> the least role that may do it, and how a message names the action
ACTIONS: dict[str, tuple[str, str]] = {
    "read": ("viewer", "reading runs, logs and tables"),
    "run": ("operator", "running pipelines"),
    "cancel": ("operator", "canceling runs"),
    "resume": ("operator", "resuming runs"),
    "retry": ("operator", "retrying runs"),
    "rollback": ("operator", "rolling back tables"),
    "cleanup": ("operator", "cleaning up after dead runs"),
    "drop_environment": ("operator", "dropping development environments"),
    "acknowledge": ("operator", "acknowledging alerts"),
    "notify": ("operator", "testing alert channels and dropping notifications"),
    "audit": ("operator", "reading the audit log"),
    "edit": ("admin", "editing pipelines and configuration"),
    # the least role for promote is flowdeck.yaml's `environments.promote_role` (admin unless it says operator)
    "promote": ("admin", "promoting an environment to prod"),
    "skip_tests": ("admin", "promoting without the required SQL unit tests"),
    "schedule": ("admin", "changing schedules"),
    "secrets": ("admin", "changing secrets"),
    "prune": ("admin", "pruning the ledger"),
    "backup": ("admin", "backing up the ledger, the warehouse and the secrets file"),
}


@dataclass(frozen=True)
class Identity:
    """Who is acting: an OS user name and the names of their groups; or, with ``role``, someone whose
    role was decided elsewhere (a daemon token's, a web console session's: docs/security.md)."""

    user: str
    groups: frozenset[str] = frozenset()
    role: str | None = None

    @classmethod
    def current(cls) -> Identity:
        """The real user of this process (from the password database, not from $USER, which anyone can set)."""
        uid = os.getuid()
        try:
            user = pwd.getpwuid(uid).pw_name
        except KeyError:  # no passwd entry (some containers)
            user = str(uid)
        groups: set[str] = set()
        for gid in {os.getgid(), *os.getgroups()}:
            try:
                groups.add(grp.getgrgid(gid).gr_name)
            except KeyError:
                groups.add(str(gid))
        return cls(user=user, groups=frozenset(groups))


def _listed(identity: Identity, members: list[str]) -> bool:
    for member in members:
        if member == "*" or member == identity.user:
            return True
        if member.startswith("@") and member[1:] in identity.groups:
            return True
    return False


def role_of(identity: Identity, roles: RolesConfig | None) -> str:
    """The role of ``identity``: the one it carries, else the highest it is listed under, else the default;
    admin without ``roles:``."""
    if identity.role is not None:
        return identity.role
    if roles is None:
        return "admin"
    for role, members in (("admin", roles.admins), ("operator", roles.operators), ("viewer", roles.viewers)):
        if _listed(identity, members):
            return role
    return roles.default


def at_most(role: str, ceiling: str) -> str:
    """The lesser of two roles (a web session never does more than the user serving it)."""
    return role if RANK[role] <= RANK[ceiling] else ceiling


def allows(role: str, action: str, *, promote_role: str | None = None) -> bool:
    """Whether ``role`` may do ``action`` (``promote_role``: the project's `environments.promote_role`)."""
    return RANK[role] >= RANK[needed_role(action, promote_role=promote_role)]


def needed_role(action: str, *, promote_role: str | None = None) -> str:
    """The least role that may do ``action``; promoting an environment needs ``promote_role`` when the project sets one."""
    if action == "promote" and promote_role is not None:
        return promote_role
    return ACTIONS[action][0]


def with_article(role: str) -> str:
    """``a viewer``, ``an operator``, ``an admin``: the role as said after "is"."""
    return f"{'an' if role[:1] in ('a', 'e', 'i', 'o', 'u') else 'a'} {role}"


def describe(action: str) -> str:
    """How messages name ``action`` (``running pipelines``)."""
    return ACTIONS[action][1]
