"""The panel's questions to the access policy: may this viewer see, read, delete in, manage?

Every answer comes from the management decisions of `tinyreg.access.policy`, so a page offers
exactly what `/v2/` and `/api/v4` would allow, and a forged POST meets the same decision as the
button it imitates. On an open registry (no --auth) everyone may do everything with images,
and there are no projects, users or tokens to manage.
"""

from __future__ import annotations

from tinyreg.access import policy
from tinyreg.access.policy import ProjectAccess
from tinyreg.http.panel.base import Viewer


def may_see(viewer: Viewer, project: ProjectAccess | None) -> bool:
    """Whether the viewer may know the project exists."""
    if viewer.open_registry:
        return True
    return project is not None and policy.may_see_project(viewer.principal, project)


def may_read(viewer: Viewer, project: ProjectAccess | None) -> bool:
    """Whether the viewer may list and inspect the project's images (exactly who may pull)."""
    if viewer.open_registry:
        return True
    return project is not None and policy.may_read_images(viewer.principal, project)


def may_delete(viewer: Viewer, project: ProjectAccess | None) -> bool:
    """Whether the viewer may delete tags and repositories of the project."""
    if viewer.open_registry:
        return True
    return project is not None and policy.may_delete_images(viewer.principal, project)


def may_manage(viewer: Viewer, project: ProjectAccess | None) -> bool:
    """Whether the viewer may change the project's settings, members and deploy tokens."""
    if not viewer.may_change_settings or project is None:
        return False
    return policy.may_manage_project(viewer.principal, project)


def is_admin(viewer: Viewer) -> bool:
    return viewer.may_administer
