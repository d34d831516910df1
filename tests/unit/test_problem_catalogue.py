"""Every problem the service can answer comes from the one catalogue (app.lib.problems)."""

from __future__ import annotations

from litestar.openapi.spec import Operation, Reference

from app.factory import create_app
from app.lib import errors
from app.lib.problems import BY_STATUS, CATALOGUE, INTERNAL_ERROR, PROBLEM_JSON, of_status
from app.lib.settings import Settings

METHODS = ("get", "post", "put", "patch", "delete")


def _operations() -> list[tuple[str, str, Operation]]:
    schema = create_app(Settings()).openapi_schema
    return [
        (path, method, operation)
        for path, item in (schema.paths or {}).items()
        for method in METHODS
        if (operation := getattr(item, method)) is not None
    ]


def test_the_catalogue_names_each_problem_once() -> None:
    slugs = [problem.slug for problem in CATALOGUE]
    assert len(slugs) == len(set(slugs))
    assert all(400 <= problem.status < 600 for problem in CATALOGUE)
    assert of_status(418) is INTERNAL_ERROR  # a status nobody declared is not invented a slug


def test_every_domain_error_is_a_catalogue_problem() -> None:
    raised = [
        value for value in vars(errors).values() if isinstance(value, type) and issubclass(value, errors.DomainError)
    ]
    assert len(raised) >= 7
    assert all(error.problem in CATALOGUE for error in raised)


def test_every_routes_declared_errors_are_catalogue_problems_in_problem_json() -> None:
    declared = 0
    for path, method, operation in _operations():
        if not path.startswith("/api/"):
            continue
        for code, response in (operation.responses or {}).items():
            if int(code) < 400:
                continue
            declared += 1
            assert int(code) in BY_STATUS, f"{method.upper()} {path} declares {code}, which the catalogue lacks"
            assert not isinstance(response, Reference)
            assert PROBLEM_JSON in (response.content or {}), (path, method, code)
            named = {problem.slug for problem in CATALOGUE if problem.status == int(code)}
            listed = set(response.description.split("problem types: ")[1].rstrip(")").split(", "))
            assert listed == named, (path, method, code, listed)
    assert declared > 20
