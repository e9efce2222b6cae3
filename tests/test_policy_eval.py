"""The IAM policy evaluator the policy tables rely on, checked against AWS's documented semantics,
tricky cases first: a table test is only as good as the evaluator behind it."""

from __future__ import annotations

import pytest

from generators.aws.policy_eval import (FULL_AWS_ACCESS, Decision, Policies, Request, UnsupportedPolicy, arn_matches,
                                        evaluate, glob_matches, resource_matches)

pytestmark = pytest.mark.fast  # pure: no subprocess, terraform or AWS server

ROLE = "arn:aws:iam::200000000001:role/TerraformDeploy"
OTHER_ROLE = "arn:aws:iam::200000000001:role/Someone"
BUCKET = "arn:aws:s3:::acme-tfstate-200000000001"


def policy(*statements) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action="*", resource="*", **extra) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action="*", resource="*", **extra) -> dict:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def decide(*identity, action="s3:GetObject", resource=f"{BUCKET}/key", principal=ROLE, context=None,
           scps=(), bucket_policy=None) -> Decision:
    return evaluate(Request(principal, action, resource, context or {}),
                    Policies(identity=identity, scp_levels=scps, resource=bucket_policy))


# -- wildcards ----------------------------------------------------------------------------------

@pytest.mark.parametrize("pattern, value, expected", [
    ("s3:Get*", "s3:GetObject", True),
    ("s3:Get*", "s3:PutObject", False),
    ("s3:GetObject?", "s3:GetObject", False),       # ? is exactly one character
    ("s3:GetObject?ersion", "s3:GetObjectVersion", True),
    ("s3:Get[O]bject", "s3:GetObject", False),      # brackets are not special in IAM
    ("s3:Get[O]bject", "s3:Get[O]bject", True),
    ("a.b", "axb", False),                          # nor are regular-expression characters
])
def test_glob_knows_only_star_and_question_mark(pattern, value, expected):
    assert glob_matches(pattern, value) is expected


def test_actions_match_case_insensitively_resources_do_not():
    assert decide(policy(allow("S3:getobject"))) is Decision.ALLOW
    assert decide(policy(allow("s3:GetObject", f"{BUCKET}/KEY"))) is Decision.IMPLICIT_DENY


def test_star_in_a_resource_crosses_slashes_but_not_arn_colons():
    assert resource_matches(f"{BUCKET}/*", f"{BUCKET}/production/terraform.tfstate")
    assert resource_matches("arn:aws:s3:::acme-tfstate-*", f"{BUCKET}/production/terraform.tfstate")
    assert not resource_matches("arn:aws:s3:::acme-tfstate-????????????", f"{BUCKET}/x")
    assert resource_matches("arn:aws:s3:::acme-tfstate-????????????", BUCKET)
    # An account-id * stays within the account part: a role path holding ":role/" cannot slip in.
    assert arn_matches("arn:aws:iam::*:role/Admin", "arn:aws:iam::200000000001:role/Admin")
    assert not arn_matches("arn:aws:iam::*:role/Admin", "arn:aws:iam::200000000001:role/x:role/Admin")
    assert not arn_matches("arn:aws:iam::*:role/Admin", "arn:aws:iam::200000000001:role/path/Admin")
    assert resource_matches("*", "anything at all")


# -- Action, NotAction, Resource, NotResource -------------------------------------------------------

def test_no_statement_is_an_implicit_deny_and_allow_allows():
    assert decide(policy(allow("s3:PutObject"))) is Decision.IMPLICIT_DENY
    assert decide(policy(allow("s3:*"))) is Decision.ALLOW


def test_explicit_deny_wins_over_any_allow():
    assert decide(policy(allow()), policy(deny("s3:GetObject"))) is Decision.EXPLICIT_DENY


def test_not_action_with_deny_denies_everything_but_the_listed_actions():
    guard = policy({"Effect": "Deny", "NotAction": ["iam:*", "sts:*"], "Resource": "*"})
    assert decide(policy(allow()), guard) is Decision.EXPLICIT_DENY
    assert decide(policy(allow()), guard, action="iam:GetRole", resource="*") is Decision.ALLOW


def test_not_action_with_allow_does_not_grant_the_listed_actions():
    everything_but_s3 = policy({"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"})
    assert decide(everything_but_s3) is Decision.IMPLICIT_DENY
    assert decide(everything_but_s3, action="dynamodb:DescribeTable") is Decision.ALLOW


def test_not_resource_with_deny_spares_only_the_listed_resources():
    only_state = policy(allow("s3:GetObject"),
                        {"Effect": "Deny", "Action": "s3:GetObject", "NotResource": f"{BUCKET}/*"})
    assert decide(only_state) is Decision.ALLOW
    assert decide(only_state, resource="arn:aws:s3:::uploads/secret.csv") is Decision.EXPLICIT_DENY


def test_both_an_element_and_its_not_form_is_refused():
    with pytest.raises(UnsupportedPolicy):
        decide(policy({"Effect": "Allow", "Action": "*", "NotAction": "s3:*", "Resource": "*"}))


# -- conditions -------------------------------------------------------------------------------------

def test_missing_key_fails_a_positive_operator_and_satisfies_a_negated_one():
    positive = policy(deny(Condition={"StringEquals": {"aws:RequestedRegion": "us-east-1"}}), allow())
    negated = policy(deny(Condition={"StringNotEquals": {"aws:RequestedRegion": "us-east-1"}}), allow())
    assert decide(positive) is Decision.ALLOW
    assert decide(negated) is Decision.EXPLICIT_DENY  # the tricky one: no key, and the Deny applies
    assert decide(negated, context={"aws:RequestedRegion": "us-east-1"}) is Decision.ALLOW


def test_if_exists_counts_a_missing_key_as_satisfied():
    grant = policy(allow(Condition={"StringEqualsIfExists": {"aws:RequestedRegion": "us-east-1"}}))
    assert decide(grant) is Decision.ALLOW
    assert decide(grant, context={"aws:RequestedRegion": "eu-west-1"}) is Decision.IMPLICIT_DENY
    guard = policy(deny(Condition={"StringEqualsIfExists": {"aws:RequestedRegion": "eu-west-1"}}), allow())
    assert decide(guard) is Decision.EXPLICIT_DENY  # so a Deny with IfExists binds requests without the key
    assert decide(guard, context={"aws:RequestedRegion": "us-east-1"}) is Decision.ALLOW


def test_condition_keys_are_case_insensitive_and_principal_arn_is_known():
    exempt = policy(deny(Condition={"ArnNotLike": {"AWS:PRINCIPALARN": "arn:aws:iam::*:role/TerraformDeploy"}}),
                    allow())
    assert decide(exempt) is Decision.ALLOW
    assert decide(exempt, principal=OTHER_ROLE) is Decision.EXPLICIT_DENY


def test_values_of_one_key_are_ored_keys_and_operators_are_anded():
    both = policy(allow(Condition={
        "StringEquals": {"aws:RequestedRegion": ["eu-west-1", "us-east-1"], "s3:prefix": "state/"},
        "Bool": {"aws:SecureTransport": "true"}}))
    context = {"aws:RequestedRegion": "us-east-1", "s3:prefix": "state/", "aws:SecureTransport": "true"}
    assert decide(both, context=context) is Decision.ALLOW
    assert decide(both, context={**context, "aws:SecureTransport": "false"}) is Decision.IMPLICIT_DENY
    assert decide(both, context={**context, "s3:prefix": "other/"}) is Decision.IMPLICIT_DENY


def test_a_negated_operator_with_several_values_holds_only_when_none_match():
    guard = policy(deny(Condition={"StringNotLike": {"kms:ViaService": ["s3.*.amazonaws.com", "ssm.*"]}}), allow())
    assert decide(guard, context={"kms:ViaService": "s3.us-east-1.amazonaws.com"}) is Decision.ALLOW
    assert decide(guard, context={"kms:ViaService": "ssm.us-east-1.amazonaws.com"}) is Decision.ALLOW
    assert decide(guard, context={"kms:ViaService": "rds.us-east-1.amazonaws.com"}) is Decision.EXPLICIT_DENY


def test_string_like_wildcards_and_bool():
    tls = policy(allow(), deny(Condition={"Bool": {"aws:SecureTransport": "false"}}))
    assert decide(tls, context={"aws:SecureTransport": "false"}) is Decision.EXPLICIT_DENY
    assert decide(tls, context={"aws:SecureTransport": "true"}) is Decision.ALLOW
    assert decide(tls) is Decision.ALLOW  # Bool on a missing key does not match
    like = policy(allow(Condition={"StringLike": {"s3:prefix": "env-?/*"}}))
    assert decide(like, context={"s3:prefix": "env-a/x/y"}) is Decision.ALLOW
    assert decide(like, context={"s3:prefix": "env-ab/x"}) is Decision.IMPLICIT_DENY


def test_multi_valued_keys_with_set_operators():
    any_tag = policy(allow(Condition={"ForAnyValue:StringEquals": {"aws:TagKeys": ["Owner", "Team"]}}))
    all_tags = policy(allow(Condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["Owner", "Team"]}}))
    assert decide(any_tag, context={"aws:TagKeys": ["Owner", "Secret"]}) is Decision.ALLOW
    assert decide(any_tag, context={"aws:TagKeys": ["Secret"]}) is Decision.IMPLICIT_DENY
    assert decide(any_tag) is Decision.IMPLICIT_DENY  # ForAnyValue on a missing key is false
    assert decide(all_tags, context={"aws:TagKeys": ["Owner", "Team"]}) is Decision.ALLOW
    assert decide(all_tags, context={"aws:TagKeys": ["Owner", "Secret"]}) is Decision.IMPLICIT_DENY
    assert decide(all_tags) is Decision.ALLOW  # ForAllValues on a missing key is vacuously true
    not_any = policy(deny(Condition={"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["Owner"]}}), allow())
    assert decide(not_any, context={"aws:TagKeys": ["Owner", "Secret"]}) is Decision.EXPLICIT_DENY
    assert decide(not_any, context={"aws:TagKeys": ["Owner"]}) is Decision.ALLOW


def test_null_operator():
    guard = policy(allow(), deny(Condition={"Null": {"aws:MultiFactorAuthAge": "true"}}))
    assert decide(guard) is Decision.EXPLICIT_DENY
    assert decide(guard, context={"aws:MultiFactorAuthAge": "30"}) is Decision.ALLOW


def test_an_operator_that_is_not_modelled_is_refused_rather_than_guessed():
    with pytest.raises(UnsupportedPolicy):
        decide(policy(allow(Condition={"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}})))


# -- service control policies ---------------------------------------------------------------------

def test_every_organization_level_must_allow():
    assert decide(policy(allow()), scps=[[FULL_AWS_ACCESS], [FULL_AWS_ACCESS]]) is Decision.ALLOW
    only_iam = policy(allow("iam:*"))
    assert decide(policy(allow()), scps=[[FULL_AWS_ACCESS], [only_iam]]) is Decision.IMPLICIT_DENY
    assert decide(policy(allow()), scps=[[FULL_AWS_ACCESS], []]) is Decision.IMPLICIT_DENY


def test_an_scp_allows_nothing_by_itself():
    assert decide(scps=[[FULL_AWS_ACCESS]]) is Decision.IMPLICIT_DENY


def test_an_scp_deny_binds_even_an_administrator():
    guard = policy(deny("s3:DeleteBucket", BUCKET))
    assert decide(policy(allow()), action="s3:DeleteBucket", resource=BUCKET,
                  scps=[[FULL_AWS_ACCESS, guard]]) is Decision.EXPLICIT_DENY


# -- resource policies: Principal and NotPrincipal ----------------------------------------------------

def test_a_bucket_policy_allows_its_principals_only():
    grant = policy(allow("s3:GetObject", f"{BUCKET}/*", Principal={"AWS": OTHER_ROLE}))
    assert decide(bucket_policy=grant, principal=OTHER_ROLE) is Decision.ALLOW
    assert decide(bucket_policy=grant) is Decision.IMPLICIT_DENY
    account = policy(allow("s3:GetObject", f"{BUCKET}/*", Principal={"AWS": "arn:aws:iam::200000000001:root"}))
    assert decide(bucket_policy=account) is Decision.ALLOW
    assert decide(bucket_policy=account, principal="arn:aws:iam::999999999999:role/x") is Decision.IMPLICIT_DENY


def test_a_bucket_policy_deny_with_star_binds_everyone_and_not_principal_spares_its_principals():
    everyone = policy(deny("s3:*", [BUCKET, f"{BUCKET}/*"], Principal="*",
                           Condition={"Bool": {"aws:SecureTransport": "false"}}))
    assert decide(policy(allow()), bucket_policy=everyone,
                  context={"aws:SecureTransport": "false"}) is Decision.EXPLICIT_DENY
    all_but = policy(deny("s3:GetObject", f"{BUCKET}/*", NotPrincipal={"AWS": ROLE}))
    assert decide(policy(allow()), bucket_policy=all_but) is Decision.ALLOW
    assert decide(policy(allow()), bucket_policy=all_but, principal=OTHER_ROLE) is Decision.EXPLICIT_DENY


def test_a_resource_policy_statement_without_principal_is_refused():
    with pytest.raises(UnsupportedPolicy):
        decide(bucket_policy=policy(allow()))
