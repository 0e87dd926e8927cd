"""A signed link, or an anonymous stream, acts for one job: it is no administrator and no
owner, and reads that job alone."""

from __future__ import annotations

from image2model.identity import Principal


def test_a_link_reads_its_own_job_and_nothing_else() -> None:
    link = Principal(key_id="link", name="signed-link", job_id="job-a")
    assert not link.is_admin
    assert link.can_see("owner-key", "job-a")
    assert not link.can_see("owner-key", "job-b")
    assert not link.can_see("link"), "not by its own key id either"
    assert not link.can_see("owner-key"), "nor where the job is not named"


def test_keys_see_their_own_jobs_and_admins_all() -> None:
    user = Principal(key_id="k1", name="user")
    admin = Principal(key_id="k2", name="admin", is_admin=True)
    assert user.can_see("k1", "any") and not user.can_see("k2", "any")
    assert admin.can_see("k1", "any")
