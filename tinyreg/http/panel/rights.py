"""The panel's questions to the access policy: may this viewer see, delete in, manage a project?

Every answer comes from `tinyreg.access.policy`, so a page offers exactly what `/v2/` would
allow, and a forged POST meets the same decision as the button it imitates. On an open
registry (no --auth) everyone may do everything.
"""

from __future__ import annotations

from tinyreg.access import policy
from tinyreg.access.policy import DELETE, ProjectAccess
from tinyreg.http.panel.base import Viewer


def may_see(viewer: Viewer, project: ProjectAccess | None) -> bool:
    """Whether the viewer may know the project exists and list its images."""
    if viewer.open_registry:
        return True
    if project is None:
        return False
    principal = viewer.principal
    return principal.admin or project.public or (principal.kind == "user" and project.role is not None)


def may_delete(viewer: Viewer, project: ProjectAccess | None) -> bool:
    """Whether the viewer may delete tags and repositories of the project."""
    if viewer.open_registry:
        return True
    return project is not None and DELETE in policy.allowed_actions(viewer.principal, project, {DELETE})


def may_manage(viewer: Viewer, project: ProjectAccess | None) -> bool:
    """Whether the viewer may change the project's settings, members and deploy tokens."""
    if viewer.open_registry or project is None:
        return False
    principal = viewer.principal
    return principal.admin or (principal.kind == "user" and project.role in policy.MANAGING_ROLES)


def is_admin(viewer: Viewer) -> bool:
    return not viewer.open_registry and viewer.principal.admin
