"""The management API against answers recorded from real AWS.

Every expectation here is taken from a response AWS itself gave, as recorded in
LocalStack's Lambda suite (github.com/localstack/localstack,
`tests/aws/services/lambda_/test_lambda_api.snapshot.json`, keyed by the test that made
the request in `test_lambda_api.py`). The recordings use account 111111111111 and their
own region; ours are 000000000000 and us-east-1, substituted below. Each case cites its
source as `Class::test[/snapshot key]`. Where ondol deliberately differs, docs/api.md says so.
"""
import json
import subprocess
from dataclasses import dataclass, field

import botocore.config
import boto3
import pytest
from botocore.exceptions import ClientError

from conftest import AWS, FUNCTIONS, Server, sandbox_args, zip_dir

ARN = "arn:aws:lambda:us-east-1:000000000000:function:"
ROLE = "arn:aws:iam::000000000000:role/lambda-role"
ZIP = zip_dir(FUNCTIONS / "py_hello")
FN = "aws-fn"  # created with version 1 and alias `live` -> 1
PATTERN = "failed to satisfy constraint: Member must satisfy regular expression pattern"
NAME_PATTERN = (
    "(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:)?"
    "(\\d{12}:)?(function:)?([a-zA-Z0-9-_\\.]+)(:(\\$LATEST(\\.PUBLISHED)?|[a-zA-Z0-9-_]+))?"
)
CREATE_PATTERN = (
    "(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:)?"
    "(\\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?"
)
QUALIFIER_PATTERN = "\\$(LATEST(\\.PUBLISHED)?)|[a-zA-Z0-9-_$]+"
URL_QUALIFIER = "((?!^\\d+$)^[0-9a-zA-Z-_]+$)"
NO_EIC = "The function {arn} doesn't have an EventInvokeConfig"
REVISION = ("The Revision Id provided does not match the latest Revision Id. "
            "Call the GetFunction/GetAlias API to retrieve the latest Revision Id")
DERIVED = "The derived qualifier from the function name does not match the specified qualifier."
OTHER_REGION = "Functions from 'ap-southeast-1' are not reachable in this region ('us-east-1')"
A65 = "a" * 65


def create_args(name, **extra):
    args = dict(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                Code={"ZipFile": ZIP})
    args.update(extra)
    return args


@dataclass
class Err:
    """A request AWS refused: its status, code and message (exact, or a prefix with `...`)."""
    id: str
    src: str
    op: str
    kwargs: dict
    status: int
    code: str
    message: str = None
    prefix: bool = field(default=False)


def validation(value, at, constraint):
    return f"1 validation error detected: Value '{value}' at '{at}' {constraint}"


API = "test_lambda_api.py::"
NQV = API + "TestLambdaFunction::test_function_name_and_qualifier_validation"
ROUT = API + "TestLambdaAlias::test_notfound_and_invalid_routingconfigs"
EIC = API + "TestLambdaEventInvokeConfig::test_lambda_eventinvokeconfig_exceptions"
PROV = API + "TestLambdaProvisionedConcurrency::test_provisioned_concurrency_exceptions"
URLX = API + "TestLambdaUrl::test_url_config_exceptions"
CREX = API + "TestLambdaFunction::test_create_lambda_exceptions"
ARNS = API + "TestLambdaFunction::test_function_arns"
WRONG_REGION = API + "TestLambdaFunction::test_get_function_wrong_region"
NOFN = API + "TestLambdaFunction::test_ops_on_nonexisting_fn"

ERRORS = [
    # ---- names and qualifiers: pattern failures are ValidationException ----
    Err("name-bang-get", NQV + "[invalid_characters_in_function_name-get_function]", "get_function",
        {"FunctionName": "my-function!"}, 400, "ValidationException",
        validation("my-function!", "functionName", f"{PATTERN}: {NAME_PATTERN}")),
    Err("name-star-delete", NQV + "[function_name_is_single_invalid-delete_function]", "delete_function",
        {"FunctionName": "*"}, 400, "ValidationException",
        validation("*", "functionName", f"{PATTERN}: {NAME_PATTERN}")),
    Err("name-bad-account-invoke", NQV + "[invalid_account_id_in_partial_arn-invoke]", "invoke",
        {"FunctionName": "invalid-account:function:my-function"}, 400, "ValidationException",
        validation("invalid-account:function:my-function", "functionName", f"{PATTERN}: {NAME_PATTERN}")),
    Err("name-bad-region-get", NQV + "[invalid_region_in_arn-get_function]", "get_function",
        {"FunctionName": "arn:aws:lambda:invalid-region:000000000000:function:my-function"}, 400,
        "ValidationException", validation("arn:aws:lambda:invalid-region:000000000000:function:my-function",
                                          "functionName", f"{PATTERN}: {NAME_PATTERN}")),
    Err("name-ec2-arn-get", NQV + "[non_lambda_arn-get_function]", "get_function",
        {"FunctionName": "arn:aws:ec2:us-east-1:000000000000:instance:i-1234567890abcdef0"}, 400,
        "ValidationException", "1 validation error detected: Value 'arn:aws:ec2:", True),
    Err("name-two-qualifiers-get", NQV + "[full_arn_with_multiple_qualifiers-get_function]", "get_function",
        {"FunctionName": ARN + "my-function:1:2"}, 400, "ValidationException",
        validation(ARN + "my-function:1:2", "functionName", f"{PATTERN}: {NAME_PATTERN}")),
    Err("name-partial-extra-delete", NQV + "[partial_arn_with_extra_qualifier-delete_function]",
        "delete_function", {"FunctionName": "function:my-function:$LATEST:extra"}, 400, "ValidationException",
        validation("function:my-function:$LATEST:extra", "functionName", f"{PATTERN}: {NAME_PATTERN}")),
    Err("name-no-region-get", NQV + "[missing_region_in_arn-get_function]", "get_function",
        {"FunctionName": "arn:aws:lambda::000000000000:function:my-function"}, 400, "ValidationException",
        validation("arn:aws:lambda::000000000000:function:my-function", "functionName",
                   f"{PATTERN}: {NAME_PATTERN}")),
    Err("name-no-account-invoke", NQV + "[missing_account_id_in_arn-invoke]", "invoke",
        {"FunctionName": "arn:aws:lambda:us-east-1::function:my-function"}, 400, "ValidationException",
        validation("arn:aws:lambda:us-east-1::function:my-function", "functionName",
                   f"{PATTERN}: {NAME_PATTERN}")),
    Err("name-latest-typo-get", NQV + "[misspelled_latest_in_arn-get_function]", "get_function",
        {"FunctionName": ARN + "my-function:$LATES"}, 400, "ValidationException",
        validation(ARN + "my-function:$LATES", "functionName", f"{PATTERN}: {NAME_PATTERN}")),
    Err("name-65-get", NQV + "[function_name_too_long-get_function]", "get_function",
        {"FunctionName": A65}, 404, "ResourceNotFoundException", f"Function not found: {ARN}{A65}"),
    Err("name-65-delete", NQV + "[function_name_too_long-delete_function]", "delete_function",
        {"FunctionName": A65}, 404, "ResourceNotFoundException", f"Function not found: {ARN}{A65}"),
    Err("name-65-invoke", NQV + "[function_name_too_long-invoke]", "invoke",
        {"FunctionName": A65}, 404, "ResourceNotFoundException", f"Function not found: {ARN}{A65}:$LATEST"),
    Err("qualifier-bang-get", NQV + "[invalid_characters_in_qualifier-get_function]", "get_function",
        {"FunctionName": "my-function", "Qualifier": "invalid!"}, 400, "ValidationException",
        validation("invalid!", "qualifier", f"{PATTERN}: {QUALIFIER_PATTERN}")),
    Err("qualifier-bang-delete", NQV + "[invalid_characters_in_qualifier-delete_function]", "delete_function",
        {"FunctionName": "my-function", "Qualifier": "invalid!"}, 400, "ValidationException",
        validation("invalid!", "qualifier", f"{PATTERN}: {QUALIFIER_PATTERN}")),
    Err("qualifier-bang-invoke", NQV + "[invalid_characters_in_qualifier-invoke]", "invoke",
        {"FunctionName": "my-function", "Qualifier": "invalid!"}, 400, "ValidationException",
        validation("invalid!", "qualifier", f"{PATTERN}: {QUALIFIER_PATTERN}")),
    Err("qualifier-129-get", NQV + "[qualifier_too_long-get_function]", "get_function",
        {"FunctionName": "my-function", "Qualifier": "a" * 129}, 400, "ValidationException",
        validation("a" * 129, "qualifier",
                   "failed to satisfy constraint: Member must have length less than or equal to 128")),
    Err("qualifier-derived-mismatch-get", NQV + "[latest_version_with_additional_qualifier-get_function]",
        "get_function", {"FunctionName": ARN + "my-function:$LATEST", "Qualifier": "1"}, 400,
        "InvalidParameterValueException", DERIVED),
    Err("qualifier-mismatch-delete", API + "TestLambdaFunction::test_ops_with_arn_qualifier_mismatch"
        "[delete_function]/not_match_exception", "delete_function",
        {"FunctionName": ARN + "some-function:1", "Qualifier": "$LATEST"}, 400,
        "InvalidParameterValueException", DERIVED),
    Err("delete-latest", API + "TestLambdaFunction::test_ops_with_arn_qualifier_mismatch"
        "[delete_function]/match_exception", "delete_function",
        {"FunctionName": ARN + "some-function:$LATEST", "Qualifier": "$LATEST"}, 400,
        "InvalidParameterValueException", "$LATEST version cannot be deleted without deleting the function."),
    Err("qualifier-match-get-missing", API + "TestLambdaFunction::test_ops_with_arn_qualifier_mismatch"
        "[get_function]/match_exception", "get_function",
        {"FunctionName": ARN + "some-function:$LATEST", "Qualifier": "$LATEST"}, 404,
        "ResourceNotFoundException", f"Function not found: {ARN}some-function:$LATEST"),
    Err("qualifier-lowercase-latest", NQV + "[lowercase_latest_qualifier-get_function]", "get_function",
        {"FunctionName": ARN + "my-function", "Qualifier": "$latest"}, 404, "ResourceNotFoundException",
        f"Function not found: {ARN}my-function:$latest"),
    Err("incomplete-arn-get", NQV + "[incomplete_arn-get_function]", "get_function",
        {"FunctionName": "arn:aws:lambda:us-east-1:000000000000:function"}, 404, "ResourceNotFoundException",
        f"Function not found: {ARN}function"),
    # ---- another region's ARN ----
    Err("other-region-get", WRONG_REGION + "[get_function]", "get_function",
        {"FunctionName": "arn:aws:lambda:ap-southeast-1:000000000000:function:" + FN}, 404,
        "ResourceNotFoundException", OTHER_REGION),
    Err("other-region-config", WRONG_REGION + "[get_function_configuration]", "get_function_configuration",
        {"FunctionName": "arn:aws:lambda:ap-southeast-1:000000000000:function:" + FN}, 404,
        "ResourceNotFoundException", OTHER_REGION),
    Err("other-region-invoke", WRONG_REGION + "[invoke]", "invoke",
        {"FunctionName": "arn:aws:lambda:ap-southeast-1:000000000000:function:" + FN}, 404,
        "ResourceNotFoundException", OTHER_REGION),
    Err("other-region-create", ARNS + "/function_arn_other_region_exc", "create_function",
        create_args("arn:aws:lambda:ap-southeast-1:000000000000:function:x"), 404,
        "ResourceNotFoundException", OTHER_REGION),
    # ---- CreateFunction validation ----
    Err("create-bad-name", ARNS + "/invalid_function_name_exc", "create_function",
        create_args("invalid:function:name"), 400, "ValidationException",
        validation("invalid:function:name", "functionName", f"{PATTERN}: {CREATE_PATTERN}")),
    Err("create-65-name", ARNS + "/long_function_name_exc", "create_function", create_args(A65), 400,
        "InvalidParameterValueException",
        validation(A65, "functionName", "failed to satisfy constraint: Member must have length less than or equal to 64")),
    Err("create-two-archs", CREX + "/multiple_architectures", "create_function",
        create_args("two-archs", Architectures=["x86_64", "arm64"]), 400, "ValidationException",
        validation("[x86_64, arm64]", "architectures",
                   "failed to satisfy constraint: Member must have length less than or equal to 1")),
    Err("create-upper-arch", CREX + "/uppercase_architecture", "create_function",
        create_args("upper-arch", Architectures=["X86_64"]), 400, "ValidationException",
        validation("[X86_64]", "architectures", "failed to satisfy constraint: Member must satisfy constraint: "
                   "[Member must satisfy enum value set: [x86_64, arm64], Member must not be null]")),
    Err("create-bad-role", CREX + "/invalid_role_arn_exc", "create_function", create_args("bad-role", Role="r1"),
        400, "ValidationException", validation("r1", "role", f"{PATTERN}: "
                                               "arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+")),
    Err("create-bad-runtime", CREX + "/invalid_runtime_exc", "create_function",
        create_args("bad-runtime", Runtime="non-existent-runtime"), 400, "InvalidParameterValueException",
        "Value non-existent-runtime at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: [",
        True),
    Err("create-bad-zip", CREX + "/invalid_zip_exc", "create_function",
        create_args("bad-zip", Code={"ZipFile": b"not a zip"}), 400, "InvalidParameterValueException",
        # ondol adds why in brackets after AWS's sentence (docs/api.md).
        "Could not unzip uploaded file. Please check your file, then try to upload again.", True),
    Err("list-bad-version", API + "TestLambdaFunction::test_list_functions/list_functions_invalid_functionversion",
        "list_functions", {"FunctionVersion": "invalid"}, 400, "ValidationException",
        validation("invalid", "functionVersion",
                   "failed to satisfy constraint: Member must satisfy enum value set: [ALL]")),
    # ---- missing functions and versions ----
    Err("missing-get", NOFN + "[get_function]", "get_function", {"FunctionName": "i-dont-exist"}, 404,
        "ResourceNotFoundException", f"Function not found: {ARN}i-dont-exist"),
    Err("missing-config", NOFN + "[get_function_configuration]", "get_function_configuration",
        {"FunctionName": "i-dont-exist"}, 404, "ResourceNotFoundException", f"Function not found: {ARN}i-dont-exist"),
    Err("missing-delete", NOFN + "[delete_function]", "delete_function", {"FunctionName": "i-dont-exist"}, 404,
        "ResourceNotFoundException", f"Function not found: {ARN}i-dont-exist"),
    Err("missing-url", NOFN + "[get_function_url_config]", "get_function_url_config",
        {"FunctionName": "i-dont-exist"}, 404, "ResourceNotFoundException", "The resource you requested does not exist."),
    Err("missing-eic", NOFN + "[get_function_event_invoke_config]", "get_function_event_invoke_config",
        {"FunctionName": "i-dont-exist"}, 404, "ResourceNotFoundException",
        NO_EIC.format(arn=ARN + "i-dont-exist:$LATEST")),
    Err("missing-concurrency", NOFN + "[get_function_concurrency]", "get_function_concurrency",
        {"FunctionName": "i-dont-exist"}, 404, "ResourceNotFoundException", f"Function not found: {ARN}i-dont-exist"),
    Err("missing-version-get", API + "TestLambdaFunction::test_ops_on_nonexisting_version[get_function]",
        "get_function", {"FunctionName": FN, "Qualifier": "1221"}, 404, "ResourceNotFoundException",
        f"Function not found: {ARN}{FN}:1221"),
    Err("missing-version-eic", API + "TestLambdaFunction::test_ops_on_nonexisting_version"
        "[get_function_event_invoke_config]", "get_function_event_invoke_config",
        {"FunctionName": FN, "Qualifier": "1221"}, 404, "ResourceNotFoundException",
        NO_EIC.format(arn=f"{ARN}{FN}:1221")),
    Err("missing-fn-qualified-delete", API + "TestLambdaFunction::test_delete_on_nonexisting_version"
        "/delete_function_response_non_existent_with_qualifier", "delete_function",
        {"FunctionName": "i-dont-exist", "Qualifier": "1233"}, 404, "ResourceNotFoundException",
        f"Function not found: {ARN}i-dont-exist"),
    # ---- aliases ----
    Err("alias-get-missing", API + "TestLambdaAlias::test_alias_lifecycle/get_function_alias_notfound_exc",
        "get_alias", {"FunctionName": FN, "Name": "aliasdoesnotexist"}, 404, "ResourceNotFoundException",
        f"Function not found: {ARN}{FN}:aliasdoesnotexist"),
    Err("alias-update-missing", API + "TestLambdaAlias::test_non_existent_alias_update/update_alias_response",
        "update_alias", {"FunctionName": FN, "Name": "non-existent", "Description": "x"}, 404,
        "ResourceNotFoundException", f"Alias not found: {ARN}{FN}:non-existent"),
    Err("alias-numeric-name", API + "TestLambdaAlias::test_alias_naming/create_alias_number_exception",
        "create_alias", {"FunctionName": FN, "Name": "2024", "FunctionVersion": "1"}, 400, "ValidationException",
        validation("2024", "name", f"{PATTERN}: (?!^[0-9]+$)([a-zA-Z0-9-_]+)")),
    Err("alias-two-weights", ROUT + "/routing_config_exc_toomany", "create_alias",
        {"FunctionName": FN, "Name": "custom", "FunctionVersion": "1",
         "RoutingConfig": {"AdditionalVersionWeights": {"1": 0.8, "2": 0.2}}}, 400,
        "InvalidParameterValueException", "Number of items in AdditionalVersionWeights cannot be greater than 1"),
    Err("alias-weight-2", ROUT + "/routing_config_exc_toohigh", "create_alias",
        {"FunctionName": FN, "Name": "custom", "FunctionVersion": "1",
         "RoutingConfig": {"AdditionalVersionWeights": {"2": 2}}}, 400, "ValidationException",
        validation("{2=2.0}", "routingConfig.additionalVersionWeights",
                   "failed to satisfy constraint: Map value must satisfy constraint: [Member must have value "
                   "less than or equal to 1.0, Member must have value greater than or equal to 0.0, "
                   "Member must not be null]")),
    Err("alias-weight-negative", ROUT + "/routing_config_exc_subzero", "create_alias",
        {"FunctionName": FN, "Name": "custom", "FunctionVersion": "1",
         "RoutingConfig": {"AdditionalVersionWeights": {"2": -1}}}, 400, "ValidationException",
        validation("{2=-1.0}", "routingConfig.additionalVersionWeights",
                   "failed to satisfy constraint: Map value must satisfy constraint: [Member must have value "
                   "less than or equal to 1.0, Member must have value greater than or equal to 0.0, "
                   "Member must not be null]")),
    Err("alias-weight-same-version", ROUT + "/routing_config_exc_sameversion", "create_alias",
        {"FunctionName": FN, "Name": "custom", "FunctionVersion": "1",
         "RoutingConfig": {"AdditionalVersionWeights": {"1": 0.5}}}, 400, "InvalidParameterValueException",
        "Invalid function version 1. Function version 1 is already included in routing configuration."),
    Err("alias-missing-version", ROUT + "/target_version_doesnotexist", "create_alias",
        {"FunctionName": FN, "Name": "custom", "FunctionVersion": "10"}, 404, "ResourceNotFoundException",
        f"Function not found: {ARN}{FN}:10"),
    Err("alias-weight-missing-version", ROUT + "/routing_config_exc_version_doesnotexist", "create_alias",
        {"FunctionName": FN, "Name": "custom", "FunctionVersion": "1",
         "RoutingConfig": {"AdditionalVersionWeights": {"10": 0.5}}}, 404, "ResourceNotFoundException",
        f"Function not found: {ARN}{FN}:10"),
    Err("alias-latest-weighted", ROUT + "/target_version_exc_version_latest", "create_alias",
        {"FunctionName": FN, "Name": "custom", "FunctionVersion": "$LATEST",
         "RoutingConfig": {"AdditionalVersionWeights": {"1": 0.5}}}, 400, "InvalidParameterValueException",
        "$LATEST is not supported for an alias pointing to more than 1 version"),
    Err("alias-weight-on-latest", ROUT + "/routing_config_exc_version_latest", "create_alias",
        {"FunctionName": FN, "Name": "custom", "FunctionVersion": "1",
         "RoutingConfig": {"AdditionalVersionWeights": {"$LATEST": 0.5}}}, 400, "ValidationException",
        validation("{$LATEST=0.5}", "routingConfig.additionalVersionWeights",
                   "failed to satisfy constraint: Map keys must satisfy constraint: [Member must have length "
                   "less than or equal to 1024, Member must have length greater than or equal to 1, Member must "
                   "satisfy regular expression pattern: [0-9]+]")),
    Err("alias-missing-fn", ROUT + "/routing_config_exc_fn_doesnotexist", "create_alias",
        {"FunctionName": FN + "-unknown", "Name": "custom", "FunctionVersion": "1"}, 404,
        "ResourceNotFoundException", f"Function not found: {ARN}{FN}-unknown:1"),
    Err("alias-exists", ROUT + "/routing_config_exc_already_exist", "create_alias",
        {"FunctionName": FN, "Name": "live", "FunctionVersion": "1"}, 409, "ResourceConflictException",
        f"Alias already exists: {ARN}{FN}:live"),
    # ---- event invoke configs ----
    Err("eic-put-missing-fn", EIC + "/put_functionname_name_notfound", "put_function_event_invoke_config",
        {"FunctionName": "doesnotexist", "MaximumRetryAttempts": 1}, 404, "ResourceNotFoundException",
        "The function doesn't exist."),
    Err("eic-put-missing-fn-arn", EIC + "/put_functionname_arn_notfound", "put_function_event_invoke_config",
        {"FunctionName": ARN + "doesnotexist", "MaximumRetryAttempts": 1}, 404, "ResourceNotFoundException",
        "The function doesn't exist."),
    Err("eic-put-nothing", EIC + "/put_functionname_nootherargs", "put_function_event_invoke_config",
        {"FunctionName": "doesnotexist"}, 400, "InvalidParameterValueException",
        "You must specify at least one of error handling or destination setting."),
    Err("eic-dest-missing", EIC + "/put_destination_lambda_doesntexist", "put_function_event_invoke_config",
        {"FunctionName": FN, "DestinationConfig": {"OnSuccess": {"Destination": ARN + "doesnotexist"}}}, 400,
        "InvalidParameterValueException", f"The destination ARN {ARN}doesnotexist is invalid."),
    Err("eic-dest-self", EIC + "/put_destination_recursive", "put_function_event_invoke_config",
        {"FunctionName": FN, "DestinationConfig": {"OnSuccess": {"Destination": ARN + FN}}}, 400,
        "InvalidParameterValueException", "You can't specify the function as a destination for itself."),
    Err("eic-dest-iam", EIC + "/put_destination_invalid_service_arn", "put_function_event_invoke_config",
        {"FunctionName": FN, "DestinationConfig": {"OnSuccess": {
            "Destination": f"arn:aws:iam:us-east-1:000000000000:function:{FN}"}}}, 400,
        "InvalidParameterValueException",
        f"The provided destination config DestinationConfig(onSuccess=OnSuccess(destination="
        f"arn:aws:iam:us-east-1:000000000000:function:{FN}), onFailure=null) is invalid."),
    Err("eic-dest-pattern", EIC + "/put_destination_invalid_arn_pattern", "put_function_event_invoke_config",
        {"FunctionName": FN, "DestinationConfig": {"OnFailure": {
            "Destination": f"arn:aws:_-/!lambda:us-east-1:000000000000:function:{FN}"}}}, 400,
        "ValidationException",
        validation(f"arn:aws:_-/!lambda:us-east-1:000000000000:function:{FN}", "destinationConfig.onFailure.destination",
                   f"{PATTERN}: $|kafka://([^.]([a-zA-Z0-9\\-_.]{{0,248}}))|arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\\-])+:"
                   "((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1})?:(\\d{12})?:(.*)")),
    Err("eic-put-missing-alias", EIC + "/put_alias_doesnotexist", "put_function_event_invoke_config",
        {"FunctionName": FN, "Qualifier": "livedoesnotexist", "MaximumRetryAttempts": 1}, 404,
        "ResourceNotFoundException", "The function doesn't exist."),
    Err("eic-put-qualifier-conflict", EIC + "/put_alias_shorthand_qualifierconflict",
        "put_function_event_invoke_config",
        {"FunctionName": f"{FN}:live", "Qualifier": "livedoesnotexist", "MaximumRetryAttempts": 1}, 400,
        "InvalidParameterValueException", DERIVED),
    Err("eic-delete-missing", EIC + "/delete_function_not_found", "delete_function_event_invoke_config",
        {"FunctionName": FN}, 404, "ResourceNotFoundException", NO_EIC.format(arn=f"{ARN}{FN}:$LATEST")),
    Err("eic-delete-missing-fn", EIC + "/delete_function_doesnotexist", "delete_function_event_invoke_config",
        {"FunctionName": "doesnotexist"}, 404, "ResourceNotFoundException",
        NO_EIC.format(arn=f"{ARN}doesnotexist:$LATEST")),
    Err("eic-list-missing-fn", EIC + "/list_function_doesnotexist", "list_function_event_invoke_configs",
        {"FunctionName": "doesnotexist"}, 404, "ResourceNotFoundException", "The function doesn't exist."),
    Err("eic-get-missing-qualifier", EIC + "/get_qualifier_doesnotexist", "get_function_event_invoke_config",
        {"FunctionName": FN, "Qualifier": "doesnotexist"}, 404, "ResourceNotFoundException",
        NO_EIC.format(arn=f"{ARN}{FN}:doesnotexist")),
    Err("eic-update-missing-fn", EIC + "/update_eventinvokeconfig_function_doesnotexist",
        "update_function_event_invoke_config", {"FunctionName": "doesnotexist", "MaximumRetryAttempts": 1}, 404,
        "ResourceNotFoundException", "The function doesn't exist."),
    Err("eic-update-missing-config", EIC + "/update_eventinvokeconfig_config_doesnotexist_without_qualifier",
        "update_function_event_invoke_config", {"FunctionName": FN, "MaximumRetryAttempts": 1}, 404,
        "ResourceNotFoundException", NO_EIC.format(arn=f"{ARN}{FN}:$LATEST")),
    # ---- provisioned concurrency: which qualifier, not the concurrency rules ----
    Err("prov-get-missing-alias", PROV + "/get_provisioned_qualifier_doesnotexist",
        "get_provisioned_concurrency_config", {"FunctionName": FN, "Qualifier": "noalias"}, 404,
        "ResourceNotFoundException", f"Cannot find alias arn: {ARN}{FN}:noalias"),
    Err("prov-get-missing-fn", PROV + "/get_provisioned_functionname_doesnotexist",
        "get_provisioned_concurrency_config", {"FunctionName": "doesnotexist", "Qualifier": "noalias"}, 404,
        "ResourceNotFoundException", f"Cannot find alias arn: {ARN}doesnotexist:noalias"),
    Err("prov-get-missing-version", PROV + "/get_provisioned_version_doesnotexist",
        "get_provisioned_concurrency_config", {"FunctionName": FN, "Qualifier": "10"}, 404,
        "ResourceNotFoundException", f"Function not found: {ARN}{FN}:10"),
    Err("prov-get-latest", PROV + "/get_provisioned_latest", "get_provisioned_concurrency_config",
        {"FunctionName": FN, "Qualifier": "$LATEST"}, 400, "InvalidParameterValueException",
        "The function resource provided must be an alias or a published version."),
    Err("prov-get-none", PROV + "/get_provisioned_config_doesnotexist", "get_provisioned_concurrency_config",
        {"FunctionName": FN, "Qualifier": "1"}, 404, "ProvisionedConcurrencyConfigNotFoundException",
        "No Provisioned Concurrency Config found for this function"),
    Err("prov-delete-missing-alias", PROV + "/delete_provisioned_qualifier_doesnotexist",
        "delete_provisioned_concurrency_config", {"FunctionName": FN, "Qualifier": "noalias"}, 404,
        "ResourceNotFoundException", f"Cannot find alias arn: {ARN}{FN}:noalias"),
    Err("prov-delete-latest", PROV + "/delete_provisioned_latest", "delete_provisioned_concurrency_config",
        {"FunctionName": FN, "Qualifier": "$LATEST"}, 400, "InvalidParameterValueException",
        "The function resource provided must be an alias or a published version."),
    Err("prov-put-zero", PROV + "/put_provisioned_invalid_param_0", "put_provisioned_concurrency_config",
        {"FunctionName": FN, "Qualifier": "1", "ProvisionedConcurrentExecutions": 0}, 400, "ValidationException",
        validation("0", "provisionedConcurrentExecutions",
                   "failed to satisfy constraint: Member must have value greater than or equal to 1")),
    Err("prov-put-missing-alias", PROV + "/put_provisioned_qualifier_doesnotexist",
        "put_provisioned_concurrency_config",
        {"FunctionName": FN, "Qualifier": "doesnotexist", "ProvisionedConcurrentExecutions": 1}, 404,
        "ResourceNotFoundException", f"Cannot find alias arn: {ARN}{FN}:doesnotexist"),
    Err("prov-put-latest", PROV + "/put_provisioned_latest", "put_provisioned_concurrency_config",
        {"FunctionName": FN, "Qualifier": "$LATEST", "ProvisionedConcurrentExecutions": 1}, 400,
        "InvalidParameterValueException", "Provisioned Concurrency Configs cannot be applied to unpublished function versions."),
    Err("prov-list-missing-fn", PROV + "/list_provisioned_functionname_doesnotexist",
        "list_provisioned_concurrency_configs", {"FunctionName": "doesnotexist"}, 404,
        "ResourceNotFoundException", f"Function not found: {ARN}doesnotexist"),
    # ---- function URL configs ----
    Err("url-create-missing-fn", URLX + "/create_function_url_config_name_doesnotexist",
        "create_function_url_config", {"FunctionName": "doesnotexist", "AuthType": "NONE"}, 404,
        "ResourceNotFoundException", "Function does not exist"),
    Err("url-create-version", URLX + "/create_function_url_config_qualifier_version",
        "create_function_url_config", {"FunctionName": FN, "Qualifier": "1", "AuthType": "NONE"}, 400,
        "ValidationException", validation("1", "qualifier", f"{PATTERN}: {URL_QUALIFIER}")),
    Err("url-get-latest", URLX + "/get_function_url_config_qualifier_latest", "get_function_url_config",
        {"FunctionName": FN, "Qualifier": "$LATEST"}, 400, "ValidationException",
        validation("$LATEST", "qualifier", f"{PATTERN}: {URL_QUALIFIER}")),
    Err("url-create-missing-alias", URLX + "/create_function_url_config_qualifier_alias_doesnotexist",
        "create_function_url_config", {"FunctionName": FN, "Qualifier": "nope", "AuthType": "NONE"}, 404,
        "ResourceNotFoundException", "Function does not exist"),
    Err("url-get-missing-alias", URLX + "/get_function_url_config_qualifier_alias_doesnotexist",
        "get_function_url_config", {"FunctionName": FN, "Qualifier": "nope"}, 404, "ResourceNotFoundException",
        "The resource you requested does not exist."),
    Err("url-get-none", URLX + "/get_function_url_config_config_doesnotexist", "get_function_url_config",
        {"FunctionName": FN}, 404, "ResourceNotFoundException", "The resource you requested does not exist."),
    Err("url-delete-none", URLX + "/delete_function_url_config_config_doesnotexist", "delete_function_url_config",
        {"FunctionName": FN}, 404, "ResourceNotFoundException", "The resource you requested does not exist."),
    Err("url-update-missing-fn", URLX + "/update_function_url_config_name_doesnotexist",
        "update_function_url_config", {"FunctionName": "doesnotexist", "AuthType": "NONE"}, 404,
        "ResourceNotFoundException", "Function does not exist"),
    Err("url-list-missing-fn", API + "TestLambdaUrl::test_url_config_list_paging/list_function_notfound",
        "list_function_url_configs", {"FunctionName": "doesnotexist"}, 404, "ResourceNotFoundException",
        "Function does not exist"),
    # ---- revisions and code hashes ----
    Err("publish-wrong-revision", API + "TestLambdaVersions::test_publish_with_wrong_revisionid",
        "publish_version", {"FunctionName": FN, "RevisionId": "wrong"}, 412, "PreconditionFailedException", REVISION),
    Err("update-wrong-revision", API + "TestLambdaRevisions::test_function_revisions_basic"
        "/update_function_configuration_revision_exception", "update_function_configuration",
        {"FunctionName": FN, "Description": "x", "RevisionId": "wrong"}, 412, "PreconditionFailedException", REVISION),
    Err("publish-wrong-sha", API + "TestLambdaVersions::test_publish_with_wrong_sha256", "publish_version",
        {"FunctionName": FN, "CodeSha256": "somenonexistentsha256"}, 400, "InvalidParameterValueException",
        "CodeSHA256 (somenonexistentsha256) is different from current CodeSHA256 in $LATEST (", True),
    # Last: a server that ignores the region would delete the shared function here.
    Err("other-region-delete", WRONG_REGION + "[delete_function]", "delete_function",
        {"FunctionName": "arn:aws:lambda:ap-southeast-1:000000000000:function:" + FN}, 404,
        "ResourceNotFoundException", OTHER_REGION),
]


@pytest.fixture(scope="module")
def srv(tmp_path_factory, request):
    s = Server(tmp_path_factory.mktemp("aws") / "data", sandbox_args(request))
    c = client(s)
    c.create_function(**create_args(FN, Publish=True))
    c.create_alias(FunctionName=FN, Name="live", FunctionVersion="1")
    yield s
    s.stop()


def client(s):
    # As LocalStack's recordings did: no client-side checks, so AWS's server answers.
    return boto3.client(
        "lambda", endpoint_url=s.api, region_name="us-east-1", aws_access_key_id="test",
        aws_secret_access_key="test",
        config=botocore.config.Config(parameter_validation=False, retries={"total_max_attempts": 1}))


@pytest.fixture(scope="module")
def c(srv):
    return client(srv)


@pytest.mark.parametrize("case", ERRORS, ids=[e.id for e in ERRORS])
def test_refused_as_aws_refuses(c, case):
    with pytest.raises(ClientError) as e:
        getattr(c, case.op)(**case.kwargs)
    r = e.value.response
    got = (r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"])
    assert got == (case.status, case.code), f"{case.src}: {r['Error']}"
    if case.prefix:
        assert r["Error"]["Message"].startswith(case.message), case.src
    elif case.message is not None:
        assert r["Error"]["Message"] == case.message, case.src


def status(r):
    return r["ResponseMetadata"]["HTTPStatusCode"]


def test_idempotent_deletes(c):
    """AWS answers 204 for deletes of what is not there, where a cleanup script retries."""
    # test_lambda_api.py::TestLambdaAlias::test_non_existent_alias_deletion/delete_alias_response
    assert status(c.delete_alias(FunctionName=FN, Name="non-existent")) == 204
    # test_lambda_api.py::TestLambdaProvisionedConcurrency::test_provisioned_concurrency_exceptions
    #   /delete_provisioned_config_doesnotexist
    assert status(c.delete_provisioned_concurrency_config(FunctionName=FN, Qualifier="1")) == 204
    # test_lambda_api.py::TestLambdaFunction::test_delete_on_nonexisting_version (twice, then unqualified)
    assert status(c.delete_function(FunctionName=FN, Qualifier="1233")) == 204
    assert status(c.delete_function(FunctionName=FN, Qualifier="1233")) == 204
    assert c.get_function(FunctionName=FN)["Configuration"]["FunctionName"] == FN


def test_create_response_shape(c):
    """test_lambda_api.py::TestLambdaFunction::test_function_lifecycle/create_response"""
    role = "arn:aws:iam::123456789012:role/service-role/my-role"
    r = c.create_function(**create_args("shape-fn", Role=role, MemorySize=256, Timeout=5))
    assert status(r) == 201
    assert r["Role"] == role, "Role is echoed as sent"
    assert r["SnapStart"] == {"ApplyOn": "None", "OptimizationStatus": "Off"}
    assert r["RuntimeVersionConfig"]["RuntimeVersionArn"].startswith("arn:aws:lambda:us-east-1::runtime:")
    assert r["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": "/aws/lambda/shape-fn"}
    assert r["EphemeralStorage"] == {"Size": 512}
    assert r["TracingConfig"] == {"Mode": "PassThrough"}
    assert r["Architectures"] == ["x86_64"] and r["PackageType"] == "Zip"
    assert r["Environment"] == {"Variables": {}} and r["Description"] == ""
    assert r["Version"] == "$LATEST" and r["FunctionArn"] == ARN + "shape-fn"
    got = c.get_function_configuration(FunctionName="shape-fn")
    assert got["Role"] == role and got["SnapStart"] == r["SnapStart"]
    assert got["RuntimeVersionConfig"] == r["RuntimeVersionConfig"]


def test_create_by_arn_names_the_function(c):
    """test_lambda_api.py::TestLambdaFunction::test_function_arns/create-function-arn-response
    and /create-function-partial-arn-response"""
    r = c.create_function(**create_args(ARN + "by-full-arn"))
    assert r["FunctionName"] == "by-full-arn" and r["FunctionArn"] == ARN + "by-full-arn"
    r = c.create_function(**create_args("000000000000:function:by-partial-arn"))
    assert r["FunctionName"] == "by-partial-arn"


def test_alias_named_like_a_date(c):
    """test_lambda_api.py::TestLambdaAlias::test_alias_naming/create_alias_date"""
    r = c.create_alias(FunctionName=FN, Name="2024-01-02", FunctionVersion="1", Description="custom-alias")
    assert status(r) == 201 and r["AliasArn"] == f"{ARN}{FN}:2024-01-02"
    assert c.get_alias(FunctionName=FN, Name="2024-01-02")["FunctionVersion"] == "1"


def test_description_change_publishes_a_new_version(c):
    """test_lambda_api.py::TestLambdaVersions::test_version_lifecycle: first/second/third_publish_response"""
    c.create_function(**create_args("ver-fn", Description="No version :("))
    c.update_function_configuration(FunctionName="ver-fn", Description="First version :)")
    first = c.publish_version(FunctionName="ver-fn", Description="First version description :)")
    assert (first["Version"], first["Description"]) == ("1", "First version description :)")
    c.update_function_configuration(FunctionName="ver-fn", Description="Second version :))")
    second = c.publish_version(FunctionName="ver-fn")
    assert (second["Version"], second["Description"]) == ("2", "Second version :))")
    third = c.publish_version(FunctionName="ver-fn", Description="Third version description :)))")
    assert (third["Version"], third["Description"]) == ("2", "Second version :))"), "nothing changed"
    versions = c.list_versions_by_function(FunctionName="ver-fn")["Versions"]
    assert [(v["Version"], v["Description"]) for v in versions] == [
        ("$LATEST", "Second version :))"), ("1", "First version description :)"), ("2", "Second version :))")]


def test_list_functions_all_includes_versions(c):
    """test_lambda_api.py::TestLambdaFunction::test_list_functions/list_all and /list_default"""
    c.create_function(**create_args("list-fn-1", Publish=True))
    c.create_function(**create_args("list-fn-2"))
    mine = ("list-fn-1", "list-fn-2")
    pages = c.get_paginator("list_functions")
    every = pages.paginate(FunctionVersion="ALL", PaginationConfig={"PageSize": 1}).build_full_result()
    default = pages.paginate(PaginationConfig={"PageSize": 1}).build_full_result()
    every = sorted(f["FunctionArn"] for f in every["Functions"] if f["FunctionName"] in mine)
    default = sorted(f["FunctionArn"] for f in default["Functions"] if f["FunctionName"] in mine)
    assert every == [ARN + "list-fn-1", ARN + "list-fn-1:1", ARN + "list-fn-2"]
    assert default == [ARN + "list-fn-1", ARN + "list-fn-2"]


def test_event_invoke_config_shape(c):
    """test_lambda_api.py::TestLambdaEventInvokeConfig::test_lambda_eventinvokeconfig_lifecycle
    /put_invokeconfig_retries_0, /put_invokeconfig_eventage_60, /list_single_invokeconfig"""
    c.create_function(**create_args("eic-fn"))
    r = c.put_function_event_invoke_config(FunctionName="eic-fn", MaximumRetryAttempts=0)
    assert r["FunctionArn"] == ARN + "eic-fn:$LATEST"
    assert r["MaximumRetryAttempts"] == 0 and "MaximumEventAgeInSeconds" not in r
    assert r["DestinationConfig"] == {"OnFailure": {}, "OnSuccess": {}}
    r = c.put_function_event_invoke_config(FunctionName="eic-fn", MaximumEventAgeInSeconds=60)
    assert r["MaximumEventAgeInSeconds"] == 60 and "MaximumRetryAttempts" not in r, "put replaces"
    r = c.update_function_event_invoke_config(FunctionName="eic-fn", MaximumRetryAttempts=1)
    assert (r["MaximumEventAgeInSeconds"], r["MaximumRetryAttempts"]) == (60, 1), "update merges"
    listed = c.list_function_event_invoke_configs(FunctionName="eic-fn")["FunctionEventInvokeConfigs"]
    assert [x["FunctionArn"] for x in listed] == [ARN + "eic-fn:$LATEST"]
    # /put_destination_other_lambda: another existing function is a valid destination
    r = c.put_function_event_invoke_config(
        FunctionName="eic-fn", DestinationConfig={"OnSuccess": {"Destination": ARN + FN}})
    assert r["DestinationConfig"]["OnSuccess"] == {"Destination": ARN + FN}


def test_url_configs_page_and_conflict(c):
    """test_lambda_api.py::TestLambdaUrl::test_url_config_list_paging and
    test_url_config_lifecycle/failed_duplication"""
    c.create_function(**create_args("url-fn"))
    v = c.publish_version(FunctionName="url-fn")["Version"]
    c.create_alias(FunctionName="url-fn", Name="urlalias", FunctionVersion=v)
    assert c.list_function_url_configs(FunctionName="url-fn")["FunctionUrlConfigs"] == []
    a = c.create_function_url_config(FunctionName="url-fn", AuthType="NONE")["FunctionUrl"]
    b = c.create_function_url_config(FunctionName="url-fn:urlalias", Qualifier="urlalias",
                                     AuthType="NONE")["FunctionUrl"]
    one = c.list_function_url_configs(FunctionName="url-fn", MaxItems=1)
    assert len(one["FunctionUrlConfigs"]) == 1 and one["NextMarker"]
    two = c.list_function_url_configs(FunctionName="url-fn", MaxItems=2)
    assert sorted(x["FunctionUrl"] for x in two["FunctionUrlConfigs"]) == sorted([a, b])
    nxt = c.list_function_url_configs(FunctionName="url-fn", MaxItems=1, Marker=one["NextMarker"])
    assert [x["FunctionUrl"] for x in nxt["FunctionUrlConfigs"]] != [x["FunctionUrl"] for x in one["FunctionUrlConfigs"]]
    with pytest.raises(ClientError) as e:
        c.create_function_url_config(FunctionName="url-fn", AuthType="NONE")
    r = e.value.response
    assert (status(r), r["Error"]["Code"]) == (409, "ResourceConflictException")
    assert r["Error"]["Message"] == (
        f"Failed to create function url config for [functionArn = {ARN}url-fn]. "
        "Error message:  FunctionUrlConfig exists for this Lambda function")


# ---- the same answers through the aws CLI ----

def aws(srv, *args):
    env = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
           "PATH": __import__("os").environ["PATH"], "AWS_CONFIG_FILE": "/dev/null",
           "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}
    return subprocess.run([*AWS, "lambda", "--endpoint-url", srv.api, *args], capture_output=True,
                          text=True, env=env, timeout=60)


CLI = [
    (NOFN + "[get_function]", ["get-function", "--function-name", "i-dont-exist"],
     f"(ResourceNotFoundException) when calling the GetFunction operation: Function not found: {ARN}i-dont-exist"),
    (NQV + "[invalid_characters_in_qualifier-get_function]",
     ["get-function", "--function-name", "my-function", "--qualifier", "invalid!"],
     "(ValidationException) when calling the GetFunction operation: 1 validation error detected: "
     "Value 'invalid!' at 'qualifier'"),
    (API + "TestLambdaFunction::test_list_functions/list_functions_invalid_functionversion",
     ["list-functions", "--function-version", "invalid"],
     "(ValidationException) when calling the ListFunctions operation: 1 validation error detected: "
     "Value 'invalid' at 'functionVersion'"),
    (API + "TestLambdaAlias::test_alias_naming/create_alias_number_exception",
     ["create-alias", "--function-name", FN, "--name", "2024", "--function-version", "1"],
     "(ValidationException) when calling the CreateAlias operation: 1 validation error detected: "
     "Value '2024' at 'name'"),
    (WRONG_REGION + "[get_function]",
     ["get-function", "--function-name", "arn:aws:lambda:ap-southeast-1:000000000000:function:" + FN],
     f"(ResourceNotFoundException) when calling the GetFunction operation: {OTHER_REGION}"),
]


@pytest.mark.parametrize("src,args,expected", CLI, ids=[a[1][0] + "-" + str(i) for i, a in enumerate(CLI)])
def test_aws_cli_sees_the_same_errors(srv, src, args, expected):
    r = aws(srv, *args)
    assert r.returncode in (254, 255), (src, r.stderr)  # v2, v1
    assert expected in r.stderr, (src, r.stderr)


def test_aws_cli_idempotent_delete_and_shape(srv):
    """test_non_existent_alias_deletion/delete_alias_response; test_function_lifecycle/create_response"""
    r = aws(srv, "delete-alias", "--function-name", FN, "--name", "non-existent")
    assert r.returncode == 0, r.stderr
    r = aws(srv, "get-function-configuration", "--function-name", FN)
    assert r.returncode == 0, r.stderr
    conf = json.loads(r.stdout)
    assert conf["Role"] == ROLE and conf["SnapStart"]["ApplyOn"] == "None"
