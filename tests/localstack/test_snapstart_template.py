"""The SnapStart option of template.yaml: off by default; on, every function is
published under the alias ``live``, snapshotted, and invoked through it."""

from __future__ import annotations

from typing import Any

from local.template import load_template

NO_VALUE = {"Ref": "AWS::NoValue"}


def functions() -> dict[str, dict[str, Any]]:
    return {
        k: v["Properties"] for k, v in load_template()["Resources"].items() if v["Type"] == "AWS::Serverless::Function"
    }


def test_snapstart_is_a_yes_no_parameter_off_by_default() -> None:
    template = load_template()
    parameter = template["Parameters"]["SnapStart"]
    assert parameter["Default"] == "No"
    assert sorted(parameter["AllowedValues"]) == ["No", "Yes"]
    assert template["Conditions"]["UseSnapStart"] == {"Fn::Equals": [{"Ref": "SnapStart"}, "Yes"]}


def test_every_function_gets_snapstart_on_its_published_versions_only_under_the_condition() -> None:
    found = functions()
    assert found
    for logical, props in found.items():
        # A published version and its alias, or nothing at all ($LATEST)
        assert props["AutoPublishAlias"] == {"Fn::If": ["UseSnapStart", "live", NO_VALUE]}, logical
        assert props["SnapStart"] == {"Fn::If": ["UseSnapStart", {"ApplyOn": "PublishedVersions"}, NO_VALUE]}, logical


def test_sam_sees_the_condition_resolved_because_language_extensions_runs_first() -> None:
    # SAM alone refuses an Fn::If in AutoPublishAlias; AWS::LanguageExtensions
    # resolves it from the parameter's value before SAM's transform runs.
    assert load_template()["Transform"] == ["AWS::LanguageExtensions", "AWS::Serverless-2016-10-31"]


def test_the_runtime_is_one_snapstart_supports() -> None:
    runtime = load_template()["Globals"]["Function"]["Runtime"]
    assert runtime.startswith("python3.")
    assert int(runtime.removeprefix("python3.")) >= 12  # SnapStart: Python 3.12 and later
    for props in functions().values():
        assert "Runtime" not in props or int(props["Runtime"].removeprefix("python3.")) >= 12


def test_privas_services_are_given_the_alias_when_snapstart_is_on() -> None:
    # SnapStart applies to published versions only: invoking the function
    # itself ($LATEST) would start cold every time.
    output = load_template()["Outputs"]["EnqueueFunctionArn"]["Value"]
    assert output == {
        "Fn::If": ["UseSnapStart", {"Ref": "EnqueueFunction.Alias"}, {"Fn::GetAtt": ["EnqueueFunction", "Arn"]}]
    }
