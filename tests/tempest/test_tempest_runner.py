"""The tempest runner's scoring: subunit in, counts, regressions and causes out."""

from __future__ import annotations

import importlib.util
import io
import sys
from pathlib import Path

import pytest

subunit = pytest.importorskip("subunit")

_spec = importlib.util.spec_from_file_location("tempest_runner", Path(__file__).with_name("run.py"))
runner = importlib.util.module_from_spec(_spec)
sys.modules["tempest_runner"] = runner
_spec.loader.exec_module(runner)

ID = "tempest.api.identity.admin.v3.test_roles.RolesV3TestJSON"
IMG = "tempest.api.image.v2.test_images.BasicOperationsImagesTest"
LISTED = [
    f"{ID}.test_role_create_update_show_list[id-18afc6c0-46cf-4911-824e-9989cc056c3a,smoke]",
    f"{ID}.test_list_roles[id-f5d9fbb9-9f0d-4d8a-b2f4-a2cb4d72e95d]",
    f"{IMG}.test_delete_image[id-f848bb94-1c6e-45a4-8726-39e3a5b23535]",
    f"{IMG}.test_update_image[id-f66891a7-a35c-41a8-b590-a065c2a1caa6]",
    "tempest.api.image.v2.test_images.ImportImagesTest.test_image_glance_direct_import[id-32ca0c20]",
    "tempest.api.identity.v3.test_tokens.TokensV3Test.test_validate_token[id-a9512ac3]",
]


def stream(*events: tuple) -> bytes:
    """events: (test id, status, {detail name: text})"""
    buf = io.BytesIO()
    out = subunit.StreamResultToBytes(buf)
    for test_id, status, details in events:
        out.status(test_id=test_id, test_status="inprogress")
        for name, text in details.items():
            out.status(test_id=test_id, file_name=name, file_bytes=text.encode(),
                       mime_type="text/plain; charset=utf8", eof=True)
        out.status(test_id=test_id, test_status=status)
    return buf.getvalue()


NOT_FOUND_TRACE = """Traceback (most recent call last):
  File "tempest/api/identity/admin/v3/test_roles.py", line 80, in test_list_roles
    body = self.roles_client.list_roles()
tempest.lib.exceptions.NotFound: Object not found
Details: {'code': 404, 'message': 'The resource could not be found.'}
"""
NOT_FOUND_LOG = (
    "2026-11-21 18:00:00.000 INFO tempest.lib.common.rest_client [req-1] "
    "Request (RolesV3TestJSON:test_list_roles): 201 POST http://127.0.0.1:9/identity/v3/auth/tokens 0.01s\n"
    "2026-11-21 18:00:00.100 INFO tempest.lib.common.rest_client [req-2] "
    "Request (RolesV3TestJSON:test_list_roles): 404 GET "
    "http://127.0.0.1:9/identity/v3/roles/0123456789abcdef0123456789abcdef 0.01s\n"
    "2026-11-21 18:00:00.200 INFO tempest.lib.common.rest_client [req-3] "
    "Request (RolesV3TestJSON:test_list_roles): 404 GET "
    "http://127.0.0.1:9/identity/v3/roles?name=tempest-role-1234 0.01s\n"
)


def test_scores_results_per_area_with_class_skips_inherited():
    records = runner.read_subunit(stream(
        (LISTED[0], "success", {}),
        (LISTED[1], "fail", {"traceback": NOT_FOUND_TRACE, "pythonlogging:''": NOT_FOUND_LOG}),
        (IMG + ".test_delete_image[id-f848bb94-1c6e-45a4-8726-39e3a5b23535]", "success", {}),
        ("setUpClass (tempest.api.image.v2.test_images.ImportImagesTest)", "skip",
         {"reason": "image import is not available"}),
        ("tearDownClass (tempest.api.identity.admin.v3.test_roles.RolesV3TestJSON)", "fail",
         {"traceback": "tempest.lib.exceptions.ServerFault: Got server fault\n"}),
    ))
    tempest_log = (
        "2026-11-21 18:11:50.999 1 INFO tempest.lib.common.rest_client [req-1 req-1 ] "
        "Request (RolesV3TestJSON:tearDownClass): 500 DELETE http://127.0.0.1:9/identity/v3/roles/x 0.002s\n"
        "2026-11-21 18:11:51.000 1 INFO tempest.lib.common.rest_client [req-2 req-2 ] "
        "Request (OtherTest:tearDownClass): 404 DELETE http://127.0.0.1:9/identity/v3/users/y 0.002s\n"
    )
    outcome = runner.score(LISTED, records, runner.class_fixture_logs(tempest_log))

    assert outcome.counts("identity") == {"pass": 1, "fail": 2, "skip": 0}
    assert outcome.counts("image") == {"pass": 1, "fail": 1, "skip": 1}
    assert outcome.tests[runner.base_id(LISTED[4])].reason == "image import is not available"
    assert "404 GET" in outcome.tests[runner.base_id(LISTED[1])].log
    # Listed, but the stream never mentions it: it did not run, and that is a failure.
    assert outcome.not_run == 2
    assert outcome.failing() == sorted(runner.base_id(t) for t in (LISTED[1], LISTED[3], LISTED[5]))
    assert list(outcome.fixture_failures) == [
        "tearDownClass (tempest.api.identity.admin.v3.test_roles.RolesV3TestJSON)"]
    # Class fixtures have no log attachment: their calls come from tempest.log.
    assert runner.failure_cause(next(iter(outcome.fixture_failures.values()))) == \
        "DELETE /identity/v3/roles/x -> 500 ServerFault"


def test_failure_cause_is_the_call_whose_status_the_exception_names():
    result = runner.Result("fail", NOT_FOUND_TRACE, NOT_FOUND_LOG)
    assert runner.failure_cause(result) == "GET /identity/v3/roles/{id} -> 404 NotFound"


def test_failure_cause_ignores_expected_errors_and_falls_back_to_the_exception():
    trace = ("Traceback (most recent call last):\n"
             "testtools.matchers._impl.MismatchError: 'domain_id' not in "
             "{'id': '0123456789abcdef0123456789abcdef'}\n")
    result = runner.Result("fail", trace, NOT_FOUND_LOG)
    assert runner.failure_cause(result) == "MismatchError: 'domain_id' not in {'id': '{id}'}"


def test_groups_failures_by_cause_largest_first():
    outcome = runner.Outcome()
    nf = runner.Result("fail", NOT_FOUND_TRACE, NOT_FOUND_LOG)
    outcome.tests = {"a.T.test_1": nf, "a.T.test_2": nf, "b.T.test_3": runner.Result("fail", "boom"),
                     "c.T.test_4": runner.Result("pass")}
    causes = runner.group_failures(outcome)
    assert [(c.what, c.tests) for c in causes] == [
        ("GET /identity/v3/roles/{id} -> 404 NotFound", ["a.T.test_1", "a.T.test_2"]),
        ("boom", ["b.T.test_3"]),
    ]
    assert "Object not found" in causes[0].example


def test_api_call_hides_ids_names_and_query_values():
    assert runner.api_call("PUT", "http://h:1/identity/v3/projects/0123456789abcdef0123456789abcdef/users/"
                           "3f2504e0-4f89-11d3-9a0c-0305e82c3301/roles/tempest-role-1") == \
        "PUT /identity/v3/projects/{id}/users/{id}/roles/{id}"
    assert runner.api_call("GET", "http://h:1/image/v2/images?limit=1&marker=x") == \
        "GET /image/v2/images?limit=&marker="


def test_expected_file_gates_only_listed_tests(tmp_path):
    outcome = runner.Outcome(tests={"a.T.test_ok": runner.Result("pass"),
                                    "a.T.test_bad": runner.Result("fail", "x"),
                                    "a.T.test_skip": runner.Result("skip", "y")})
    expected = tmp_path / "expected.txt"
    expected.write_text("# comment\na.T.test_ok[id-1,smoke]\n\na.T.test_skip  # skipped counts\nz.T.gone\n")
    ids = runner.read_expected(expected)
    assert ids == ["a.T.test_ok", "a.T.test_skip", "z.T.gone"]
    assert runner.regressions(outcome, ids) == (["a.T.test_skip"], ["z.T.gone"])

    runner.write_expected(expected, outcome)
    assert runner.read_expected(expected) == ["a.T.test_ok"]


def test_openrc_parsing_and_identity_uri(tmp_path):
    rc = tmp_path / "admin-openrc.sh"
    rc.write_text("# gureum\nexport OS_AUTH_URL=http://127.0.0.1:5/identity\n"
                  "export OS_PASSWORD='s3cr3t with space'\nexport OS_USERNAME=\"admin\"\n")
    env = runner.read_openrc(rc)
    assert env == {"OS_AUTH_URL": "http://127.0.0.1:5/identity", "OS_PASSWORD": "s3cr3t with space",
                   "OS_USERNAME": "admin"}
    assert runner.identity_v3(env["OS_AUTH_URL"]) == "http://127.0.0.1:5/identity/v3"
    assert runner.identity_v3("http://x/identity/v3/") == "http://x/identity/v3"


def test_tempest_conf_template_fills_every_value(tmp_path):
    class Images:
        base = "http://127.0.0.1:1"

    (tmp_path / "etc").mkdir()
    env = {"OS_AUTH_URL": "http://127.0.0.1:5/identity/v3", "OS_USERNAME": "admin", "OS_PASSWORD": "pw",
           "OS_PROJECT_NAME": "admin", "OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_NAME": "Default",
           "OS_REGION_NAME": "RegionOne"}
    text = runner.write_tempest_conf(tmp_path, env, Images()).read_text()
    assert "$" not in text
    assert "uri_v3 = http://127.0.0.1:5/identity/v3" in text
    assert "http_qcow2_image = http://127.0.0.1:1/cirros.qcow2" in text
    assert f"lock_path = {tmp_path / 'tempest_lock'}" in text


def test_selection_regex_combines_areas_and_a_filter():
    import re

    args = runner.parse_args(["--areas", "image", "--regex", "test_images_tags"])
    regex = re.compile(runner.selection_regex(args))
    assert regex.search("tempest.api.image.v2.test_images_tags.ImagesTagsTest.test_update_delete_tags_for_image")
    assert not regex.search("tempest.api.image.v2.test_images.BasicOperationsImagesTest.test_delete_image")
    assert not regex.search("tempest.api.identity.v3.test_images_tags.X.test_y")


def test_failure_cause_follows_the_client_method_that_raised():
    tempest = pytest.importorskip("tempest")
    roles_client = Path(tempest.__file__).parent / "lib/services/identity/v3/roles_client.py"
    trace = (
        "Traceback (most recent call last):\n"
        f'  File "{roles_client}", line 293, in check_role_inference_rule\n'
        "    self.expected_success(204, resp.status)\n"
        "tempest.lib.exceptions.InvalidHttpSuccessCode: The success code is different than the expected one\n"
        "Details: Unexpected http success status code 200, The expected status code is 204\n"
    )
    assert runner.client_request(trace) == ("HEAD", "roles/")
    log = (
        "Request (T:test_x): 200 GET http://h:1/identity/v3/roles/r1 0.01s\n"
        "Request (T:test_x): 200 HEAD http://h:1/identity/v3/roles/r1/implies/r2 0.01s\n"
    )
    assert runner.failure_cause(runner.Result("fail", trace, log)) == \
        "HEAD /identity/v3/roles/r1/implies/r2 -> 200 InvalidHttpSuccessCode"


def test_failure_cause_skips_expected_404s_of_other_calls():
    tempest = pytest.importorskip("tempest")
    groups_client = Path(tempest.__file__).parent / "lib/services/identity/v3/groups_client.py"
    trace = (
        "Traceback (most recent call last):\n"
        f'  File "{groups_client}", line 40, in create_group\n'
        "    resp, body = self.post('groups', post_body)\n"
        "tempest.lib.exceptions.NotFound: Object not found\n"
    )
    log = (
        "Request (T:test_x): 404 GET http://h:1/identity/v3/users/0123456789abcdef0123456789abcdef 0.01s\n"
        "Request (T:test_x): 404 POST http://h:1/identity/v3/groups 0.01s\n"
    )
    assert runner.failure_cause(runner.Result("fail", trace, log)) == "POST /identity/v3/groups -> 404 NotFound"
