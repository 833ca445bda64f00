#!/usr/bin/env bash
# Give the SageMaker operator its AWS role on EKS (IRSA), with eksctl and the AWS CLI.
# The shell twin of `sagemaker-operator iam setup` (which needs no eksctl and also has --dry-run).
#
#   installer/iam/setup-irsa.sh --cluster NAME --region REGION [--namespace NS] [--service-account SA]
#                               [--role-name NAME] [--policy-name NAME]
#
# Safe to run again: the OIDC provider, role and policy are created when missing and brought up to
# date when present (the trust policy is rewritten, the policy gets a new default version only when
# its document changed, pruning the oldest one at IAM's limit of five). Needs: aws (v2), eksctl, sed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cluster=""
region="${AWS_REGION:-${AWS_DEFAULT_REGION:-}}"
namespace="sagemaker-operator-system"
service_account="sagemaker-operator"
role_name=""
policy_name=""

usage() {
  sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
  exit "${1:-2}"
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --cluster) cluster="$2"; shift 2 ;;
    --region) region="$2"; shift 2 ;;
    --namespace) namespace="$2"; shift 2 ;;
    --service-account) service_account="$2"; shift 2 ;;
    --role-name) role_name="$2"; shift 2 ;;
    --policy-name) policy_name="$2"; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "unknown argument: $1" >&2; usage 2 ;;
  esac
done
[[ -n "$cluster" ]] || { echo "--cluster is required" >&2; usage 2; }
[[ -n "$region" ]] || { echo "--region is required (or set AWS_REGION)" >&2; usage 2; }
role_name="${role_name:-sagemaker-operator-${cluster}}"
role_name="${role_name:0:64}"
policy_name="${policy_name:-$role_name}"

for tool in aws eksctl sed; do
  command -v "$tool" >/dev/null || { echo "$tool is required but not installed" >&2; exit 1; }
done

issuer="$(aws eks describe-cluster --name "$cluster" --region "$region" \
  --query 'cluster.identity.oidc.issuer' --output text)"
oidc_provider="${issuer#https://}"
caller_arn="$(aws sts get-caller-identity --query Arn --output text)"
account="$(aws sts get-caller-identity --query Account --output text)"
partition="$(cut -d: -f2 <<<"$caller_arn")"
echo "EKS cluster $cluster ($region): OIDC issuer $issuer"

# 1. The cluster's IAM OIDC provider (eksctl says so and changes nothing when it exists).
eksctl utils associate-iam-oidc-provider --cluster "$cluster" --region "$region" --approve

# 2. The operator's least-privilege policy.
policy_arn="arn:${partition}:iam::${account}:policy/${policy_name}"
policy_file="$here/operator-policy.json"
if ! aws iam get-policy --policy-arn "$policy_arn" >/dev/null 2>&1; then
  aws iam create-policy --policy-name "$policy_name" --policy-document "file://$policy_file" \
    --description "Least-privilege SageMaker access for the SageMaker operator for Kubernetes" >/dev/null
  echo "created policy $policy_name"
else
  default_version="$(aws iam get-policy --policy-arn "$policy_arn" --query Policy.DefaultVersionId --output text)"
  current="$(aws iam get-policy-version --policy-arn "$policy_arn" --version-id "$default_version" \
    --query PolicyVersion.Document --output json)"
  wanted="$(tr -d ' \n' <"$policy_file")"
  if [[ "$(tr -d ' \n' <<<"$current")" == "$wanted" ]]; then
    echo "policy $policy_name already up to date"
  else
    versions="$(aws iam list-policy-versions --policy-arn "$policy_arn" \
      --query 'length(Versions)' --output text)"
    if [[ "$versions" -ge 5 ]]; then
      # shellcheck disable=SC2016  # backticks are JMESPath literals, not shell
      oldest="$(aws iam list-policy-versions --policy-arn "$policy_arn" \
        --query 'sort_by(Versions[?IsDefaultVersion==`false`], &CreateDate)[0].VersionId' --output text)"
      aws iam delete-policy-version --policy-arn "$policy_arn" --version-id "$oldest"
      echo "deleted old version $oldest of policy $policy_name (IAM keeps at most 5)"
    fi
    aws iam create-policy-version --policy-arn "$policy_arn" --policy-document "file://$policy_file" \
      --set-as-default >/dev/null
    echo "updated policy $policy_name"
  fi
fi

# 3. The role, assumable only by the operator's service account in this cluster.
trust_file="$(mktemp)"
trap 'rm -f "$trust_file"' EXIT
sed -e "s|\${AWS_PARTITION}|${partition}|g" \
    -e "s|\${AWS_ACCOUNT_ID}|${account}|g" \
    -e "s|\${OIDC_PROVIDER}|${oidc_provider}|g" \
    -e "s|\${NAMESPACE}|${namespace}|g" \
    -e "s|\${SERVICE_ACCOUNT}|${service_account}|g" \
    "$here/trust-policy.template.json" >"$trust_file"
if aws iam get-role --role-name "$role_name" >/dev/null 2>&1; then
  aws iam update-assume-role-policy --role-name "$role_name" --policy-document "file://$trust_file"
  echo "role $role_name: trust policy set to system:serviceaccount:${namespace}:${service_account}"
else
  aws iam create-role --role-name "$role_name" --assume-role-policy-document "file://$trust_file" \
    --description "SageMaker operator for Kubernetes on EKS cluster $cluster (IRSA)" >/dev/null
  echo "created role $role_name"
fi

# 4. Attach the policy (attaching twice is a no-op in IAM).
aws iam attach-role-policy --role-name "$role_name" --policy-arn "$policy_arn"
role_arn="$(aws iam get-role --role-name "$role_name" --query Role.Arn --output text)"

cat <<EOF

The operator's service account needs this annotation:
  eks.amazonaws.com/role-arn: ${role_arn}
With Helm:
  helm upgrade --install sagemaker-operator installer/helm/sagemaker-operator -n ${namespace} --create-namespace \\
    --set serviceAccount.name=${service_account} --set serviceAccount.roleArn=${role_arn}
With the manifests in installer/ (already applied):
  kubectl annotate serviceaccount -n ${namespace} ${service_account} eks.amazonaws.com/role-arn=${role_arn} --overwrite
  kubectl rollout restart deployment -n ${namespace} sagemaker-operator
EOF
