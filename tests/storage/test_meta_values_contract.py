"""The metadata store's contract for values: the strings of free-form rows come back as written,
whatever characters they hold (JSON allows any, NUL included, in an annotation or a name field)."""

from __future__ import annotations

from tinyreg.storage.interfaces import MetaWriter

from .backends import Backend
from .test_meta_contract import D1, row

ODD = 'nul\x00 tab\t quote" backslash\\ é 漢 \U0001f600'


def test_free_form_strings_come_back_as_written(backend: Backend) -> None:
    manifest = {**row(), "annotations": {ODD: ODD, "k": "v"}}

    def write(tx: MetaWriter) -> None:
        tx.put_manifest("r", D1, b"{}", manifest)  # type: ignore[arg-type]
        tx.put_user("alice", {"id": 1, "name": ODD, "nested": {"list": [ODD, 1, 2.5, None, True]}})
        tx.put_project("team/app", {"id": 1, "description": ODD})
        tx.put_member("team/app", "alice", {"role": "owner", "note": ODD})
        tx.put_token(b"k", 1, {"id": 1, "name": ODD})
        tx.put_cleanup_policy("team/app", {"name_regex": ODD})

    backend.meta.write(write)
    with backend.meta.read() as tx:
        assert tx.manifest("r", D1) == manifest
        assert tx.user("alice") == {"id": 1, "name": ODD, "nested": {"list": [ODD, 1, 2.5, None, True]}}
        assert tx.project("team/app") == {"id": 1, "description": ODD}
        assert tx.member("team/app", "alice") == {"role": "owner", "note": ODD}
        assert tx.token(b"k") == {"id": 1, "name": ODD}
        assert tx.cleanup_policy("team/app") == {"name_regex": ODD}
